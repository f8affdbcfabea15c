//! `[kpi.availability]`: parameters of supply-state detection and the availability indices
//! (domain.md §6). The planned-works register they name is read by
//! [`planned_works`](super::planned_works); its types are re-exported here.
//!
//! Every value is a configurable default (\[P\] in domain.md §6.2–§6.4) or a typical contract
//! value published by Polish utilities (§6.1): configure them per contract.

pub use super::planned_works::{
    PlannedWork, Register, WorkEntry, WorkKind, append_entry, load_register, parse_register,
    read_register,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[kpi.availability]` (domain.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityConfig {
    /// Supply temperature may fall this share below the regulation table before an interval
    /// counts as degraded, % (contracts: 5 or 10, domain.md §6.1).
    #[serde(default = "default_tolerance")]
    pub supply_tolerance_pct: f64,
    /// Differential pressure below this means no network pressure at the substation, bar
    /// (domain.md §6.2 "Δp ≈ 0").
    #[serde(default = "default_dp_min")]
    pub dp_min_bar: f64,
    /// Flow at or below this counts as no flow, m³/h (the meter's q_i, domain.md §6.2).
    #[serde(default = "default_zero_flow")]
    pub zero_flow_m3h: f64,
    /// Where Δp is not measured: supply temperature below this with no flow means not supplied,
    /// °C (domain.md §6.2 rule (a): 40 °C, about 55 °C for DHW service).
    #[serde(default = "default_min_abs")]
    pub min_supply_abs_c: f64,
    /// Return above supply by more than this is a sensor fault (swapped sensors) and the
    /// reading's state unknown, K (domain.md §8: Δθ ≥ −1 K).
    #[serde(default = "default_swap_margin")]
    pub swapped_margin_k: f64,
    /// A run of not-supplied readings must last this long to count as not supplied, minutes
    /// (domain.md §6.2: 30); shorter runs are disturbances.
    #[serde(default = "default_persistence")]
    pub persistence_min: u32,
    /// Shortest interruption event, minutes; shorter runs of not supplied are logged as
    /// disturbances (never shorter than `persistence_min`).
    #[serde(default = "default_persistence")]
    pub min_event_min: u32,
    /// Interval of the substation meters' readings, s: gives the readings an hour must have
    /// to be judged from its hourly aggregates.
    #[serde(default = "default_interval")]
    pub sample_interval_s: u32,
    /// A reading stands for at most this long; a longer gap is unknown time, s.
    #[serde(default = "default_max_gap")]
    pub max_gap_s: u32,
    /// This many consecutive readings with every value identical mean a frozen (stale)
    /// meter; its readings are then unknown.
    #[serde(default = "default_stale")]
    pub stale_readings: u32,
    /// The regulation table is read at the mean outdoor temperature of this many hours
    /// ending with the current one, as dispatchers smooth it.
    #[serde(default = "default_smoothing")]
    pub outdoor_smoothing_h: u32,
    /// Planned works need this much notice to be "planned", days (domain.md §6.4: 7).
    #[serde(default = "default_notice")]
    pub notice_days: f64,
    /// Longest planned summer interruption, days (domain.md §6.4: 14).
    #[serde(default = "default_summer_stop")]
    pub summer_stop_max_days: f64,
    /// Start or stop of heating on request, limit in hours (domain.md §6.4: 12).
    #[serde(default = "default_twelve")]
    pub start_stop_limit_h: f64,
    /// Information on the expected end of an interruption by phone, hours (§6.1: 12).
    #[serde(default = "default_twelve")]
    pub info_phone_h: f64,
    /// Information in writing, days (§6.1: 7).
    #[serde(default = "default_notice")]
    pub info_written_days: f64,
    /// Monthly ordered-capacity fee, PLN per MW, for substations without their own
    /// `capacity_fee_pln_per_mw_month` (bonifikata estimate).
    #[serde(default)]
    pub capacity_fee_pln_per_mw_month: Option<f64>,
    /// Days of the substation's own history before an event that its consumption model is
    /// fitted on (heat not supplied, domain.md §6.3).
    #[serde(default = "default_model_days")]
    pub model_days: u32,
    /// How far before a period (and after it, up to the as-of time) a run of not supplied is
    /// followed to find its real start and end, days.
    #[serde(default = "default_search_days")]
    pub event_search_days: u32,
    /// Seconds between live availability evaluations (current hour, day and month to date),
    /// so interruptions open within two readings of the first one without supply.
    #[serde(default = "default_live_every")]
    pub live_every_s: u64,
    /// The planned-works register, relative to the configuration file's directory.
    #[serde(default = "default_register")]
    pub planned_works: String,
    /// The configuration file's directory (set when the configuration is loaded).
    #[serde(skip)]
    pub config_dir: ConfigDir,
}

/// Where the configuration was loaded from: not part of the settings' value, so two settings
/// read from equal text in different directories compare equal.
#[derive(Debug, Clone, Default)]
pub struct ConfigDir(pub Option<PathBuf>);

impl PartialEq for ConfigDir {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Default for AvailabilityConfig {
    fn default() -> Self {
        AvailabilityConfig {
            supply_tolerance_pct: default_tolerance(),
            dp_min_bar: default_dp_min(),
            zero_flow_m3h: default_zero_flow(),
            min_supply_abs_c: default_min_abs(),
            swapped_margin_k: default_swap_margin(),
            persistence_min: default_persistence(),
            min_event_min: default_persistence(),
            sample_interval_s: default_interval(),
            max_gap_s: default_max_gap(),
            stale_readings: default_stale(),
            outdoor_smoothing_h: default_smoothing(),
            notice_days: default_notice(),
            summer_stop_max_days: default_summer_stop(),
            start_stop_limit_h: default_twelve(),
            info_phone_h: default_twelve(),
            info_written_days: default_notice(),
            capacity_fee_pln_per_mw_month: None,
            model_days: default_model_days(),
            event_search_days: default_search_days(),
            live_every_s: default_live_every(),
            planned_works: default_register(),
            config_dir: ConfigDir(None),
        }
    }
}

fn default_tolerance() -> f64 {
    10.0
}
fn default_dp_min() -> f64 {
    0.2
}
fn default_zero_flow() -> f64 {
    0.02
}
fn default_min_abs() -> f64 {
    40.0
}
fn default_swap_margin() -> f64 {
    1.0
}
fn default_persistence() -> u32 {
    30
}
fn default_interval() -> u32 {
    60
}
fn default_max_gap() -> u32 {
    300
}
fn default_stale() -> u32 {
    5
}
fn default_smoothing() -> u32 {
    3
}
fn default_notice() -> f64 {
    7.0
}
fn default_summer_stop() -> f64 {
    14.0
}
fn default_twelve() -> f64 {
    12.0
}
fn default_model_days() -> u32 {
    14
}
fn default_search_days() -> u32 {
    62
}
fn default_live_every() -> u64 {
    60
}
fn default_register() -> String {
    "planned-works.toml".into()
}

/// A value of `[kpi.availability]` that cannot work: (key, value as written, what is accepted).
pub type AvailabilityProblem = (&'static str, String, &'static str);

impl AvailabilityConfig {
    /// Every value that cannot work.
    pub fn problems(&self) -> Vec<AvailabilityProblem> {
        let mut out = Vec::new();
        let mut check = |ok: bool, key: &'static str, v: String, expected: &'static str| {
            if !ok {
                out.push((key, v, expected));
            }
        };
        check(
            (0.0..100.0).contains(&self.supply_tolerance_pct),
            "availability.supply_tolerance_pct",
            self.supply_tolerance_pct.to_string(),
            "a percentage from 0 to below 100 (5 or 10 in most contracts)",
        );
        check(
            self.dp_min_bar >= 0.0 && self.dp_min_bar.is_finite(),
            "availability.dp_min_bar",
            self.dp_min_bar.to_string(),
            "a pressure of 0 bar or more (0.2 by default)",
        );
        check(
            self.zero_flow_m3h >= 0.0 && self.zero_flow_m3h.is_finite(),
            "availability.zero_flow_m3h",
            self.zero_flow_m3h.to_string(),
            "a flow of 0 m³/h or more (the meter's q_i)",
        );
        check(
            self.sample_interval_s > 0 && 3600 % self.sample_interval_s == 0,
            "availability.sample_interval_s",
            self.sample_interval_s.to_string(),
            "seconds that divide an hour (10, 60, 300, …)",
        );
        check(
            self.max_gap_s >= self.sample_interval_s,
            "availability.max_gap_s",
            self.max_gap_s.to_string(),
            "at least sample_interval_s",
        );
        check(
            self.stale_readings >= 2,
            "availability.stale_readings",
            self.stale_readings.to_string(),
            "2 or more readings",
        );
        check(
            (1..=24).contains(&self.outdoor_smoothing_h),
            "availability.outdoor_smoothing_h",
            self.outdoor_smoothing_h.to_string(),
            "1 to 24 hours",
        );
        check(
            self.min_event_min >= self.persistence_min,
            "availability.min_event_min",
            self.min_event_min.to_string(),
            "at least persistence_min (a run shorter than that is not an interruption at all)",
        );
        check(
            self.capacity_fee_pln_per_mw_month.is_none_or(|f| f >= 0.0),
            "availability.capacity_fee_pln_per_mw_month",
            format!("{:?}", self.capacity_fee_pln_per_mw_month),
            "a fee of 0 PLN/MW/month or more",
        );
        check(
            self.live_every_s > 0,
            "availability.live_every_s",
            self.live_every_s.to_string(),
            "a positive number of seconds",
        );
        check(
            !self.planned_works.trim().is_empty(),
            "availability.planned_works",
            format!("{:?}", self.planned_works),
            "a file name such as planned-works.toml",
        );
        out
    }

    /// The register file: `planned_works` resolved against the configuration directory.
    pub fn register_path(&self) -> PathBuf {
        match &self.config_dir.0 {
            Some(d) => d.join(&self.planned_works),
            None => PathBuf::from(&self.planned_works),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_no_problems_and_bad_values_are_named() {
        assert!(AvailabilityConfig::default().problems().is_empty());
        let c = AvailabilityConfig {
            min_event_min: 10,
            sample_interval_s: 7,
            ..Default::default()
        };
        let keys: Vec<&str> = c.problems().iter().map(|p| p.0).collect();
        assert_eq!(
            keys,
            [
                "availability.sample_interval_s",
                "availability.min_event_min"
            ]
        );
    }
}
