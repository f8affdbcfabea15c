//! The injected events as ground-truth records: each with its exact interval, and the loss of
//! supply it means for every substation it cuts off.

use super::cems::POLLUTANTS;
use super::engine::Simulation;
use super::faults::Scope;
use super::truth::{EventTruth, InterruptionTruth};
use crate::config::sim::EventKind;
use crate::model::{TimestampMs, time};
use chrono_tz::Tz;

/// The scenario's events that start before `until`, and the interruptions they cause, as
/// truth records.
pub fn events_truth(
    sim: &Simulation,
    tz: Tz,
    until: TimestampMs,
) -> (Vec<EventTruth>, Vec<InterruptionTruth>) {
    let u = &sim.utility;
    let fmt = |ts: TimestampMs| time::format_local(tz, ts);
    let mut events = Vec::new();
    let mut ints = Vec::new();
    for e in sim.scenario.events.iter().filter(|e| e.start_ms < until) {
        let subs: Vec<usize> = match e.scope {
            Scope::Network(n) => (0..u.substations.len())
                .filter(|&s| u.substations[s].network == n)
                .collect(),
            Scope::Branch(b) => (0..u.substations.len())
                .filter(|&s| u.substations[s].branch == b)
                .collect(),
            Scope::Substation(s) => vec![s],
            _ => vec![],
        };
        let assets: Vec<String> = match e.scope {
            Scope::Stack(s) => vec![u.stacks[s].id.clone()],
            Scope::Device(d) => vec![sim.devices[d].asset.clone()],
            Scope::Network(n) if subs.is_empty() => vec![u.networks[n].id.clone()],
            _ => subs
                .iter()
                .map(|&s| u.substation_assets[s].id.clone())
                .collect(),
        };
        let details = match e.kind {
            EventKind::DegradedSupply => serde_json::json!({ "delta_k": e.delta_k }),
            EventKind::EmissionEpisode => serde_json::json!({
                "pollutant": format!("{:?}", POLLUTANTS[e.pollutant]).to_lowercase(),
                "factor": e.factor }),
            EventKind::Leak => serde_json::json!({ "factor": e.factor }),
            EventKind::Exception => serde_json::json!({ "exception_code": e.exception_code }),
            EventKind::MeterReplacement => serde_json::json!({
                "new_energy_reading": e.new_reading,
                "offline_until_ms": e.end_ms }),
            EventKind::CounterOverflow => {
                let wrap = sim
                    .wraps
                    .iter()
                    .find(|w| Scope::Device(w.0) == e.scope && w.2 >= e.start_ms);
                serde_json::json!({ "wrapped_at_ms": wrap.map(|w| w.2) })
            }
            _ => serde_json::json!({}),
        };
        if matches!(e.kind, EventKind::Interruption | EventKind::PlannedStop) {
            let end = e.end_ms.unwrap_or(sim.ts).min(sim.ts.max(e.start_ms));
            for &s in &subs {
                let a = &u.substation_assets[s];
                ints.push(InterruptionTruth {
                    substation: a.id.clone(),
                    branch: u.branches[u.substations[s].branch].name.clone(),
                    event: e.id.clone(),
                    class: if e.kind == EventKind::PlannedStop {
                        "planned"
                    } else {
                        "unplanned"
                    }
                    .into(),
                    start_ms: e.start_ms,
                    end_ms: e.end_ms.unwrap_or(end),
                    start: fmt(e.start_ms),
                    end: fmt(e.end_ms.unwrap_or(end)),
                    duration_h: (e.end_ms.unwrap_or(end) - e.start_ms) as f64 / 3_600_000.0,
                    customers: a.customers,
                    ordered_capacity_mw: a.ordered_capacity_mw,
                });
            }
        }
        events.push(EventTruth {
            id: e.id.clone(),
            kind: e.kind.name().to_string(),
            target: e.target.clone(),
            assets,
            start_ms: e.start_ms,
            end_ms: e.end_ms,
            start: fmt(e.start_ms),
            end: e.end_ms.map(fmt),
            notified_ms: e.notified_ms,
            notified: e.notified_ms.map(fmt),
            built_in: e.built_in,
            details,
        });
    }
    (events, ints)
}
