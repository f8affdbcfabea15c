//! The scenario: faults and events with exact intervals, resolved against the simulated assets,
//! and the conditions they impose on each step.
//!
//! Event times are either absolute instants or `+<days>d<HH:MM>` offsets from the simulation
//! start in local wall-clock time, so a scenario written for "the fifth day at 07:30" means the
//! same local time in any month and across DST changes. The built-in month scenario places one
//! of each kind so that a demo month and the tests see every event (see [`default_events`]).

use super::SimError;
use super::cems::CemsMode;
use crate::config::sim::{EventConfig, EventKind, SimulatorConfig};
use crate::model::asset::Pollutant;
use crate::model::{TimestampMs, time};
use chrono::{Datelike, Duration, NaiveTime, TimeZone};
use chrono_tz::Tz;
use std::collections::BTreeSet;

/// The names of the simulated assets an event may target.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Network ids.
    pub networks: Vec<String>,
    /// Branches as (network index, branch name).
    pub branches: Vec<(usize, String)>,
    /// Substations as (id, global branch index).
    pub substations: Vec<(String, usize)>,
    /// Stack ids.
    pub stacks: Vec<String>,
    /// Devices as (device id, asset id).
    pub devices: Vec<(String, String)>,
}

/// What an event acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A whole network.
    Network(usize),
    /// One branch (global index).
    Branch(usize),
    /// One substation.
    Substation(usize),
    /// A stack and its CEMS.
    Stack(usize),
    /// A device.
    Device(usize),
}

/// An event resolved to assets and UTC times.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledEvent {
    /// Stable id (`ev-01`, …) used in the ground truth.
    pub id: String,
    /// Kind.
    pub kind: EventKind,
    /// Target as configured.
    pub target: String,
    /// Resolved target.
    pub scope: Scope,
    /// Start, UTC ms.
    pub start_ms: TimestampMs,
    /// End (exclusive), UTC ms; `None` lasts to the end of the run. Instants have `end = start`;
    /// a replacement ends when the new meter comes on line.
    pub end_ms: Option<TimestampMs>,
    /// When a planned stop was announced.
    pub notified_ms: Option<TimestampMs>,
    /// Degraded supply: K below the table.
    pub delta_k: f64,
    /// Emission or leak multiplier.
    pub factor: f64,
    /// Emission episode: pollutant index in `cems::POLLUTANTS` order.
    pub pollutant: usize,
    /// Exception code answered.
    pub exception_code: u8,
    /// Replacement: the new meter's first energy reading, device unit.
    pub new_reading: f64,
    /// Whether it comes from the built-in scenario.
    pub built_in: bool,
}

impl ScheduledEvent {
    /// Whether the event is in force at `ts`.
    pub fn active(&self, ts: TimestampMs) -> bool {
        ts >= self.start_ms && self.end_ms.is_none_or(|e| ts < e)
    }
}

/// How a device misbehaves on the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// No answer at all (the client times out).
    NoResponse,
    /// A Modbus exception with this code.
    Exception(u8),
}

/// Device faults in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceFaults {
    /// Registers frozen.
    pub stale: bool,
    /// Not answering or answering with an exception.
    pub silence: Option<Silence>,
    /// Supply and return sensors swapped.
    pub swapped: bool,
    /// Removed for replacement: no answer, nothing registered.
    pub offline: bool,
}

/// Everything the scenario imposes on one step.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// Network-wide stop, per network.
    pub network_off: Vec<bool>,
    /// Supply temperature shortfall, per network, K.
    pub network_delta: Vec<f64>,
    /// Branch closed, per branch.
    pub branch_off: Vec<bool>,
    /// Supply temperature shortfall, per branch, K.
    pub branch_delta: Vec<f64>,
    /// Single substation cut off.
    pub substation_off: Vec<bool>,
    /// Leak multiplier, per network.
    pub leak_factor: Vec<f64>,
    /// Concentration multipliers, per stack.
    pub stack_factor: Vec<[f64; 4]>,
    /// Analyser mode forced by an event, per stack.
    pub stack_mode: Vec<Option<CemsMode>>,
    /// Device faults, per device.
    pub device: Vec<DeviceFaults>,
}

impl Conditions {
    /// No events in force.
    pub fn new(topo: &Topology) -> Self {
        let mut c = Conditions::default();
        c.reset(topo);
        c
    }

    fn reset(&mut self, topo: &Topology) {
        let n = topo.networks.len();
        self.network_off = vec![false; n];
        self.network_delta = vec![0.0; n];
        self.leak_factor = vec![1.0; n];
        self.branch_off = vec![false; topo.branches.len()];
        self.branch_delta = vec![0.0; topo.branches.len()];
        self.substation_off = vec![false; topo.substations.len()];
        self.stack_factor = vec![[1.0; 4]; topo.stacks.len()];
        self.stack_mode = vec![None; topo.stacks.len()];
        self.device = vec![DeviceFaults::default(); topo.devices.len()];
    }
}

/// The resolved scenario.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// Events in configuration order.
    pub events: Vec<ScheduledEvent>,
    topo: Topology,
    next_change: Option<TimestampMs>,
    /// (time, event index) of instant actions, in time order.
    instants: Vec<(TimestampMs, usize)>,
    next_instant: usize,
}

fn pollutant_index(p: Pollutant) -> usize {
    match p {
        Pollutant::So2 => 0,
        Pollutant::Nox => 1,
        Pollutant::Dust => 2,
        Pollutant::Co => 3,
    }
}

/// Parse an event time: `+<days>d<HH:MM>` after `start_ms` in local wall-clock time, or an
/// instant (`model::time::parse_instant`).
pub fn parse_event_time(tz: Tz, start_ms: TimestampMs, s: &str) -> Result<TimestampMs, String> {
    let Some(rel) = s.trim().strip_prefix('+') else {
        return time::parse_instant(tz, s);
    };
    let bad = || format!("`{s}` is not an offset like `+4d07:30` (days, then local HH:MM)");
    let (days, hm) = rel.split_once('d').ok_or_else(bad)?;
    let days: i64 = days.parse().map_err(|_| bad())?;
    let hm = NaiveTime::parse_from_str(hm, "%H:%M").map_err(|_| bad())?;
    let local = time::utc(start_ms).with_timezone(&tz).naive_local();
    let at = local + Duration::days(days) + (hm - NaiveTime::MIN);
    tz.from_local_datetime(&at)
        .earliest()
        .map(|d| d.timestamp_millis())
        .ok_or_else(|| format!("`{s}` falls into a DST gap in {tz}"))
}

impl Scenario {
    /// Resolve the built-in scenario (unless disabled) for each of `months` local months from
    /// the one containing `start_ms`, and the configured events (relative to `start_ms`),
    /// against `topo`.
    pub fn build(
        cfg: &SimulatorConfig,
        topo: &Topology,
        tz: Tz,
        start_ms: TimestampMs,
        months: u32,
    ) -> Result<Self, SimError> {
        // (event, built in, the instant its relative time counts from)
        let mut list: Vec<(EventConfig, bool, TimestampMs)> = Vec::new();
        if cfg.default_scenario {
            let first = time::local_date(tz, start_ms);
            let mut counter_meters = BTreeSet::new();
            for m in 0..months.max(1) {
                let Some(date) = first
                    .with_day(1)
                    .and_then(|d| d.checked_add_months(chrono::Months::new(m)))
                else {
                    break;
                };
                let anchor = time::local_midnight(tz, date);
                let summer = (5..=9).contains(&date.month());
                list.extend(
                    default_events(topo, summer, m as usize, &mut counter_meters)
                        .into_iter()
                        .map(|e| (e, true, anchor)),
                );
            }
        }
        list.extend(cfg.events.iter().cloned().map(|e| (e, false, start_ms)));
        let mut events = Vec::new();
        for (i, (e, built_in, anchor)) in list.into_iter().enumerate() {
            if !e.enabled || cfg.disable.contains(&e.kind) {
                continue;
            }
            let err = |reason: String| SimError::Event {
                index: i,
                kind: e.kind.name(),
                target: e.target.clone(),
                reason,
            };
            let scope = match resolve(topo, e.kind, &e.target) {
                Ok(s) => s,
                // The built-in scenario adapts to whatever is simulated; a target it cannot
                // find (e.g. no device configured for a substation) just leaves the event out.
                Err(_) if built_in => continue,
                Err(r) => return Err(err(r)),
            };
            let start = parse_event_time(tz, anchor, &e.start).map_err(&err)?;
            let hours = |h: f64| start + (h * 3_600_000.0).round() as i64;
            let end = match e.kind {
                EventKind::MeterReset | EventKind::CounterOverflow => Some(start),
                EventKind::MeterReplacement => Some(hours(e.gap_min.unwrap_or(40.0) / 60.0)),
                _ => e.duration_h.map(hours),
            };
            if end.is_some_and(|x| x < start) {
                return Err(err("duration_h must not be negative".into()));
            }
            events.push(ScheduledEvent {
                id: format!("ev-{:02}", events.len() + 1),
                kind: e.kind,
                target: e.target.clone(),
                scope,
                start_ms: start,
                end_ms: end,
                notified_ms: (e.kind == EventKind::PlannedStop)
                    .then(|| start - (e.notice_days.unwrap_or(14.0) * 86_400_000.0) as i64),
                delta_k: e.delta_k.unwrap_or(15.0),
                factor: e.factor.unwrap_or(match e.kind {
                    EventKind::Leak => 6.0,
                    _ => 5.0,
                }),
                pollutant: pollutant_index(e.pollutant.unwrap_or(Pollutant::So2)),
                exception_code: e.exception_code.unwrap_or(4),
                new_reading: e.new_reading.unwrap_or(873.214),
                built_in,
            });
        }
        let mut instants: Vec<(TimestampMs, usize)> = events
            .iter()
            .enumerate()
            .filter_map(|(i, ev)| match ev.kind {
                EventKind::MeterReset => Some((ev.start_ms, i)),
                EventKind::MeterReplacement => ev.end_ms.map(|e| (e, i)),
                _ => None,
            })
            .collect();
        instants.sort();
        Ok(Scenario {
            events,
            topo: topo.clone(),
            next_change: None,
            instants,
            next_instant: 0,
        })
    }

    /// Bring `cond` up to date for `ts`; returns whether anything changed. Cheap between event
    /// boundaries, so it can run every step.
    pub fn apply(&mut self, ts: TimestampMs, cond: &mut Conditions) -> bool {
        if self.next_change.is_some_and(|n| ts < n) {
            return false;
        }
        cond.reset(&self.topo);
        let mut next: Option<TimestampMs> = None;
        for ev in &self.events {
            for b in [Some(ev.start_ms), ev.end_ms].into_iter().flatten() {
                if b > ts && next.is_none_or(|n| b < n) {
                    next = Some(b);
                }
            }
            if !ev.active(ts) {
                continue;
            }
            match (ev.kind, ev.scope) {
                (EventKind::Interruption | EventKind::PlannedStop, scope) => match scope {
                    Scope::Network(n) => cond.network_off[n] = true,
                    Scope::Branch(b) => cond.branch_off[b] = true,
                    Scope::Substation(s) => cond.substation_off[s] = true,
                    _ => {}
                },
                (EventKind::DegradedSupply, Scope::Network(n)) => {
                    cond.network_delta[n] += ev.delta_k
                }
                (EventKind::DegradedSupply, Scope::Branch(b)) => cond.branch_delta[b] += ev.delta_k,
                (EventKind::Leak, Scope::Network(n)) => cond.leak_factor[n] *= ev.factor,
                (EventKind::EmissionEpisode, Scope::Stack(s)) => {
                    cond.stack_factor[s][ev.pollutant] *= ev.factor
                }
                (EventKind::CemsMaintenance, Scope::Stack(s)) => {
                    cond.stack_mode[s] = Some(CemsMode::Maintenance)
                }
                (EventKind::CemsFault, Scope::Stack(s)) => {
                    cond.stack_mode[s] = Some(CemsMode::Fault)
                }
                (EventKind::Stale, Scope::Device(d)) => cond.device[d].stale = true,
                (EventKind::SwappedSensors, Scope::Device(d)) => cond.device[d].swapped = true,
                (EventKind::NoResponse, Scope::Device(d)) => {
                    cond.device[d].silence = Some(Silence::NoResponse)
                }
                (EventKind::Exception, Scope::Device(d)) => {
                    cond.device[d].silence = Some(Silence::Exception(ev.exception_code))
                }
                (EventKind::MeterReplacement, Scope::Device(d)) => cond.device[d].offline = true,
                _ => {}
            }
        }
        self.next_change = Some(next.unwrap_or(TimestampMs::MAX));
        true
    }

    /// The next instant action (meter reset, new meter on line) due at or before `ts`, as an
    /// index into `events`; call until it returns `None`.
    pub fn next_due(&mut self, ts: TimestampMs) -> Option<usize> {
        let &(at, i) = self.instants.get(self.next_instant)?;
        (at <= ts).then(|| {
            self.next_instant += 1;
            i
        })
    }
}

/// Find the asset an event of `kind` targets.
fn resolve(topo: &Topology, kind: EventKind, target: &str) -> Result<Scope, String> {
    let find = |v: &[String]| v.iter().position(|x| x == target);
    let sub = topo.substations.iter().position(|s| s.0 == target);
    let branch = || {
        let m: Vec<usize> = (0..topo.branches.len())
            .filter(|&b| {
                let (n, name) = &topo.branches[b];
                name == target || format!("{}/{}", topo.networks[*n], name) == target
            })
            .collect();
        match m.as_slice() {
            [b] => Ok(Some(*b)),
            [] => Ok(None),
            _ => Err(format!(
                "branch `{target}` exists in several networks; write `<network>/{target}`"
            )),
        }
    };
    match kind {
        EventKind::Interruption | EventKind::PlannedStop | EventKind::DegradedSupply => {
            if let Some(n) = find(&topo.networks) {
                return Ok(Scope::Network(n));
            }
            if let Some(b) = branch()? {
                return Ok(Scope::Branch(b));
            }
            match (kind, sub) {
                (EventKind::DegradedSupply, _) | (_, None) => Err(format!(
                    "no network or branch{} has this id",
                    if kind == EventKind::DegradedSupply {
                        ""
                    } else {
                        " or substation"
                    }
                )),
                (_, Some(s)) => Ok(Scope::Substation(s)),
            }
        }
        EventKind::Leak => find(&topo.networks)
            .map(Scope::Network)
            .ok_or_else(|| "no network has this id".into()),
        EventKind::EmissionEpisode | EventKind::CemsMaintenance | EventKind::CemsFault => {
            find(&topo.stacks)
                .map(Scope::Stack)
                .ok_or_else(|| "no stack has this id".into())
        }
        _ => topo
            .devices
            .iter()
            .position(|d| d.0 == target)
            .or_else(|| topo.devices.iter().position(|d| d.1 == target))
            .map(Scope::Device)
            .ok_or_else(|| "no device (or asset with a device) has this id".into()),
    }
}

/// The built-in month scenario: one of each fault and event at fixed offsets from the month's
/// first midnight, all within the first 26 days so every month holds them. Targets are picked
/// by position (the 5th substation, the 2nd branch) so the scenario fits any simulated
/// utility, and move on by `rotation` places each month. `counter_meters` carries, from month
/// to month, the meters whose registers a scenario has touched (reset, replaced, swapped
/// sensors, wrapped): a counter overflow is set up from the register at the start, so it goes
/// to a meter nothing else changes first, and a register wraps only once. In summer the
/// planned stop is the network's maintenance stop (3 days, 14 days' notice); otherwise a
/// branch repair (10 h, 8 days' notice).
pub fn default_events(
    topo: &Topology,
    summer: bool,
    rotation: usize,
    counter_meters: &mut BTreeSet<String>,
) -> Vec<EventConfig> {
    let mut out = Vec::new();
    let ev = EventConfig::new;
    let branch = |i: usize| {
        let b = topo
            .branches
            .get((i + rotation) % topo.branches.len().max(1))?;
        Some(b.1.clone())
    };
    // The meter device of the k-th substation (1-based, wrapping for small utilities).
    let meter = |k: usize| {
        let n = topo.substations.len();
        let id = &topo.substations.get((k - 1 + 2 * rotation) % n.max(1))?.0;
        let dev = topo.devices.iter().find(|d| &d.1 == id)?;
        Some(dev.0.clone())
    };
    let (reset, replaced, swapped) = (meter(5), meter(13), meter(17));
    counter_meters.extend([&reset, &replaced, &swapped].into_iter().flatten().cloned());
    let n = topo.substations.len();
    let overflow = (9..9 + n)
        .filter_map(meter)
        .find(|d| !counter_meters.contains(d));
    counter_meters.extend(overflow.clone());
    use EventKind as K;
    if let Some(b) = branch(1) {
        out.push(ev(K::Interruption, &b, "+4d07:30", Some(6.5)));
    }
    if let Some(d) = reset {
        out.push(ev(K::MeterReset, &d, "+6d12:00", None));
    }
    if let Some(b) = branch(0) {
        let mut e = ev(K::DegradedSupply, &b, "+8d05:00", Some(20.0));
        e.delta_k = Some(15.0);
        out.push(e);
    }
    if let Some(d) = swapped {
        out.push(ev(K::SwappedSensors, &d, "+9d10:00", Some(48.0)));
    }
    if let Some(stack) = topo.stacks.first() {
        // Five times the usual SO2 for 14 h (sorbent dosing failed): the validated daily mean
        // exceeds even the 150 % daily limit of small coal-only plants.
        let mut e = ev(K::EmissionEpisode, stack, "+12d06:00", Some(14.0));
        e.pollutant = Some(Pollutant::So2);
        e.factor = Some(5.0);
        out.push(e);
        out.push(ev(K::CemsMaintenance, stack, "+23d08:00", Some(5.0)));
    }
    if let Some(d) = overflow {
        out.push(ev(K::CounterOverflow, &d, "+14d15:00", None));
    }
    if let Some(d) = meter(21) {
        out.push(ev(K::Stale, &d, "+15d00:00", Some(30.0)));
    }
    let planned = if summer {
        topo.networks
            .first()
            .map(|n| (n.clone(), "+17d06:00", 72.0, 14.0))
    } else {
        branch(2).map(|b| (b, "+17d08:00", 10.0, 8.0))
    };
    if let Some((target, start, hours, notice)) = planned {
        let mut e = ev(K::PlannedStop, &target, start, Some(hours));
        e.notice_days = Some(notice);
        out.push(e);
    }
    if let Some(d) = meter(23) {
        out.push(ev(K::NoResponse, &d, "+18d06:00", Some(12.0)));
    }
    if let Some(d) = meter(24) {
        let mut e = ev(K::Exception, &d, "+19d12:00", Some(8.0));
        e.exception_code = Some(4);
        out.push(e);
    }
    if let Some(d) = replaced {
        let mut e = ev(K::MeterReplacement, &d, "+22d10:00", None);
        e.gap_min = Some(40.0);
        out.push(e);
    }
    if let Some(n) = topo.networks.first() {
        let mut e = ev(K::Leak, n, "+25d02:00", Some(18.0));
        e.factor = Some(6.0);
        out.push(e);
    }
    out
}

#[cfg(test)]
#[path = "faults_tests.rs"]
mod tests;
