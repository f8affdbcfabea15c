//! The live loop (design.md §4): one loop for every standard, with a cadence per group of
//! evaluators. Availability is evaluated every `kpi.availability.live_every_s` seconds (60 by
//! default), so an interruption opens within two readings of the first one without supply and
//! closes when supply returns (domain.md §6); the other standards every `kpi.live.every_s`
//! seconds (300 by default).
//!
//! The loop ticks at the greatest common divisor of the cadences. At each tick the groups
//! that are due evaluate the live periods (current hour, day and month to date) once: their
//! events are stored by id, their results replace that group's part of the live snapshot
//! (the other groups' parts stay as their last run left them). The first group — the one at
//! `kpi.live.every_s` — also stores the periods that closed since its previous run and
//! recomputes closed periods touched by late data, with every group's evaluators
//! ([`super::live`]).

use super::engine::{Engine, EngineError, EvalContext, Evaluation, Evaluator};
use super::period::Period;
use super::result::KpiResult;
use crate::config::Settings;
use crate::model::TimestampMs;
use crate::store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Evaluators run together at one cadence.
pub struct LiveGroup {
    name: &'static str,
    every_ms: i64,
    evaluators: Vec<&'static str>,
    engine: Engine,
}

impl LiveGroup {
    /// A group `name` running `evaluators` every `every_s` seconds (at least 1), reading
    /// counters with the register `moduli` (see [`Engine::with_register_moduli`]).
    pub fn new(
        name: &'static str,
        every_s: u64,
        evaluators: Vec<Box<dyn Evaluator>>,
        settings: &Settings,
        moduli: &BTreeMap<String, f64>,
    ) -> Result<LiveGroup, EngineError> {
        let mut engine = Engine::empty(settings)?.with_register_moduli(moduli.clone());
        let mut names = Vec::new();
        for e in evaluators {
            names.push(e.name());
            engine = engine.with(Boxed(e));
        }
        Ok(LiveGroup {
            name,
            every_ms: i64::try_from(every_s.max(1)).unwrap_or(i64::MAX / 1000) * 1000,
            evaluators: names,
            engine,
        })
    }

    /// The group's name (`standards`, `availability`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Milliseconds between two runs.
    pub fn every_ms(&self) -> i64 {
        self.every_ms
    }

    /// The names of the group's evaluators.
    pub fn evaluators(&self) -> &[&'static str] {
        &self.evaluators
    }
}

/// An evaluator handed over boxed.
struct Boxed(Box<dyn Evaluator>);

impl Evaluator for Boxed {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn evaluate(&self, ctx: &EvalContext<'_>, period: &Period) -> Result<Evaluation, EngineError> {
        self.0.evaluate(ctx, period)
    }
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct LiveTick {
    /// The groups that ran, in group order.
    pub groups: Vec<&'static str>,
    /// Closed periods stored (closed since the previous run, or recomputed after late data).
    pub closed: Vec<Period>,
    /// Live periods evaluated, once per group that ran.
    pub live: Vec<Period>,
    /// Groups whose evaluation failed, with the error (the others ran); each is retried at its
    /// next run.
    pub failed: Vec<(&'static str, EngineError)>,
}

/// The live loop's state: its groups, when each last ran, and each group's last results.
pub struct LiveLoop {
    groups: Vec<LiveGroup>,
    last_run: Vec<Option<TimestampMs>>,
    snapshot: Vec<Vec<KpiResult>>,
}

impl LiveLoop {
    /// A loop over `groups`; the first one also stores closed periods and recomputes late data.
    pub fn new(groups: Vec<LiveGroup>) -> LiveLoop {
        let n = groups.len();
        LiveLoop {
            groups,
            last_run: vec![None; n],
            snapshot: vec![Vec::new(); n],
        }
    }

    /// Every standard: efficient production, emission limits, transmission losses and rational
    /// use every `kpi.live.every_s`; full availability of supply every
    /// `kpi.availability.live_every_s`.
    pub fn standards(
        settings: &Settings,
        moduli: &BTreeMap<String, f64>,
    ) -> Result<LiveLoop, EngineError> {
        let (availability, general): (Vec<_>, Vec<_>) = super::engine::standard_evaluators()
            .into_iter()
            .partition(|e| e.name() == "availability");
        Ok(LiveLoop::new(vec![
            LiveGroup::new(
                "standards",
                settings.kpi.live.every_s,
                general,
                settings,
                moduli,
            )?,
            LiveGroup::new(
                "availability",
                settings.kpi.availability.live_every_s,
                availability,
                settings,
                moduli,
            )?,
        ]))
    }

    /// The groups, in order.
    pub fn groups(&self) -> &[LiveGroup] {
        &self.groups
    }

    /// How often the loop ticks: the greatest common divisor of the groups' cadences, ms.
    pub fn tick_ms(&self) -> i64 {
        self.groups
            .iter()
            .map(|g| g.every_ms)
            .reduce(gcd)
            .unwrap_or(60_000)
            .max(1)
    }

    /// The groups due at `now`: never run, run at least their cadence ago (less half a tick,
    /// so a tick that fires a little early does not skip a whole cadence), or the clock went
    /// back.
    pub fn due(&self, now: TimestampMs) -> Vec<usize> {
        let slack = self.tick_ms() / 2;
        (0..self.groups.len())
            .filter(|&i| match self.last_run[i] {
                None => true,
                Some(last) => now < last || now - last >= self.groups[i].every_ms - slack,
            })
            .collect()
    }

    /// One tick at `now`: each group due evaluates the live periods once; the first group, when
    /// due, first stores the periods closed since its previous run and recomputes closed
    /// periods touched by late data with every group's evaluators. The live snapshot is
    /// rewritten when any group ran. A failing group is reported in [`LiveTick::failed`] and
    /// the others still run.
    pub fn tick(
        &mut self,
        settings: &Settings,
        store: &dyn Store,
        now: TimestampMs,
    ) -> Result<LiveTick, EngineError> {
        let due = self.due(now);
        let mut out = LiveTick::default();
        if due.is_empty() {
            return Ok(out);
        }
        if due.first() == Some(&0) {
            let engines: Vec<&Engine> = self.groups.iter().map(|g| &g.engine).collect();
            match super::live::close_periods(&engines, settings, store, now) {
                Ok(closed) => out.closed = closed,
                Err(e) => out.failed.push((self.groups[0].name, e)),
            }
        }
        for i in due {
            let g = &self.groups[i];
            self.last_run[i] = Some(now);
            match g.engine.evaluate_live(settings, store, now) {
                Ok((periods, results)) => {
                    out.groups.push(g.name);
                    out.live.extend(periods);
                    self.snapshot[i] = results;
                }
                Err(e) => out.failed.push((g.name, e)),
            }
        }
        let all: Vec<KpiResult> = self.snapshot.iter().flatten().cloned().collect();
        super::live::put_snapshot(store, now, &all)?;
        Ok(out)
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The live loop for the CLI to spawn: a [`LiveLoop::tick`] every [`LiveLoop::tick_ms`] on a
/// blocking thread (the store is synchronous), until `shutdown` turns true. A failed group is
/// logged and retried at its next run.
pub async fn run_live(
    live: LiveLoop,
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), EngineError> {
    let every = std::time::Duration::from_millis(live.tick_ms().max(1000) as u64);
    for g in live.groups() {
        tracing::info!(
            group = g.name(),
            every_s = g.every_ms() / 1000,
            evaluators = ?g.evaluators(),
            "live evaluation"
        );
    }
    let mut live = Some(live);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return Ok(());
                }
                continue;
            }
        }
        if *shutdown.borrow() {
            return Ok(());
        }
        let Some(mut l) = live.take() else {
            return Ok(());
        };
        let (s, st) = (settings.clone(), store.clone());
        let now = chrono::Utc::now().timestamp_millis();
        let (l, res) = tokio::task::spawn_blocking(move || {
            let r = l.tick(&s, st.as_ref(), now);
            (l, r)
        })
        .await
        .map_err(|e| EngineError::Task(e.to_string()))?;
        live = Some(l);
        match res {
            Ok(t) => {
                metrics::counter!("heatkpi_kpi_evaluations_total")
                    .increment((t.closed.len() + t.live.len()) as u64);
                for g in &t.groups {
                    metrics::counter!("heatkpi_kpi_live_runs_total", "group" => *g).increment(1);
                }
                for (g, e) in &t.failed {
                    metrics::counter!("heatkpi_kpi_evaluation_errors_total").increment(1);
                    tracing::warn!(group = *g, error = %e, "live KPI evaluation failed; retrying at its next run");
                }
            }
            Err(e) => {
                metrics::counter!("heatkpi_kpi_evaluation_errors_total").increment(1);
                tracing::warn!(error = %e, "live KPI snapshot not written; retrying at the next tick");
            }
        }
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
