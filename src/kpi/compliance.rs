//! Emission compliance over days, months and the year (domain.md §3.4 points 3–6, IED Annex V
//! Parts 3 and 4; the French transposition, arrêté du 26 août 2013 art. 35–36).
//!
//! - **Invalid day**: more than `max_invalid_hours` (3) invalid operating hours on the local
//!   day, counted over the day's real hours (23, 24 or 25; a 25-hour day still invalidates at
//!   "> 3", domain.md §3.6). Only CEMS-caused invalidity counts: not-operating and start-up /
//!   shut-down hours are excluded, not invalid.
//! - **Validated daily average**: mean of the validated hourly values of a valid day.
//! - **Validated monthly average**: mean of the validated hourly values of the month (every
//!   valid hour, also those of invalid days; art. 36), or, selectable, mean of the validated
//!   daily averages.
//! - **Compliance** over a calendar year: (a) no monthly average > ELV, (b) no daily average >
//!   `daily_factor` × ELV (110 %, or 150 % for small coal-only plants), (c) validated hourly
//!   values above `hourly_factor` × ELV (200 %) on at most 5 % of the year's valid hours.
//!
//! Every comparison uses `threshold::beyond`, the program's one comparator. Pure; imports only
//! `model` and the comparator.

use super::emissions::{HourClass, HourValue};
use super::threshold::beyond;
use crate::model::asset::Direction;
use crate::model::time::{self, Window};
use chrono_tz::Tz;

/// One local day of one stack and pollutant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayValue {
    /// The local day.
    pub window: Window,
    /// Hours of the day: 23, 24 or 25.
    pub hours_in_day: u32,
    /// Operating hours (valid or invalid).
    pub operating_hours: u32,
    /// Valid operating hours.
    pub valid_hours: u32,
    /// Invalid operating hours.
    pub invalid_hours: u32,
    /// More than the allowed number of invalid hours.
    pub invalid: bool,
    /// Mean of the validated hourly values; `None` for an invalid day or one without valid
    /// hours.
    pub validated_average: Option<f64>,
}

/// Mean of the validated values of the valid hours; `None` without any.
pub fn validated_average(hours: &[HourValue]) -> Option<f64> {
    let vals: Vec<f64> = hours
        .iter()
        .filter(|h| h.class == HourClass::Valid)
        .filter_map(|h| h.validated)
        .collect();
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

/// Group hours (in time order) into local days and apply the invalid-day rule.
pub fn day_values(tz: Tz, hours: &[HourValue], max_invalid_hours: u32) -> Vec<DayValue> {
    let mut out: Vec<DayValue> = Vec::new();
    let mut start = 0;
    while start < hours.len() {
        let day = time::day_of(tz, hours[start].window.start);
        let n = hours[start..]
            .iter()
            .take_while(|h| day.contains(h.window.start))
            .count();
        let in_day = &hours[start..start + n];
        let count = |c: HourClass| in_day.iter().filter(|h| h.class == c).count() as u32;
        let (valid, invalid) = (count(HourClass::Valid), count(HourClass::Invalid));
        let is_invalid = invalid > max_invalid_hours;
        out.push(DayValue {
            window: day,
            hours_in_day: (day.len_ms() / 3_600_000) as u32,
            operating_hours: valid + invalid,
            valid_hours: valid,
            invalid_hours: invalid,
            invalid: is_invalid,
            validated_average: if is_invalid {
                None
            } else {
                validated_average(in_day)
            },
        });
        start += n.max(1);
    }
    out
}

/// How the validated monthly average is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthlyBasis {
    /// Mean of the month's validated hourly values.
    ValidHours,
    /// Mean of the validated daily averages of the month's valid days.
    ValidDays,
}

/// The validated average of a month (or any period) on `basis`.
pub fn period_average(hours: &[HourValue], days: &[DayValue], basis: MonthlyBasis) -> Option<f64> {
    match basis {
        MonthlyBasis::ValidHours => validated_average(hours),
        MonthlyBasis::ValidDays => {
            let v: Vec<f64> = days.iter().filter_map(|d| d.validated_average).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        }
    }
}

/// The compliance limits of one stack and pollutant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// ELV, mg/Nm³ at reference O2.
    pub elv: f64,
    /// Daily limit as a multiple of the ELV (1.1).
    pub daily_factor: f64,
    /// Hourly limit as a multiple of the ELV (2.0).
    pub hourly_factor: f64,
    /// Share of valid hours allowed above the hourly limit, % (5).
    pub max_share_above_pct: f64,
    /// Invalid days allowed per year (10).
    pub max_invalid_days: u32,
}

/// Rule (a): whether a monthly average breaks the ELV.
pub fn monthly_breach(average: f64, l: &Limits) -> bool {
    beyond(average, l.elv, Direction::Max)
}

/// A day whose validated average is above the daily limit (rule (b)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayBreach {
    /// The local day.
    pub window: Window,
    /// Its validated average, mg/Nm³.
    pub average: f64,
    /// The daily limit, mg/Nm³.
    pub limit: f64,
}

/// Rule (b): the valid days above `daily_factor × ELV`.
pub fn days_above_daily_limit(days: &[DayValue], l: &Limits) -> Vec<DayBreach> {
    let limit = l.daily_factor * l.elv;
    days.iter()
        .filter_map(|d| {
            let a = d.validated_average?;
            beyond(a, limit, Direction::Max).then_some(DayBreach {
                window: d.window,
                average: a,
                limit,
            })
        })
        .collect()
}

/// Rule (c) over a set of hours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourlyRule {
    /// Valid hours.
    pub valid_hours: u32,
    /// Valid hours with a validated value above `hourly_factor × ELV`.
    pub hours_above: u32,
    /// `hours_above / valid_hours × 100`.
    pub share_above_pct: Option<f64>,
    /// Whether the share is within the allowed share.
    pub pass: bool,
}

/// Rule (c): hours above `hourly_factor × ELV` against `max_share_above_pct` of the valid hours.
pub fn hourly_rule(hours: &[HourValue], l: &Limits) -> HourlyRule {
    let limit = l.hourly_factor * l.elv;
    let valid: Vec<f64> = hours
        .iter()
        .filter(|h| h.class == HourClass::Valid)
        .filter_map(|h| h.validated)
        .collect();
    let above = valid
        .iter()
        .filter(|v| beyond(**v, limit, Direction::Max))
        .count() as u32;
    let share = (!valid.is_empty()).then(|| above as f64 / valid.len() as f64 * 100.0);
    HourlyRule {
        valid_hours: valid.len() as u32,
        hours_above: above,
        share_above_pct: share,
        pass: share.is_none_or(|s| !beyond(s, l.max_share_above_pct, Direction::Max)),
    }
}

/// The year's budget of hours above the hourly limit, seen part-way through the year
/// (domain.md §3.4 point 6).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Budget {
    /// Hours of the year elapsed (calendar hours from 1 January).
    pub elapsed_hours: f64,
    /// Hours of the whole year (8760 or 8784).
    pub year_hours: f64,
    /// Valid hours so far.
    pub valid_hours: u32,
    /// Hours above the hourly limit so far.
    pub hours_above: u32,
    /// Valid hours at year end if operation continues at the same rate.
    pub projected_valid_hours: f64,
    /// The allowed share of the projected valid hours: the year's budget of hours above.
    pub projected_budget_hours: f64,
    /// Budget left: `projected_budget_hours − hours_above` (negative when already spent).
    pub remaining_hours: f64,
    /// Hours above at year end at the same rate.
    pub projected_hours_above: f64,
}

/// The budget of rule (c) after `elapsed_hours` of a `year_hours` year, projected linearly.
pub fn year_budget(
    rule: &HourlyRule,
    elapsed_hours: f64,
    year_hours: f64,
    max_share_pct: f64,
) -> Budget {
    let scale = if elapsed_hours > 0.0 {
        year_hours / elapsed_hours
    } else {
        0.0
    };
    let projected_valid = rule.valid_hours as f64 * scale;
    let budget = projected_valid * max_share_pct / 100.0;
    Budget {
        elapsed_hours,
        year_hours,
        valid_hours: rule.valid_hours,
        hours_above: rule.hours_above,
        projected_valid_hours: projected_valid,
        projected_budget_hours: budget,
        remaining_hours: budget - rule.hours_above as f64,
        projected_hours_above: rule.hours_above as f64 * scale,
    }
}

/// A run of consecutive valid hours with the validated value above a limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// From the first hour's start to the last hour's end.
    pub window: Window,
    /// Hours in the run.
    pub hours: u32,
    /// Highest validated value, mg/Nm³.
    pub peak: f64,
    /// Mean validated value, mg/Nm³.
    pub mean: f64,
}

/// The maximal runs of consecutive valid hours above `limit`. Any other hour (below the limit,
/// invalid, excluded, or a gap) ends a run, so each run's interval is exact to the hour.
pub fn runs_above(hours: &[HourValue], limit: f64) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut open = false;
    for h in hours {
        let above = h.class == HourClass::Valid
            && h.validated
                .is_some_and(|v| beyond(v, limit, Direction::Max));
        let Some(v) = h.validated.filter(|_| above) else {
            open = false;
            continue;
        };
        match out.last_mut() {
            Some(r) if open && r.window.end == h.window.start => {
                r.mean = (r.mean * r.hours as f64 + v) / (r.hours as f64 + 1.0);
                r.hours += 1;
                r.peak = r.peak.max(v);
                r.window.end = h.window.end;
            }
            _ => out.push(Run {
                window: h.window,
                hours: 1,
                peak: v,
                mean: v,
            }),
        }
        open = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::period::Calendar;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    fn hv(window: Window, class: HourClass, v: Option<f64>) -> HourValue {
        HourValue {
            window,
            class,
            valid_share: 1.0,
            c_ref: v,
            validated: v,
            o2_capped: false,
            mass_kg_h: None,
            invalid_reason: None,
        }
    }

    /// The hours of a local day, all valid at `v`, with the listed ones invalid.
    fn day(label: &str, v: f64, invalid: &[usize]) -> Vec<HourValue> {
        let cal = Calendar::default();
        let p = cal.parse(label).unwrap();
        cal.hours_in(p.window)
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                if invalid.contains(&i) {
                    hv(w, HourClass::Invalid, None)
                } else {
                    hv(w, HourClass::Valid, Some(v))
                }
            })
            .collect()
    }

    fn limits() -> Limits {
        Limits {
            elv: 200.0,
            daily_factor: 1.1,
            hourly_factor: 2.0,
            max_share_above_pct: 5.0,
            max_invalid_days: 10,
        }
    }

    #[test]
    fn invalid_day_rule_on_the_25_hour_day() {
        let tz = Calendar::default().tz;
        // 2026-10-25 has 25 hours. 3 invalid hours (not more than 3): the day is valid, and its
        // average is over the 22 valid hours.
        let d = day_values(tz, &day("2026-10-25", 150.0, &[1, 2, 3]), 3);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].hours_in_day, d[0].valid_hours, d[0].invalid_hours),
            (25, 22, 3)
        );
        assert!(!d[0].invalid);
        assert_eq!(d[0].validated_average, Some(150.0));
        // 4 invalid hours (more than 3): invalid, no daily average.
        let d = day_values(tz, &day("2026-10-25", 150.0, &[1, 2, 3, 24]), 3);
        assert!(d[0].invalid);
        assert_eq!(d[0].validated_average, None);
        // The 23-hour day follows the same "> 3" rule.
        let d = day_values(tz, &day("2026-03-29", 150.0, &[0, 5, 22]), 3);
        assert_eq!((d[0].hours_in_day, d[0].invalid), (23, false));
        // Excluded hours (not operating, start-up) never count as invalid.
        let mut h = day("2026-10-24", 150.0, &[]);
        for x in h.iter_mut().take(10) {
            x.class = HourClass::NotOperating;
        }
        let d = day_values(tz, &h, 3);
        assert_eq!(
            (d[0].hours_in_day, d[0].operating_hours, d[0].invalid),
            (24, 14, false)
        );
        // Two days in one slice are split at local midnight.
        let mut two = day("2026-10-24", 100.0, &[]);
        two.extend(day("2026-10-25", 300.0, &[0, 1, 2, 3]));
        let d = day_values(tz, &two, 3);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].invalid, d[1].invalid), (false, true));
    }

    #[test]
    fn monthly_rule_at_and_just_over_the_elv() {
        let l = limits();
        // Hourly validated values 150 and 250 alternating: mean (150 + 250)/2 = 200 = ELV → pass
        let mut h = day("2026-10-24", 150.0, &[]);
        for (i, x) in h.iter_mut().enumerate() {
            if i % 2 == 1 {
                x.validated = Some(250.0);
            }
        }
        let avg = validated_average(&h).unwrap();
        close(avg, 200.0, 1e-12);
        assert!(!monthly_breach(avg, &l));
        // One hour 2.4 mg/Nm³ higher: mean 200 + 2.4/24 = 200.1 > 200 → breach
        h[0].validated = Some(152.4);
        let avg = validated_average(&h).unwrap();
        close(avg, 200.1, 1e-9);
        assert!(monthly_breach(avg, &l));
    }

    #[test]
    fn daily_rule_at_and_just_over_110_percent() {
        let l = limits();
        let tz = Calendar::default().tz;
        // ELV 200 × 1.1 = 220: a day at 220 passes, a day at 220.5 breaks rule (b).
        let mut h = day("2026-10-23", 220.0, &[]);
        h.extend(day("2026-10-24", 220.5, &[]));
        // An invalid day at 400 has no daily average, so it cannot break rule (b).
        h.extend(day("2026-10-25", 400.0, &[0, 1, 2, 3]));
        let days = day_values(tz, &h, 3);
        let b = days_above_daily_limit(&days, &l);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].window, days[1].window);
        close(b[0].limit, 220.0, 1e-9);
        // Small coal-only plants: 150 % → limit 300; 220.5 passes.
        let coal = Limits {
            daily_factor: 1.5,
            ..l
        };
        assert!(days_above_daily_limit(&days, &coal).is_empty());
    }

    #[test]
    fn hourly_rule_at_and_just_over_5_percent() {
        let l = limits();
        let w = |i: i64| Window::new(i * 3_600_000, (i + 1) * 3_600_000);
        // 100 valid hours; the hourly limit is 2 × 200 = 400.
        let mk = |above: usize| -> Vec<HourValue> {
            (0..100)
                .map(|i| {
                    let v = if i < above { 401.0 } else { 400.0 }; // 400 itself is not above
                    hv(w(i as i64), HourClass::Valid, Some(v))
                })
                .collect()
        };
        // 5 of 100 above = 5 % → pass (95 % of hours ≤ 200 % ELV)
        let r = hourly_rule(&mk(5), &l);
        assert_eq!((r.valid_hours, r.hours_above), (100, 5));
        close(r.share_above_pct.unwrap(), 5.0, 1e-12);
        assert!(r.pass);
        // 6 of 100 = 6 % → fail
        let r = hourly_rule(&mk(6), &l);
        assert!(!r.pass);
        // Invalid and excluded hours are not in the denominator.
        let mut h = mk(5);
        h.push(hv(w(100), HourClass::Invalid, None));
        h.push(hv(w(101), HourClass::StartupShutdown, Some(900.0)));
        assert_eq!(hourly_rule(&h, &l).valid_hours, 100);
    }

    #[test]
    fn year_budget_projection() {
        // January–October 2026: 7296 h elapsed of 8760. 7000 valid hours, 300 above.
        let r = HourlyRule {
            valid_hours: 7000,
            hours_above: 300,
            share_above_pct: None,
            pass: true,
        };
        let b = year_budget(&r, 7296.0, 8760.0, 5.0);
        // projected valid = 7000 × 8760 / 7296 = 8404.605 h; budget 5 % = 420.230 h;
        // remaining = 420.230 − 300 = 120.230 h; projected above = 300 × 8760/7296 = 360.197 h
        close(b.projected_valid_hours, 8_404.605_263, 1e-5);
        close(b.projected_budget_hours, 420.230_263, 1e-5);
        close(b.remaining_hours, 120.230_263, 1e-5);
        close(b.projected_hours_above, 360.197_368, 1e-5);
    }

    #[test]
    fn exceedance_runs_have_exact_intervals() {
        let w = |i: i64| Window::new(i * 3_600_000, (i + 1) * 3_600_000);
        let h = [
            hv(w(0), HourClass::Valid, Some(90.0)),
            hv(w(1), HourClass::Valid, Some(120.0)),
            hv(w(2), HourClass::Valid, Some(130.0)),
            hv(w(3), HourClass::Invalid, None),
            hv(w(4), HourClass::Valid, Some(150.0)),
            hv(w(5), HourClass::Valid, Some(100.0)), // at the limit: not above
        ];
        let runs = runs_above(&h, 100.0);
        assert_eq!(runs.len(), 2);
        // Hours 1–2: [1 h, 3 h), peak 130, mean (120 + 130)/2 = 125
        assert_eq!(runs[0].window, Window::new(3_600_000, 3 * 3_600_000));
        assert_eq!(
            (runs[0].hours, runs[0].peak, runs[0].mean),
            (2, 130.0, 125.0)
        );
        // The invalid hour 3 ends the first run; hour 4 is a run of its own.
        assert_eq!(runs[1].window, w(4));
    }
}
