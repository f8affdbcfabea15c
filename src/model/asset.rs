//! The asset model (design.md §3): what the standards talk about. Assets are configuration with
//! stable string ids; series keys use those ids (`<asset>.<quantity>`).
//!
//! These structs are deserialized straight from the TOML configuration, so every field's doc
//! comment is the operator documentation of that key. Cross-references (a unit's source, a
//! substation's network, a regulation table) are checked by `config::validate`.

use super::Unit;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A heat plant (źródło ciepła).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Stable id, e.g. `ec-north`.
    pub id: String,
    /// Name shown to operators.
    #[serde(default)]
    pub name: String,
    /// Heat-meter assets at the plant outlet into the network, net of own use.
    #[serde(default)]
    pub outlet_meters: Vec<String>,
    /// Heat-meter assets of the plant's own use (potrzeby własne), if metered separately.
    #[serde(default)]
    pub own_use_meters: Vec<String>,
    /// Heat accumulator asset whose `stored_energy` series gives ΔE_storage.
    #[serde(default)]
    pub storage: Option<String>,
}

/// What kind of generating unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// Hot-water or steam boiler.
    Boiler,
    /// Combined heat and power unit (turbine).
    Chp,
    /// Gas engine (CHP).
    Engine,
}

/// The fuel a unit burns; picks the reference O2 and the default thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fuel {
    /// Hard coal.
    Coal,
    /// Solid biomass.
    Biomass,
    /// Natural gas.
    NaturalGas,
    /// Fuel oil.
    Oil,
}

impl Fuel {
    /// Whether the fuel is metered by mass (t) rather than by normal volume (Nm³).
    pub fn is_solid(self) -> bool {
        matches!(self, Fuel::Coal | Fuel::Biomass)
    }
}

/// A generating unit: boiler, CHP unit or engine, belonging to a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenUnit {
    /// Stable id, e.g. `k1`.
    pub id: String,
    /// The source it belongs to.
    pub source: String,
    /// Boiler, CHP or engine.
    pub kind: UnitKind,
    /// Fuel burnt.
    pub fuel: Fuel,
    /// Lower heating value as received, GJ/t (solid) or GJ/Nm³ (gas), when it is a fixed
    /// value from lab analyses or the supplier. Give this or `lhv_series`.
    #[serde(default)]
    pub lhv_gj_per_unit: Option<f64>,
    /// Series key of a measured LHV (quantity `lhv`), e.g. `gas-station.lhv`.
    #[serde(default)]
    pub lhv_series: Option<String>,
    /// Whether the LHV given is really a higher heating value from a gas invoice; it is then
    /// converted with `hhv_to_lhv` (domain.md §2.2).
    #[serde(default)]
    pub lhv_is_hhv: bool,
    /// Rated heat output, MW.
    pub rated_heat_mw: f64,
    /// Rated electrical output, MW (CHP and engines).
    #[serde(default)]
    pub rated_el_mw: Option<f64>,
    /// Whether the unit has condensing equipment (η above 100 % LHV is then plausible).
    #[serde(default)]
    pub condensing: bool,
    /// Accuracy class of its heat meter (1, 2 or 3; MID MI-004).
    #[serde(default = "default_meter_class")]
    pub meter_class: u8,
    /// Year of construction (selects the PES reference efficiency).
    #[serde(default)]
    pub year_built: Option<i32>,
}

fn default_meter_class() -> u8 {
    2
}

/// A pollutant with an emission limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pollutant {
    /// Sulphur dioxide.
    So2,
    /// Nitrogen oxides as NO2.
    Nox,
    /// Dust.
    Dust,
    /// Carbon monoxide.
    Co,
}

impl Pollutant {
    /// The quantity that carries this pollutant's concentration.
    pub fn quantity(self) -> super::Quantity {
        match self {
            Pollutant::So2 => super::Quantity::So2,
            Pollutant::Nox => super::Quantity::Nox,
            Pollutant::Dust => super::Quantity::Dust,
            Pollutant::Co => super::Quantity::Co,
        }
    }

    /// The default share of the ELV taken as the 95 % confidence interval (domain.md §3.4):
    /// CO 10 %, SO2 20 %, NOx 20 %, dust 30 %.
    pub fn default_ci_share(self) -> f64 {
        match self {
            Pollutant::Co => 0.10,
            Pollutant::So2 | Pollutant::Nox => 0.20,
            Pollutant::Dust => 0.30,
        }
    }
}

/// A flue-gas emission point with its permit limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// Stable id, e.g. `em-1`.
    pub id: String,
    /// The source it belongs to.
    pub source: String,
    /// Units venting through it.
    pub units: Vec<String>,
    /// Reference O2 in % (6 solid fuels, 3 gas/oil boilers, 15 turbines and engines).
    pub o2_ref_pct: f64,
    /// The O2 constant of the normalisation formula: 21 (IED) or 20.9.
    #[serde(default = "default_o2_air")]
    pub o2_air_pct: f64,
    /// Emission limit values in mg/Nm³ at the reference O2, dry, per pollutant
    /// (`so2 = 400`, `nox = 300`, `dust = 30`).
    pub limits_mg_nm3: BTreeMap<Pollutant, f64>,
    /// Shares of the ELV taken as the 95 % confidence interval, overriding the defaults
    /// (CO 0.10, SO2 0.20, NOx 0.20, dust 0.30).
    #[serde(default)]
    pub ci_share: BTreeMap<Pollutant, f64>,
    /// Daily limit as a multiple of the ELV: 1.1 (1.5 for small coal-only plants).
    #[serde(default = "default_daily_factor")]
    pub daily_limit_factor: f64,
    /// Load (share of rated heat output, 0–1) below which hours count as start-up/shut-down.
    #[serde(default = "default_min_load")]
    pub min_load_share: f64,
    /// Where the limits come from (permit number and date).
    #[serde(default)]
    pub permit: String,
}

fn default_o2_air() -> f64 {
    21.0
}
fn default_daily_factor() -> f64 {
    1.1
}
fn default_min_load() -> f64 {
    0.2
}

/// A hydraulically separate heat network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Stable id, e.g. `net-city`.
    pub id: String,
    /// Name shown to operators.
    #[serde(default)]
    pub name: String,
    /// Sources feeding it (their outlet meters count as heat introduced).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Heat-meter assets of purchased heat entering the network.
    #[serde(default)]
    pub purchased_heat_meters: Vec<String>,
    /// Heat-meter assets of transfers out to other networks.
    #[serde(default)]
    pub transfer_meters: Vec<String>,
    /// Make-up water meter asset (quantity `makeup_water`).
    #[serde(default)]
    pub makeup_meter: Option<String>,
    /// Water volume of the network (zład), m³.
    pub water_volume_m3: f64,
    /// Trench length, km.
    pub length_km: f64,
    /// Regulation table the network is run on.
    pub regulation: String,
    /// Weather station whose outdoor temperature drives the regulation table.
    pub weather: String,
}

/// A substation (węzeł cieplny): a customer delivery point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Substation {
    /// Stable id, e.g. `ss-001`.
    pub id: String,
    /// Name or address shown to operators.
    #[serde(default)]
    pub name: String,
    /// Network it is connected to.
    pub network: String,
    /// Branch of the network (substations on one branch lose supply together).
    #[serde(default)]
    pub branch: Option<String>,
    /// Ordered heat capacity (moc zamówiona), MW.
    pub ordered_capacity_mw: f64,
    /// Heated floor area, m².
    pub heated_area_m2: f64,
    /// Number of customers behind the substation.
    #[serde(default = "one")]
    pub customers: u32,
    /// Regulation table for the supply temperature; defaults to the network's.
    #[serde(default)]
    pub regulation: Option<String>,
    /// Design cooling ΔT, K.
    pub design_delta_t_k: f64,
    /// Whether it prepares domestic hot water (and so is supplied in summer).
    #[serde(default)]
    pub dhw: bool,
    /// Accuracy class of its heat meter (1, 2 or 3).
    #[serde(default = "default_meter_class")]
    pub meter_class: u8,
    /// Monthly capacity fee, PLN per MW (for the bonifikata estimate).
    #[serde(default)]
    pub capacity_fee_pln_per_mw_month: Option<f64>,
    /// Whether its heat meter is read by hand (monthly) rather than by AMR: its registers are
    /// then interpolated to period boundaries, linearly in time for readings up to
    /// `[kpi.losses] manual_linear_max_days` apart and degree-day weighted beyond, and the
    /// interpolated / estimated share of the heat delivered is reported (domain.md §4.4).
    /// Default `false` (cut at the boundaries from the readings around them).
    #[serde(default)]
    pub manual_read: bool,
    /// The consumption baseline weather-normalised consumption is judged against (domain.md
    /// §5.2, §5.6); without it only the degree days and the specific consumption are reported.
    #[serde(default)]
    pub baseline: Option<Baseline>,
}

/// A substation's consumption baseline, the model `E = a + b·Sd` of domain.md §5.2 fitted on
/// (usually three) earlier heating seasons with the same metering and use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// b: space-heating energy per heating degree day, GJ/Kd.
    pub sh_gj_per_kd: f64,
    /// a: domestic hot water base, GJ per day (the summer mean daily use); default 0.
    #[serde(default)]
    pub dhw_gj_per_day: f64,
    /// First day the baseline applies to (local date, e.g. the start of the first season it
    /// was fitted on, or the day after a renovation when it was fitted again).
    #[serde(default, deserialize_with = "local_date::deserialize")]
    pub valid_from: Option<chrono::NaiveDate>,
    /// Date of the last thermal renovation or change of heated area (domain.md §5.6): a
    /// baseline valid from before it no longer applies after it, and normalised consumption is
    /// then not judged until the baseline is fitted again.
    #[serde(default, deserialize_with = "local_date::deserialize")]
    pub renovated_on: Option<chrono::NaiveDate>,
}

fn one() -> u32 {
    1
}

/// An outdoor temperature station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeatherStation {
    /// Stable id, e.g. `wx-city`.
    pub id: String,
    /// Name shown to operators.
    #[serde(default)]
    pub name: String,
    /// A second station whose daily mean outdoor temperature fills the days this one misses
    /// (domain.md §5.6); without it such days are missing and degree days are provisional.
    #[serde(default)]
    pub fallback: Option<String>,
}

/// A regulation (heating-curve) table: outdoor temperature → supply and return temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegulationTable {
    /// Stable id, e.g. `curve-130-70`.
    pub id: String,
    /// Rows `[outdoor °C, supply °C, return °C]`, outdoor temperature strictly increasing,
    /// supply and return temperature not increasing.
    pub points: Vec<[f64; 3]>,
}

impl RegulationTable {
    /// Supply and return temperature at `outdoor_c`, interpolated linearly between rows and
    /// held flat beyond the first and last row.
    pub fn at(&self, outdoor_c: f64) -> Option<(f64, f64)> {
        let pts = &self.points;
        let first = pts.first()?;
        let last = pts.last()?;
        if outdoor_c <= first[0] {
            return Some((first[1], first[2]));
        }
        if outdoor_c >= last[0] {
            return Some((last[1], last[2]));
        }
        let i = pts.windows(2).position(|w| outdoor_c <= w[1][0])?;
        let (a, b) = (pts[i], pts[i + 1]);
        let f = (outdoor_c - a[0]) / (b[0] - a[0]);
        Some((a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])))
    }

    /// The first row index where the table breaks monotonicity, with a reason.
    pub fn monotonic_error(&self) -> Option<(usize, &'static str)> {
        if self.points.len() < 2 {
            return Some((0, "needs at least two rows"));
        }
        for (i, w) in self.points.windows(2).enumerate() {
            if w[1][0] <= w[0][0] {
                return Some((i + 1, "outdoor temperature must increase from row to row"));
            }
            if w[1][1] > w[0][1] || w[1][2] > w[0][2] {
                return Some((
                    i + 1,
                    "supply and return temperature must not rise as it gets warmer outside",
                ));
            }
        }
        self.points
            .iter()
            .position(|p| p[2] > p[1])
            .map(|i| (i, "return temperature above supply temperature"))
    }
}

/// Which way a threshold is crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The value must stay at or above the limits (efficiency).
    Min,
    /// The value must stay at or below the limits (losses, emissions).
    Max,
}

/// The period a threshold judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdPeriod {
    /// An hour.
    Hour,
    /// A local day.
    Day,
    /// A calendar month.
    Month,
    /// A heating season.
    HeatingSeason,
    /// A calendar year.
    Year,
    /// Rolling 12 months.
    Rolling12m,
}

/// A threshold for one KPI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// KPI name, e.g. `boiler_efficiency`, `transmission_loss`.
    pub kpi: String,
    /// Unit of `warn` and `fail` (must fit the KPI's unit), e.g. `%`.
    pub unit: Unit,
    /// `min` (value must stay above) or `max` (value must stay below).
    pub direction: Direction,
    /// Warning limit.
    #[serde(default)]
    pub warn: Option<f64>,
    /// Failure limit.
    pub fail: f64,
    /// Period judged.
    pub period: ThresholdPeriod,
    /// One asset id this threshold applies to.
    #[serde(default)]
    pub asset: Option<String>,
    /// An asset class it applies to (`boiler`, `chp`, `engine`, `substation`, `network`,
    /// `stack`, or a fuel such as `coal`; for units also `<kind>:<fuel>` such as
    /// `boiler:natural_gas`, `<kind>:<fuel>:condensing`, and `small_scale_chp` for CHP below
    /// 1 MWe); omit both `asset` and `class` for the default. A unit's more specific class wins.
    #[serde(default)]
    pub class: Option<String>,
    /// First day it applies (local date, inclusive), written as a TOML date `2025-01-01`.
    #[serde(default, deserialize_with = "local_date::deserialize")]
    pub effective_from: Option<chrono::NaiveDate>,
    /// Last day it applies (local date, inclusive), written as a TOML date `2025-12-31`.
    #[serde(default, deserialize_with = "local_date::deserialize")]
    pub effective_to: Option<chrono::NaiveDate>,
    /// Where it comes from: permit, contract clause, regulation article, internal target.
    pub source: String,
}

/// Dates in configuration files. An operator writes `effective_from = 2025-01-01`, which TOML
/// reads as a local date, not a string; chrono's own `NaiveDate` deserializer accepts only
/// strings and rejected every unquoted date. This accepts both the TOML date (which the toml
/// deserializer hands over as a one-entry map) and a `"2025-01-01"` string (environment
/// overrides and the `config` crate turn dates into strings).
mod local_date {
    use chrono::NaiveDate;
    use serde::Deserializer;
    use serde::de::{self, MapAccess, Visitor};
    use std::fmt;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        d.deserialize_any(DateVisitor).map(Some)
    }

    struct DateVisitor;

    fn parse<E: de::Error>(s: &str) -> Result<NaiveDate, E> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            E::custom(format_args!(
                "`{s}` is not a date; write a local date such as 2025-01-01 (no time, no zone)"
            ))
        })
    }

    impl<'de> Visitor<'de> for DateVisitor {
        type Value = NaiveDate;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a date such as 2025-01-01")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<NaiveDate, E> {
            parse(s)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NaiveDate, A::Error> {
            // toml's datetime arrives as `{ "$__toml_private_datetime" = "2025-01-01" }`.
            let Some((_, text)) = map.next_entry::<String, String>()? else {
                return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
            };
            parse(&text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_dates_read_as_toml_dates_and_as_strings() {
        let text = r#"
            kpi = "transmission_loss"
            unit = "%"
            direction = "max"
            fail = 15.0
            period = "year"
            source = "internal target"
            effective_from = 2025-01-01
            effective_to = "2025-12-31"
        "#;
        let t: Threshold = toml::from_str(text).unwrap();
        assert_eq!(
            t.effective_from,
            chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        );
        assert_eq!(
            t.effective_to,
            chrono::NaiveDate::from_ymd_opt(2025, 12, 31)
        );
        let bad = text.replace(
            "effective_to = \"2025-12-31\"",
            "effective_to = 2025-12-31T10:00:00",
        );
        let e = toml::from_str::<Threshold>(&bad).unwrap_err();
        assert!(e.message().contains("no time"), "{e}");
    }

    fn curve() -> RegulationTable {
        RegulationTable {
            id: "c".into(),
            points: vec![[-20.0, 130.0, 70.0], [0.0, 90.0, 55.0], [12.0, 70.0, 45.0]],
        }
    }

    #[test]
    fn regulation_table_interpolates_and_holds() {
        let c = curve();
        // −10 °C is halfway from −20 to 0: supply (130 + 90) / 2 = 110, return (70 + 55) / 2 = 62.5
        assert_eq!(c.at(-10.0), Some((110.0, 62.5)));
        // 6 °C: f = 6/12 = 0.5 → supply 90 − 0.5 × 20 = 80, return 55 − 0.5 × 10 = 50
        assert_eq!(c.at(6.0), Some((80.0, 50.0)));
        assert_eq!(c.at(-30.0), Some((130.0, 70.0)));
        assert_eq!(c.at(20.0), Some((70.0, 45.0)));
        assert_eq!(c.monotonic_error(), None);
    }

    #[test]
    fn non_monotonic_tables_are_found() {
        let mut c = curve();
        c.points[2][0] = -5.0;
        assert_eq!(c.monotonic_error().map(|e| e.0), Some(2));
        let mut c = curve();
        c.points[1][1] = 140.0;
        assert_eq!(c.monotonic_error().map(|e| e.0), Some(1));
    }
}
