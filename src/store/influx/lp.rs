//! Line protocol encoding of samples, KPI results, events and write markers.
//!
//! Naming (design.md §3, docs/influxdb.md): measurement = asset kind, tag `asset`, field =
//! quantity name, and the quality code as the integer field `<quantity>_q` beside it. Quality
//! is a field, not a tag: as a tag it would make every (asset, quality) pair its own series, so
//! a value corrected from `suspect` to `good` at the same timestamp would become a second point
//! instead of replacing the first, and the series count would grow six-fold.
//!
//! Every sample is its own line (one value field and its quality field). InfluxDB merges lines
//! of the same series and timestamp, so storage is the same as one line per asset and instant,
//! but a line the server rejects then names exactly one sample, which is what quarantine needs.
//!
//! Timestamps are sent in nanoseconds (`precision=ns`) so the write marker, which takes the
//! server's clock, is unique per request (see `write.rs`).

use crate::model::{Sample, TimestampMs};
use crate::store::{EventRecord, KpiRecord};
use std::fmt::Write as _;

/// Measurement of samples whose asset is not in the configuration.
pub const UNKNOWN_ASSET_MEASUREMENT: &str = "asset";
/// Measurement of KPI results (the latest revision per period).
pub const KPI_MEASUREMENT: &str = "kpi_result";
/// Measurement of events.
pub const EVENT_MEASUREMENT: &str = "event";
/// Measurement of write markers (one per write request; the store's change log).
pub const MARKER_MEASUREMENT: &str = "heatkpi_write";
/// Suffix of the quality field beside each quantity field.
pub const QUALITY_SUFFIX: &str = "_q";
/// The asset kinds that name sample measurements.
pub const KIND_MEASUREMENTS: &[&str] = &[
    "source",
    "unit",
    "stack",
    "network",
    "substation",
    "weather",
    "meter",
    UNKNOWN_ASSET_MEASUREMENT,
];

/// Nanoseconds per millisecond.
pub const NS_PER_MS: i64 = 1_000_000;

fn escape_into(out: &mut String, s: &str, special: &[char]) {
    // Names and ids almost never need escaping: copy them whole (a character-by-character
    // copy was the largest single cost of the write path).
    if !s
        .bytes()
        .any(|b| matches!(b, b',' | b'=' | b' ' | b'"' | b'\\' | b'\n' | b'\r'))
    {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if special.contains(&c) || c == '\\' {
            out.push('\\');
        }
        // A raw newline ends a line; no name or tag value may carry one.
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
}

/// Append a measurement name.
pub fn push_measurement(out: &mut String, m: &str) {
    escape_into(out, m, &[',', ' ']);
}

/// Append `,key=value` (skipped for an empty value, which line protocol cannot carry).
pub fn push_tag(out: &mut String, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.push(',');
    escape_into(out, key, &[',', '=', ' ']);
    out.push('=');
    escape_into(out, value, &[',', '=', ' ']);
}

/// Append a field key.
pub fn push_key(out: &mut String, key: &str) {
    escape_into(out, key, &[',', '=', ' ']);
}

/// Append a string field value, quoted.
pub fn push_string_value(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Append a float field value. Rust prints the shortest text that reads back as the same
/// `f64` and never uses exponents; `71.0` prints as `71`, which line protocol reads as a
/// float (integers carry an `i`).
pub fn push_float(out: &mut String, v: f64) {
    let _ = write!(out, "{v}");
}

/// One sample as a line: `<kind>,asset=<id> <q>=<v>,<q>_q=<code>i <ts_ns>`. `None` for a
/// value line protocol cannot carry (NaN, ±inf: ingest never stores them).
pub fn sample_line(out: &mut String, measurement: &str, s: &Sample) -> bool {
    if !s.value.is_finite() {
        return false;
    }
    push_measurement(out, measurement);
    push_tag(out, "asset", &s.series.asset);
    out.push(' ');
    let q = s.series.quantity.name();
    push_key(out, q);
    out.push('=');
    push_float(out, s.value);
    out.push(',');
    push_key(out, q);
    out.push_str(QUALITY_SUFFIX);
    out.push('=');
    push_int(out, i64::from(s.quality.code()));
    out.push_str("i ");
    push_int(out, ms_to_ns(s.ts));
    out.push('\n');
    true
}

/// Append an integer in decimal (without going through `fmt`, which the write path calls
/// twice per line).
pub fn push_int(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

/// A ms timestamp in ns, saturating (year 2262 is out of InfluxDB's range anyway).
pub fn ms_to_ns(ts: TimestampMs) -> i64 {
    ts.saturating_mul(NS_PER_MS)
}

/// The write marker of one request: written without a timestamp, so the server's clock
/// orders markers across every writer. `writer` tells writers apart so two markers never
/// share a series and an instant.
pub fn marker_line(
    out: &mut String,
    writer: &str,
    min_ts: TimestampMs,
    max_ts: TimestampMs,
    n: usize,
) {
    push_measurement(out, MARKER_MEASUREMENT);
    push_tag(out, "writer", writer);
    let _ = writeln!(out, " min_ts={min_ts}i,max_ts={max_ts}i,points={n}i");
}

/// A KPI result as a line, time = period start. Tags `kpi` and `asset`; fields `value`,
/// `completeness`, `status`, `unit` (when the body has them), `period_end_ms`, `as_of_ms` and
/// the whole JSON `body`. Status is a field, not a tag: a period whose status changes between
/// revisions (provisional → pass after late data) must stay one point that the newest revision
/// overwrites, not become two series with two values for one period.
pub fn result_line(out: &mut String, r: &KpiRecord) {
    push_measurement(out, KPI_MEASUREMENT);
    push_tag(out, "kpi", &r.kpi);
    push_tag(out, "asset", &r.asset);
    out.push(' ');
    for key in ["value", "completeness", "uncertainty"] {
        if let Some(v) = r
            .body
            .get(key)
            .and_then(|v| v.as_f64())
            .filter(|v| v.is_finite())
        {
            out.push_str(key);
            out.push('=');
            push_float(out, v);
            out.push(',');
        }
    }
    for key in ["status", "unit"] {
        if let Some(v) = r.body.get(key).and_then(|v| v.as_str()) {
            out.push_str(key);
            out.push('=');
            push_string_value(out, v);
            out.push(',');
        }
    }
    let _ = write!(
        out,
        "period_end_ms={}i,as_of_ms={}i,body=",
        r.period_end, r.as_of
    );
    push_string_value(out, &r.body.to_string());
    let _ = writeln!(out, " {}", ms_to_ns(r.period_start));
}

/// An event as a line, time = event start. Tags `kind`, `subject` and `id` (events are few,
/// and the id as a tag keeps two events of one subject starting at the same instant apart).
/// Fields: `open`, `end_ms` (0 while open), `body` and `rev` (the writer's clock): writing the
/// same id again at the same start replaces the point; if the start moved, readers keep the
/// highest `rev` per id.
pub fn event_line(out: &mut String, e: &EventRecord, rev: i64) {
    push_measurement(out, EVENT_MEASUREMENT);
    push_tag(out, "kind", &e.kind);
    push_tag(out, "subject", &e.subject);
    push_tag(out, "id", &e.id);
    let _ = write!(
        out,
        " open={},end_ms={}i,rev={}i,body=",
        e.end.is_none(),
        e.end.unwrap_or(0),
        rev
    );
    push_string_value(out, &e.body.to_string());
    let _ = writeln!(out, " {}", ms_to_ns(e.start));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Quality, Quantity, SeriesKey};

    #[test]
    fn sample_lines_escape_and_mark_integers() {
        let s = Sample {
            series: SeriesKey::new("ss-042", Quantity::SupplyTemp),
            ts: 1_700_000_000_123,
            value: 71.0,
            quality: Quality::Suspect,
        };
        let mut out = String::new();
        assert!(sample_line(&mut out, "substation", &s));
        assert_eq!(
            out,
            "substation,asset=ss-042 supply_temp=71,supply_temp_q=1i 1700000000123000000\n"
        );
        let mut m = String::new();
        push_measurement(&mut m, "a b,c");
        push_tag(&mut m, "k=1", "v 2");
        push_tag(&mut m, "empty", "");
        assert_eq!(m, "a\\ b\\,c,k\\=1=v\\ 2");
        let mut nan = String::new();
        let bad = Sample {
            value: f64::NAN,
            ..s
        };
        assert!(!sample_line(&mut nan, "substation", &bad));
        assert!(nan.is_empty());
    }

    #[test]
    fn integers_and_names_without_fmt() {
        for (v, text) in [
            (0i64, "0"),
            (7, "7"),
            (-1, "-1"),
            (1_700_000_000_123_000_000, "1700000000123000000"),
            (i64::MAX, "9223372036854775807"),
            (i64::MIN, "-9223372036854775808"),
        ] {
            let mut o = String::from("x=");
            push_int(&mut o, v);
            assert_eq!(o, format!("x={text}"));
        }
        // Plain ids are copied whole; a backslash or newline still takes the escaping path.
        let mut m = String::new();
        push_tag(&mut m, "asset", "ss-042_Ä");
        push_tag(&mut m, "asset", "a\\b\nc");
        assert_eq!(m, ",asset=ss-042_Ä,asset=a\\\\b\\nc");
    }

    #[test]
    fn floats_round_trip_through_text() {
        for v in [
            0.1,
            1e-10,
            1e21,
            -3.5,
            123456.789,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let mut o = String::new();
            push_float(&mut o, v);
            assert!(!o.contains('e'), "{o}");
            assert_eq!(o.parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn strings_and_events() {
        let mut o = String::new();
        push_string_value(&mut o, r#"{"a":"x\"y"}"#);
        assert_eq!(o, r#""{\"a\":\"x\\\"y\"}""#);
        let e = EventRecord {
            id: "reset-1".into(),
            kind: "counter_reset".into(),
            subject: "ss-1.heat_energy".into(),
            start: 5,
            end: None,
            body: serde_json::json!({"n": 1}),
        };
        let mut l = String::new();
        event_line(&mut l, &e, 9);
        assert_eq!(
            l,
            "event,kind=counter_reset,subject=ss-1.heat_energy,id=reset-1 open=true,end_ms=0i,rev=9i,body=\"{\\\"n\\\":1}\" 5000000\n"
        );
    }
}
