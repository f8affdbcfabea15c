//! `[kpi]`: parameters of the KPI evaluator.
//!
//! Every value here is a configurable default from domain.md (marked \[P\] there, or \[R\] where
//! the regulatory text could not be confirmed). The evaluator records the values it used in
//! each result's details, so a report shows the method parameters next to the numbers.

use crate::model::asset::Pollutant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[kpi]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiConfig {
    /// The heating season (sezon grzewczy). domain.md uses the term without dates, so this is
    /// an engineering default: 1 September to 31 May, the span Polish utilities commonly
    /// publish as their season.
    #[serde(default)]
    pub heating_season: HeatingSeasonConfig,
    /// Share of expected intervals every input of a KPI must reach for the result to be
    /// judged; below it the result is `provisional` (domain.md §0.4: 0.95).
    #[serde(default = "default_completeness")]
    pub completeness_min: f64,
    /// Whether the proposed thresholds of domain.md §2.5 apply when no configured threshold
    /// covers a KPI (they are the lowest precedence: asset, class and default thresholds from
    /// `[[threshold]]` all beat them).
    #[serde(default = "yes")]
    pub builtin_thresholds: bool,
    /// Register moduli of counter series, by series key, in the canonical unit of the quantity
    /// (GJ, m³, Nm³, t, MWh): `"k1.heat_energy" = 42949672.96` for a u32 register counting
    /// 0.01 GJ. A wrap-around is then counted as consumption instead of a reset.
    #[serde(default)]
    pub register_moduli: BTreeMap<String, f64>,
    /// How far before and after a period boundary to look for the register readings that cut
    /// a counter exactly at the boundary (linear interpolation between them), minutes.
    #[serde(default = "default_boundary_minutes")]
    pub boundary_search_minutes: u32,
    /// Efficient heat production (domain.md §2).
    #[serde(default)]
    pub efficiency: EfficiencyConfig,
    /// Emission limits (domain.md §3).
    #[serde(default)]
    pub emissions: EmissionsConfig,
    /// The live evaluation loop.
    #[serde(default)]
    pub live: LiveConfig,
    /// Transmission losses (domain.md §4).
    #[serde(default)]
    pub losses: super::kpi_network::LossesConfig,
    /// Rational use of delivered heat (domain.md §5).
    #[serde(default)]
    pub usage: super::kpi_network::UsageConfig,
    /// Full availability of supply (domain.md §6).
    #[serde(default)]
    pub availability: super::kpi_availability::AvailabilityConfig,
}

impl Default for KpiConfig {
    fn default() -> Self {
        KpiConfig {
            heating_season: HeatingSeasonConfig::default(),
            completeness_min: default_completeness(),
            builtin_thresholds: true,
            register_moduli: BTreeMap::new(),
            boundary_search_minutes: default_boundary_minutes(),
            efficiency: EfficiencyConfig::default(),
            emissions: EmissionsConfig::default(),
            live: LiveConfig::default(),
            losses: Default::default(),
            usage: Default::default(),
            availability: Default::default(),
        }
    }
}

/// First and last day of the heating season (local dates, both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatingSeasonConfig {
    /// Month the season starts (1–12).
    pub start_month: u32,
    /// Day of that month the season starts.
    pub start_day: u32,
    /// Month the season ends (1–12); earlier than `start_month` means the next year.
    pub end_month: u32,
    /// Last day of the season (inclusive).
    pub end_day: u32,
}

impl Default for HeatingSeasonConfig {
    fn default() -> Self {
        HeatingSeasonConfig {
            start_month: 9,
            start_day: 1,
            end_month: 5,
            end_day: 31,
        }
    }
}

/// `[kpi.efficiency]` (domain.md §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficiencyConfig {
    /// LHV = factor × HHV for units whose heating value is given on the gas-invoice (HHV)
    /// basis: 0.90 for high-methane natural gas (domain.md §2.2, \[R\]).
    #[serde(default = "default_hhv_factor")]
    pub hhv_to_lhv_factor: f64,
    /// Maximum error of a gas volume meter / flow computer, % (±).
    #[serde(default = "default_gas_meter")]
    pub gas_meter_uncertainty_pct: f64,
    /// Maximum error of a solid or liquid fuel weigher, % (±).
    #[serde(default = "default_mass_meter")]
    pub mass_meter_uncertainty_pct: f64,
    /// Uncertainty of the LHV of gas from supplier quality data, % (±).
    #[serde(default = "default_gas_lhv")]
    pub gas_lhv_uncertainty_pct: f64,
    /// Uncertainty of the LHV of solid and liquid fuels from lab analyses, % (±).
    #[serde(default = "default_solid_lhv")]
    pub solid_lhv_uncertainty_pct: f64,
    /// Maximum error of a generator electricity meter, % (±).
    #[serde(default = "default_el_meter")]
    pub electricity_meter_uncertainty_pct: f64,
    /// Smallest temperature difference of the heat meters, K (MID MI-004 Δθmin: 3, 5 or 10).
    #[serde(default = "default_dtheta_min")]
    pub delta_theta_min_k: f64,
    /// Temperature difference assumed for the heat-meter error when supply and return
    /// temperatures are not measured, K.
    #[serde(default = "default_dtheta")]
    pub typical_delta_theta_k: f64,
    /// q_p/q: permanent flow of the heat meter over its typical actual flow, for the flow
    /// sensor error term (2 = the meter usually runs at half its permanent flow).
    #[serde(default = "default_qp_over_q")]
    pub qp_over_q: f64,
    /// An hour in which a unit burns fuel but delivers less than this share of its rated
    /// output is tagged as hot standby (domain.md §2.6).
    #[serde(default = "default_standby_share")]
    pub standby_max_heat_share: f64,
    /// A period whose mean load is below this share of rated output is labelled low-load
    /// (summer, DHW only) and reported separately (domain.md §2.4).
    #[serde(default = "default_low_load")]
    pub low_load_share: f64,
    /// Reference efficiencies for PES, replacing the built-in table of domain.md §2.2.
    #[serde(default)]
    pub reference: Vec<ReferenceEfficiencyConfig>,
    /// Climate correction added to Ref_Eη, percentage points (Delegated Regulation
    /// 2015/2402 Annex III; 0 = not applied).
    #[serde(default)]
    pub ref_e_climate_correction_pp: f64,
    /// Grid-loss correction factor Ref_Eη is multiplied by (2015/2402 Annex IV; 1 = not
    /// applied).
    #[serde(default = "default_one")]
    pub ref_e_grid_loss_factor: f64,
}

impl Default for EfficiencyConfig {
    fn default() -> Self {
        EfficiencyConfig {
            hhv_to_lhv_factor: default_hhv_factor(),
            gas_meter_uncertainty_pct: default_gas_meter(),
            mass_meter_uncertainty_pct: default_mass_meter(),
            gas_lhv_uncertainty_pct: default_gas_lhv(),
            solid_lhv_uncertainty_pct: default_solid_lhv(),
            electricity_meter_uncertainty_pct: default_el_meter(),
            delta_theta_min_k: default_dtheta_min(),
            typical_delta_theta_k: default_dtheta(),
            qp_over_q: default_qp_over_q(),
            standby_max_heat_share: default_standby_share(),
            low_load_share: default_low_load(),
            reference: Vec::new(),
            ref_e_climate_correction_pp: 0.0,
            ref_e_grid_loss_factor: 1.0,
        }
    }
}

/// One row of the reference-efficiency table (domain.md §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceEfficiencyConfig {
    /// Fuel: `coal`, `biomass`, `natural_gas` or `oil`.
    pub fuel: crate::model::asset::Fuel,
    /// Ref_Eη for units built before 2016, %.
    pub electric_before_2016_pct: f64,
    /// Ref_Eη for units built 2016–2023, %.
    pub electric_2016_2023_pct: f64,
    /// Ref_Eη for units built from 2024, %.
    pub electric_from_2024_pct: f64,
    /// Ref_Hη for hot water, %.
    pub heat_pct: f64,
}

/// Which share the confidence interval subtracted from a valid hourly average is taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiBasisConfig {
    /// IED Annex V Part 3: V = max(0, C − share × ELV) (domain.md §3.4 point 2).
    #[default]
    ShareOfElv,
    /// Dz.U. 2024 poz. 400 § 4(3): V = C − min(U_QAL2, share × C).
    ShareOfMeasured,
}

/// How the validated monthly average is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonthlyBasisConfig {
    /// Mean of the validated hourly values of the month (domain.md §3.4 point 4; the French
    /// transposition, art. 36).
    #[default]
    ValidHours,
    /// Mean of the validated daily averages of the valid days.
    ValidDays,
}

/// `[kpi.emissions]` (domain.md §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmissionsConfig {
    /// Interval of the CEMS raw values, s (60 for 1-minute values): gives the expected number
    /// of raw values per hour.
    #[serde(default = "default_raw_interval")]
    pub raw_interval_s: u32,
    /// Share of valid raw values an hour needs to be valid (domain.md §3.4: 0.75 \[P\]).
    #[serde(default = "default_valid_share")]
    pub min_valid_share: f64,
    /// Highest measured O2 used in the reference-O2 correction, % (domain.md §3.6: O2 near
    /// 21 % inflates the factor). The factor is capped at (O2_air − O2_ref)/(O2_air − cap).
    #[serde(default = "default_o2_cap")]
    pub o2_cap_pct: f64,
    /// Basis of the confidence-interval subtraction.
    #[serde(default)]
    pub ci_basis: CiBasisConfig,
    /// Uncertainty from the QAL2 (EN 14181) calibration, mg/Nm³ at reference O2, per stack
    /// and pollutant: `[kpi.emissions.qal2_uncertainty_mg_nm3.em-1] nox = 12.0`. Where given,
    /// the smaller of it and the share-based interval is subtracted.
    #[serde(default)]
    pub qal2_uncertainty_mg_nm3: BTreeMap<String, BTreeMap<Pollutant, f64>>,
    /// A day with more than this many invalid operating hours is invalid (IED: 3).
    #[serde(default = "default_invalid_hours")]
    pub max_invalid_hours_per_day: u32,
    /// More invalid days than this in a year oblige the operator to improve the CEMS (IED: 10).
    #[serde(default = "default_invalid_days")]
    pub max_invalid_days_per_year: u32,
    /// Hourly limit as a multiple of the ELV (IED Annex V Part 4: 2.0).
    #[serde(default = "default_hourly_factor")]
    pub hourly_limit_factor: f64,
    /// Share of the year's validated hours that may exceed the hourly limit, % (IED: 5).
    #[serde(default = "default_share_above")]
    pub max_share_above_hourly_limit_pct: f64,
    /// How the validated monthly average is formed.
    #[serde(default)]
    pub monthly_basis: MonthlyBasisConfig,
    /// Stacks whose analysers report wet concentrations and wet O2; their `h2o` series is
    /// used to convert to dry gas.
    #[serde(default)]
    pub wet_stacks: Vec<String>,
}

impl Default for EmissionsConfig {
    fn default() -> Self {
        EmissionsConfig {
            raw_interval_s: default_raw_interval(),
            min_valid_share: default_valid_share(),
            o2_cap_pct: default_o2_cap(),
            ci_basis: CiBasisConfig::default(),
            qal2_uncertainty_mg_nm3: BTreeMap::new(),
            max_invalid_hours_per_day: default_invalid_hours(),
            max_invalid_days_per_year: default_invalid_days(),
            hourly_limit_factor: default_hourly_factor(),
            max_share_above_hourly_limit_pct: default_share_above(),
            monthly_basis: MonthlyBasisConfig::default(),
            wet_stacks: Vec::new(),
        }
    }
}

/// `[kpi.live]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// Seconds between two live evaluations (current hour, day, month to date) and late-data
    /// checks.
    #[serde(default = "default_live_every")]
    pub every_s: u64,
    /// Most closed days recomputed in one pass when late data arrives; older changes are
    /// recomputed per month only.
    #[serde(default = "default_recompute_days")]
    pub recompute_max_days: u32,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            every_s: default_live_every(),
            recompute_max_days: default_recompute_days(),
        }
    }
}

/// A `[kpi]` value that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("[kpi] {key} = {value}: {expected}")]
pub struct KpiConfigError {
    /// The key, e.g. `emissions.min_valid_share`.
    pub key: &'static str,
    /// The value as written.
    pub value: String,
    /// What would be accepted.
    pub expected: &'static str,
}

impl KpiConfig {
    /// Every value that cannot work (shares outside 0–1, impossible dates).
    pub fn problems(&self) -> Vec<KpiConfigError> {
        let mut out = Vec::new();
        let mut check = |ok: bool, key: &'static str, value: String, expected: &'static str| {
            if !ok {
                out.push(KpiConfigError {
                    key,
                    value,
                    expected,
                });
            }
        };
        let share = |v: f64| (0.0..=1.0).contains(&v);
        check(
            share(self.completeness_min),
            "completeness_min",
            self.completeness_min.to_string(),
            "a share between 0 and 1 (0.95 = 95 %)",
        );
        let s = &self.heating_season;
        for (key, m, d) in [
            ("heating_season.start_month", s.start_month, s.start_day),
            ("heating_season.end_month", s.end_month, s.end_day),
        ] {
            // 2024 is a leap year, so 29 February is accepted (and taken as 28 in other years).
            check(
                chrono::NaiveDate::from_ymd_opt(2024, m, d).is_some(),
                key,
                format!("{m} (day {d})"),
                "a real month (1–12) and a day that exists in it",
            );
        }
        let e = &self.emissions;
        check(
            share(e.min_valid_share),
            "emissions.min_valid_share",
            e.min_valid_share.to_string(),
            "a share between 0 and 1 (0.75 = 75 %)",
        );
        check(
            e.raw_interval_s > 0 && 3600 % e.raw_interval_s == 0,
            "emissions.raw_interval_s",
            e.raw_interval_s.to_string(),
            "seconds that divide an hour (1, 10, 60, …)",
        );
        check(
            e.o2_cap_pct > 0.0 && e.o2_cap_pct < 21.0,
            "emissions.o2_cap_pct",
            e.o2_cap_pct.to_string(),
            "a percentage below 21 (19 by default)",
        );
        check(
            e.hourly_limit_factor >= 1.0,
            "emissions.hourly_limit_factor",
            e.hourly_limit_factor.to_string(),
            "a multiple of the ELV of at least 1 (2.0 by default)",
        );
        let f = &self.efficiency;
        check(
            f.hhv_to_lhv_factor > 0.5 && f.hhv_to_lhv_factor <= 1.0,
            "efficiency.hhv_to_lhv_factor",
            f.hhv_to_lhv_factor.to_string(),
            "a factor between 0.5 and 1 (0.90 for natural gas)",
        );
        check(
            share(f.standby_max_heat_share),
            "efficiency.standby_max_heat_share",
            f.standby_max_heat_share.to_string(),
            "a share between 0 and 1",
        );
        check(
            self.live.every_s > 0,
            "live.every_s",
            self.live.every_s.to_string(),
            "a positive number of seconds",
        );
        for (key, value, expected) in self
            .losses
            .problems()
            .into_iter()
            .chain(self.usage.problems())
        {
            out.push(KpiConfigError {
                key,
                value,
                expected,
            });
        }
        out.extend(
            self.availability
                .problems()
                .into_iter()
                .map(|(key, value, expected)| KpiConfigError {
                    key,
                    value,
                    expected,
                }),
        );
        out
    }
}

fn yes() -> bool {
    true
}
fn default_one() -> f64 {
    1.0
}
fn default_completeness() -> f64 {
    0.95
}
fn default_boundary_minutes() -> u32 {
    120
}
fn default_hhv_factor() -> f64 {
    0.90
}
fn default_gas_meter() -> f64 {
    1.0
}
fn default_mass_meter() -> f64 {
    2.0
}
fn default_gas_lhv() -> f64 {
    0.5
}
fn default_solid_lhv() -> f64 {
    3.0
}
fn default_el_meter() -> f64 {
    0.5
}
fn default_dtheta_min() -> f64 {
    3.0
}
fn default_dtheta() -> f64 {
    30.0
}
fn default_qp_over_q() -> f64 {
    2.0
}
fn default_standby_share() -> f64 {
    0.02
}
fn default_low_load() -> f64 {
    0.25
}
fn default_raw_interval() -> u32 {
    60
}
fn default_valid_share() -> f64 {
    0.75
}
fn default_o2_cap() -> f64 {
    19.0
}
fn default_invalid_hours() -> u32 {
    3
}
fn default_invalid_days() -> u32 {
    10
}
fn default_hourly_factor() -> f64 {
    2.0
}
fn default_share_above() -> f64 {
    5.0
}
fn default_live_every() -> u64 {
    300
}
fn default_recompute_days() -> u32 {
    400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_from_an_empty_section_and_have_no_problems() {
        let c: KpiConfig = toml::from_str("").unwrap();
        assert_eq!(c, KpiConfig::default());
        assert!(c.problems().is_empty());
        let c: KpiConfig = toml::from_str(
            "[emissions]\nci_basis = \"share_of_measured\"\n[emissions.qal2_uncertainty_mg_nm3.em-1]\nnox = 12.0\n",
        )
        .unwrap();
        assert_eq!(c.emissions.ci_basis, CiBasisConfig::ShareOfMeasured);
        assert_eq!(
            c.emissions.qal2_uncertainty_mg_nm3["em-1"][&Pollutant::Nox],
            12.0
        );
    }

    #[test]
    fn impossible_values_are_reported() {
        let mut c = KpiConfig::default();
        c.heating_season.end_day = 31;
        c.heating_season.end_month = 4;
        c.emissions.raw_interval_s = 7;
        let p = c.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].to_string().contains("heating_season.end_month"));
    }
}
