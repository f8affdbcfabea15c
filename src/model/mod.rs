//! The vocabulary every module shares: samples, series keys, quality, quantities and units,
//! local-time windows and counter arithmetic.
//!
//! Nothing here does I/O and nothing here depends on another heatkpi module (design.md §2).

pub mod asset;
pub mod counter;
pub mod quantity;
pub mod time;

pub use quantity::{Kind, Quantity, Unit};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Milliseconds since the Unix epoch, UTC.
pub type TimestampMs = i64;

/// Data quality of one sample (design.md §3). Ordered from best to worst only by convention;
/// compare with [`Quality::is_valid`], not with `<`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Measured and plausible.
    Good = 0,
    /// Measured, but outside the plausibility limits of its point or quantity.
    Suspect = 1,
    /// Device error, sentinel value, or a status bit that marks the reading invalid.
    Bad = 2,
    /// The instrument was in maintenance (e.g. CEMS maintenance mode).
    Maintenance = 3,
    /// The instrument was calibrating.
    Calibration = 4,
    /// Not measured: interpolated or estimated by heatkpi or an upstream system.
    Estimated = 5,
}

impl Quality {
    /// Every quality, in code order.
    pub const ALL: [Quality; 6] = [
        Quality::Good,
        Quality::Suspect,
        Quality::Bad,
        Quality::Maintenance,
        Quality::Calibration,
        Quality::Estimated,
    ];

    /// The stable small integer stored on disk.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The quality for a stored code; unknown codes read as `Bad`.
    pub fn from_code(code: u8) -> Quality {
        Quality::ALL
            .get(code as usize)
            .copied()
            .unwrap_or(Quality::Bad)
    }

    /// Whether a value of this quality may be used as a measurement in a KPI.
    pub fn is_valid(self) -> bool {
        matches!(self, Quality::Good)
    }

    /// The name used in files and output.
    pub fn name(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Suspect => "suspect",
            Quality::Bad => "bad",
            Quality::Maintenance => "maintenance",
            Quality::Calibration => "calibration",
            Quality::Estimated => "estimated",
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Quality {
    type Err = quantity::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quality::ALL
            .iter()
            .copied()
            .find(|q| q.name() == s)
            .ok_or_else(|| quantity::UnknownName {
                what: "quality",
                name: s.to_string(),
                known: Quality::ALL.iter().map(|q| q.name()).collect(),
            })
    }
}

/// One series: a quantity of an asset, written `<asset>.<quantity>` (e.g. `ss-042.supply_temp`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The asset id from the configuration.
    pub asset: String,
    /// The measured quantity.
    pub quantity: Quantity,
}

impl SeriesKey {
    /// A key for `asset` and `quantity`.
    pub fn new(asset: impl Into<String>, quantity: Quantity) -> Self {
        SeriesKey {
            asset: asset.into(),
            quantity,
        }
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.asset, self.quantity.name())
    }
}

/// Why a series key could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesKeyError {
    /// No dot between asset and quantity.
    #[error("series `{0}` is not `<asset>.<quantity>` (e.g. `ss-042.supply_temp`)")]
    Shape(String),
    /// The asset part is empty or has characters outside `[A-Za-z0-9_-]`.
    #[error("asset id `{0}` may only use letters, digits, `-` and `_`")]
    Asset(String),
    /// The quantity is not in the vocabulary.
    #[error(transparent)]
    Quantity(#[from] quantity::UnknownName),
}

/// Whether `id` is a valid asset id: non-empty, letters, digits, `-`, `_`.
pub fn is_valid_asset_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FromStr for SeriesKey {
    type Err = SeriesKeyError;
    fn from_str(s: &str) -> Result<Self, SeriesKeyError> {
        let (asset, quantity) = s
            .rsplit_once('.')
            .ok_or_else(|| SeriesKeyError::Shape(s.to_string()))?;
        if !is_valid_asset_id(asset) {
            return Err(SeriesKeyError::Asset(asset.to_string()));
        }
        Ok(SeriesKey::new(asset, quantity.parse()?))
    }
}

impl Serialize for SeriesKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SeriesKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One reading of one series, in the canonical unit of its quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Which series.
    pub series: SeriesKey,
    /// When, in ms since the epoch (UTC).
    pub ts: TimestampMs,
    /// The value in the canonical unit.
    pub value: f64,
    /// Its quality.
    pub quality: Quality,
}

/// A sample without its series key, as returned by range reads of one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// When, in ms since the epoch (UTC).
    pub ts: TimestampMs,
    /// The value in the canonical unit.
    pub value: f64,
    /// Its quality.
    pub quality: Quality,
}

/// Match `text` against a glob with `*` (any run of characters) and `?` (one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_key_round_trip_and_errors() {
        let k: SeriesKey = "ss-042.supply_temp".parse().unwrap();
        assert_eq!(k, SeriesKey::new("ss-042", Quantity::SupplyTemp));
        assert_eq!(k.to_string(), "ss-042.supply_temp");
        assert!(matches!(
            "ss-042".parse::<SeriesKey>(),
            Err(SeriesKeyError::Shape(_))
        ));
        assert!(matches!(
            "ss 1.flow".parse::<SeriesKey>(),
            Err(SeriesKeyError::Asset(_))
        ));
        let e = "ss-1.supply_tmp".parse::<SeriesKey>().unwrap_err();
        assert!(e.to_string().contains("supply_temp"), "{e}");
    }

    #[test]
    fn quality_codes_round_trip() {
        for q in Quality::ALL {
            assert_eq!(Quality::from_code(q.code()), q);
            assert_eq!(q.name().parse::<Quality>().unwrap(), q);
        }
        assert_eq!(Quality::from_code(200), Quality::Bad);
    }

    #[test]
    fn globs() {
        assert!(glob_match("ss-*.supply_temp", "ss-042.supply_temp"));
        assert!(!glob_match("ss-*.supply_temp", "ss-042.return_temp"));
        assert!(glob_match("*", ""));
        assert!(glob_match("ss-0?2.*", "ss-042.flow"));
        assert!(!glob_match("ss-0?2.*", "ss-0042.flow"));
        assert!(glob_match("*temp", "boiler-1.supply_temp"));
    }
}
