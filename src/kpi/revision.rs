//! What a (re)computation writes besides the new results and events: the recalculation note
//! of each result that had an earlier revision (domain.md §7.8: recalculation notes where late
//! data changed closed periods), and the merge of new events with the stored ones (a run kept
//! at its later end, a run no longer found marked withdrawn rather than deleted, so the event
//! register keeps its history).

use super::engine::{EngineError, Evaluation};
use super::result::KpiResult;
use crate::model::TimestampMs;
use crate::model::time::Window;
use crate::store::{EventFilter, EventRecord, ResultFilter, Store};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a stored event was withdrawn by a recomputation.
pub(super) fn is_withdrawn(e: &EventRecord) -> bool {
    e.body.get("withdrawn").is_some_and(|w| !w.is_null())
}

/// The latest stored revision of each result's (kpi, asset, period) goes into
/// `details.recalculation`.
pub(super) fn note_recalculations(
    store: &dyn Store,
    results: &mut [KpiResult],
) -> Result<(), EngineError> {
    let periods: BTreeSet<(TimestampMs, TimestampMs)> = results
        .iter()
        .map(|r| (r.period.start, r.period.end))
        .collect();
    let mut previous = BTreeMap::new();
    for (start, end) in periods {
        for rec in store.results(&ResultFilter {
            kpi: None,
            asset: None,
            // Only the periods containing the first ms (this one and the longer ones around
            // it), not every hour and day inside it.
            overlapping: Some(Window::new(start, start + 1)),
            all_revisions: false,
        })? {
            if rec.period_start == start && rec.period_end == end {
                previous.insert((rec.kpi.clone(), rec.asset.clone(), start, end), rec);
            }
        }
    }
    for r in results.iter_mut() {
        let key = (r.kpi.clone(), r.asset.clone(), r.period.start, r.period.end);
        if let Some(prev) = previous.get(&key) {
            let pv = prev.body.get("value").cloned().unwrap_or_default();
            let ps = prev.body.get("status").cloned().unwrap_or_default();
            let changed = pv != serde_json::to_value(r.value).unwrap_or_default()
                || ps != serde_json::to_value(r.status).unwrap_or_default();
            r.detail(
                "recalculation",
                serde_json::json!({
                    "previous_value": pv,
                    "previous_status": ps,
                    "previous_as_of": prev.as_of,
                    "changed": changed,
                }),
            );
        }
    }
    Ok(())
}

/// The events to write: the new ones (except a run cut by the end of the evaluated window whose
/// stored revision, from a later period, already has a later end), and stored events of a
/// recomputed scope that were not produced again, marked withdrawn.
pub(super) fn merge_events(
    store: &dyn Store,
    ev: &Evaluation,
) -> Result<Vec<EventRecord>, EngineError> {
    let new_ids: BTreeSet<&str> = ev.events.iter().map(|e| e.id.as_str()).collect();
    let mut out = Vec::new();
    let mut stored_by_id = BTreeMap::new();
    for (kind, subject, window) in &ev.event_scopes {
        for e in store.events(&EventFilter {
            kind: Some(kind.clone()),
            subject: Some(subject.clone()),
            overlapping: Some(*window),
            open_only: false,
        })? {
            let inside = e.start >= window.start && e.end.is_some_and(|end| end <= window.end);
            if inside && !new_ids.contains(e.id.as_str()) && !is_withdrawn(&e) {
                let mut w = e.clone();
                if let Some(b) = w.body.as_object_mut() {
                    b.insert(
                        "withdrawn".into(),
                        serde_json::json!({
                            "reason": "not found again when the period was recomputed (late or corrected data)",
                        }),
                    );
                }
                out.push(w);
            }
            stored_by_id.insert(e.id.clone(), e);
        }
    }
    for e in &ev.events {
        let cut_by_window = e.body.get("open_at_end").and_then(|v| v.as_bool()) == Some(true);
        match stored_by_id.get(&e.id) {
            Some(s) if cut_by_window && s.end.is_some_and(|se| e.end.is_some_and(|ne| se > ne)) => {
            }
            _ => out.push(e.clone()),
        }
    }
    Ok(out)
}
