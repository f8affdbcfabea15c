//! Customer requests to stop and restart space heating against the start/stop limit
//! (domain.md §6.4: ≤ 12 h, measured from the request to the first NOT REQUESTED interval for a
//! stop and to the first SUPPLIED interval for a start).
//!
//! A register entry of kind `customer_request` is the customer's request to stop heating from
//! `start` until `end`: its `notified_at` is when the stop was asked for and `start` when
//! supply was stopped (its interval is "not requested" from then on), so the stop took
//! `start − notified_at`. The restart is due at `end`; it is done at the first supplied
//! reading at or after `end`, which the substation's timeline shows. A restart not seen yet is
//! pending; once the limit has passed it is reported late with the time elapsed so far.

use super::availability::request_clock;
use super::availability_state::{SupplyState, Timeline};
use crate::config::kpi_availability::{PlannedWork, WorkKind};
use crate::model::TimestampMs;
use crate::model::time::Window;
use serde::Serialize;

/// One stop or start on request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestClock {
    /// Register entry id.
    pub id: String,
    /// `stop` or `start`.
    pub action: &'static str,
    /// When it was due from (request time).
    pub requested_at: TimestampMs,
    /// When it was done; `None` while pending.
    pub done_at: Option<TimestampMs>,
    /// Hours from the request to done (or to the as-of time while pending).
    pub elapsed_h: f64,
    /// The limit, hours.
    pub limit_h: f64,
    /// Elapsed beyond the limit.
    pub late: bool,
    /// Started days beyond the limit (bonifikata basis).
    pub started_days_over: u32,
    /// 1/30 of the monthly capacity fee per started day, PLN; `None` without a fee.
    pub bonifikata_pln: Option<f64>,
}

/// The clocks of the `customer_request` entries of `works` whose request time lies in `w`
/// (stops by `notified_at`, starts by `end`), from the substation's timeline `tl` (covering
/// `w` and as far after it as was followed).
pub fn clocks(
    works: &[&PlannedWork],
    tl: &Timeline,
    w: Window,
    as_of: TimestampMs,
    limit_h: f64,
    fee_pln_per_mw_month: Option<f64>,
    capacity_mw: f64,
) -> Vec<RequestClock> {
    let clock = |id: &str, action, requested: TimestampMs, done: Option<TimestampMs>| {
        let until = done.unwrap_or(as_of.max(requested));
        let (elapsed_h, days, pln) = request_clock(
            requested,
            until,
            limit_h,
            fee_pln_per_mw_month.unwrap_or(0.0),
            capacity_mw,
        );
        RequestClock {
            id: id.to_string(),
            action,
            requested_at: requested,
            done_at: done,
            elapsed_h,
            limit_h,
            late: elapsed_h > limit_h + 1e-9,
            started_days_over: days,
            bonifikata_pln: fee_pln_per_mw_month.map(|_| pln),
        }
    };
    let mut out = Vec::new();
    for x in works.iter().filter(|x| x.kind == WorkKind::CustomerRequest) {
        if let Some(asked) = x.notified_at.filter(|t| w.contains(*t)) {
            out.push(clock(&x.id, "stop", asked, Some(x.start.max(asked))));
        }
        if w.contains(x.end) && x.end <= as_of {
            let done = tl
                .spans
                .iter()
                .find(|s| s.state == SupplyState::Supplied && s.end > x.end)
                .map(|s| s.start.max(x.end));
            out.push(clock(&x.id, "start", x.end, done));
        }
    }
    out
}

/// The longest elapsed time of `clocks`, hours (the result's value).
pub fn longest_h(clocks: &[RequestClock]) -> Option<f64> {
    clocks.iter().map(|c| c.elapsed_h).reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::availability_state::{Reason, Span};

    const H: i64 = 3_600_000;

    fn entry(notified: Option<i64>, start: i64, end: i64) -> PlannedWork {
        PlannedWork {
            id: "cr-1".into(),
            substations: vec!["ss-01".into()],
            start,
            end,
            notified_at: notified,
            reason: "end of season".into(),
            kind: WorkKind::CustomerRequest,
            line: 1,
        }
    }

    fn timeline(spans: &[(i64, i64, SupplyState)]) -> Timeline {
        let mut tl = Timeline::default();
        for &(start, end, state) in spans {
            tl.push(Span {
                start,
                end,
                state,
                reason: Reason::Normal,
            });
        }
        tl
    }

    #[test]
    fn a_stop_and_a_restart_against_the_twelve_hour_limit() {
        // Stop asked at 0 h, done at 10 h: 10 h, in time. Restart due at 100 h, first supplied
        // reading at 130 h: 30 h elapsed, 18 h over the 12 h limit = 1 started day; 2 MW at
        // 12 000 PLN/MW/month → 1 × 12 000 × 2 / 30 = 800 PLN.
        let x = entry(Some(0), 10 * H, 100 * H);
        let tl = timeline(&[
            (0, 10 * H, SupplyState::Supplied),
            (10 * H, 100 * H, SupplyState::NotRequested),
            (100 * H, 130 * H, SupplyState::NotSupplied),
            (130 * H, 200 * H, SupplyState::Supplied),
        ]);
        let c = clocks(
            &[&x],
            &tl,
            Window::new(0, 200 * H),
            200 * H,
            12.0,
            Some(12_000.0),
            2.0,
        );
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].action, c[0].late), ("stop", false));
        assert!((c[0].elapsed_h - 10.0).abs() < 1e-12);
        assert_eq!((c[1].action, c[1].done_at), ("start", Some(130 * H)));
        assert!((c[1].elapsed_h - 30.0).abs() < 1e-12);
        assert!(c[1].late);
        assert_eq!(c[1].started_days_over, 1);
        assert!((c[1].bonifikata_pln.unwrap() - 800.0).abs() < 1e-9);
        assert_eq!(longest_h(&c), Some(30.0));
    }

    #[test]
    fn a_restart_not_seen_yet_is_pending_and_late_once_past_the_limit() {
        // Restart due at 100 h, no supply since: at 110 h pending in time, at 113 h late
        // (13 h elapsed, 1 h over = 1 started day). Without a fee no bonifikata amount.
        let x = entry(None, 10 * H, 100 * H);
        let tl = timeline(&[
            (10 * H, 100 * H, SupplyState::NotRequested),
            (100 * H, 113 * H, SupplyState::Unknown),
        ]);
        let w = Window::new(0, 200 * H);
        let early = clocks(&[&x], &tl, w, 110 * H, 12.0, None, 1.0);
        assert_eq!(early.len(), 1, "no stop clock without a request time");
        assert_eq!((early[0].done_at, early[0].late), (None, false));
        let late = clocks(&[&x], &tl, w, 113 * H, 12.0, None, 1.0);
        assert!(late[0].late && late[0].started_days_over == 1);
        assert_eq!(late[0].bonifikata_pln, None);
        // A restart due after the as-of time has no clock yet; one outside the window neither.
        assert!(clocks(&[&x], &tl, w, 90 * H, 12.0, None, 1.0).is_empty());
        assert!(clocks(&[&x], &tl, Window::new(0, 50 * H), 200 * H, 12.0, None, 1.0).is_empty());
    }
}
