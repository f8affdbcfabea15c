//! AMR telegrams: what a heat-meter head-end publishes for one reading of one meter.
//!
//! The shape is the one wmbusmeters (the open-source reader of wireless and wired M-Bus heat
//! meters) publishes, one JSON object per telegram, so heatkpi's `format = "wmbusmeters"` reads
//! it with no field mapping:
//!
//! ```json
//! {"_":"telegram","media":"heat","meter":"dh-sim-heat-meter","name":"ss-01","id":"48213377",
//!  "total_energy_consumption_mwh":5123.456,"total_volume_m3":80412.37,"volume_flow_m3h":6.1,
//!  "power_kw":212.4,"flow_temperature_c":88.43,"return_temperature_c":49.9,
//!  "current_status":"OK","error_flags":"0000","timestamp":"2026-01-10T06:15:00Z"}
//! ```
//!
//! The values are the meter's own registers, exactly as a Modbus poll of the same meter would
//! decode them: the energy register in the meter's unit (`_kwh`, `_mwh` or `_gj`, whichever
//! the meter counts in; any other unit is sent in GJ), the other quantities in the units the
//! wmbusmeters field names carry. A value the meter cannot show (a broken sensor) is left out,
//! as wmbusmeters leaves out fields a telegram does not carry. A status word other than 0 is
//! named in `current_status` (which the wmbusmeters preset turns into `suspect` quality) and
//! given in full, hexadecimal, in `error_flags`. The serial number (`id`) is derived from the
//! seed and the substation, and changes when the meter is replaced.

use super::devices::{STATUS_NEGATIVE_DT, SimDevice};
use super::sink::Fnv64;
use crate::model::quantity::convert;
use crate::model::{Quantity, TimestampMs, Unit};
use serde_json::{Map, Value};
use std::hash::Hasher;

/// The meter serial number: eight digits, fixed by the seed and the substation, a new one after
/// each replacement.
pub fn serial(seed: u64, asset: &str, replacements: u32) -> String {
    let mut h = Fnv64::default();
    h.write_u64(seed);
    h.write(asset.as_bytes());
    h.write_u32(replacements);
    format!("{:08}", h.finish() % 100_000_000)
}

/// The wmbusmeters field and value for a register of quantity `q` showing `value` in `unit`,
/// or `None` for a quantity an AMR heat-meter telegram does not carry.
fn field(q: Quantity, unit: Unit, value: f64) -> Option<(&'static str, f64)> {
    let canonical = || convert(q, unit, value).ok();
    Some(match q {
        Quantity::HeatEnergy => match unit {
            Unit::KWh => ("total_energy_consumption_kwh", value),
            Unit::MWh => ("total_energy_consumption_mwh", value),
            Unit::GJ => ("total_energy_consumption_gj", value),
            _ => ("total_energy_consumption_gj", canonical()?),
        },
        Quantity::Volume => ("total_volume_m3", canonical()?),
        Quantity::Flow => ("volume_flow_m3h", canonical()?),
        Quantity::HeatPower => match unit {
            Unit::KW => ("power_kw", value),
            _ => ("power_kw", canonical()? * 1000.0),
        },
        Quantity::SupplyTemp => ("flow_temperature_c", canonical()?),
        Quantity::ReturnTemp => ("return_temperature_c", canonical()?),
        _ => return None,
    })
}

/// `current_status` of a status word: `OK`, or the conditions, space separated.
fn status_text(word: u16) -> String {
    if word == 0 {
        return "OK".into();
    }
    let mut parts = Vec::new();
    if word & STATUS_NEGATIVE_DT != 0 {
        parts.push("NEGATIVE_TEMPERATURE_DIFFERENCE");
    }
    if word & !STATUS_NEGATIVE_DT != 0 {
        parts.push("METER_ERROR");
    }
    parts.join(" ")
}

/// RFC 3339 in UTC, with milliseconds only when there are any.
fn rfc3339(ts: TimestampMs) -> String {
    chrono::DateTime::from_timestamp_millis(ts)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// The telegram of `meter` (a device of substation `name`) as it shows now, stamped `ts`.
pub fn telegram(meter: &SimDevice, name: &str, serial: &str, ts: TimestampMs) -> Vec<u8> {
    let mut t = Map::new();
    t.insert("_".into(), "telegram".into());
    t.insert("media".into(), "heat".into());
    t.insert("meter".into(), meter.template.clone().into());
    t.insert("name".into(), name.into());
    t.insert("id".into(), serial.into());
    for p in meter.points.iter().filter(|p| p.supported && !p.sentinel) {
        if !p.value.is_finite() {
            continue;
        }
        if p.def.quantity == Quantity::DeviceStatus {
            let word = p.value as u16;
            t.insert("current_status".into(), status_text(word).into());
            t.insert("error_flags".into(), format!("{word:04X}").into());
            continue;
        }
        if let Some((key, v)) = field(p.def.quantity, p.def.unit, p.value)
            && let Some(n) = serde_json::Number::from_f64(v)
        {
            t.entry(key).or_insert(Value::Number(n));
        }
    }
    t.insert("timestamp".into(), rfc3339(ts).into());
    serde_json::to_vec(&Value::Object(t)).unwrap_or_default()
}

#[cfg(test)]
#[path = "amr_tests.rs"]
mod decode_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_stable_and_change_on_replacement() {
        let a = serial(42, "ss-01", 0);
        assert_eq!(a.len(), 8);
        assert!(a.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(a, serial(42, "ss-01", 0));
        assert_ne!(a, serial(42, "ss-01", 1));
        assert_ne!(a, serial(43, "ss-01", 0));
        assert_ne!(a, serial(42, "ss-02", 0));
    }

    #[test]
    fn fields_carry_the_units_their_names_say() {
        // The meter's own energy unit is kept where wmbusmeters has a field for it.
        assert_eq!(
            field(Quantity::HeatEnergy, Unit::MWh, 12.5),
            Some(("total_energy_consumption_mwh", 12.5))
        );
        // 2,000 l = 2 m³; 1,500 l/h = 1.5 m³/h; 0.2 MW = 200 kW; 300 K = 26.85 °C.
        let (k, v) = field(Quantity::Volume, Unit::Litre, 2000.0).unwrap();
        assert_eq!(k, "total_volume_m3");
        assert!((v - 2.0).abs() < 1e-12);
        let (k, v) = field(Quantity::Flow, Unit::LitrePerH, 1500.0).unwrap();
        assert_eq!(k, "volume_flow_m3h");
        assert!((v - 1.5).abs() < 1e-12);
        let (k, v) = field(Quantity::HeatPower, Unit::MW, 0.2).unwrap();
        assert_eq!(k, "power_kw");
        assert!((v - 200.0).abs() < 1e-9);
        let (_, v) = field(Quantity::SupplyTemp, Unit::Kelvin, 300.0).unwrap();
        assert!((v - 26.85).abs() < 1e-9);
        assert_eq!(field(Quantity::DiffPressure, Unit::Bar, 1.0), None);
    }

    #[test]
    fn status_words_are_named() {
        assert_eq!(status_text(0), "OK");
        assert_eq!(status_text(0x0010), "NEGATIVE_TEMPERATURE_DIFFERENCE");
        assert_eq!(
            status_text(0x0014),
            "NEGATIVE_TEMPERATURE_DIFFERENCE METER_ERROR"
        );
        assert_eq!(status_text(0x0004), "METER_ERROR");
        assert_eq!(rfc3339(1_768_024_800_000), "2026-01-10T06:00:00Z");
        assert_eq!(rfc3339(1_768_024_800_250), "2026-01-10T06:00:00.250Z");
    }
}
