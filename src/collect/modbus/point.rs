//! From raw registers to a point value: decoding (via `collect::decode`), sentinels, and the
//! effect of status words on the quality of a device's other points.

use super::poll::RawSlice;
use crate::collect::decode;
use crate::config::modbus::PointDef;
use crate::model::Quality;

/// A decoded point.
#[derive(Debug, Clone, PartialEq)]
pub enum PointValue {
    /// A number after scale and offset, in the point's declared unit.
    Number(f64),
    /// The raw value is one of the point's sentinels ("no value").
    Sentinel,
    /// A string (serial numbers, firmware versions).
    Text(String),
}

/// What a status word says about the device's other readings; ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusEffect {
    /// Normal operation.
    None,
    /// Calibration in progress.
    Calibration,
    /// Maintenance mode.
    Maintenance,
    /// Fault: readings invalid.
    Bad,
}

impl StatusEffect {
    /// The quality readings get under this status.
    pub fn quality(self) -> Quality {
        match self {
            StatusEffect::None => Quality::Good,
            StatusEffect::Calibration => Quality::Calibration,
            StatusEffect::Maintenance => Quality::Maintenance,
            StatusEffect::Bad => Quality::Bad,
        }
    }
}

/// The effect of status value `v` given the point's `status_bits` masks (`maintenance`,
/// `calibration`, `bad` or `fault`).
pub fn status_effect(p: &PointDef, v: f64) -> StatusEffect {
    let word = v as u64;
    let mut effect = StatusEffect::None;
    for (name, mask) in &p.status_bits {
        if word & (*mask as u64) == 0 {
            continue;
        }
        let e = match name.as_str() {
            "maintenance" => StatusEffect::Maintenance,
            "calibration" => StatusEffect::Calibration,
            "bad" | "fault" => StatusEffect::Bad,
            _ => StatusEffect::None,
        };
        effect = effect.max(e);
    }
    effect
}

/// Decode one point from its part of a reply. Coils and discrete inputs arrive as bits and
/// are handed to the codec as words 0/1.
pub fn decode_point(p: &PointDef, raw: RawSlice<'_>) -> Result<PointValue, String> {
    let bits: Vec<u16>;
    let words = match raw {
        RawSlice::Words(w) => w,
        RawSlice::Bits(b) => {
            bits = b.iter().map(|x| u16::from(*x)).collect();
            &bits
        }
    };
    let d = decode::decode_point(p, words).map_err(|e| e.to_string())?;
    Ok(match d.raw {
        decode::RawValue::Text(t) => PointValue::Text(t),
        _ if d.sentinel => PointValue::Sentinel,
        _ => PointValue::Number(d.value),
    })
}
