//! Influx line protocol, as heatkpi maps it (design.md §3): measurement = asset kind, tag
//! `asset` = asset id, one field per quantity in its canonical unit, optional tag `quality`.
//!
//! `substation,asset=ss-001 supply_temp=80.5,return_temp=45.2 1790812800000000000`
//!
//! Used by `heatkpi import` and by MQTT payloads in line protocol. Parsing follows the
//! InfluxDB escaping rules (backslash escapes commas, spaces and `=` in keys and tag values;
//! string fields are double-quoted). Fields that are not quantities, and string or boolean
//! fields, are reported, never silently skipped.

use crate::model::{Quality, Quantity, SeriesKey, TimestampMs};

/// Timestamp precision of a line-protocol source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Nanoseconds (the InfluxDB default).
    #[default]
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ns" | "n" => Ok(Precision::Ns),
            "us" | "u" => Ok(Precision::Us),
            "ms" => Ok(Precision::Ms),
            "s" => Ok(Precision::S),
            _ => Err(format!(
                "precision `{s}` not understood; write ns, us, ms or s"
            )),
        }
    }
}

impl Precision {
    fn to_ms(self, t: i64) -> TimestampMs {
        match self {
            Precision::Ns => t.div_euclid(1_000_000),
            Precision::Us => t.div_euclid(1_000),
            Precision::Ms => t,
            Precision::S => t.saturating_mul(1000),
        }
    }
}

/// One value parsed from a line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineValue {
    /// Series from the `asset` tag and the field name.
    pub series: SeriesKey,
    /// Timestamp (UTC ms).
    pub ts: TimestampMs,
    /// Value in the canonical unit.
    pub value: f64,
    /// Quality from the `quality` tag (good when absent).
    pub quality: Quality,
}

/// Why a line (or a field of it) could not be read. The message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Structure: missing fields, unbalanced quotes, bad escapes.
    #[error("{0}")]
    Syntax(String),
    /// No `asset` tag.
    #[error("no `asset` tag; write `<kind>,asset=<asset id> <quantity>=<value> <timestamp>`")]
    NoAsset,
    /// A field name that is not a quantity.
    #[error("field `{0}` is not a quantity (e.g. supply_temp, heat_energy, flow)")]
    UnknownField(String),
    /// A field value that is not a number.
    #[error("field `{field}` has value `{value}`, which is not a number")]
    BadValue {
        /// Field name.
        field: String,
        /// Value as written.
        value: String,
    },
    /// The timestamp is missing or not an integer.
    #[error("timestamp `{0}` is not an integer; write the time in {1} since the epoch")]
    BadTimestamp(String, &'static str),
    /// The `quality` tag is not a quality name.
    #[error("quality `{0}` is not one of good, suspect, bad, maintenance, calibration, estimated")]
    BadQuality(String),
    /// The asset id has characters ids may not have.
    #[error("asset `{0}` may only use letters, digits, `-` and `_`")]
    BadAsset(String),
}

/// Split at the first unescaped `sep` outside double quotes.
fn split_unescaped(s: &str, sep: u8) -> (&str, Option<&str>) {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quoted = false;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'"' => quoted = !quoted,
            c if c == sep && !quoted => return (&s[..i], Some(&s[i + 1..])),
            _ => {}
        }
        i += 1;
    }
    (s, None)
}

fn unescape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\\') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Parse one line into `out`. Blank lines and `#` comments give nothing. On a field error the
/// other fields of the line are still returned in `out` and the errors listed.
pub fn parse_line(
    line: &str,
    precision: Precision,
    default_ts: Option<TimestampMs>,
    out: &mut Vec<LineValue>,
    errors: &mut Vec<LineError>,
) {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return;
    }
    let (series_part, rest) = split_unescaped(line, b' ');
    let Some(rest) = rest else {
        errors.push(LineError::Syntax(
            "no fields; write `<kind>,asset=<id> <quantity>=<value> [timestamp]`".into(),
        ));
        return;
    };
    let (fields_part, ts_part) = split_unescaped(rest.trim_start(), b' ');
    let ts = match ts_part.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => match t.parse::<i64>() {
            Ok(v) => precision.to_ms(v),
            Err(_) => {
                let unit = match precision {
                    Precision::Ns => "nanoseconds",
                    Precision::Us => "microseconds",
                    Precision::Ms => "milliseconds",
                    Precision::S => "seconds",
                };
                errors.push(LineError::BadTimestamp(t.to_string(), unit));
                return;
            }
        },
        None => match default_ts {
            Some(t) => t,
            None => {
                errors.push(LineError::BadTimestamp(String::new(), "nanoseconds"));
                return;
            }
        },
    };
    let mut asset = None;
    let mut quality = Quality::Good;
    let (_measurement, mut tags) = split_unescaped(series_part, b',');
    while let Some(t) = tags {
        let (tag, next) = split_unescaped(t, b',');
        tags = next;
        let (k, v) = split_unescaped(tag, b'=');
        let v = v.map(unescape).unwrap_or_default();
        match &*unescape(k) {
            "asset" => asset = Some(v.into_owned()),
            "quality" => match v.parse() {
                Ok(q) => quality = q,
                Err(_) => {
                    errors.push(LineError::BadQuality(v.into_owned()));
                    return;
                }
            },
            _ => {} // other tags (site, network) are context only
        }
    }
    let Some(asset) = asset else {
        errors.push(LineError::NoAsset);
        return;
    };
    if !crate::model::is_valid_asset_id(&asset) {
        errors.push(LineError::BadAsset(asset));
        return;
    }
    let mut fields = Some(fields_part);
    while let Some(f) = fields {
        let (field, next) = split_unescaped(f, b',');
        fields = next;
        let (k, v) = split_unescaped(field, b'=');
        let name = unescape(k);
        let Some(v) = v else {
            errors.push(LineError::Syntax(format!("field `{name}` has no `=value`")));
            continue;
        };
        let Ok(quantity) = name.parse::<Quantity>() else {
            errors.push(LineError::UnknownField(name.into_owned()));
            continue;
        };
        let num = v.strip_suffix(['i', 'u']).unwrap_or(v);
        match num.parse::<f64>() {
            Ok(value) => out.push(LineValue {
                series: SeriesKey::new(asset.clone(), quantity),
                ts,
                value,
                quality,
            }),
            Err(_) => errors.push(LineError::BadValue {
                field: name.into_owned(),
                value: v.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> (Vec<LineValue>, Vec<LineError>) {
        let (mut out, mut errs) = (vec![], vec![]);
        parse_line(line, Precision::Ns, None, &mut out, &mut errs);
        (out, errs)
    }

    #[test]
    fn fields_tags_and_timestamps() {
        let (v, e) = parse(
            "substation,asset=ss-001,network=city supply_temp=80.5,return_temp=45i 1790812800000000000",
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].series.to_string(), "ss-001.supply_temp");
        assert_eq!(v[0].ts, 1_790_812_800_000);
        assert_eq!(v[1].value, 45.0);
        let (v, _) = parse("stack,asset=em-1,quality=maintenance so2=12 1790812800000000000");
        assert_eq!(v[0].quality, Quality::Maintenance);
    }

    #[test]
    fn escapes_and_quotes() {
        let (v, e) = parse(r#"substation,asset=ss-1,name=Main\ Street\,\ 5 flow=3.5 1000000"#);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(v[0].value, 3.5);
        assert_eq!(v[0].ts, 1);
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(parse("substation flow=1 1").1, vec![LineError::NoAsset]);
        assert!(
            matches!(&parse("substation,asset=ss-1 flw=1 1").1[0], LineError::UnknownField(f) if f == "flw")
        );
        assert!(matches!(
            &parse("substation,asset=ss-1 flow=\"x\" 1").1[0],
            LineError::BadValue { .. }
        ));
        assert!(matches!(
            &parse("substation,asset=ss-1 flow=1 soon").1[0],
            LineError::BadTimestamp(..)
        ));
        assert!(matches!(
            &parse("substation,asset=ss-1").1[0],
            LineError::Syntax(_)
        ));
        assert!(matches!(
            &parse("substation,asset=s?s flow=1 1").1[0],
            LineError::BadAsset(_)
        ));
        // one bad field does not lose the good one
        let (v, e) = parse("substation,asset=ss-1 flow=1,foo=2 1");
        assert_eq!((v.len(), e.len()), (1, 1));
        assert!(parse("# comment").0.is_empty() && parse("   ").1.is_empty());
    }

    #[test]
    fn precisions() {
        let mut out = vec![];
        let mut errs = vec![];
        parse_line(
            "s,asset=a flow=1 1790812800",
            Precision::S,
            None,
            &mut out,
            &mut errs,
        );
        assert_eq!(out[0].ts, 1_790_812_800_000);
        out.clear();
        parse_line(
            "s,asset=a flow=1",
            Precision::S,
            Some(42),
            &mut out,
            &mut errs,
        );
        assert_eq!(out[0].ts, 42);
    }
}
