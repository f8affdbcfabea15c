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
