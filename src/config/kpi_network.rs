//! `[kpi.losses]` and `[kpi.usage]`: parameters of the transmission-loss (domain.md §4) and
//! rational-use (§5) evaluators. Every value is a configurable default of the specification
//! (marked \[P\] there); the evaluators record the values they used in each result's details.

use serde::{Deserialize, Serialize};

/// `[kpi.losses]` (domain.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossesConfig {
    /// The storage term ΔQ_stored = V_net × ρ·cp × ΔT_mean,net is subtracted from the loss for
    /// windows of at most this many days (domain.md §4.2: it matters only for daily or weekly
    /// balances). Longer windows report it in the details without subtracting it.
    #[serde(default = "default_storage_days")]
    pub storage_max_days: u32,
    /// Volumetric heat capacity of network water ρ·cp, MJ/(m³·K) (domain.md §0.1: 4.10–4.15).
    #[serde(default = "default_rho_cp")]
    pub rho_cp_mj_per_m3_k: f64,
    /// Manually read meters: a register is interpolated to a period boundary linearly in time
    /// when its two readings are at most this many days apart, and weighted by heating degree
    /// days beyond (domain.md §4.4).
    #[serde(default = "default_linear_days")]
    pub manual_linear_max_days: u32,
    /// How far around a period boundary to look for the readings of a manually read meter, days.
    #[serde(default = "default_manual_search")]
    pub manual_search_days: u32,
    /// Degree-day weighting of a DHW substation's register adds this many Kd per day for hot
    /// water, so summer days are not weighted zero (the consumption model E = a + b·Sd of
    /// domain.md §5.2, with a/b in Kd per day).
    #[serde(default = "default_dhw_kd")]
    pub dhw_equivalent_kd_per_day: f64,
    /// A loss below this share (%) blocks the KPI as a data-quality fault (domain.md §4.6: 0).
    #[serde(default)]
    pub block_below_pct: f64,
    /// A loss above this share (%) blocks the KPI as a data-quality fault (domain.md §4.6: 40).
    #[serde(default = "default_block_above")]
    pub block_above_pct: f64,
    /// The rolling-12-month (or season) loss fails when it is at least this many percentage
    /// points above the same window a year earlier two years running (domain.md §4.5: 0.5).
    #[serde(default = "default_trend_pp")]
    pub trend_fail_pp: f64,
    /// Days of make-up water whose median is the reference of a day's volume (domain.md §4.5: 30).
    #[serde(default = "default_median_days")]
    pub makeup_median_days: u32,
    /// A day's make-up water above this multiple of its median warns (domain.md §4.5: 2).
    #[serde(default = "default_makeup_warn")]
    pub makeup_warn_factor: f64,
    /// A day's make-up water above this multiple of its median fails: a possible burst (3).
    #[serde(default = "default_makeup_fail")]
    pub makeup_fail_factor: f64,
    /// Cold-water temperature of the make-up water, °C, for the heat lost with leaks
    /// `Q_mu ≈ V_mu × ρ·cp × (T_net,mean − T_cold)` (domain.md §4.2).
    #[serde(default = "default_cold_water")]
    pub makeup_cold_water_c: f64,
}

impl Default for LossesConfig {
    fn default() -> Self {
        LossesConfig {
            storage_max_days: default_storage_days(),
            rho_cp_mj_per_m3_k: default_rho_cp(),
            manual_linear_max_days: default_linear_days(),
            manual_search_days: default_manual_search(),
            dhw_equivalent_kd_per_day: default_dhw_kd(),
            block_below_pct: 0.0,
            block_above_pct: default_block_above(),
            trend_fail_pp: default_trend_pp(),
            makeup_median_days: default_median_days(),
            makeup_warn_factor: default_makeup_warn(),
            makeup_fail_factor: default_makeup_fail(),
            makeup_cold_water_c: default_cold_water(),
        }
    }
}

/// `[kpi.usage]` (domain.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageConfig {
    /// Heat coefficient k of ΔT_w = Q / (k × V), kWh/(m³·K) (domain.md §5.2: ≈ 1.15).
    #[serde(default = "default_k")]
    pub k_kwh_per_m3_k: f64,
    /// Degree-day base temperature, °C (Eurostat: 18).
    #[serde(default = "default_hdd_base")]
    pub hdd_base_c: f64,
    /// A day counts degree days only when its mean outdoor temperature is at or below this,
    /// °C (Eurostat: 15).
    #[serde(default = "default_hdd_threshold")]
    pub hdd_threshold_c: f64,
    /// A day's mean outdoor temperature needs at least this share of its hours measured (at
    /// the station or its fallback); otherwise the day is missing and degree days are
    /// provisional (domain.md §5.6).
    #[serde(default = "default_day_coverage")]
    pub outdoor_day_min_coverage: f64,
    /// Return-temperature tolerance above the regulation table, % (domain.md §5.2: 7 % is a
    /// typical contractual value; 0 = the return must stay at or below the table).
    #[serde(default = "default_return_tol")]
    pub return_tolerance_pct: f64,
    /// A run of hours above the table + tolerance longer than this is an episode, h (24).
    #[serde(default = "default_episode_h")]
    pub return_episode_min_h: u32,
    /// ΔT_w below this share of the reference cooling warns (domain.md §5.5: 0.7).
    #[serde(default = "default_cool_warn")]
    pub cooling_warn_share: f64,
    /// ΔT_w below this share of the reference cooling fails (domain.md §5.5: 0.5).
    #[serde(default = "default_cool_fail")]
    pub cooling_fail_share: f64,
    /// Absolute lower limit of ΔT_w in high-temperature networks, K (domain.md §5.5: 20); it
    /// raises the warning limit of substations on a regulation table whose highest supply
    /// temperature is at least `high_temperature_supply_c`. 0 turns it off.
    #[serde(default = "default_cool_abs")]
    pub cooling_absolute_min_k: f64,
    /// Highest table supply temperature from which a network counts as high-temperature, °C.
    #[serde(default = "default_high_temp")]
    pub high_temperature_supply_c: f64,
    /// Smallest temperature difference of the substation heat meters, K (MID MI-004 Δθmin:
    /// 3, 5 or 10); hours below it are left out of the temperature KPIs, their energy is kept
    /// (domain.md §5.6).
    #[serde(default = "default_dtheta_min")]
    pub delta_theta_min_k: f64,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            k_kwh_per_m3_k: default_k(),
            hdd_base_c: default_hdd_base(),
            hdd_threshold_c: default_hdd_threshold(),
            outdoor_day_min_coverage: default_day_coverage(),
            return_tolerance_pct: default_return_tol(),
            return_episode_min_h: default_episode_h(),
            cooling_warn_share: default_cool_warn(),
            cooling_fail_share: default_cool_fail(),
            cooling_absolute_min_k: default_cool_abs(),
            high_temperature_supply_c: default_high_temp(),
            delta_theta_min_k: default_dtheta_min(),
        }
    }
}

/// A `[kpi.losses]` / `[kpi.usage]` value that cannot work: (key, value, what is expected).
pub type Problem = (&'static str, String, &'static str);

impl LossesConfig {
    /// Every value that cannot work.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if !(self.rho_cp_mj_per_m3_k > 3.5 && self.rho_cp_mj_per_m3_k < 4.5) {
            out.push((
                "losses.rho_cp_mj_per_m3_k",
                self.rho_cp_mj_per_m3_k.to_string(),
                "MJ/(m³·K) of hot water, 4.10–4.15",
            ));
        }
        if self.block_above_pct <= self.block_below_pct {
            out.push((
                "losses.block_above_pct",
                self.block_above_pct.to_string(),
                "a share above block_below_pct (40 and 0 by default)",
            ));
        }
        if !(self.makeup_warn_factor > 1.0 && self.makeup_fail_factor >= self.makeup_warn_factor) {
            out.push((
                "losses.makeup_fail_factor",
                format!(
                    "{} (warn {})",
                    self.makeup_fail_factor, self.makeup_warn_factor
                ),
                "factors above 1 with fail ≥ warn (3 and 2 by default)",
            ));
        }
        if self.makeup_median_days < 3 {
            out.push((
                "losses.makeup_median_days",
                self.makeup_median_days.to_string(),
                "at least 3 days (30 by default)",
            ));
        }
        if self.manual_search_days < self.manual_linear_max_days.max(1) {
            out.push((
                "losses.manual_search_days",
                self.manual_search_days.to_string(),
                "at least manual_linear_max_days (62 by default)",
            ));
        }
        out
    }
}

impl UsageConfig {
    /// Every value that cannot work.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if !(self.k_kwh_per_m3_k > 1.0 && self.k_kwh_per_m3_k < 1.3) {
            out.push((
                "usage.k_kwh_per_m3_k",
                self.k_kwh_per_m3_k.to_string(),
                "kWh/(m³·K) of hot water, about 1.14–1.16",
            ));
        }
        if self.hdd_threshold_c > self.hdd_base_c {
            out.push((
                "usage.hdd_threshold_c",
                self.hdd_threshold_c.to_string(),
                "a heating threshold at or below hdd_base_c (15 and 18 by default)",
            ));
        }
        if !(0.0..=1.0).contains(&self.outdoor_day_min_coverage) {
            out.push((
                "usage.outdoor_day_min_coverage",
                self.outdoor_day_min_coverage.to_string(),
                "a share between 0 and 1",
            ));
        }
        if !(self.cooling_fail_share > 0.0 && self.cooling_fail_share <= self.cooling_warn_share) {
            out.push((
                "usage.cooling_fail_share",
                self.cooling_fail_share.to_string(),
                "a share above 0 and at most cooling_warn_share (0.5 and 0.7 by default)",
            ));
        }
        if self.return_tolerance_pct < 0.0 {
            out.push((
                "usage.return_tolerance_pct",
                self.return_tolerance_pct.to_string(),
                "a percentage of at least 0 (7 by default)",
            ));
        }
        if self.delta_theta_min_k <= 0.0 {
            out.push((
                "usage.delta_theta_min_k",
                self.delta_theta_min_k.to_string(),
                "Δθmin of the meters in K: 3, 5 or 10",
            ));
        }
        out
    }
}

fn default_storage_days() -> u32 {
    7
}
fn default_rho_cp() -> f64 {
    4.12
}
fn default_linear_days() -> u32 {
    7
}
fn default_manual_search() -> u32 {
    62
}
fn default_dhw_kd() -> f64 {
    2.0
}
fn default_block_above() -> f64 {
    40.0
}
fn default_trend_pp() -> f64 {
    0.5
}
fn default_median_days() -> u32 {
    30
}
fn default_makeup_warn() -> f64 {
    2.0
}
fn default_makeup_fail() -> f64 {
    3.0
}
fn default_cold_water() -> f64 {
    10.0
}
fn default_k() -> f64 {
    1.15
}
fn default_hdd_base() -> f64 {
    18.0
}
fn default_hdd_threshold() -> f64 {
    15.0
}
fn default_day_coverage() -> f64 {
    0.75
}
fn default_return_tol() -> f64 {
    7.0
}
fn default_episode_h() -> u32 {
    24
}
fn default_cool_warn() -> f64 {
    0.7
}
fn default_cool_fail() -> f64 {
    0.5
}
fn default_cool_abs() -> f64 {
    20.0
}
fn default_high_temp() -> f64 {
    110.0
}
fn default_dtheta_min() -> f64 {
    3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_bad_values_are_named() {
        let l: LossesConfig = toml::from_str("").unwrap();
        let u: UsageConfig = toml::from_str("").unwrap();
        assert_eq!(l, LossesConfig::default());
        assert_eq!(u, UsageConfig::default());
        assert!(l.problems().is_empty() && u.problems().is_empty());
        let l: LossesConfig =
            toml::from_str("makeup_warn_factor = 3.0\nmakeup_fail_factor = 2.0").unwrap();
        assert_eq!(l.problems()[0].0, "losses.makeup_fail_factor");
        let u: UsageConfig = toml::from_str("hdd_base_c = 15.0\nhdd_threshold_c = 18.0").unwrap();
        assert_eq!(u.problems()[0].0, "usage.hdd_threshold_c");
    }
}
