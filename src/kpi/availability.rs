//! Full availability of supply (domain.md §6): interruption classes, the continuity indices
//! (SAIFI, SAIDI, CAIDI, ASAI, capacity-weighted availability), compliance clocks, the
//! bonifikata exposure and heat not supplied from a consumption model.
//!
//! Pure formulas: this file imports only `model` and the state vocabulary of
//! [`super::availability_state`]. The evaluator is `availability_eval`.

use crate::model::TimestampMs;
use serde::Serialize;

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: f64 = 86_400_000.0;

/// The class of an interruption (domain.md §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptionClass {
    /// Matches planned works notified at least the required days ahead.
    Planned,
    /// Matches planned works notified later.
    PlannedLateNotice,
    /// A failure.
    Unplanned,
    /// Force majeure, e.g. a power blackout.
    External,
    /// A fault on the customer's side.
    CustomerSide,
}

impl InterruptionClass {
    /// The name used in details and events.
    pub fn name(self) -> &'static str {
        match self {
            InterruptionClass::Planned => "planned",
            InterruptionClass::PlannedLateNotice => "planned_late_notice",
            InterruptionClass::Unplanned => "unplanned",
            InterruptionClass::External => "external",
            InterruptionClass::CustomerSide => "customer_side",
        }
    }

    /// Whether the indices count it as planned (with or without the required notice).
    pub fn is_planned(self) -> bool {
        matches!(
            self,
            InterruptionClass::Planned | InterruptionClass::PlannedLateNotice
        )
    }
}

/// What a register entry matched to an interruption says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterMatch {
    /// No entry.
    None,
    /// Planned works announced at this time (UTC ms) for a start at `start`.
    Works {
        /// Announcement.
        notified_at: TimestampMs,
        /// Planned start.
        start: TimestampMs,
    },
    /// A force-majeure entry.
    External,
    /// A customer-side fault entry.
    CustomerSide,
}

/// The class of an interruption from the register entry it matches: planned works notified at
/// least `notice_days` before their start are planned, later ones planned with late notice;
/// no entry means unplanned.
pub fn classify_interruption(m: RegisterMatch, notice_days: f64) -> InterruptionClass {
    match m {
        RegisterMatch::None => InterruptionClass::Unplanned,
        RegisterMatch::External => InterruptionClass::External,
        RegisterMatch::CustomerSide => InterruptionClass::CustomerSide,
        RegisterMatch::Works { notified_at, start } => {
            if (start - notified_at) as f64 >= notice_days * DAY_MS - 1.0 {
                InterruptionClass::Planned
            } else {
                InterruptionClass::PlannedLateNotice
            }
        }
    }
}

/// One interruption as the indices see it: its duration inside the period and who it hit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interruption {
    /// Duration inside the period, h (r_i).
    pub hours: f64,
    /// Customers affected (N_i).
    pub customers: f64,
    /// Ordered capacity affected, MW (P_i).
    pub capacity_mw: f64,
    /// Class.
    pub class: InterruptionClass,
}

/// The continuity indices of domain.md §6.3 over one set of interruptions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Indices {
    /// Interruptions counted.
    pub interruptions: usize,
    /// SAIFI_DH = Σ N_i / N_T, interruptions per customer.
    pub saifi: f64,
    /// SAIDI_DH = Σ r_i·N_i / N_T, hours per customer.
    pub saidi_h: f64,
    /// CAIDI_DH = SAIDI / SAIFI, hours per interruption; `None` without interruptions.
    pub caidi_h: Option<f64>,
    /// ASAI = 1 − Σ r_i·N_i / (N_T × T), %.
    pub asai_pct: f64,
    /// Capacity-weighted availability = 1 − Σ r_i·P_i / (ΣP × T), %.
    pub capacity_weighted_pct: f64,
}

/// The indices of `events` for `customers_total` customers (N_T) with `capacity_total_mw` of
/// ordered capacity (ΣP) over `period_hours` (T). `None` when N_T, ΣP or T is zero.
pub fn indices(
    events: &[Interruption],
    customers_total: f64,
    capacity_total_mw: f64,
    period_hours: f64,
) -> Option<Indices> {
    if customers_total <= 0.0 || capacity_total_mw <= 0.0 || period_hours <= 0.0 {
        return None;
    }
    let n: f64 = events.iter().map(|e| e.customers).sum();
    let rn: f64 = events.iter().map(|e| e.hours * e.customers).sum();
    let rp: f64 = events.iter().map(|e| e.hours * e.capacity_mw).sum();
    let saifi = n / customers_total;
    let saidi = rn / customers_total;
    Some(Indices {
        interruptions: events.len(),
        saifi,
        saidi_h: saidi,
        caidi_h: (saifi > 0.0).then(|| saidi / saifi),
        asai_pct: 100.0 * (1.0 - rn / (customers_total * period_hours)),
        capacity_weighted_pct: 100.0 * (1.0 - rp / (capacity_total_mw * period_hours)),
    })
}

/// Started days: 0 for nothing, 1 for anything up to a day, 2 for a day and a minute, …
pub fn started_days(ms: i64) -> u32 {
    if ms <= 0 {
        0
    } else {
        (ms as f64 / DAY_MS).ceil() as u32
    }
}

/// The bonifikata exposure (domain.md §6.1, Prawo energetyczne / tariff regulation): 1/30 of
/// the monthly ordered-capacity fee per started day beyond the limit, PLN. The monthly fee is
/// `fee_pln_per_mw_month × capacity_mw`.
pub fn bonifikata_pln(over_ms: i64, fee_pln_per_mw_month: f64, capacity_mw: f64) -> (u32, f64) {
    let days = started_days(over_ms);
    (
        days,
        f64::from(days) * fee_pln_per_mw_month * capacity_mw / 30.0,
    )
}

/// The compliance clocks of one interruption (domain.md §6.4, §6.5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clocks {
    /// Running or total duration, h.
    pub elapsed_h: f64,
    /// Phone information on the expected end due (start + the phone deadline), UTC ms.
    pub phone_information_due: TimestampMs,
    /// Written information due, UTC ms.
    pub written_information_due: TimestampMs,
    /// Whether the elapsed time passed the phone deadline.
    pub past_phone_deadline: bool,
    /// Notice given, days (planned works only).
    pub notice_days: Option<f64>,
    /// Notice required, days.
    pub notice_required_days: f64,
    /// Whether the notice falls short (planned works only).
    pub notice_short: Option<bool>,
    /// Longest allowed planned stop, days (planned works only).
    pub stop_limit_days: Option<f64>,
    /// Time beyond that limit, h.
    pub over_limit_h: f64,
    /// Started days beyond the limit.
    pub started_days_over: u32,
    /// Estimated bonifikata, PLN (`None` without a capacity fee).
    pub bonifikata_pln: Option<f64>,
}

/// The limits the clocks run against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockLimits {
    /// Phone information deadline, h.
    pub phone_h: f64,
    /// Written information deadline, days.
    pub written_days: f64,
    /// Required notice of planned works, days.
    pub notice_days: f64,
    /// Longest planned (summer) stop, days.
    pub stop_max_days: f64,
}

/// The clocks of an interruption from `start` to `end` (or to `now` while open). Planned
/// works (`notified_at` given) are measured against the notice and the stop limit; the
/// bonifikata applies per started day beyond the stop limit at `fee × capacity / 30`.
pub fn clocks(
    start: TimestampMs,
    end: TimestampMs,
    notified_at: Option<TimestampMs>,
    limits: &ClockLimits,
    fee_pln_per_mw_month: Option<f64>,
    capacity_mw: f64,
) -> Clocks {
    let elapsed = (end - start).max(0);
    let phone_ms = (limits.phone_h * HOUR_MS) as i64;
    let notice = notified_at.map(|n| (start - n) as f64 / DAY_MS);
    let (limit, over) = match notified_at {
        Some(_) => {
            let lim = (limits.stop_max_days * DAY_MS) as i64;
            (Some(limits.stop_max_days), (elapsed - lim).max(0))
        }
        None => (None, 0),
    };
    let days = started_days(over);
    Clocks {
        elapsed_h: elapsed as f64 / HOUR_MS,
        phone_information_due: start + phone_ms,
        written_information_due: start + (limits.written_days * DAY_MS) as i64,
        past_phone_deadline: elapsed > phone_ms,
        notice_days: notice,
        notice_required_days: limits.notice_days,
        notice_short: notice.map(|d| d < limits.notice_days - 1e-9),
        stop_limit_days: limit,
        over_limit_h: over as f64 / HOUR_MS,
        started_days_over: days,
        bonifikata_pln: fee_pln_per_mw_month.map(|f| bonifikata_pln(over, f, capacity_mw).1),
    }
}

/// A start or stop of heating on request against its limit (domain.md §6.4: ≤ 12 h, measured
/// from the request to the first supplied interval for a start, or to the first interval
/// without supply for a stop): (elapsed h, started days of delay beyond the limit, bonifikata
/// PLN at 1/30 of the monthly fee per started day).
pub fn request_clock(
    requested: TimestampMs,
    done: TimestampMs,
    limit_h: f64,
    fee_pln_per_mw_month: f64,
    capacity_mw: f64,
) -> (f64, u32, f64) {
    let elapsed = (done - requested).max(0);
    let over = elapsed - (limit_h * HOUR_MS) as i64;
    let (days, pln) = bonifikata_pln(over, fee_pln_per_mw_month, capacity_mw);
    (elapsed as f64 / HOUR_MS, days, pln)
}

/// A substation's heat demand against outdoor temperature: `E_h = a + b·T_out` in GJ per hour
/// (the degree-day model of domain.md §5.2 at hourly resolution), fitted by least squares to
/// its own history before an event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DemandModel {
    /// GJ/h at 0 °C.
    pub a_gj_h: f64,
    /// GJ/h per K (negative: colder, more demand).
    pub b_gj_h_per_k: f64,
    /// Hours it was fitted on.
    pub hours: usize,
}

impl DemandModel {
    /// Fit to (outdoor °C, GJ in the hour) pairs; `None` with fewer than 24 hours. With no
    /// spread of outdoor temperature the model is the mean demand.
    pub fn fit(history: &[(f64, f64)]) -> Option<DemandModel> {
        if history.len() < 24 {
            return None;
        }
        let n = history.len() as f64;
        let mx = history.iter().map(|p| p.0).sum::<f64>() / n;
        let my = history.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = history.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = history.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let b = if sxx > 1e-9 { sxy / sxx } else { 0.0 };
        Some(DemandModel {
            a_gj_h: my - b * mx,
            b_gj_h_per_k: b,
            hours: history.len(),
        })
    }

    /// Demand at `t_out`, GJ/h (never negative).
    pub fn at(&self, t_out: f64) -> f64 {
        (self.a_gj_h + self.b_gj_h_per_k * t_out).max(0.0)
    }

    /// Heat not supplied over (outdoor °C, hours without supply) pieces, GJ (domain.md §6.3).
    pub fn not_supplied_gj(&self, pieces: &[(f64, f64)]) -> f64 {
        pieces.iter().map(|(t, h)| self.at(*t) * h).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    fn ev(hours: f64, customers: f64, mw: f64, class: InterruptionClass) -> Interruption {
        Interruption {
            hours,
            customers,
            capacity_mw: mw,
            class,
        }
    }

    #[test]
    fn saidi_saifi_caidi_for_three_overlapping_events() {
        use InterruptionClass as C;
        // A network of 1 000 customers and 20 MW, over a 720-hour month. Three events that
        // overlap in time (a branch failure 08:00–14:00 hitting 200 customers / 4 MW, a
        // substation on that branch cut until 16:00 with 50 customers / 1 MW, and planned works
        // elsewhere 10:00–12:00 with 100 customers / 2 MW): overlap does not change the sums.
        let evs = [
            ev(6.0, 200.0, 4.0, C::Unplanned),
            ev(8.0, 50.0, 1.0, C::Unplanned),
            ev(2.0, 100.0, 2.0, C::Planned),
        ];
        let i = indices(&evs, 1000.0, 20.0, 720.0).unwrap();
        // SAIFI = (200 + 50 + 100) / 1000 = 0.35
        assert!((i.saifi - 0.35).abs() < 1e-12);
        // SAIDI = (6·200 + 8·50 + 2·100) / 1000 = (1200 + 400 + 200) / 1000 = 1.8 h
        assert!((i.saidi_h - 1.8).abs() < 1e-12);
        // CAIDI = 1.8 / 0.35 = 5.142857… h
        assert!((i.caidi_h.unwrap() - 1.8 / 0.35).abs() < 1e-12);
        // ASAI = 1 − 1800 / (1000 × 720) = 1 − 0.0025 = 99.75 %
        assert!((i.asai_pct - 99.75).abs() < 1e-9);
        // Capacity-weighted = 1 − (6·4 + 8·1 + 2·2) / (20 × 720) = 1 − 36/14400 = 99.75 %
        assert!((i.capacity_weighted_pct - 99.75).abs() < 1e-9);
        // Unplanned only: SAIFI 250/1000 = 0.25, SAIDI 1600/1000 = 1.6, CAIDI 6.4.
        let u: Vec<Interruption> = evs
            .iter()
            .copied()
            .filter(|e| e.class == C::Unplanned)
            .collect();
        let iu = indices(&u, 1000.0, 20.0, 720.0).unwrap();
        assert!((iu.saifi - 0.25).abs() < 1e-12 && (iu.saidi_h - 1.6).abs() < 1e-12);
        assert!((iu.caidi_h.unwrap() - 6.4).abs() < 1e-12);
        // No events: CAIDI undefined, ASAI 100 %.
        let none = indices(&[], 1000.0, 20.0, 720.0).unwrap();
        assert_eq!((none.caidi_h, none.asai_pct), (None, 100.0));
        assert!(indices(&evs, 0.0, 20.0, 720.0).is_none());
    }

    #[test]
    fn bonifikata_for_a_stop_two_days_over() {
        let limits = ClockLimits {
            phone_h: 12.0,
            written_days: 7.0,
            notice_days: 7.0,
            stop_max_days: 14.0,
        };
        // A summer stop of 16 days, notified 10 days ahead, 0.5 MW at 12 500 PLN/MW/month:
        // 16 − 14 = 2 days over = 2 started days; 2 × 12 500 × 0.5 / 30 = 416.67 PLN.
        let start = 100 * D;
        let c = clocks(
            start,
            start + 16 * D,
            Some(start - 10 * D),
            &limits,
            Some(12_500.0),
            0.5,
        );
        assert_eq!(c.started_days_over, 2);
        assert!((c.over_limit_h - 48.0).abs() < 1e-9);
        assert!((c.bonifikata_pln.unwrap() - 2.0 * 12_500.0 * 0.5 / 30.0).abs() < 1e-9);
        assert_eq!(c.notice_short, Some(false));
        // One minute more starts a third day: 3 × 208.33 = 625 PLN.
        let c = clocks(
            start,
            start + 16 * D + 60_000,
            Some(start - 10 * D),
            &limits,
            Some(12_500.0),
            0.5,
        );
        assert_eq!(c.started_days_over, 3);
        assert!((c.bonifikata_pln.unwrap() - 625.0).abs() < 1e-9);
        // Exactly 14 days: nothing over.
        let c = clocks(
            start,
            start + 14 * D,
            Some(start - 3 * D),
            &limits,
            None,
            0.5,
        );
        assert_eq!((c.started_days_over, c.bonifikata_pln), (0, None));
        assert_eq!(c.notice_short, Some(true));
        // An unplanned 13-hour failure: past the 12 h phone deadline, no stop limit.
        let c = clocks(start, start + 13 * H, None, &limits, Some(12_500.0), 0.5);
        assert!(c.past_phone_deadline && c.stop_limit_days.is_none());
        assert_eq!(c.bonifikata_pln, Some(0.0));
        assert_eq!(c.written_information_due, start + 7 * D);
    }

    #[test]
    fn request_clock_counts_started_days_of_delay() {
        // Heating requested at 0, first supplied reading 40 h later, limit 12 h: 28 h late =
        // 2 started days; 1 MW at 9 000 PLN/MW/month → 2 × 9 000 / 30 = 600 PLN.
        let (h, days, pln) = request_clock(0, 40 * H, 12.0, 9_000.0, 1.0);
        assert!((h - 40.0).abs() < 1e-12);
        assert_eq!(days, 2);
        assert!((pln - 600.0).abs() < 1e-9);
        assert_eq!(request_clock(0, 12 * H, 12.0, 9_000.0, 1.0).1, 0);
    }

    #[test]
    fn planned_notice_classifies_at_seven_days() {
        let start = 30 * D;
        let works = |notice: i64| RegisterMatch::Works {
            notified_at: start - notice,
            start,
        };
        assert_eq!(
            classify_interruption(works(7 * D), 7.0),
            InterruptionClass::Planned
        );
        assert_eq!(
            classify_interruption(works(7 * D - 60_000), 7.0),
            InterruptionClass::PlannedLateNotice
        );
        assert_eq!(
            classify_interruption(RegisterMatch::None, 7.0),
            InterruptionClass::Unplanned
        );
        assert_eq!(
            classify_interruption(RegisterMatch::External, 7.0),
            InterruptionClass::External
        );
    }

    #[test]
    fn heat_not_supplied_from_the_demand_model() {
        // History: demand 2 − 0.1·T GJ/h exactly, T from −10 to 13 °C (24 hours).
        let hist: Vec<(f64, f64)> = (0..24)
            .map(|i| {
                let t = -10.0 + i as f64;
                (t, 2.0 - 0.1 * t)
            })
            .collect();
        let m = DemandModel::fit(&hist).unwrap();
        assert!((m.a_gj_h - 2.0).abs() < 1e-9 && (m.b_gj_h_per_k + 0.1).abs() < 1e-9);
        // An outage of 2.5 h at −5 °C (2.5 GJ/h) and 1 h at 0 °C (2 GJ/h):
        // 2.5 × 2.5 + 1 × 2 = 8.25 GJ.
        assert!((m.not_supplied_gj(&[(-5.0, 2.5), (0.0, 1.0)]) - 8.25).abs() < 1e-9);
        // At 30 °C the line is negative (2 − 3 = −1): no demand, not negative heat.
        assert_eq!(m.at(30.0), 0.0);
        assert!(DemandModel::fit(&hist[..23]).is_none());
    }
}
