//! The wmbusmeters preset: one JSON object per telegram, as wmbusmeters publishes it with
//! `shell=/usr/bin/mosquitto_pub -t wmbusmeters/$METER_NAME -m "$METER_JSON"`, e.g.
//!
//! ```json
//! {"_":"telegram","media":"heat","meter":"multical21","name":"ss042","id":"12345678",
//!  "total_energy_consumption_kwh":1234.5,"total_volume_m3":56.7,"flow_temperature_c":71.2,
//!  "return_temperature_c":42.1,"volume_flow_m3h":1.25,"power_kw":36.1,
//!  "current_status":"OK","timestamp":"2026-01-15T10:00:00Z"}
//! ```
//!
//! The meter becomes an asset through the subscription's `meters` table (by `id`, then by
//! `name`), or through `asset` / an `{asset}` template level. Fields heatkpi knows are mapped by
//! the table below; `fields` in the subscription add more or override them. Other fields
//! (`rssi_dbm`, `meter_date`, …) are not readings and are ignored without a count.

use super::payload::{
    Decoded, Mapping, RejectReason, number_from_json, parse_json, record_quality, record_time,
};
use crate::ingest::Reading;
use crate::model::{Quality, Quantity, SeriesKey, TimestampMs, Unit, is_valid_asset_id};
use serde_json::Value;

/// wmbusmeters field names (the unit is in the suffix) and what they measure.
pub const KNOWN_FIELDS: &[(&str, Quantity, Unit)] = &[
    (
        "total_energy_consumption_kwh",
        Quantity::HeatEnergy,
        Unit::KWh,
    ),
    (
        "total_energy_consumption_mwh",
        Quantity::HeatEnergy,
        Unit::MWh,
    ),
    (
        "total_energy_consumption_gj",
        Quantity::HeatEnergy,
        Unit::GJ,
    ),
    ("total_volume_m3", Quantity::Volume, Unit::M3),
    ("flow_temperature_c", Quantity::SupplyTemp, Unit::DegC),
    ("return_temperature_c", Quantity::ReturnTemp, Unit::DegC),
    ("volume_flow_m3h", Quantity::Flow, Unit::M3PerH),
    ("power_kw", Quantity::HeatPower, Unit::KW),
    (
        "current_power_consumption_kw",
        Quantity::HeatPower,
        Unit::KW,
    ),
];

/// Decode one wmbusmeters message (an object, or an array of objects).
pub(super) fn decode(m: &Mapping, payload: &[u8], received: TimestampMs, out: &mut Decoded) {
    let Some(root) = parse_json(payload, out) else {
        return;
    };
    let telegrams: Vec<&Value> = match &root {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    for t in telegrams {
        decode_telegram(m, t, received, out);
    }
}

fn text_of<'a>(t: &'a Value, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    match t.get(key)? {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        _ => None,
    }
}

fn decode_telegram(m: &Mapping, t: &Value, received: TimestampMs, out: &mut Decoded) {
    if !t.is_object() {
        return out.reject(RejectReason::WrongType, "telegram is not a JSON object");
    }
    let id = text_of(t, "id");
    let name = text_of(t, "name");
    let by_table = [&id, &name]
        .into_iter()
        .flatten()
        .find_map(|k| m.meter_asset(k));
    let asset = match by_table {
        Some(a) => a.to_string(),
        None => match m.asset_from_topic(&out.captures) {
            Some(a) => a,
            None => {
                return out.reject(
                    RejectReason::UnknownMeter,
                    format!(
                        "meter id `{}` name `{}` is not in `meters`",
                        id.as_deref().unwrap_or("?"),
                        name.as_deref().unwrap_or("?")
                    ),
                );
            }
        },
    };
    if !is_valid_asset_id(&asset) {
        return out.reject(
            RejectReason::BadAsset,
            format!("asset `{asset}` may only use letters, digits, `-` and `_`"),
        );
    }
    let Some(ts) = record_time(m, t, t, received, out) else {
        return;
    };
    let Some(mut quality) = record_quality(m, t, t, out) else {
        return;
    };
    // A meter reporting an error condition (leak, dry, sensor fault) still reports values, but
    // they are not plain good data (domain.md §8, meter status flags).
    let status = text_of(t, "current_status").or_else(|| text_of(t, "status"));
    if quality == Quality::Good
        && status.is_some_and(|s| !s.trim().is_empty() && !s.trim().eq_ignore_ascii_case("ok"))
    {
        quality = Quality::Suspect;
    }
    let Some(obj) = t.as_object() else { return };
    for (key, value) in obj {
        let Some((quantity, unit, field_asset)) = m.wmbus_field(key, &out.captures) else {
            continue;
        };
        let Some(v) = number_from_json(value, key, out) else {
            continue;
        };
        out.readings.push(Reading {
            series: SeriesKey::new(field_asset.unwrap_or_else(|| asset.clone()), quantity),
            ts,
            value: v,
            unit,
            quality,
        });
    }
    for missing in m.required_fields().filter(|f| !obj.contains_key(*f)) {
        out.reject(
            RejectReason::MissingField,
            format!("no `{missing}` in the telegram"),
        );
    }
}
