//! Reporting periods in local time: hour, day, month, heating season, year, year to date,
//! rolling 12 months (design.md §4, domain.md §0.2).
//!
//! Every boundary is a local civil midnight (or a local hour) in the configured time zone, found
//! with `model::time`, so a DST day has 23 or 25 hours, March 743 and October 745, exactly as
//! the store's windowed aggregates count them. This file does no I/O and imports only `model`.
//!
//! The heating season is not defined in domain.md; it is configurable, with 1 September to
//! 31 May as the default (see `config::kpi::HeatingSeasonConfig`).
//!
//! Period labels parse back to the same period ([`Calendar::parse`]):
//!
//! | label | period |
//! |---|---|
//! | `2026` | calendar year |
//! | `2026-10` | calendar month |
//! | `2026-10-25` | local day (23, 24 or 25 h) |
//! | `2026-10-25T02:00+02:00`, `2026-10-25T14`, `2026-10-25T14:00` | local hour (an offset picks one of the two 02:00 hours of a fall-back day; without it the first is taken) |
//! | `2026/27`, `season:2026` | heating season starting in 2026 |
//! | `ytd:2026-10-15`, `ytd:2026-10` | 1 January to the end of that day / month |
//! | `r12:2026-10` | the 12 months ending with October 2026 |
//! | `2026-10-01..2026-10-15T06:00` | any range (ends as `model::time::parse_instant` reads them) |

use crate::model::TimestampMs;
use crate::model::asset::ThresholdPeriod;
use crate::model::time::{self, Every, Window};
use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

const HOUR_MS: i64 = 3_600_000;

/// What kind of period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// One local hour.
    Hour,
    /// One local civil day.
    Day,
    /// One calendar month.
    Month,
    /// One heating season.
    HeatingSeason,
    /// One calendar year.
    Year,
    /// 1 January to the end of a day of the same year.
    YearToDate,
    /// The 12 calendar months ending with a given month.
    Rolling12Months,
    /// Any range.
    Custom,
}

impl PeriodKind {
    /// The threshold period that judges this kind of period. A year to date is judged against
    /// the year's threshold as an interim indication; custom ranges have no threshold period.
    pub fn threshold_period(self) -> Option<ThresholdPeriod> {
        Some(match self {
            PeriodKind::Hour => ThresholdPeriod::Hour,
            PeriodKind::Day => ThresholdPeriod::Day,
            PeriodKind::Month => ThresholdPeriod::Month,
            PeriodKind::HeatingSeason => ThresholdPeriod::HeatingSeason,
            PeriodKind::Year | PeriodKind::YearToDate => ThresholdPeriod::Year,
            PeriodKind::Rolling12Months => ThresholdPeriod::Rolling12m,
            PeriodKind::Custom => return None,
        })
    }
}

/// A reporting period: a half-open UTC window with its local-time label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Period {
    /// What kind of period.
    pub kind: PeriodKind,
    /// The whole period `[start, end)` in UTC ms.
    pub window: Window,
    /// Evaluation stops here: `window.end` for a closed period, "now" for a period to date.
    pub evaluated_end: TimestampMs,
    /// The label, e.g. `2026-10`; [`Calendar::parse`] reads it back.
    pub label: String,
}

impl Period {
    fn whole(kind: PeriodKind, window: Window, label: String) -> Period {
        Period {
            kind,
            window,
            evaluated_end: window.end,
            label,
        }
    }

    /// First ms of the period.
    pub fn start(&self) -> TimestampMs {
        self.window.start
    }

    /// First ms after the period.
    pub fn end(&self) -> TimestampMs {
        self.window.end
    }

    /// The part of the period that is evaluated: the whole period, or its start up to "now".
    pub fn evaluated(&self) -> Window {
        Window::new(self.window.start, self.evaluated_end.min(self.window.end))
    }

    /// Whether only the part up to "now" is evaluated (a live, month-to-date result).
    pub fn is_partial(&self) -> bool {
        self.evaluated_end < self.window.end
    }

    /// Length of the whole period in hours (743 for March in Warsaw, 745 for October).
    pub fn hours(&self) -> f64 {
        self.window.len_ms() as f64 / HOUR_MS as f64
    }

    /// The same period evaluated up to `now` (unchanged when `now` is at or after its end).
    pub fn to_date(&self, now: TimestampMs) -> Period {
        let mut p = self.clone();
        p.evaluated_end = now.clamp(self.window.start, self.window.end);
        p
    }

    /// Whether the whole period lies before `now`.
    pub fn is_closed(&self, now: TimestampMs) -> bool {
        self.window.end <= now
    }
}

/// First and last day of the heating season, both inclusive, as (month, day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeasonDates {
    /// First day (month, day).
    pub start: (u32, u32),
    /// Last day (month, day), inclusive; before `start` in the year means the next year.
    pub last: (u32, u32),
}

impl Default for SeasonDates {
    /// 1 September to 31 May (an engineering default; domain.md gives no dates).
    fn default() -> Self {
        SeasonDates {
            start: (9, 1),
            last: (5, 31),
        }
    }
}

impl SeasonDates {
    /// Whether a season runs over New Year (and so is labelled `2026/27`).
    pub fn crosses_new_year(&self) -> bool {
        self.last < self.start
    }
}

/// Why a period could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// The text is not a period label.
    #[error(
        "period `{0}` not understood; write 2026 (year), 2026-10 (month), 2026-10-25 (day), 2026-10-25T14:00 (hour), 2026/27 (heating season), ytd:2026-10, r12:2026-10 or START..END"
    )]
    Syntax(String),
    /// The date does not exist (month 13, 30 February).
    #[error("period `{0}`: no such date")]
    NoSuchDate(String),
    /// An hour that is not on the hour or does not exist in the time zone.
    #[error("period `{0}`: not the start of a local hour in {1}")]
    NotAnHour(String, String),
    /// A range whose end is not after its start.
    #[error("period `{0}`: the end must be after the start")]
    EmptyRange(String),
}

/// The period calculator: a time zone and the heating-season dates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calendar {
    /// Time zone of reporting days (default Europe/Warsaw).
    pub tz: Tz,
    /// Heating-season dates.
    pub season: SeasonDates,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            tz: chrono_tz::Europe::Warsaw,
            season: SeasonDates::default(),
        }
    }
}

/// `date` with its day clamped to the month's length (29 February in a common year → 28).
fn clamped_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    (0..4).find_map(|back| NaiveDate::from_ymd_opt(year, month, day.saturating_sub(back).max(1)))
}

impl Calendar {
    /// A calendar in `tz` with the given season dates.
    pub fn new(tz: Tz, season: SeasonDates) -> Self {
        Calendar { tz, season }
    }

    fn midnight(&self, d: NaiveDate) -> TimestampMs {
        time::local_midnight(self.tz, d)
    }

    /// The local hour containing `ts`, labelled with its UTC offset
    /// (`2026-10-25T02:00+01:00` is the second 02:00 of the fall-back day).
    pub fn hour(&self, ts: TimestampMs) -> Period {
        let day = time::day_of(self.tz, ts);
        let w = time::windows(self.tz, day, Every::Hours(1))
            .into_iter()
            .find(|w| w.contains(ts))
            // Unreachable for a day window; fall back to a UTC-aligned hour.
            .unwrap_or_else(|| {
                let s = ts.div_euclid(HOUR_MS) * HOUR_MS;
                Window::new(s, s + HOUR_MS)
            });
        let label = time::utc(w.start)
            .with_timezone(&self.tz)
            .format("%Y-%m-%dT%H:%M%:z")
            .to_string();
        Period::whole(PeriodKind::Hour, w, label)
    }

    /// The local day `date` (23, 24 or 25 hours).
    pub fn day(&self, date: NaiveDate) -> Period {
        let w = Window::new(self.midnight(date), self.midnight(date + Duration::days(1)));
        Period::whole(PeriodKind::Day, w, date.format("%Y-%m-%d").to_string())
    }

    /// The calendar month `year-month`.
    pub fn month(&self, year: i32, month: u32) -> Result<Period, PeriodError> {
        let w = time::month(self.tz, year, month)
            .ok_or_else(|| PeriodError::NoSuchDate(format!("{year}-{month:02}")))?;
        Ok(Period::whole(
            PeriodKind::Month,
            w,
            format!("{year:04}-{month:02}"),
        ))
    }

    /// The calendar year.
    pub fn year(&self, year: i32) -> Result<Period, PeriodError> {
        let (a, b) = NaiveDate::from_ymd_opt(year, 1, 1)
            .zip(NaiveDate::from_ymd_opt(year + 1, 1, 1))
            .ok_or_else(|| PeriodError::NoSuchDate(year.to_string()))?;
        Ok(Period::whole(
            PeriodKind::Year,
            Window::new(self.midnight(a), self.midnight(b)),
            format!("{year:04}"),
        ))
    }

    /// The heating season that starts in `start_year`.
    pub fn season(&self, start_year: i32) -> Result<Period, PeriodError> {
        let err = || PeriodError::NoSuchDate(format!("season {start_year}"));
        let (sm, sd) = self.season.start;
        let (lm, ld) = self.season.last;
        let last_year = start_year + i32::from(self.season.crosses_new_year());
        let first = clamped_date(start_year, sm, sd).ok_or_else(err)?;
        let last = clamped_date(last_year, lm, ld).ok_or_else(err)?;
        let label = if self.season.crosses_new_year() {
            format!("{start_year:04}/{:02}", (start_year + 1).rem_euclid(100))
        } else {
            format!("season:{start_year:04}")
        };
        Ok(Period::whole(
            PeriodKind::HeatingSeason,
            Window::new(
                self.midnight(first),
                self.midnight(last + Duration::days(1)),
            ),
            label,
        ))
    }

    /// 1 January to the end of `through` (inclusive).
    pub fn year_to_date(&self, through: NaiveDate) -> Period {
        let first = NaiveDate::from_ymd_opt(through.year(), 1, 1).unwrap_or(through);
        Period::whole(
            PeriodKind::YearToDate,
            Window::new(
                self.midnight(first),
                self.midnight(through + Duration::days(1)),
            ),
            format!("ytd:{}", through.format("%Y-%m-%d")),
        )
    }

    /// 1 January to the end of the month `year-month`.
    pub fn year_to_month_end(&self, year: i32, month: u32) -> Result<Period, PeriodError> {
        let m = self.month(year, month)?;
        let first = NaiveDate::from_ymd_opt(year, 1, 1)
            .ok_or_else(|| PeriodError::NoSuchDate(year.to_string()))?;
        Ok(Period::whole(
            PeriodKind::YearToDate,
            Window::new(self.midnight(first), m.end()),
            format!("ytd:{year:04}-{month:02}"),
        ))
    }

    /// The 12 calendar months ending with `year-month`.
    pub fn rolling_12_months(&self, year: i32, month: u32) -> Result<Period, PeriodError> {
        let last = self.month(year, month)?;
        let (fy, fm) = if month == 12 {
            (year, 1)
        } else {
            (year - 1, month + 1)
        };
        let first = self.month(fy, fm)?;
        Ok(Period::whole(
            PeriodKind::Rolling12Months,
            Window::new(first.start(), last.end()),
            format!("r12:{year:04}-{month:02}"),
        ))
    }

    /// Any range; labelled with its local start and end.
    pub fn custom(&self, window: Window) -> Period {
        let label = format!(
            "{}..{}",
            time::format_local(self.tz, window.start),
            time::format_local(self.tz, window.end)
        );
        Period::whole(PeriodKind::Custom, window, label)
    }

    /// The local date containing `ts`.
    pub fn date_of(&self, ts: TimestampMs) -> NaiveDate {
        time::local_date(self.tz, ts)
    }

    /// The period of `kind` containing `ts`: `None` for a heating season when `ts` is outside
    /// every season (summer), and for custom ranges.
    pub fn containing(&self, kind: PeriodKind, ts: TimestampMs) -> Option<Period> {
        let d = self.date_of(ts);
        match kind {
            PeriodKind::Hour => Some(self.hour(ts)),
            PeriodKind::Day => Some(self.day(d)),
            PeriodKind::Month => self.month(d.year(), d.month()).ok(),
            PeriodKind::Year => self.year(d.year()).ok(),
            PeriodKind::YearToDate => Some(self.year_to_date(d)),
            PeriodKind::Rolling12Months => self.rolling_12_months(d.year(), d.month()).ok(),
            PeriodKind::HeatingSeason => [d.year() - 1, d.year()]
                .into_iter()
                .filter_map(|y| self.season(y).ok())
                .find(|p| p.window.contains(ts)),
            PeriodKind::Custom => None,
        }
    }

    /// The local hours of `w` (23, 24 or 25 per day).
    pub fn hours_in(&self, w: Window) -> Vec<Window> {
        time::windows(self.tz, w, Every::Hours(1))
    }

    /// The local days of `w`.
    pub fn days_in(&self, w: Window) -> Vec<Window> {
        time::windows(self.tz, w, Every::Day)
    }

    /// The calendar months of `w`.
    pub fn months_in(&self, w: Window) -> Vec<Window> {
        time::windows(self.tz, w, Every::Month)
    }

    /// Read a period label (see the module documentation for the forms).
    pub fn parse(&self, text: &str) -> Result<Period, PeriodError> {
        let s = text.trim();
        let syntax = || PeriodError::Syntax(text.to_string());
        let no_date = || PeriodError::NoSuchDate(text.to_string());
        if let Some((a, b)) = s.split_once("..") {
            let start = time::parse_instant(self.tz, a).map_err(|_| syntax())?;
            let end = time::parse_instant(self.tz, b).map_err(|_| syntax())?;
            if end <= start {
                return Err(PeriodError::EmptyRange(text.to_string()));
            }
            return Ok(self.custom(Window::new(start, end)));
        }
        if let Some(rest) = s.strip_prefix("ytd:") {
            if let Some((y, m)) = year_month(rest) {
                return self.year_to_month_end(y, m);
            }
            let d = NaiveDate::parse_from_str(rest, "%Y-%m-%d").map_err(|_| syntax())?;
            return Ok(self.year_to_date(d));
        }
        if let Some(rest) = s.strip_prefix("r12:") {
            let (y, m) = year_month(rest).ok_or_else(syntax)?;
            return self.rolling_12_months(y, m);
        }
        if let Some(rest) = s.strip_prefix("season:") {
            let y = four_digit_year(rest).ok_or_else(syntax)?;
            return self.season(y);
        }
        if let Some((a, b)) = s.split_once('/') {
            let y = four_digit_year(a).ok_or_else(syntax)?;
            let next_ok = match b.len() {
                2 => b.parse::<i32>().ok() == Some((y + 1).rem_euclid(100)),
                4 => b.parse::<i32>().ok() == Some(y + 1),
                _ => false,
            };
            if !next_ok {
                return Err(syntax());
            }
            return self.season(y);
        }
        if let Some(y) = four_digit_year(s) {
            return self.year(y);
        }
        if let Some((y, m)) = year_month(s) {
            return self.month(y, m);
        }
        if s.len() == 10 {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                if s.as_bytes().get(4) == Some(&b'-') {
                    no_date()
                } else {
                    syntax()
                }
            })?;
            return Ok(self.day(d));
        }
        if s.len() > 10
            && s.as_bytes()
                .get(10)
                .is_some_and(|c| *c == b'T' || *c == b' ')
        {
            return self.parse_hour(text, s);
        }
        Err(syntax())
    }

    fn parse_hour(&self, text: &str, s: &str) -> Result<Period, PeriodError> {
        let not_hour = || PeriodError::NotAnHour(text.to_string(), self.tz.to_string());
        let s = s.replacen(' ', "T", 1);
        let start = if let Ok(dt) = chrono::DateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M%:z") {
            dt.timestamp_millis()
        } else {
            let with_minutes = if s.len() == 13 { format!("{s}:00") } else { s };
            let naive = chrono::NaiveDateTime::parse_from_str(&with_minutes, "%Y-%m-%dT%H:%M")
                .map_err(|_| PeriodError::Syntax(text.to_string()))?;
            self.tz
                .from_local_datetime(&naive)
                .earliest()
                .ok_or_else(not_hour)?
                .timestamp_millis()
        };
        let p = self.hour(start);
        if p.start() != start {
            return Err(not_hour());
        }
        Ok(p)
    }
}

fn four_digit_year(s: &str) -> Option<i32> {
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn year_month(s: &str) -> Option<(i32, u32)> {
    let (y, m) = s.split_once('-')?;
    let y = four_digit_year(y)?;
    (m.len() == 2 && m.bytes().all(|b| b.is_ascii_digit()))
        .then(|| m.parse().ok())
        .flatten()
        .map(|m| (y, m))
}

#[cfg(test)]
mod tests;
