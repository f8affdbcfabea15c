//! JSON payloads: field paths, records, timestamps and quality flags, for the `json` format
//! and the wmbusmeters preset.

use super::{Decoded, Mapping, RejectReason, excerpt, message_asset, number_from_text};
use crate::config::mqtt::TimeFormat;
use crate::ingest::Reading;
use crate::model::{Quality, SeriesKey, TimestampMs};
use serde_json::Value;

/// A finite number from a JSON value; `None` after recording a reject.
pub(in crate::collect::mqtt) fn number_from_json(
    v: &Value,
    what: &str,
    out: &mut Decoded,
) -> Option<f64> {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Some(f),
            _ => {
                out.reject(RejectReason::NotFinite, format!("{what} is {n}"));
                None
            }
        },
        Value::String(s) => number_from_text(s.trim(), what, out),
        other => {
            let kind = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Array(_) => "an array",
                _ => "an object",
            };
            out.reject(
                RejectReason::WrongType,
                format!("{what} is {kind}, not a number"),
            );
            None
        }
    }
}

/// The value at a dotted path (object keys, or indices into arrays).
pub(super) fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| match v {
        Value::Object(o) => o.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Parse JSON, reading bare `NaN` / `Infinity` (as Python's `json.dumps` writes them) as
/// strings, so they are rejected per value as `not_finite` instead of losing the message.
pub(in crate::collect::mqtt) fn parse_json(payload: &[u8], out: &mut Decoded) -> Option<Value> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(v) => Some(v),
        Err(first) => {
            let retry = quote_non_finite(payload)
                .and_then(|fixed| serde_json::from_slice::<Value>(&fixed).ok());
            if retry.is_none() {
                out.reject(RejectReason::Malformed, format!("invalid JSON: {first}"));
            }
            retry
        }
    }
}

/// `NaN`, `Infinity` and `-Infinity` outside strings, quoted; `None` if there are none.
fn quote_non_finite(b: &[u8]) -> Option<Vec<u8>> {
    const WORDS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out = Vec::with_capacity(b.len() + 8);
    let (mut i, mut in_str, mut changed) = (0, false, false);
    while i < b.len() {
        let c = b[i];
        if in_str {
            out.push(c);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1]);
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
            out.push(c);
        } else if let Some(w) = WORDS.iter().find(|w| b[i..].starts_with(w)) {
            out.push(b'"');
            out.extend_from_slice(w);
            out.push(b'"');
            i += w.len();
            changed = true;
            continue;
        } else {
            out.push(c);
        }
        i += 1;
    }
    changed.then_some(out)
}

/// Timestamp of a record (the record first, then the message root); `None` after a reject.
pub(in crate::collect::mqtt) fn record_time(
    m: &Mapping,
    record: &Value,
    root: &Value,
    received: TimestampMs,
    out: &mut Decoded,
) -> Option<TimestampMs> {
    let Some(p) = &m.time_field else {
        return Some(received);
    };
    let Some(v) = lookup(record, p).or_else(|| lookup(root, p)) else {
        out.reject(
            RejectReason::MissingTimestamp,
            format!("no `{}` in the record", p.join(".")),
        );
        return None;
    };
    match parse_time(v, m.time_format) {
        Ok(ts) => Some(ts),
        Err(e) => {
            out.reject(RejectReason::BadTimestamp, e);
            None
        }
    }
}

/// 1990-01-01 and 2200-01-01 in ms: outside, a device clock was never set or a unit is wrong.
const TS_MIN: TimestampMs = 631_152_000_000;
const TS_MAX: TimestampMs = 7_258_118_400_000;

/// A timestamp from a JSON value in `format`.
pub fn parse_time(v: &Value, format: TimeFormat) -> Result<TimestampMs, String> {
    let rfc = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| format!("timestamp `{}`: {e}", excerpt(s, 40)))
    };
    let ms = match (v, format) {
        (Value::String(s), TimeFormat::Rfc3339) => rfc(s.trim())?,
        (Value::String(s), TimeFormat::Auto) => match s.trim().parse::<f64>() {
            Ok(x) => epoch(x, format)?,
            Err(_) => rfc(s.trim())?,
        },
        (Value::String(s), f) => epoch(
            s.trim()
                .parse::<f64>()
                .map_err(|_| format!("timestamp `{}` is not a number", excerpt(s, 40)))?,
            f,
        )?,
        (Value::Number(n), f) if f != TimeFormat::Rfc3339 => {
            epoch(n.as_f64().unwrap_or(f64::NAN), f)?
        }
        (other, f) => {
            return Err(format!(
                "timestamp `{}` is not a {f:?} time",
                excerpt(&other.to_string(), 40)
            ));
        }
    };
    if (TS_MIN..=TS_MAX).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "timestamp {ms} ms lies outside 1990..2200 (clock not set, or wrong `time_format`?)"
        ))
    }
}

fn epoch(x: f64, f: TimeFormat) -> Result<TimestampMs, String> {
    if !x.is_finite() {
        return Err("timestamp is not a finite number".into());
    }
    let ms = match f {
        TimeFormat::EpochS => x * 1e3,
        TimeFormat::EpochMs => x,
        TimeFormat::EpochUs => x / 1e3,
        // by size: seconds until the year 5138, then ms, µs, ns
        _ if x.abs() < 1e11 => x * 1e3,
        _ if x.abs() < 1e14 => x,
        _ if x.abs() < 1e17 => x / 1e3,
        _ => x / 1e6,
    };
    Ok(ms.round().clamp(i64::MIN as f64, i64::MAX as f64) as TimestampMs)
}

/// Quality of a record; `None` after a reject.
pub(in crate::collect::mqtt) fn record_quality(
    m: &Mapping,
    record: &Value,
    root: &Value,
    out: &mut Decoded,
) -> Option<Quality> {
    let Some(p) = &m.quality_field else {
        return Some(Quality::Good);
    };
    let Some(v) = lookup(record, p).or_else(|| lookup(root, p)) else {
        return Some(Quality::Good);
    };
    let key = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => {
            out.reject(RejectReason::BadQuality, format!("quality flag is {other}"));
            return None;
        }
    };
    if let Some(q) = m.quality_map.get(&key) {
        return Some(*q);
    }
    match key.parse::<Quality>() {
        Ok(q) => Some(q),
        Err(_) => {
            out.reject(
                RejectReason::BadQuality,
                format!(
                    "quality flag `{}` is neither a quality name nor in `quality_map`",
                    excerpt(&key, 40)
                ),
            );
            None
        }
    }
}

/// The records of a JSON message.
pub(in crate::collect::mqtt) fn records<'a>(
    m: &Mapping,
    root: &'a Value,
    out: &mut Decoded,
) -> Vec<&'a Value> {
    let list = match &m.records {
        Some(p) => match lookup(root, p) {
            Some(v) => v,
            None => {
                out.reject(
                    RejectReason::MissingField,
                    format!("no records array at `{}`", p.join(".")),
                );
                return Vec::new();
            }
        },
        None => root,
    };
    match list {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    }
}

pub(super) fn decode(m: &Mapping, payload: &[u8], received: TimestampMs, out: &mut Decoded) {
    let Some(root) = parse_json(payload, out) else {
        return;
    };
    for (n, record) in records(m, &root, out).into_iter().enumerate() {
        if !record.is_object() {
            out.reject(
                RejectReason::WrongType,
                format!("record {n} is not a JSON object"),
            );
            continue;
        }
        let Some(ts) = record_time(m, record, &root, received, out) else {
            continue;
        };
        let Some(quality) = record_quality(m, record, &root, out) else {
            continue;
        };
        for f in &m.fields {
            let Some(v) = lookup(record, &f.path) else {
                if !f.optional {
                    out.reject(
                        RejectReason::MissingField,
                        format!("no `{}` in record {n}", f.path.join(".")),
                    );
                }
                continue;
            };
            let Some(value) = number_from_json(v, &format!("`{}`", f.path.join(".")), out) else {
                continue;
            };
            let Some(asset) = message_asset(m, f.asset.as_ref(), out) else {
                continue;
            };
            out.readings.push(Reading {
                series: SeriesKey::new(asset, f.quantity),
                ts,
                value,
                unit: f.unit,
                quality,
            });
        }
    }
}
