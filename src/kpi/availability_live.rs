//! Live availability (issue "Evaluator II", item 4): the current hour is evaluated every
//! `kpi.availability.live_every_s` seconds (60 by default), besides the engine's general live
//! tick, so an interruption event opens within two readings of the first one without supply
//! and closes when supply returns. Only events are stored here; results come from the
//! general live tick.

use super::availability_eval::AvailabilityEvaluator;
use super::engine::{Engine, EngineError};
use super::period::PeriodKind;
use crate::config::Settings;
use crate::model::TimestampMs;
use crate::store::Store;
use std::sync::Arc;

/// One availability tick at `now`: the current hour to date, its events merged into the store.
/// Returns the number of events written.
pub fn tick(
    engine: &Engine,
    settings: &Settings,
    store: &dyn Store,
    now: TimestampMs,
) -> Result<usize, EngineError> {
    let Some(p) = engine.calendar().containing(PeriodKind::Hour, now) else {
        return Ok(0);
    };
    let p = p.to_date(now);
    let ev = engine.evaluate(settings, store, &p, None, now)?;
    let events = super::revision::merge_events(store, &ev)?;
    store.put_events(&events)?;
    Ok(events.len())
}

/// An engine with only the availability evaluator.
pub fn engine(settings: &Settings) -> Result<Engine, EngineError> {
    Ok(Engine::empty(settings)?.with(AvailabilityEvaluator))
}

/// The loop for the CLI to spawn next to the general live loop; a failed tick is logged and
/// retried at the next one.
pub async fn run(settings: Arc<Settings>, store: Arc<dyn Store>) {
    let engine = match engine(&settings) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            tracing::error!("live availability not started: {e}");
            return;
        }
    };
    let every = std::time::Duration::from_secs(settings.kpi.availability.live_every_s.max(1));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (e, s, st) = (engine.clone(), settings.clone(), store.clone());
        let now = chrono::Utc::now().timestamp_millis();
        match tokio::task::spawn_blocking(move || tick(&e, &s, st.as_ref(), now)).await {
            Ok(Ok(n)) => {
                metrics::counter!("heatkpi_availability_events_written_total").increment(n as u64)
            }
            Ok(Err(e)) => {
                metrics::counter!("heatkpi_kpi_evaluation_errors_total").increment(1);
                tracing::warn!(error = %e, "live availability evaluation failed; retrying at the next tick");
            }
            Err(e) => {
                tracing::error!("live availability task: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::testkit::MemStore;
    use crate::store::EventFilter;

    const MIN: i64 = 60_000;

    fn settings() -> Settings {
        toml::from_str(
            r#"
            [[network]]
            id = "n"
            water_volume_m3 = 1.0
            length_km = 1.0
            regulation = "c"
            weather = "wx"
            [[weather]]
            id = "wx"
            [[regulation]]
            id = "c"
            points = [[-20.0, 130.0, 70.0], [20.0, 70.0, 40.0]]
            [[substation]]
            id = "ss-1"
            network = "n"
            branch = "b1"
            ordered_capacity_mw = 0.5
            heated_area_m2 = 1000
            design_delta_t_k = 50
            customers = 40
            "#,
        )
        .unwrap()
    }

    /// Readings of minute `m` (from 10:00): supplied, except minutes 30–79 without pressure.
    fn write_minute(store: &MemStore, t0: TimestampMs, m: i64) {
        let ts = t0 + m * MIN;
        let out = (30..80).contains(&m);
        let wiggle = (m % 7) as f64 * 0.01;
        store.put("wx.outdoor_temp", &[(ts, 0.0 + wiggle)]);
        let (f, r, q, dp) = if out {
            (
                98.0 - (m - 29) as f64 * 0.7,
                55.0 - wiggle,
                0.0,
                0.01 + wiggle,
            )
        } else {
            (98.0 + wiggle, 60.0 + wiggle, 3.0 + wiggle, 1.5 + wiggle)
        };
        store.put("ss-1.supply_temp", &[(ts, f)]);
        store.put("ss-1.return_temp", &[(ts, r)]);
        store.put("ss-1.flow", &[(ts, q)]);
        store.put("ss-1.diff_pressure", &[(ts, dp)]);
    }

    fn interruptions(store: &MemStore) -> Vec<crate::store::EventRecord> {
        store
            .events(&EventFilter {
                kind: Some("interruption".into()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .filter(|e| e.body.get("withdrawn").is_none())
            .collect()
    }

    #[test]
    fn an_interruption_opens_within_two_readings_and_closes_when_supply_returns() {
        let s = settings();
        let store = MemStore::new();
        let e = engine(&s).unwrap();
        let t0 = crate::model::time::parse_instant(e.calendar().tz, "2026-01-12T10:00").unwrap();
        let mut minute = 0;
        let mut run_to = |store: &MemStore, until: i64| {
            while minute <= until {
                write_minute(store, t0, minute);
                minute += 1;
            }
        };
        // Readings to 10:31 (the first without pressure at 10:30), tick 30 s later: one and a
        // half readings after the first one, the suspected interruption is open.
        run_to(&store, 31);
        tick(&e, &s, &store, t0 + 31 * MIN + 30_000).unwrap();
        let ev = interruptions(&store);
        assert_eq!(ev.len(), 1, "{ev:#?}");
        assert_eq!((ev[0].start, ev[0].end), (t0 + 30 * MIN, None));
        assert_eq!(ev[0].body["stage"], "suspected");
        assert_eq!(ev[0].body["evidence"]["reason"], "no_pressure");
        // 35 minutes without supply (past the 30-minute persistence, across the hour): the
        // same event, now confirmed and still open.
        run_to(&store, 65);
        tick(&e, &s, &store, t0 + 65 * MIN + 30_000).unwrap();
        let ev = interruptions(&store);
        assert_eq!(ev.len(), 1, "{ev:#?}");
        assert_eq!((ev[0].start, ev[0].end), (t0 + 30 * MIN, None));
        assert_eq!(ev[0].body["stage"], "confirmed");
        assert_eq!(ev[0].body["customers"], 40);
        // Supply returns at 11:20: the event closes there.
        run_to(&store, 81);
        tick(&e, &s, &store, t0 + 81 * MIN + 30_000).unwrap();
        let ev = interruptions(&store);
        assert_eq!(ev.len(), 1, "{ev:#?}");
        assert_eq!(ev[0].end, Some(t0 + 80 * MIN));
        assert_eq!(ev[0].body["state"], "closed");
        assert_eq!(ev[0].body["class"], "unplanned");
    }
}
