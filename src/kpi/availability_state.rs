//! Supply state of a substation (domain.md §6.2): each reading classified supplied /
//! degraded / not supplied / unknown / not requested, the readings joined into a timeline of
//! spans, and the persistence rule applied to runs of not supplied.
//!
//! Pure: imports only `model`. The evaluator reads the inputs (hourly aggregates where an hour
//! is plain, raw readings where the state may change) and hands them here.
//!
//! Why Δp first: flow alone is ambiguous (a substation without demand has no flow either, and
//! the supply sensor cools in stagnant water), so not supplied needs the network pressure gone
//! (Δp ≈ 0 with no flow), or — where Δp is not measured — a supply temperature below the
//! absolute minimum with no flow (domain.md §6.2 (a), (b)).

use crate::model::TimestampMs;
use serde::Serialize;

/// The state of supply in an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplyState {
    /// Supply temperature at or above the table less the tolerance, network pressure present.
    Supplied,
    /// Supply present but the temperature below the table less the tolerance.
    Degraded,
    /// No supply (persisting at least the persistence time).
    NotSupplied,
    /// A run of no supply shorter than the persistence time.
    Disturbance,
    /// No usable data: a gap, a frozen or faulty meter, no outdoor temperature. Never an
    /// interruption; reported separately.
    Unknown,
    /// Supply not due: a customer's request to stop, or no heating service outside the season.
    NotRequested,
}

impl SupplyState {
    /// The name used in details and events.
    pub fn name(self) -> &'static str {
        match self {
            SupplyState::Supplied => "supplied",
            SupplyState::Degraded => "degraded",
            SupplyState::NotSupplied => "not_supplied",
            SupplyState::Disturbance => "disturbance",
            SupplyState::Unknown => "unknown",
            SupplyState::NotRequested => "not_requested",
        }
    }
}

/// Why a reading has its state (for evidence and unknown-time accounting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Temperature and pressure as required.
    Normal,
    /// Pressure present but no flow: no demand, the sensor cools (supplied).
    NoDemand,
    /// Temperature below the table less the tolerance with flow.
    LowTemperature,
    /// No network pressure and no flow.
    NoPressure,
    /// (No Δp measured) supply below the absolute minimum and no flow.
    ColdAndNoFlow,
    /// (No Δp measured) no flow inside a planned-works or force-majeure window of the
    /// register, which explains it (domain.md §6.2, disambiguation step 4).
    NoFlowInRegisterWindow,
    /// No outdoor temperature: the table cannot be read.
    NoOutdoorTemperature,
    /// No valid supply temperature (gap, device not answering, bad quality).
    NoReading,
    /// Every value identical for several readings: a frozen meter.
    Stale,
    /// Return above supply: swapped or faulty sensors.
    SwappedSensors,
    /// Customer request or no heating service due.
    NotDue,
    /// Judged from the hour's aggregates.
    HourAggregate,
}

/// What one meter reading shows (values of good quality only; `None` when missing or bad).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    /// Time, UTC ms.
    pub ts: TimestampMs,
    /// Network-side supply temperature, °C.
    pub supply_c: Option<f64>,
    /// Return temperature, °C.
    pub return_c: Option<f64>,
    /// Flow, m³/h.
    pub flow_m3h: Option<f64>,
    /// Differential pressure, bar.
    pub dp_bar: Option<f64>,
}

/// The rules of domain.md §6.2 with their configured values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateRules {
    /// Tolerance below the table, share (0.10 = 10 %).
    pub tolerance: f64,
    /// Δp below this = no network pressure, bar.
    pub dp_min_bar: f64,
    /// Flow at or below this = no flow, m³/h.
    pub zero_flow_m3h: f64,
    /// Without Δp: supply below this and no flow = not supplied, °C.
    pub min_supply_abs_c: f64,
    /// Return above supply by more than this = sensor fault, K.
    pub swapped_margin_k: f64,
}

/// What applies to a reading besides its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadingContext {
    /// The regulation table's supply temperature at the (smoothed) outdoor temperature, °C;
    /// `None` without an outdoor temperature.
    pub table_supply_c: Option<f64>,
    /// Whether the substation measures Δp.
    pub dp_measured: bool,
    /// Whether supply is not due (customer request, no heating service).
    pub not_requested: bool,
    /// Whether a planned-works or force-majeure entry of the register covers the reading.
    pub register_window: bool,
}

impl StateRules {
    /// The lowest supply temperature that counts as supplied for a table value.
    pub fn supply_limit_c(&self, table_supply_c: f64) -> f64 {
        table_supply_c * (1.0 - self.tolerance)
    }

    /// The state of one reading (before the persistence rule).
    pub fn classify(&self, r: &Reading, cx: &ReadingContext) -> (SupplyState, Reason) {
        use Reason as R;
        use SupplyState as S;
        if cx.not_requested {
            return (S::NotRequested, R::NotDue);
        }
        let Some(table) = cx.table_supply_c else {
            return (S::Unknown, R::NoOutdoorTemperature);
        };
        let Some(supply) = r.supply_c else {
            return (S::Unknown, R::NoReading);
        };
        if r.return_c
            .is_some_and(|ret| ret - supply > self.swapped_margin_k)
        {
            return (S::Unknown, R::SwappedSensors);
        }
        let no_flow = r.flow_m3h.map(|f| f <= self.zero_flow_m3h);
        let warm = supply >= self.supply_limit_c(table) - 1e-9;
        if cx.dp_measured {
            let Some(dp) = r.dp_bar else {
                return (S::Unknown, R::NoReading);
            };
            if dp < self.dp_min_bar {
                return match no_flow {
                    Some(true) => (S::NotSupplied, R::NoPressure),
                    // Flow without pressure: the Δp transmitter is suspect; judge by temperature.
                    Some(false) if warm => (S::Supplied, R::Normal),
                    Some(false) => (S::Degraded, R::LowTemperature),
                    None => (S::Unknown, R::NoReading),
                };
            }
            return match (warm, no_flow) {
                (true, _) => (S::Supplied, R::Normal),
                (false, Some(true)) => (S::Supplied, R::NoDemand),
                (false, Some(false)) => (S::Degraded, R::LowTemperature),
                (false, None) => (S::Unknown, R::NoReading),
            };
        }
        match (warm, no_flow) {
            (_, Some(true)) if cx.register_window => (S::NotSupplied, R::NoFlowInRegisterWindow),
            (true, _) => (S::Supplied, R::Normal),
            (false, Some(true)) if supply < self.min_supply_abs_c => {
                (S::NotSupplied, R::ColdAndNoFlow)
            }
            (false, Some(true)) => (S::Supplied, R::NoDemand),
            (false, Some(false)) => (S::Degraded, R::LowTemperature),
            (false, None) => (S::Unknown, R::NoReading),
        }
    }
}

/// Which readings belong to a frozen meter: every reading after the first of a run of at
/// least `min_run` consecutive readings whose values are all identical while water flows
/// (above `zero_flow_m3h`); the first one is the meter's last real reading. Without flow the
/// sensors settle at the room temperature, so identical readings are no sign of a fault.
pub fn stale_flags(readings: &[Reading], min_run: usize, zero_flow_m3h: f64) -> Vec<bool> {
    let mut out = vec![false; readings.len()];
    let same = |a: &Reading, b: &Reading| {
        a.supply_c.is_some()
            && a.flow_m3h.is_some_and(|f| f > zero_flow_m3h)
            && a.supply_c == b.supply_c
            && a.return_c == b.return_c
            && a.flow_m3h == b.flow_m3h
            && a.dp_bar == b.dp_bar
    };
    let mut i = 0;
    while i < readings.len() {
        let mut j = i + 1;
        while j < readings.len() && same(&readings[i], &readings[j]) {
            j += 1;
        }
        if j - i >= min_run.max(2) {
            out[i + 1..j].iter_mut().for_each(|f| *f = true);
        }
        i = j;
    }
    out
}

/// A stretch of time in one state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Span {
    /// Start, UTC ms.
    pub start: TimestampMs,
    /// End (exclusive), UTC ms.
    pub end: TimestampMs,
    /// State.
    pub state: SupplyState,
    /// Why (the first reading's reason).
    pub reason: Reason,
}

/// A timeline: spans in time order, adjacent spans of one state merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// The spans.
    pub spans: Vec<Span>,
}

impl Timeline {
    /// Append a span (merged into the last one if contiguous and in the same state).
    pub fn push(&mut self, s: Span) {
        if s.end <= s.start {
            return;
        }
        if let Some(last) = self.spans.last_mut()
            && last.end == s.start
            && last.state == s.state
        {
            last.end = s.end;
            return;
        }
        self.spans.push(s);
    }

    /// Append another timeline that starts where this one ends.
    pub fn extend(&mut self, other: Timeline) {
        for s in other.spans {
            self.push(s);
        }
    }

    /// Prepend a timeline that ends where this one starts.
    pub fn prepend(&mut self, mut earlier: Timeline) {
        earlier.extend(std::mem::take(self));
        *self = earlier;
    }

    /// The state at `ts`, if covered.
    pub fn state_at(&self, ts: TimestampMs) -> Option<SupplyState> {
        let i = self.spans.partition_point(|s| s.end <= ts);
        self.spans.get(i).filter(|s| s.start <= ts).map(|s| s.state)
    }

    /// Milliseconds in `state` inside `[from, to)`.
    pub fn ms_in(&self, state: SupplyState, from: TimestampMs, to: TimestampMs) -> i64 {
        self.spans
            .iter()
            .filter(|s| s.state == state)
            .map(|s| (s.end.min(to) - s.start.max(from)).max(0))
            .sum()
    }

    /// Runs of not supplied shorter than `persistence_ms` become disturbances. A run that
    /// touches the end `open_end` may still grow, so it stays not supplied only once it is
    /// long enough; until then it is a disturbance too (the evaluator reports it as a
    /// suspected interruption).
    pub fn apply_persistence(&mut self, persistence_ms: i64) {
        for s in &mut self.spans {
            if s.state == SupplyState::NotSupplied && s.end - s.start < persistence_ms {
                s.state = SupplyState::Disturbance;
            }
        }
        let spans = std::mem::take(&mut self.spans);
        for s in spans {
            self.push(s);
        }
    }
}

/// The spans of a block of readings `[from, to)`: each reading stands for the time until the
/// next one, at most `max_gap_ms`; time not covered is unknown. A gap before the first reading
/// no longer than `max_gap_ms` is given to it.
pub fn spans_of_readings(
    states: &[(TimestampMs, SupplyState, Reason)],
    from: TimestampMs,
    to: TimestampMs,
    max_gap_ms: i64,
) -> Timeline {
    let mut t = Timeline::default();
    let unknown = |a, b| Span {
        start: a,
        end: b,
        state: SupplyState::Unknown,
        reason: Reason::NoReading,
    };
    let Some(first) = states.first() else {
        t.push(unknown(from, to));
        return t;
    };
    let mut cursor = from;
    if first.0 - from > max_gap_ms {
        t.push(unknown(from, first.0));
        cursor = first.0;
    }
    for (i, &(ts, state, reason)) in states.iter().enumerate() {
        let next = states.get(i + 1).map_or(to, |n| n.0);
        let covered = next.min(ts + max_gap_ms).min(to);
        t.push(Span {
            start: cursor.max(from),
            end: covered,
            state,
            reason,
        });
        t.push(unknown(covered, next.min(to)));
        cursor = next;
    }
    t
}

/// Where a change of supply temperature really began: from the reading at `crossing` (the
/// first one past the limit), walk back while each earlier reading differs from the next by
/// at least `min_step_k` in the direction of the change (falling at the start of a degraded
/// episode, rising at its end). The temperature takes a few readings to cross the limit after
/// the supply changed; the steep steps show when it did. `points` are (time, °C) in time
/// order.
pub fn onset(
    points: &[(TimestampMs, f64)],
    crossing: TimestampMs,
    falling: bool,
    min_step_k: f64,
) -> TimestampMs {
    let Some(i) = points.iter().position(|p| p.0 == crossing) else {
        return crossing;
    };
    let steep = |j: usize| {
        let step = points[j].1 - points[j - 1].1;
        if falling {
            -step >= min_step_k
        } else {
            step >= min_step_k
        }
    };
    // The latest steep stretch at or before the crossing (the approach to the limit may have
    // slowed below the step), then back to its first step.
    let mut j = i;
    while j > 0 && !steep(j) {
        j -= 1;
    }
    if j == 0 {
        return crossing;
    }
    while j > 1 && steep(j - 1) {
        j -= 1;
    }
    // The step from j − 1 to j is the first steep one: reading j is the first changed one.
    points[j].0
}

#[cfg(test)]
#[path = "availability_state_tests.rs"]
mod tests;
