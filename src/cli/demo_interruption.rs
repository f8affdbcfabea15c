//! The demo's own interruption: a few minutes after `heatkpi demo` starts, the simulator closes
//! one branch (by default the first substation's) for a few minutes, so an operator sees the
//! live availability evaluation open the interruptions and close them when supply returns.
//!
//! The demo's physics runs `--speed` times faster than the wall clock its readings are stamped
//! with, so the cut is placed in simulated time at `start + at × speed` and lasts
//! `for × speed` simulated seconds; in the store it spans `at` … `at + for` of wall time.

use super::Failure;
use super::runtime::parse_duration;
use crate::config::Settings;
use crate::config::sim::{EventConfig, EventKind};
use crate::model::TimestampMs;
use crate::store::{EventFilter, Store};
use std::time::Duration;

/// The planned cut.
#[derive(Debug, Clone)]
pub(super) struct DemoInterruption {
    /// The branch, network or substation cut off.
    pub target: String,
    /// The substations it cuts off.
    pub substations: Vec<String>,
    /// Wall time from the start to the cut.
    pub after: Duration,
    /// Wall time the cut lasts.
    pub lasts: Duration,
    /// Simulated seconds per wall second.
    pub speed: f64,
    /// The cut in simulated time, UTC ms.
    pub sim_start: TimestampMs,
    /// The end of the cut in simulated time, UTC ms.
    pub sim_end: TimestampMs,
}

impl DemoInterruption {
    /// The cut `at` (wall clock, after the simulator's first instant `sim_start_ms`) lasting
    /// `lasts`, of `target` (default: the first substation's branch). `None` for `at = off`,
    /// without substations, or with the simulator's clock stopped (`speed` 0).
    pub fn plan(
        settings: &Settings,
        target: Option<&str>,
        at: &str,
        lasts: &str,
        speed: f64,
        sim_start_ms: TimestampMs,
    ) -> Result<Option<DemoInterruption>, Failure> {
        if at.trim() == "off" || speed <= 0.0 {
            return Ok(None);
        }
        let bad = |flag: &str, e: String| Failure::Input(format!("{flag}: {e}"));
        let after = parse_duration(at).map_err(|e| bad("--interruption-at", e))?;
        let lasts = parse_duration(lasts).map_err(|e| bad("--interruption-for", e))?;
        if lasts.is_zero() {
            return Err(bad(
                "--interruption-for",
                "give a duration such as 5m".into(),
            ));
        }
        let target = match target {
            Some(t) => t.to_string(),
            None => match settings.substations.first() {
                Some(s) => s.branch.clone().unwrap_or_else(|| s.network.clone()),
                None => return Ok(None),
            },
        };
        let substations: Vec<String> = settings
            .substations
            .iter()
            .filter(|s| {
                let branch = s.branch.as_deref().unwrap_or("");
                branch == target
                    || format!("{}/{branch}", s.network) == target
                    || s.network == target
                    || s.id == target
            })
            .map(|s| s.id.clone())
            .collect();
        if substations.is_empty() {
            return Err(Failure::Input(format!(
                "--interruption-target {target}: no branch, network or substation of the configuration has this id"
            )));
        }
        let sim_ms = |d: Duration| (d.as_secs_f64() * speed * 1000.0).round() as i64;
        let sim_start = sim_start_ms + sim_ms(after);
        Ok(Some(DemoInterruption {
            target,
            substations,
            after,
            lasts,
            speed,
            sim_start,
            sim_end: sim_start + sim_ms(lasts),
        }))
    }

    /// The scenario event: an unplanned interruption of the target at the simulated instant.
    pub fn event(&self) -> EventConfig {
        let start = crate::model::time::utc(self.sim_start)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        EventConfig::new(
            EventKind::Interruption,
            &self.target,
            &start,
            Some((self.sim_end - self.sim_start) as f64 / 3_600_000.0),
        )
    }

    /// The cut in wall-clock time, from the simulator's instant `sim_now` at the wall time
    /// `wall_now` (its clock running from there at `speed`).
    pub fn wall_window(&self, wall_now: TimestampMs, sim_now: TimestampMs) -> WallWindow {
        let wall = |sim: TimestampMs| wall_now + ((sim - sim_now) as f64 / self.speed) as i64;
        WallWindow {
            start: wall(self.sim_start),
            end: wall(self.sim_end),
        }
    }

    /// What the demo prints at the start: what is cut off, when, and what to watch for.
    pub fn announce(&self, w: WallWindow, tz: chrono_tz::Tz, config: &str) -> String {
        let fmt = |t| crate::model::time::format_local(tz, t);
        let subs = match self.substations.as_slice() {
            [one] => one.clone(),
            list if list.len() <= 4 => list.join(", "),
            list => format!("{}, … {}", list[..3].join(", "), list[list.len() - 1]),
        };
        format!(
            "  watch: the simulator cuts {} off ({} substation{}: {subs}) from {} to {} (wall clock: {:?} after the start, for {:?} = {:.1} simulated hours at {}×).\n  \
             \x20      Each substation's interruption opens as `suspected` within two readings, turns `confirmed` after [kpi.availability] persistence_min, and closes when supply returns: the `watch:` line of each summary, `heatkpi -c {config} events --open`, `heatkpi -c {config} events --kind interruption`.",
            self.target,
            self.substations.len(),
            if self.substations.len() == 1 { "" } else { "s" },
            fmt(w.start),
            fmt(w.end),
            self.after,
            self.lasts,
            (self.sim_end - self.sim_start) as f64 / 3_600_000.0,
            self.speed,
        )
    }

    /// One summary line: the interruption events of the cut substations since shortly before
    /// the cut, from the store.
    pub fn status(
        &self,
        w: WallWindow,
        now: TimestampMs,
        tz: chrono_tz::Tz,
        store: &dyn Store,
    ) -> String {
        let hms = |t: TimestampMs| {
            crate::model::time::utc(t)
                .with_timezone(&tz)
                .format("%H:%M:%S")
                .to_string()
        };
        let events = match store.events(&EventFilter {
            kind: Some("interruption".into()),
            ..Default::default()
        }) {
            Ok(e) => e,
            Err(e) => return format!("watch: {e}"),
        };
        let ours: Vec<_> = events
            .iter()
            .filter(|e| self.substations.contains(&e.subject))
            .filter(|e| e.start >= w.start - 300_000 && e.body.get("withdrawn").is_none())
            .collect();
        let open: Vec<_> = ours.iter().filter(|e| e.end.is_none()).collect();
        let stage = |s: &str| {
            open.iter()
                .filter(|e| e.body.get("stage").and_then(|v| v.as_str()) == Some(s))
                .count()
        };
        let truth = format!("cut {} – {}", hms(w.start), hms(w.end));
        let n = self.substations.len();
        if !open.is_empty() {
            let since = open.iter().map(|e| e.start).min().unwrap_or(w.start);
            return format!(
                "watch ({}, {truth}): interruptions open {}/{n} ({} suspected, {} confirmed) since {}",
                self.target,
                open.len(),
                stage("suspected"),
                stage("confirmed"),
                hms(since)
            );
        }
        if !ours.is_empty() {
            let from = ours.iter().map(|e| e.start).min().unwrap_or(w.start);
            let to = ours.iter().filter_map(|e| e.end).max().unwrap_or(w.end);
            return format!(
                "watch ({}, {truth}): {} interruptions closed, {} – {}",
                self.target,
                ours.len(),
                hms(from),
                hms(to)
            );
        }
        if now < w.start {
            format!(
                "watch ({}, {truth}): supplied; the cut comes in {} s",
                self.target,
                (w.start - now + 999) / 1000
            )
        } else {
            format!(
                "watch ({}, {truth}): no interruption found yet",
                self.target
            )
        }
    }
}

/// The cut in wall-clock time (UTC ms), where the store's readings show it.
#[derive(Debug, Clone, Copy)]
pub(super) struct WallWindow {
    /// Start.
    pub start: TimestampMs,
    /// End.
    pub end: TimestampMs,
}
