//! One simulation run: the utility's physics, the scenario and the devices, stepped together.
//!
//! Both entry points use it: `history` steps it as fast as it can and writes what the devices
//! show; `serve` steps it on a clock and puts what the devices show into register images.

use super::SimError;
use super::devices::{self, SimDevice};
use super::faults::{Conditions, Scenario};
use super::rng::Rng;
use super::utility::{AssetRef, Utility};
use crate::config::Settings;
use crate::config::modbus::Template;
use crate::config::sim::EventKind;
use crate::model::{Quantity, TimestampMs};
use std::collections::BTreeMap;

/// Days simulated before the start so that lags, the network temperature and the noise
/// processes have settled; nothing from them is written.
const PREROLL_DAYS: i64 = 2;

/// Months of the built-in scenario any run lays out at least. A history of some days and a
/// live run of the same month must place the same counter registers (a register is set up at
/// the start to wrap in its month), so both look this far ahead.
pub const SCENARIO_MONTHS: u32 = 3;

/// How to set up a run.
#[derive(Debug, Clone)]
pub struct SimSetup {
    /// Random seed.
    pub seed: u64,
    /// Step, simulated seconds.
    pub step_s: u32,
    /// First instant, UTC ms (aligned to the step).
    pub start_ms: TimestampMs,
    /// Generate this many substations instead of the configured ones.
    pub substations: Option<usize>,
    /// Add synthetic devices for simulated assets without a configured device.
    pub synthesize: bool,
    /// Add synthetic meters for the substations `[simulator.mqtt]` selects that have no
    /// configured device (the AMR gateway reads them).
    pub amr_meters: bool,
    /// Local months the built-in scenario is laid out for, from the start's month.
    pub months: u32,
}

/// A running simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The physics.
    pub utility: Utility,
    /// The scenario.
    pub scenario: Scenario,
    /// The devices.
    pub devices: Vec<SimDevice>,
    /// Step, ms.
    pub step_ms: i64,
    /// The instant the state is at.
    pub ts: TimestampMs,
    /// Counter wrap-arounds seen: (device index, point index, instant).
    pub wraps: Vec<(usize, usize, TimestampMs)>,
}

impl Simulation {
    /// Build the utility, devices and scenario and bring them to `setup.start_ms`.
    pub fn new(
        settings: &Settings,
        templates: &BTreeMap<String, Template>,
        setup: &SimSetup,
    ) -> Result<Self, SimError> {
        if setup.step_s == 0 || 3600 % setup.step_s != 0 {
            return Err(SimError::Config(format!(
                "simulator step {} s must divide an hour (e.g. 10, 60, 300)",
                setup.step_s
            )));
        }
        let sim_cfg = settings.simulator.clone().unwrap_or_default();
        let dt = f64::from(setup.step_s);
        let mut utility = Utility::build(settings, &sim_cfg, setup.substations, setup.seed, dt)?;
        let amr = sim_cfg.mqtt.as_ref().filter(|_| setup.amr_meters);
        let want = |id: &str, a: AssetRef| {
            setup.synthesize
                || matches!(a, AssetRef::Substation(_)) && amr.is_some_and(|m| m.selects(id))
        };
        let mut devices = devices::build(settings, templates, &utility, &want)?;
        let mut topo = utility.topology();
        topo.devices = devices
            .iter()
            .map(|d| (d.id.clone(), d.asset.clone()))
            .collect();
        let mut scenario = Scenario::build(
            &sim_cfg,
            &topo,
            utility.tz,
            setup.start_ms,
            setup.months.max(SCENARIO_MONTHS),
        )?;
        utility.cond = Conditions::new(&topo);
        let step_ms = i64::from(setup.step_s) * 1000;
        let mut ts = setup.start_ms - PREROLL_DAYS * 86_400_000;
        while ts <= setup.start_ms {
            scenario.apply(ts, &mut utility.cond);
            utility.step(ts);
            ts += step_ms;
        }
        for (i, d) in devices.iter_mut().enumerate() {
            let mut rng = Rng::new(setup.seed, 0xDE_0000 + i as u64);
            d.start(&utility, &mut rng);
        }
        let mut sim = Simulation {
            utility,
            scenario,
            devices,
            step_ms,
            ts: setup.start_ms,
            wraps: Vec::new(),
        };
        sim.place_overflows()?;
        for (i, d) in sim.devices.iter_mut().enumerate() {
            d.update(&sim.utility, sim.utility.cond.device[i]);
        }
        Ok(sim)
    }

    /// Advance one step.
    pub fn advance(&mut self) {
        self.ts += self.step_ms;
        let ts = self.ts;
        self.scenario.apply(ts, &mut self.utility.cond);
        self.utility.step(ts);
        for (i, d) in self.devices.iter_mut().enumerate() {
            d.update(&self.utility, self.utility.cond.device[i]);
            for &p in &d.wrapped {
                self.wraps.push((i, p, ts));
            }
        }
        while let Some(e) = self.scenario.next_due(ts) {
            let ev = &self.scenario.events[e];
            let super::faults::Scope::Device(d) = ev.scope else {
                continue;
            };
            match ev.kind {
                EventKind::MeterReset => self.devices[d].reset_counters(),
                EventKind::MeterReplacement => self.devices[d].replace_meter(ev.new_reading),
                _ => {}
            }
        }
    }

    /// Give each counter_overflow target a register reading that wraps exactly at the event
    /// instant: a look-ahead run of the physics finds the true counter there, and the register
    /// starts that far below its modulus. (Assumes no other fault on the same meter before it.)
    fn place_overflows(&mut self) -> Result<(), SimError> {
        let targets: Vec<(usize, TimestampMs, usize)> = self
            .scenario
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == EventKind::CounterOverflow)
            .filter_map(|(i, e)| match e.scope {
                super::faults::Scope::Device(d) => Some((d, e.start_ms, i)),
                _ => None,
            })
            .collect();
        for (d, at, ev) in targets {
            let dev = &self.devices[d];
            let err = |reason: &str| SimError::Event {
                index: ev,
                kind: EventKind::CounterOverflow.name(),
                target: dev.id.clone(),
                reason: reason.to_string(),
            };
            let Some(pi) = dev.points.iter().position(|p| {
                p.def.quantity == Quantity::HeatEnergy
                    && p.counter.as_ref().is_some_and(|c| c.modulus_raw.is_some())
            }) else {
                return Err(err(
                    "the device has no heat-energy register with a `modulus`",
                ));
            };
            // Placed even beyond the end of a history, so that a history of some days and a
            // live run of the same month show the same registers.
            if at <= self.ts {
                continue;
            }
            let p = &dev.points[pi];
            let (before, at_wrap) = self.probe(at, dev.asset_ref, Quantity::HeatEnergy);
            let now = self
                .utility
                .value(dev.asset_ref, Quantity::HeatEnergy)
                .unwrap_or(0.0);
            let per_raw = p.to_unit(1.0) - p.to_unit(0.0);
            let raw = |v: f64| (v - now) * per_raw / p.def.scale;
            let modulus = p
                .counter
                .as_ref()
                .and_then(|c| c.modulus_raw)
                .unwrap_or(0.0);
            let start = modulus - 0.5 * (raw(before) + raw(at_wrap));
            if let Some(c) = &mut self.devices[d].points[pi].counter {
                c.acc_raw = start.max(0.0);
            }
        }
        Ok(())
    }

    /// The true value of `q` of `a` one step before `until` (rounded up to the step grid) and at
    /// it, from a copy of the physics run ahead.
    fn probe(&self, until: TimestampMs, a: AssetRef, q: Quantity) -> (f64, f64) {
        let mut u = self.utility.clone();
        let mut sc = self.scenario.clone();
        let mut ts = self.ts;
        let mut cur = u.value(a, q).unwrap_or(0.0);
        let mut prev = cur;
        while ts < until {
            ts += self.step_ms;
            sc.apply(ts, &mut u.cond);
            match a {
                // A substation's meter depends on the shared conditions only: run just it.
                AssetRef::Substation(i) => u.step_one_substation(ts, i),
                _ => u.step(ts),
            }
            prev = cur;
            cur = u.value(a, q).unwrap_or(0.0);
        }
        (prev, cur)
    }
}
