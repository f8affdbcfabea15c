//! The live side of the engine (design.md §4, domain.md §0.2): the live periods (current hour,
//! day, month to date) evaluated on a schedule into a snapshot that each tick replaces, every
//! period stored once as a revision when it closes, and closed periods recomputed when late
//! data arrives.
//!
//! Late data: the store's write sequence is the watermark. Each tick reads the earliest sample
//! timestamp written since the last watermark (`Store::earliest_change_since`) and recomputes
//! every closed hour (last 48 h), day, month, year and heating season from there on. Each
//! recomputation is stored as a new revision (the store keeps the previous ones) and carries
//! `details.recalculation` with the previous value, status and as-of time (domain.md §7.8).

use super::engine::{Engine, EngineError};
use super::period::{Period, PeriodKind};
use super::result::KpiResult;
use crate::config::Settings;
use crate::model::TimestampMs;
use crate::store::{Store, StoreError};

/// State key of the late-data watermark.
const WATERMARK_KEY: &str = "kpi.watermark";
/// State key of the live snapshot.
const LIVE_KEY: &str = "kpi.live";
/// State key of the time of the last live tick.
const LAST_TICK_KEY: &str = "kpi.live_last_tick";

impl Engine {
    /// The live periods at `now`: the current hour, day and month, each to date.
    pub fn live_periods(&self, now: TimestampMs) -> Vec<Period> {
        [PeriodKind::Hour, PeriodKind::Day, PeriodKind::Month]
            .into_iter()
            .filter_map(|k| self.calendar().containing(k, now))
            .map(|p| p.to_date(now))
            .collect()
    }

    /// The closed periods touched by a change at `changed` and closed by `now`: hours of the
    /// last 48 h, days (at most `max_days`, the most recent), months, years and heating
    /// seasons, earliest first within each kind.
    pub fn closed_periods_since(
        &self,
        changed: TimestampMs,
        now: TimestampMs,
        max_days: u32,
    ) -> Vec<Period> {
        let c = self.calendar();
        let mut out = Vec::new();
        let mut push_run = |kind: PeriodKind, from: TimestampMs| {
            let mut p = c.containing(kind, from);
            while let Some(q) = p {
                if !q.is_closed(now) {
                    break;
                }
                let next = q.end();
                out.push(q);
                p = c.containing(kind, next);
            }
        };
        push_run(PeriodKind::Hour, changed.max(now - 48 * 3_600_000));
        push_run(
            PeriodKind::Day,
            changed.max(now - i64::from(max_days) * 86_400_000),
        );
        push_run(PeriodKind::Month, changed);
        push_run(PeriodKind::Year, changed);
        // Seasons: the one containing the change (if any) and the later ones.
        let d = c.date_of(changed);
        for y in [chrono::Datelike::year(&d) - 1, chrono::Datelike::year(&d)] {
            if let Ok(s) = c.season(y)
                && s.end() > changed
                && s.is_closed(now)
            {
                out.push(s);
            }
        }
        out
    }

    /// Recompute the closed periods touched by samples written since the stored watermark, then
    /// move the watermark. The first call only sets the watermark. Returns the periods
    /// recomputed.
    pub fn recompute_late(
        &self,
        settings: &Settings,
        store: &dyn Store,
        now: TimestampMs,
    ) -> Result<Vec<Period>, EngineError> {
        recompute_late(&[self], settings, store, now)
    }

    /// One live tick:
    /// 1. closed periods touched by late data are recomputed ([`Engine::recompute_late`]);
    /// 2. every hour, day, month, year and heating season that closed since the previous tick
    ///    is evaluated and stored once as a closed period, even if no data arrived for it;
    /// 3. the live periods (current hour, day, month to date) are evaluated: their events are
    ///    stored by id, and their results replace the live snapshot ([`live_snapshot`]) instead
    ///    of adding a revision every few minutes — a month to date would otherwise pile up
    ///    thousands of revisions per KPI.
    ///
    /// Returns the periods evaluated, closed ones first. The live loop
    /// ([`super::live_loop::LiveLoop`]) runs the same steps with a cadence per evaluator.
    pub fn live_tick(
        &self,
        settings: &Settings,
        store: &dyn Store,
        now: TimestampMs,
    ) -> Result<Vec<Period>, EngineError> {
        let mut done = close_periods(&[self], settings, store, now)?;
        let (periods, results) = self.evaluate_live(settings, store, now)?;
        done.extend(periods);
        put_snapshot(store, now, &results)?;
        Ok(done)
    }

    /// The live periods at `now` evaluated: events stored by id, results returned (for the
    /// snapshot) with the periods.
    pub(crate) fn evaluate_live(
        &self,
        settings: &Settings,
        store: &dyn Store,
        now: TimestampMs,
    ) -> Result<(Vec<Period>, Vec<KpiResult>), EngineError> {
        let mut results = Vec::new();
        let mut periods = Vec::new();
        for p in self.live_periods(now) {
            let ev = self.evaluate(settings, store, &p, None, now)?;
            let events = super::revision::merge_events(store, &ev)?;
            store.put_events(&events)?;
            results.extend(ev.results);
            periods.push(p);
        }
        Ok((periods, results))
    }
}

/// Steps 1 and 2 of [`Engine::live_tick`] for every evaluator of `engines`: closed periods
/// touched by late data recomputed, periods closed since the previous tick stored once; the
/// time of this tick recorded. Returns the periods stored.
pub(crate) fn close_periods(
    engines: &[&Engine],
    settings: &Settings,
    store: &dyn Store,
    now: TimestampMs,
) -> Result<Vec<Period>, EngineError> {
    let Some(first) = engines.first() else {
        return Ok(Vec::new());
    };
    let mut done = recompute_late(engines, settings, store, now)?;
    let last = store
        .state(LAST_TICK_KEY)?
        .and_then(|v| v.get("at").and_then(|t| t.as_i64()));
    if let Some(last) = last.filter(|l| *l < now) {
        for p in first.closed_periods_since(last, now, settings.kpi.live.recompute_max_days) {
            // A period closes once; the late-data pass may have done it already.
            let fresh = p.end() > last;
            if fresh
                && !done
                    .iter()
                    .any(|d| d.kind == p.kind && d.window == p.window)
            {
                for e in engines {
                    e.evaluate_and_store(settings, store, &p, None, now)?;
                }
                done.push(p);
            }
        }
    }
    store.put_state(LAST_TICK_KEY, &serde_json::json!({ "at": now }))?;
    Ok(done)
}

/// [`Engine::recompute_late`] for every evaluator of `engines`, under one watermark.
fn recompute_late(
    engines: &[&Engine],
    settings: &Settings,
    store: &dyn Store,
    now: TimestampMs,
) -> Result<Vec<Period>, EngineError> {
    let Some(first) = engines.first() else {
        return Ok(Vec::new());
    };
    let seq_now = store.write_seq()?;
    let prev = store
        .state(WATERMARK_KEY)?
        .and_then(|v| v.get("write_seq").and_then(|s| s.as_u64()));
    let mut done = Vec::new();
    if let Some(prev) = prev
        && let Some(changed) = store.earliest_change_since(prev)?
    {
        for p in first.closed_periods_since(changed, now, settings.kpi.live.recompute_max_days) {
            for e in engines {
                e.evaluate_and_store(settings, store, &p, None, now)?;
            }
            done.push(p);
        }
        if !done.is_empty() {
            tracing::info!(
                from = %crate::model::time::format_local(first.calendar().tz, changed),
                periods = done.len(),
                "recomputed closed periods after late data"
            );
        }
    }
    store.put_state(WATERMARK_KEY, &serde_json::json!({ "write_seq": seq_now }))?;
    Ok(done)
}

/// Replace the live snapshot with `results`, evaluated at `now`.
pub(crate) fn put_snapshot(
    store: &dyn Store,
    now: TimestampMs,
    results: &[KpiResult],
) -> Result<(), EngineError> {
    let body = serde_json::json!({
        "as_of": now,
        "results": results.iter().map(super::record::to_record).collect::<Vec<_>>(),
    });
    store.put_state(LIVE_KEY, &body)?;
    Ok(())
}

/// The results of the last live tick (current hour, day and month to date), for the live page;
/// `None` before the first tick.
pub fn live_snapshot(store: &dyn Store) -> Result<Option<Vec<KpiResult>>, EngineError> {
    let Some(v) = store.state(LIVE_KEY)? else {
        return Ok(None);
    };
    let records: Vec<crate::store::KpiRecord> =
        serde_json::from_value(v.get("results").cloned().unwrap_or_default())
            .map_err(|e| StoreError::Data(format!("live KPI snapshot: {e}")))?;
    let results = records
        .iter()
        .map(super::record::from_record)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Data(e.to_string()))?;
    Ok(Some(results))
}
