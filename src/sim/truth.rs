//! The ground truth of a simulated history: what really happened, and the KPI values an
//! evaluator reading the history should find.
//!
//! Energies are true physical values (GJ) unless named `metered_*`: those are what a reader of
//! the written history gets by summing register increments between consecutive readings, which
//! differs from the truth exactly where the scenario made a meter wrong (swapped sensors stop
//! the energy register; a replacement or reset loses its boundary interval). Times are given as
//! UTC ms and as RFC 3339 in the site's time zone. Emission figures follow domain.md §3.4 with
//! the stack's configured CI shares (share of the ELV) and an hour valid when ≥ 75 % of its
//! samples are valid.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// What wrote it.
    pub generator: String,
    /// Random seed.
    pub seed: u64,
    /// Site time zone.
    pub timezone: String,
    /// Sample step, s.
    pub step_s: u32,
    /// First instant (RFC 3339, local).
    pub from: String,
    /// End of the run, exclusive (RFC 3339, local).
    pub to: String,
    /// First instant, UTC ms.
    pub from_ms: i64,
    /// End, UTC ms.
    pub to_ms: i64,
    /// Number of substations simulated.
    pub substations: usize,
    /// Definitions of the figures, for whoever reads the file.
    pub conventions: BTreeMap<String, String>,
    /// Per local calendar month.
    pub months: Vec<MonthTruth>,
    /// Every injected event with its exact interval.
    pub events: Vec<EventTruth>,
    /// Loss of supply per substation (from interruptions and planned stops).
    pub interruptions: Vec<InterruptionTruth>,
    /// Counter registers that wrapped around their modulus.
    pub counter_wraps: Vec<WrapTruth>,
}

/// One local calendar month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthTruth {
    /// `YYYY-MM`.
    pub month: String,
    /// Start, UTC ms.
    pub start_ms: i64,
    /// End (exclusive), UTC ms.
    pub end_ms: i64,
    /// Hours in the month (743 in March, 745 in October in Europe/Warsaw).
    pub hours: u32,
    /// Outdoor temperature and degree days.
    pub weather: WeatherTruth,
    /// Generating units.
    pub units: Vec<UnitTruth>,
    /// Sources.
    pub sources: Vec<SourceTruth>,
    /// Networks.
    pub networks: Vec<NetworkTruth>,
    /// Substations.
    pub substations: Vec<SubstationTruth>,
    /// Stacks.
    pub stacks: Vec<StackTruth>,
    /// The KPI values an evaluator should find for the month.
    pub kpis: KpiTruth,
}

/// Weather of a month at the reference station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeatherTruth {
    /// Station id.
    pub station: String,
    /// Mean outdoor temperature, °C.
    pub mean_outdoor_c: f64,
    /// Heating degree days Sd(18; 15): Σ (18 − T_m) over days with T_m ≤ 15 °C.
    pub hdd: f64,
}

/// A generating unit in a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitTruth {
    /// Unit id.
    pub id: String,
    /// Source id.
    pub source: String,
    /// Heat output, GJ.
    pub heat_gj: f64,
    /// Fuel energy (LHV), GJ.
    pub fuel_energy_gj: f64,
    /// Fuel burnt in `fuel_unit`.
    pub fuel_quantity: f64,
    /// `t` or `Nm3`.
    pub fuel_unit: String,
    /// Gross electricity, MWh.
    pub electricity_mwh: f64,
    /// Q / E_chem.
    pub efficiency: Option<f64>,
    /// (E_el × 3.6 + Q) / E_chem, for units generating electricity.
    pub total_efficiency: Option<f64>,
    /// Hours firing.
    pub operating_hours: f64,
}

/// A source in a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceTruth {
    /// Source id.
    pub id: String,
    /// Heat from its units, GJ.
    pub heat_produced_gj: f64,
    /// Own use, GJ.
    pub own_use_gj: f64,
    /// Heat into the network, GJ.
    pub heat_out_gj: f64,
    /// Fuel energy, GJ.
    pub fuel_energy_gj: f64,
    /// Electricity, MWh.
    pub electricity_mwh: f64,
    /// η_plant = heat_out / fuel energy (own use counts as a loss, domain.md §2.2).
    pub plant_efficiency: Option<f64>,
    /// Heat out as the outlet meter's register increments show it, GJ.
    pub metered_heat_out_gj: Option<f64>,
}

/// A network in a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkTruth {
    /// Network id.
    pub id: String,
    /// Heat introduced, GJ.
    pub heat_in_gj: f64,
    /// Heat delivered to substations, GJ.
    pub delivered_gj: f64,
    /// Pipe heat losses, GJ.
    pub pipe_loss_gj: f64,
    /// Heat lost with leaked water, GJ.
    pub leak_loss_gj: f64,
    /// pipe + leak losses, GJ.
    pub losses_gj: f64,
    /// Change of the heat stored in the network water, GJ.
    pub storage_change_gj: f64,
    /// heat_in − delivered − losses − storage change (rounding only), GJ.
    pub balance_residual_gj: f64,
    /// (heat_in − delivered − ΔQ_stored) / heat_in × 100.
    pub transmission_loss_pct: f64,
    /// (heat_in − delivered) / heat_in × 100.
    pub loss_pct_without_storage: f64,
    /// Make-up water, m³.
    pub makeup_water_m3: f64,
    /// Σ outlet meters' register increments, GJ.
    pub metered_heat_in_gj: Option<f64>,
    /// Σ substation meters' register increments, GJ.
    pub metered_delivered_gj: Option<f64>,
    /// Loss % from the metered figures (no storage term).
    pub metered_loss_pct: Option<f64>,
}

/// A substation in a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubstationTruth {
    /// Substation id.
    pub id: String,
    /// Branch.
    pub branch: String,
    /// Heat delivered, GJ.
    pub delivered_gj: f64,
    /// Heat as the meter's register increments show it, GJ.
    pub metered_gj: Option<f64>,
    /// Water volume, m³.
    pub volume_m3: f64,
    /// Heat asked for but not delivered, GJ.
    pub unsupplied_gj: f64,
    /// Mean supply temperature while flowing, °C.
    pub mean_supply_c: Option<f64>,
    /// Mean return temperature while flowing, °C.
    pub mean_return_c: Option<f64>,
    /// Σ(V·θr)/ΣV, °C.
    pub volume_weighted_return_c: Option<f64>,
    /// Σ(V·Δθ)/ΣV, K.
    pub volume_weighted_cooling_k: Option<f64>,
}

/// A stack in a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackTruth {
    /// Stack id.
    pub id: String,
    /// Emission limits, mg/Nm³ at reference O2.
    pub limits_mg_nm3: BTreeMap<String, f64>,
    /// Hours at or above the stack's minimum load.
    pub operating_hours: u32,
    /// Operating hours with ≥ 75 % valid samples.
    pub valid_hours: u32,
    /// Operating hours without.
    pub invalid_hours: u32,
    /// Mean of validated hourly values over the month's valid operating hours, mg/Nm³.
    pub validated_monthly_mean_mg_nm3: BTreeMap<String, f64>,
    /// Per local day.
    pub days: Vec<StackDayTruth>,
    /// Valid days whose validated daily mean exceeds the daily limit.
    pub exceedance_days: Vec<ExceedanceTruth>,
    /// Days with more than 3 invalid hours.
    pub invalid_days: Vec<String>,
    /// Runs of consecutive invalid operating hours, exact to the hour.
    #[serde(default)]
    pub invalid_hour_runs: Vec<HourRunTruth>,
    /// Runs of consecutive valid operating hours whose validated value is above the ELV, per
    /// pollutant with an ELV, exact to the hour (a non-operating or invalid hour ends a run).
    #[serde(default)]
    pub elv_exceedance_runs: Vec<HourRunTruth>,
}

/// A run of consecutive local hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourRunTruth {
    /// Pollutant (exceedance runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pollutant: Option<String>,
    /// Start of the first hour, UTC ms.
    pub start_ms: i64,
    /// End of the last hour (exclusive), UTC ms.
    pub end_ms: i64,
    /// Start, RFC 3339 local.
    pub start: String,
    /// End, RFC 3339 local.
    pub end: String,
    /// Hours in the run.
    pub hours: u32,
}

impl HourRunTruth {
    /// The maximal runs of consecutive hours (`(start_ms, end_ms)`, in time order) for which
    /// `inside` holds; a gap between hours also ends a run.
    pub fn runs(
        tz: chrono_tz::Tz,
        hours: impl IntoIterator<Item = ((i64, i64), bool)>,
        pollutant: Option<&str>,
    ) -> Vec<HourRunTruth> {
        let mut out: Vec<HourRunTruth> = Vec::new();
        let mut open = false;
        for ((start, end), inside) in hours {
            if !inside {
                open = false;
                continue;
            }
            match out.last_mut() {
                Some(r) if open && r.end_ms == start => {
                    r.end_ms = end;
                    r.hours += 1;
                }
                _ => out.push(HourRunTruth {
                    pollutant: pollutant.map(str::to_string),
                    start_ms: start,
                    end_ms: end,
                    start: String::new(),
                    end: String::new(),
                    hours: 1,
                }),
            }
            open = true;
        }
        for r in &mut out {
            r.start = crate::model::time::format_local(tz, r.start_ms);
            r.end = crate::model::time::format_local(tz, r.end_ms);
        }
        out
    }
}

/// A stack on one local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackDayTruth {
    /// Local date.
    pub date: String,
    /// Hours in the day (23, 24 or 25).
    pub hours: u32,
    /// Operating hours.
    pub operating_hours: u32,
    /// Invalid operating hours.
    pub invalid_hours: u32,
    /// More than 3 invalid hours.
    pub invalid_day: bool,
    /// Validated daily mean per pollutant, mg/Nm³.
    pub validated_mean_mg_nm3: BTreeMap<String, f64>,
}

/// A daily-limit exceedance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceedanceTruth {
    /// Stack id.
    pub stack: String,
    /// Local date.
    pub date: String,
    /// Pollutant.
    pub pollutant: String,
    /// Validated daily mean, mg/Nm³.
    pub validated_daily_mean_mg_nm3: f64,
    /// Daily limit (factor × ELV), mg/Nm³.
    pub daily_limit_mg_nm3: f64,
}

/// The KPI values for a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct KpiTruth {
    /// Per unit: ΣQ / ΣE_chem.
    pub boiler_efficiency: BTreeMap<String, f64>,
    /// Per source: heat out / fuel energy.
    pub plant_efficiency: BTreeMap<String, f64>,
    /// Per network, %.
    pub transmission_loss_pct: BTreeMap<String, f64>,
    /// Days above the daily limit.
    pub emission_exceedance_days: Vec<ExceedanceTruth>,
    /// Per stack and local date: invalid operating hours (days with any).
    pub cems_invalid_hours: BTreeMap<String, BTreeMap<String, u32>>,
    /// Interruptions overlapping the month.
    pub interruptions: Vec<InterruptionTruth>,
}

/// An injected event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTruth {
    /// Event id.
    pub id: String,
    /// Kind (`interruption`, `meter_reset`, …).
    pub kind: String,
    /// Target as configured.
    pub target: String,
    /// Assets affected.
    pub assets: Vec<String>,
    /// Start, UTC ms.
    pub start_ms: i64,
    /// End (exclusive), UTC ms; equal to start for instants; absent: to the end of the run.
    pub end_ms: Option<i64>,
    /// Start, RFC 3339 local.
    pub start: String,
    /// End, RFC 3339 local.
    pub end: Option<String>,
    /// Announcement of a planned stop, UTC ms.
    pub notified_ms: Option<i64>,
    /// Announcement, RFC 3339 local.
    pub notified: Option<String>,
    /// From the built-in scenario.
    pub built_in: bool,
    /// Kind-specific parameters.
    pub details: serde_json::Value,
}

/// A substation without supply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterruptionTruth {
    /// Substation id.
    pub substation: String,
    /// Branch.
    pub branch: String,
    /// Event id.
    pub event: String,
    /// `unplanned` or `planned`.
    pub class: String,
    /// Start, UTC ms.
    pub start_ms: i64,
    /// End (exclusive), UTC ms.
    pub end_ms: i64,
    /// Start, RFC 3339 local.
    pub start: String,
    /// End, RFC 3339 local.
    pub end: String,
    /// Duration, h.
    pub duration_h: f64,
    /// Customers behind the substation.
    pub customers: u32,
    /// Ordered capacity, MW.
    pub ordered_capacity_mw: f64,
}

/// A counter that wrapped around its modulus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrapTruth {
    /// Device id.
    pub device: String,
    /// Series key.
    pub series: String,
    /// First reading after the wrap, UTC ms.
    pub at_ms: i64,
    /// RFC 3339 local.
    pub at: String,
}
