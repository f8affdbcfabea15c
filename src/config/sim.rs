//! Configuration of the simulated utility (`[simulator]`).
//!
//! The simulator builds its plants, network and substations from the asset sections of the same
//! configuration file; this section only holds what is not an asset: the seed, the clock, where
//! the Modbus server listens, the scenario of faults and events, and physical parameters.

use crate::model::asset::Pollutant;
use serde::{Deserialize, Serialize};

/// `[simulator]`: the simulated utility served by `heatkpi simulate` and `heatkpi demo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Random seed; the same seed and configuration give the same history, sample for sample.
    #[serde(default)]
    pub seed: u64,
    /// Simulated seconds per wall-clock second when serving live: 1 is real time, 60 runs one
    /// simulated hour per minute. 0 stops the clock: the simulation then moves only when told to.
    #[serde(default = "default_speed")]
    pub speed: f64,
    /// Serve every simulated device on this one `host:port` (by unit id) instead of at each
    /// `[[modbus.device]]`'s own `address`. Without it the simulator listens on every distinct
    /// device address, one port for many unit ids or one port per device as configured.
    #[serde(default)]
    pub listen: Option<String>,
    /// The simulated instant live serving shows first: RFC 3339 (`2026-01-10T06:00:00+01:00`), a
    /// local date (`2026-01-10`) or a local date-time (`2026-01-10T06:00`); default now. The
    /// simulation itself always begins at local midnight on the 1st of that month and runs
    /// quickly up to this instant, so live values continue the history written for the month.
    #[serde(default)]
    pub start: Option<String>,
    /// Simulated seconds per step: one history sample per series per step, and how often live
    /// registers change. History and live serving use the same step so that they agree.
    #[serde(default = "default_step")]
    pub step_s: u32,
    /// Substations to generate when the configuration lists no `[[substation]]`: ids
    /// `ss-0001`, `ss-0002`, … on the first network, spread over `branches` branches.
    #[serde(default = "default_substations")]
    pub substations: usize,
    /// Branches the generated substations are spread over (`b1`, `b2`, …).
    #[serde(default = "default_branches")]
    pub branches: usize,
    /// Inject the built-in month scenario in every simulated month: one of each fault and event
    /// at fixed offsets from the month's first midnight (targets rotate from month to month), so
    /// a demo month shows all of them. `[[simulator.event]]` entries are added.
    #[serde(default = "yes")]
    pub default_scenario: bool,
    /// Event kinds left out, from the built-in scenario and the explicit events alike, e.g.
    /// `disable = ["stale", "no_response"]`.
    #[serde(default)]
    pub disable: Vec<EventKind>,
    /// Explicit scenario events.
    #[serde(default, rename = "event")]
    pub events: Vec<EventConfig>,
    /// Physical parameters of the simulated utility.
    #[serde(default)]
    pub physics: PhysicsConfig,
    /// The AMR gateway: publish the selected substations' heat-meter telegrams to an MQTT
    /// broker (`[simulator.mqtt]`). Without it nothing is published.
    #[serde(default)]
    pub mqtt: Option<super::sim_mqtt::SimMqttConfig>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seed: 0,
            speed: default_speed(),
            listen: None,
            start: None,
            step_s: default_step(),
            substations: default_substations(),
            branches: default_branches(),
            default_scenario: true,
            disable: Vec::new(),
            events: Vec::new(),
            physics: PhysicsConfig::default(),
            mqtt: None,
        }
    }
}

fn default_speed() -> f64 {
    1.0
}
fn default_step() -> u32 {
    60
}
fn default_substations() -> usize {
    24
}
fn default_branches() -> usize {
    3
}
fn yes() -> bool {
    true
}

/// What a scenario event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Unplanned loss of supply on a branch (or one substation): flow stops, Δp collapses, the
    /// water in the substation cools.
    Interruption,
    /// Planned stop of a branch or the whole network, announced `notice_days` ahead (the summer
    /// maintenance stop of domain.md §6.1).
    PlannedStop,
    /// Supply temperature `delta_k` below the regulation table on a branch or network.
    DegradedSupply,
    /// A stack emits `factor` × its usual concentration of one pollutant (e.g. a failed sorbent
    /// dosing), enough to break the daily limit.
    EmissionEpisode,
    /// The CEMS of a stack is in maintenance: status bit set, values invalid.
    CemsMaintenance,
    /// The CEMS of a stack reports a fault: status bit set, values frozen.
    CemsFault,
    /// A meter's energy and volume registers restart from zero.
    MeterReset,
    /// A meter's energy register wraps around its modulus at the given instant.
    CounterOverflow,
    /// A meter is exchanged: off line for `gap_min`, then a new meter at `new_reading`.
    MeterReplacement,
    /// Supply and return sensors of a heat meter swapped: Δθ < 0 and the energy register stops.
    SwappedSensors,
    /// A device's registers freeze at their last values (a hung gateway), then jump back.
    Stale,
    /// A device stops answering (Modbus requests time out; history has a gap).
    NoResponse,
    /// A device answers every request with a Modbus exception (history has a gap).
    Exception,
    /// A leak: make-up water of a network `factor` × its usual rate.
    Leak,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 14] = [
        EventKind::Interruption,
        EventKind::PlannedStop,
        EventKind::DegradedSupply,
        EventKind::EmissionEpisode,
        EventKind::CemsMaintenance,
        EventKind::CemsFault,
        EventKind::MeterReset,
        EventKind::CounterOverflow,
        EventKind::MeterReplacement,
        EventKind::SwappedSensors,
        EventKind::Stale,
        EventKind::NoResponse,
        EventKind::Exception,
        EventKind::Leak,
    ];

    /// The name used in configuration and in the ground truth.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Interruption => "interruption",
            EventKind::PlannedStop => "planned_stop",
            EventKind::DegradedSupply => "degraded_supply",
            EventKind::EmissionEpisode => "emission_episode",
            EventKind::CemsMaintenance => "cems_maintenance",
            EventKind::CemsFault => "cems_fault",
            EventKind::MeterReset => "meter_reset",
            EventKind::CounterOverflow => "counter_overflow",
            EventKind::MeterReplacement => "meter_replacement",
            EventKind::SwappedSensors => "swapped_sensors",
            EventKind::Stale => "stale",
            EventKind::NoResponse => "no_response",
            EventKind::Exception => "exception",
            EventKind::Leak => "leak",
        }
    }
}

/// `[[simulator.event]]`: one injected fault or event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventConfig {
    /// What happens.
    pub kind: EventKind,
    /// What it happens to: a branch, network or substation (interruption, planned_stop,
    /// degraded_supply), a network (leak), a stack (emission_episode, cems_maintenance,
    /// cems_fault), or a device or metered asset id (the meter and device faults).
    pub target: String,
    /// When it starts: `+<days>d<HH:MM>` after the simulation start — local midnight on the 1st
    /// of the first simulated month — in local wall-clock time (`+4d07:30`), or an instant
    /// (`2026-01-05T07:30` local, or RFC 3339).
    pub start: String,
    /// How long, hours. Without it meter_reset, counter_overflow and meter_replacement are
    /// instants and the other kinds last to the end of the run.
    #[serde(default)]
    pub duration_h: Option<f64>,
    /// Whether the event is injected.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// planned_stop: days between the announcement and the start (contracts ask ≥ 7).
    #[serde(default)]
    pub notice_days: Option<f64>,
    /// degraded_supply: how far the supply temperature runs below the regulation table, K.
    #[serde(default)]
    pub delta_k: Option<f64>,
    /// emission_episode: the pollutant (`so2`, `nox`, `dust`, `co`).
    #[serde(default)]
    pub pollutant: Option<Pollutant>,
    /// emission_episode: concentration multiplier; leak: make-up water multiplier.
    #[serde(default)]
    pub factor: Option<f64>,
    /// exception: the Modbus exception code answered (default 4, server device failure).
    #[serde(default)]
    pub exception_code: Option<u8>,
    /// meter_replacement: the new meter's first energy reading, in the device's unit.
    #[serde(default)]
    pub new_reading: Option<f64>,
    /// meter_replacement: minutes the meter is off line during the exchange.
    #[serde(default)]
    pub gap_min: Option<f64>,
}

impl EventConfig {
    /// An enabled event of `kind` on `target` from `start` (see [`EventConfig::start`]) for
    /// `duration_h` hours, with no kind-specific parameters (set them on the result).
    pub fn new(kind: EventKind, target: &str, start: &str, duration_h: Option<f64>) -> Self {
        EventConfig {
            kind,
            target: target.to_string(),
            start: start.to_string(),
            duration_h,
            enabled: true,
            notice_days: None,
            delta_k: None,
            pollutant: None,
            factor: None,
            exception_code: None,
            new_reading: None,
            gap_min: None,
        }
    }
}

/// `[simulator.physics]`: the numbers behind the simulated physics. The defaults describe a
/// mid-size Polish network (Warsaw climate, 120/60 °C design, older pipes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhysicsConfig {
    /// Annual mean outdoor temperature, °C (Warsaw ≈ 9: January ≈ −1, July ≈ +19).
    #[serde(default = "d_annual_mean")]
    pub annual_mean_c: f64,
    /// Half the difference between the July and the January mean temperature, K.
    #[serde(default = "d_annual_amplitude")]
    pub annual_amplitude_k: f64,
    /// Standard deviation of weather fronts (multi-day departures from the seasonal mean), K.
    #[serde(default = "d_front_sd")]
    pub front_sd_k: f64,
    /// Design outdoor temperature of the buildings, °C (PN-EN 12831, Warsaw −20 °C).
    #[serde(default = "d_design_outdoor")]
    pub design_outdoor_c: f64,
    /// Heating degree-day base temperature, °C (Eurostat: 18).
    #[serde(default = "d_hdd_base")]
    pub hdd_base_c: f64,
    /// Daily mean outdoor temperature above which space heating is off, °C (Eurostat: 15).
    #[serde(default = "d_heating_limit")]
    pub heating_limit_c: f64,
    /// Share of ordered capacity a building really needs at the design temperature (ordered
    /// capacity is usually booked with a margin).
    #[serde(default = "d_capacity_use")]
    pub capacity_use: f64,
    /// Mean DHW power as a share of ordered capacity, for substations that prepare DHW.
    #[serde(default = "d_dhw_share")]
    pub dhw_share: f64,
    /// Heat loss of the buried pipe pair per metre of trench and kelvin of mean water
    /// temperature above the ground, W/(m·K) (pre-insulated ≈ 0.3–0.5, old ducts ≈ 1–1.5).
    #[serde(default = "d_pipe_loss")]
    pub pipe_loss_w_per_m_k: f64,
    /// Network water replaced by make-up water per year (annual exchange ratio X).
    #[serde(default = "d_exchange")]
    pub makeup_exchange_per_year: f64,
    /// Coal stoker boiler efficiency at rated load (LHV).
    #[serde(default = "d_eta_rated")]
    pub coal_eta_rated: f64,
    /// Coal stoker boiler efficiency at 30 % load (LHV).
    #[serde(default = "d_eta_30")]
    pub coal_eta_30: f64,
    /// Gas boiler efficiency at rated load (LHV, non-condensing).
    #[serde(default = "d_gas_eta")]
    pub gas_boiler_eta: f64,
    /// Gas engine heat efficiency (heat out / fuel in, LHV).
    #[serde(default = "d_engine_heat")]
    pub engine_eta_heat: f64,
    /// Gas engine electrical efficiency at rated load.
    #[serde(default = "d_engine_el")]
    pub engine_eta_el: f64,
    /// Heat a coal plant uses itself (deaeration, fuel handling) as a share of boiler heat.
    #[serde(default = "d_own_use")]
    pub own_use_share: f64,
    /// LHV of coal when a unit gives none, GJ/t.
    #[serde(default = "d_coal_lhv")]
    pub coal_lhv_gj_t: f64,
    /// LHV of natural gas when a unit gives none, GJ/Nm³.
    #[serde(default = "d_gas_lhv")]
    pub gas_lhv_gj_nm3: f64,
}

impl Default for PhysicsConfig {
    fn default() -> Self {
        PhysicsConfig {
            annual_mean_c: d_annual_mean(),
            annual_amplitude_k: d_annual_amplitude(),
            front_sd_k: d_front_sd(),
            design_outdoor_c: d_design_outdoor(),
            hdd_base_c: d_hdd_base(),
            heating_limit_c: d_heating_limit(),
            capacity_use: d_capacity_use(),
            dhw_share: d_dhw_share(),
            pipe_loss_w_per_m_k: d_pipe_loss(),
            makeup_exchange_per_year: d_exchange(),
            coal_eta_rated: d_eta_rated(),
            coal_eta_30: d_eta_30(),
            gas_boiler_eta: d_gas_eta(),
            engine_eta_heat: d_engine_heat(),
            engine_eta_el: d_engine_el(),
            own_use_share: d_own_use(),
            coal_lhv_gj_t: d_coal_lhv(),
            gas_lhv_gj_nm3: d_gas_lhv(),
        }
    }
}

fn d_annual_mean() -> f64 {
    9.0
}
fn d_annual_amplitude() -> f64 {
    10.0
}
fn d_front_sd() -> f64 {
    3.5
}
fn d_design_outdoor() -> f64 {
    -20.0
}
fn d_hdd_base() -> f64 {
    18.0
}
fn d_heating_limit() -> f64 {
    15.0
}
fn d_capacity_use() -> f64 {
    0.8
}
fn d_dhw_share() -> f64 {
    0.08
}
fn d_pipe_loss() -> f64 {
    0.65
}
fn d_exchange() -> f64 {
    4.0
}
fn d_eta_rated() -> f64 {
    0.82
}
fn d_eta_30() -> f64 {
    0.70
}
fn d_gas_eta() -> f64 {
    0.91
}
fn d_engine_heat() -> f64 {
    0.46
}
fn d_engine_el() -> f64 {
    0.40
}
fn d_own_use() -> f64 {
    0.02
}
fn d_coal_lhv() -> f64 {
    22.0
}
fn d_gas_lhv() -> f64 {
    0.0355
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_takes_the_defaults() {
        let c: SimulatorConfig = toml::from_str("").unwrap();
        assert_eq!(c, SimulatorConfig::default());
        let e: Result<SimulatorConfig, _> = toml::from_str("sped = 2.0");
        assert!(e.is_err());
    }

    #[test]
    fn events_parse() {
        let c: SimulatorConfig = toml::from_str(
            r#"
            seed = 7
            disable = ["stale"]
            [[event]]
            kind = "emission_episode"
            target = "em-coal"
            start = "+12d06:00"
            duration_h = 12
            pollutant = "so2"
            factor = 3.5
            "#,
        )
        .unwrap();
        assert_eq!(c.events[0].kind, EventKind::EmissionEpisode);
        assert_eq!(c.events[0].pollutant, Some(Pollutant::So2));
        assert_eq!(c.disable, vec![EventKind::Stale]);
        for k in EventKind::ALL {
            let s = format!(
                "kind = \"{}\"\ntarget = \"x\"\nstart = \"+0d00:00\"",
                k.name()
            );
            assert_eq!(toml::from_str::<EventConfig>(&s).unwrap().kind, k);
        }
    }
}
