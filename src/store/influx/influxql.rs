//! InfluxQL text: quoting of identifiers and literals, time bounds, and reading typed values
//! out of answer rows. Nothing here talks to a server.

use crate::model::TimestampMs;
use crate::model::time::Window;

/// A double-quoted identifier (measurement, tag key, field key).
pub fn ident(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            o.push('\\');
        }
        o.push(c);
    }
    o.push('"');
    o
}

/// A single-quoted string literal (tag values).
pub fn literal(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            o.push('\\');
        }
        o.push(c);
    }
    o.push('\'');
    o
}

/// `time >= <start>ms AND time < <end>ms`: the half-open window of the store contract.
pub fn window(w: Window) -> String {
    format!("time >= {}ms AND time < {}ms", w.start, w.end)
}

/// The asset part of a series glob as an anchored InfluxQL regex, when the glob pins it down:
/// the glob has exactly one literal `.`, and since neither asset ids nor quantity names contain
/// one, the part before it must match the whole asset id.
pub fn asset_regex(glob: &str) -> Option<String> {
    if glob.matches('.').count() != 1 {
        return None;
    }
    let (asset, _) = glob.split_once('.')?;
    let mut re = String::from("/^");
    for c in asset.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c if c.is_ascii_alphanumeric() || c == '_' => re.push(c),
            // Everything else literal: escape regex specials and the `/` delimiter.
            c => {
                re.push('\\');
                re.push(c);
            }
        }
    }
    re.push_str("$/");
    Some(re)
}

/// A number cell as `f64` (`null` → `None`).
pub fn as_f64(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
}

/// An integer cell (quality codes, ms fields, epoch times).
pub fn as_i64(v: &serde_json::Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// The `time` cell of a row (epoch ms when queried with `epoch=ms`).
pub fn row_time(row: &[serde_json::Value]) -> Option<TimestampMs> {
    row.first().and_then(as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident(r#"a"b"#), r#""a\"b""#);
        assert_eq!(literal("it's"), r"'it\'s'");
        assert_eq!(
            window(Window::new(1, 2)),
            "time >= 1ms AND time < 2ms".to_string()
        );
    }

    #[test]
    fn asset_regex_only_when_the_glob_pins_the_asset() {
        assert_eq!(
            asset_regex("ss-*.supply_temp").as_deref(),
            Some(r"/^ss\-.*$/")
        );
        assert_eq!(asset_regex("ss-0?2.*").as_deref(), Some(r"/^ss\-0.2$/"));
        assert_eq!(asset_regex("*temp"), None);
        assert_eq!(asset_regex("a.b.c"), None);
    }
}
