//! Local-time windows over UTC timestamps.
//!
//! Samples are stored in UTC; days and months are civil days and months in the configured
//! time zone (design.md §4). A window list is computed here once and used by the store (for
//! windowed aggregates) and by the KPI periods, so a 23-hour or 25-hour DST day has exactly one
//! definition in the program.

use super::TimestampMs;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// A half-open UTC interval `[start, end)` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// First ms inside the window.
    pub start: TimestampMs,
    /// First ms after the window.
    pub end: TimestampMs,
}

impl Window {
    /// `[start, end)`.
    pub fn new(start: TimestampMs, end: TimestampMs) -> Self {
        Window { start, end }
    }
    /// Length in ms.
    pub fn len_ms(&self) -> i64 {
        self.end - self.start
    }
    /// Whether `ts` is inside.
    pub fn contains(&self, ts: TimestampMs) -> bool {
        ts >= self.start && ts < self.end
    }
}

/// How wide each aggregation window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// `n` minutes, aligned to local midnight (`15m`).
    Minutes(u32),
    /// `n` hours, aligned to local midnight (`1h`).
    Hours(u32),
    /// One local civil day (`1d`).
    Day,
    /// One local calendar month (`1mo`).
    Month,
}

impl Every {
    /// The window width in minutes for sub-day windows.
    fn minutes(self) -> Option<i64> {
        match self {
            Every::Minutes(n) => Some(n as i64),
            Every::Hours(n) => Some(n as i64 * 60),
            Every::Day | Every::Month => None,
        }
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Every::Minutes(n) => write!(f, "{n}m"),
            Every::Hours(n) => write!(f, "{n}h"),
            Every::Day => f.write_str("1d"),
            Every::Month => f.write_str("1mo"),
        }
    }
}

/// Why a window width could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "window `{0}` not understood; write a number and a unit: `15m`, `1h`, `6h`, `1d` or `1mo` (minutes and hours must divide a day)"
)]
pub struct EveryError(pub String);

impl FromStr for Every {
    type Err = EveryError;
    fn from_str(s: &str) -> Result<Self, EveryError> {
        let err = || EveryError(s.to_string());
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let n: u32 = s[..split].parse().map_err(|_| err())?;
        let every = match (&s[split..], n) {
            ("m" | "min", n) if n > 0 && 1440 % n == 0 => Every::Minutes(n),
            ("h", n) if n > 0 && 24 % n == 0 => Every::Hours(n),
            ("d", 1) => Every::Day,
            ("mo", 1) => Every::Month,
            _ => return Err(err()),
        };
        Ok(every)
    }
}

/// The UTC instant of local midnight starting `date` in `tz` (the first valid instant of the
/// day where midnight itself does not exist).
pub fn local_midnight(tz: Tz, date: NaiveDate) -> TimestampMs {
    let mut naive: NaiveDateTime = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        if let Some(dt) = tz.from_local_datetime(&naive).earliest() {
            return dt.with_timezone(&Utc).timestamp_millis();
        }
        naive += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
        .timestamp_millis()
}

/// The local civil date containing `ts`.
pub fn local_date(tz: Tz, ts: TimestampMs) -> NaiveDate {
    utc(ts).with_timezone(&tz).date_naive()
}

/// `ts` as a UTC date-time (the epoch for out-of-range values).
pub fn utc(ts: TimestampMs) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ts).unwrap_or_default()
}

/// The local day `[midnight, next midnight)` containing `ts`.
pub fn day_of(tz: Tz, ts: TimestampMs) -> Window {
    let d = local_date(tz, ts);
    Window::new(
        local_midnight(tz, d),
        local_midnight(tz, d + Duration::days(1)),
    )
}

/// The local calendar month `year-month`.
pub fn month(tz: Tz, year: i32, month: u32) -> Option<Window> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some(Window::new(
        local_midnight(tz, first),
        local_midnight(tz, next),
    ))
}

/// Split `range` into local-time windows of width `every`. The first and last windows are
/// whole windows that overlap the range (not clipped), so an hourly query from 10:30 starts
/// with the 10:00 window.
pub fn windows(tz: Tz, range: Window, every: Every) -> Vec<Window> {
    let mut out = Vec::new();
    if range.end <= range.start {
        return out;
    }
    let mut date = local_date(tz, range.start);
    if every == Every::Month {
        date = date.with_day(1).unwrap_or(date);
    }
    loop {
        let start = local_midnight(tz, date);
        if start >= range.end {
            break;
        }
        match every {
            Every::Month => {
                let next = date
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(date);
                let w = Window::new(start, local_midnight(tz, next));
                if w.end > range.start {
                    out.push(w);
                }
                date = next;
            }
            Every::Day => {
                let next = date + Duration::days(1);
                let w = Window::new(start, local_midnight(tz, next));
                if w.end > range.start {
                    out.push(w);
                }
                date = next;
            }
            Every::Minutes(_) | Every::Hours(_) => {
                let step = every.minutes().unwrap_or(60) * 60_000;
                let next = date + Duration::days(1);
                let day_end = local_midnight(tz, next);
                let mut s = start;
                while s < day_end && s < range.end {
                    let e = (s + step).min(day_end);
                    if e > range.start {
                        out.push(Window::new(s, e));
                    }
                    s = e;
                }
                date = next;
            }
        }
    }
    out
}

/// Parse an instant given as RFC 3339 (`2026-10-01T00:00:00+02:00`), a local date (`2026-10-01`,
/// local midnight in `tz`), a local date-time without offset (`2026-10-01T06:00`), or epoch ms.
pub fn parse_instant(tz: Tz, s: &str) -> Result<TimestampMs, String> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(local_midnight(tz, d));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return tz
                .from_local_datetime(&n)
                .earliest()
                .map(|dt| dt.timestamp_millis())
                .ok_or_else(|| format!("`{s}` does not exist in {tz} (skipped by a DST change)"));
        }
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    Err(format!(
        "`{s}` is not a time; write RFC 3339 (2026-10-01T06:00:00+02:00), a local date (2026-10-01), a local date-time (2026-10-01T06:00) or epoch milliseconds"
    ))
}

/// Format `ts` as RFC 3339 in `tz` (seconds precision), for operators.
pub fn format_local(tz: Tz, ts: TimestampMs) -> String {
    utc(ts)
        .with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Warsaw;

    const H: i64 = 3_600_000;

    #[test]
    fn dst_days_have_23_and_25_hours() {
        // 2026-03-29: clocks go 02:00 CET → 03:00 CEST; 2026-10-25: 03:00 CEST → 02:00 CET.
        let spring = day_of(Warsaw, local_midnight(Warsaw, ymd(2026, 3, 29)) + 1);
        assert_eq!(spring.len_ms(), 23 * H);
        let autumn = day_of(Warsaw, local_midnight(Warsaw, ymd(2026, 10, 25)) + 1);
        assert_eq!(autumn.len_ms(), 25 * H);
        let hourly = windows(Warsaw, autumn, Every::Hours(1));
        assert_eq!(hourly.len(), 25);
        assert_eq!(windows(Warsaw, spring, Every::Hours(1)).len(), 23);
        // 6-hour windows on the 25-hour day: 00-06, 06-12, 12-18, 18-24 local; the first has 7 h.
        let six = windows(Warsaw, autumn, Every::Hours(6));
        assert_eq!(
            six.iter().map(|w| w.len_ms() / H).collect::<Vec<_>>(),
            vec![6, 6, 6, 6, 1]
        );
    }

    #[test]
    fn months_in_warsaw() {
        // crates.md §9: March 2026 = 2026-02-28T23:00Z..2026-03-31T22:00Z (743 h)
        let march = month(Warsaw, 2026, 3).unwrap();
        assert_eq!(
            march.start,
            parse_instant(Warsaw, "2026-02-28T23:00:00Z").unwrap()
        );
        assert_eq!(
            march.end,
            parse_instant(Warsaw, "2026-03-31T22:00:00Z").unwrap()
        );
        assert_eq!(march.len_ms(), 743 * H);
        // October 2026 = 2026-09-30T22:00Z..2026-10-31T23:00Z (745 h)
        let oct = month(Warsaw, 2026, 10).unwrap();
        assert_eq!(oct.len_ms(), 745 * H);
        assert_eq!(windows(Warsaw, oct, Every::Day).len(), 31);
        assert_eq!(windows(Warsaw, oct, Every::Hours(1)).len(), 745);
        let year = Window::new(
            local_midnight(Warsaw, ymd(2026, 1, 1)),
            local_midnight(Warsaw, ymd(2027, 1, 1)),
        );
        let months = windows(Warsaw, year, Every::Month);
        assert_eq!(months.len(), 12);
        assert_eq!(months[9], oct);
    }

    #[test]
    fn windows_overlapping_a_partial_range() {
        let start = parse_instant(Warsaw, "2026-10-01T10:30").unwrap();
        let end = parse_instant(Warsaw, "2026-10-01T12:00").unwrap();
        let w = windows(Warsaw, Window::new(start, end), Every::Hours(1));
        assert_eq!(w.len(), 2);
        assert_eq!(
            w[0].start,
            parse_instant(Warsaw, "2026-10-01T10:00").unwrap()
        );
        let q = windows(Warsaw, Window::new(start, end), Every::Minutes(15));
        assert_eq!(q.len(), 6);
    }

    #[test]
    fn parse_every() {
        assert_eq!("15m".parse::<Every>().unwrap(), Every::Minutes(15));
        assert_eq!("1h".parse::<Every>().unwrap(), Every::Hours(1));
        assert_eq!("1d".parse::<Every>().unwrap(), Every::Day);
        assert_eq!("1mo".parse::<Every>().unwrap(), Every::Month);
        assert!("7m".parse::<Every>().is_err());
        assert!("h".parse::<Every>().is_err());
    }

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }
}
