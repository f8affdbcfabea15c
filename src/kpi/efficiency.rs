//! KPI 1, efficient heat production (domain.md §2): direct-method efficiency, CHP overall
//! efficiency, primary energy savings, the uncertainty band and the plausibility rules.
//!
//! Pure formulas: energies in GJ (electricity in MWh where domain.md gives it so), results in
//! percent. No I/O; imports only `model` and the result vocabulary.
//!
//! Uncertainty propagation (domain.md §2.6 asks for a band on every direct-method value):
//! - the heat meter contributes its EN 1434 / MID MI-004 maximum permissible error
//!   `E = Ef + Et + Ec` ([`heat_meter_mpe_pct`]; the three sub-assembly MPEs add linearly, as
//!   the standard combines them for a complete meter);
//! - the fuel energy contributes the fuel-meter error and the heating-value uncertainty,
//!   combined in quadrature (independent instruments);
//! - η = Q / E_chem then has the relative uncertainty `√(u_Q² + u_E²)` (root sum of squares of
//!   independent relative errors, GUM). MPEs are bounds, not standard deviations, so the band
//!   is a "maximum plausible" band rather than a 95 % interval; a linear sum `u_Q + u_E` would
//!   be the worst case and is not used because two independent meters rarely err fully in
//!   opposite directions at once.

use super::result::Irregularity;
use super::threshold::beyond;
use crate::model::asset::{Direction, Fuel};
use crate::model::quantity::GJ_PER_MWH;
use crate::model::time::Window;

/// LHV from an HHV (gas-invoice basis): `LHV = factor × HHV`, 0.90 for high-methane gas
/// (domain.md §2.2).
pub fn hhv_to_lhv(hhv: f64, factor: f64) -> f64 {
    hhv * factor
}

/// Fuel burnt in a period: quantity and heating value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FuelInput {
    /// B: t (solid, liquid) or Nm³ (gas).
    pub quantity: f64,
    /// W: GJ/t or GJ/Nm³ as received.
    pub heating_value: f64,
    /// Whether `heating_value` is an HHV (converted with the HHV → LHV factor).
    pub hhv_basis: bool,
}

/// `E_chem [GJ] = B × W_d` on the LHV basis (domain.md §2.2).
pub fn fuel_energy_gj(fuel: &FuelInput, hhv_to_lhv_factor: f64) -> f64 {
    let lhv = if fuel.hhv_basis {
        hhv_to_lhv(fuel.heating_value, hhv_to_lhv_factor)
    } else {
        fuel.heating_value
    };
    fuel.quantity * lhv
}

/// `useful / input × 100`, or `None` when no fuel was burnt.
pub fn ratio_pct(useful_gj: f64, input_gj: f64) -> Option<f64> {
    (input_gj > 0.0).then(|| useful_gj / input_gj * 100.0)
}

/// Boiler efficiency `η = Q / E_chem` (domain.md §2.2).
pub fn boiler_efficiency_pct(heat_gj: f64, fuel_gj: f64) -> Option<f64> {
    ratio_pct(heat_gj, fuel_gj)
}

/// Plant efficiency `η = (Q_into_network + ΔE_storage) / E_chem`: own use counts as a loss,
/// and charging the accumulator is output (domain.md §2.2, §2.6).
pub fn plant_efficiency_pct(network_gj: f64, storage_delta_gj: f64, fuel_gj: f64) -> Option<f64> {
    ratio_pct(network_gj + storage_delta_gj, fuel_gj)
}

/// CHP overall efficiency `η_tot = (E_el × 3.6 + Q) / E_chem`, E_el gross in MWh.
pub fn chp_total_efficiency_pct(el_mwh: f64, heat_gj: f64, fuel_gj: f64) -> Option<f64> {
    ratio_pct(el_mwh * GJ_PER_MWH + heat_gj, fuel_gj)
}

/// Energy-weighted efficiency over parts (months, units, fuels): `Σ useful / Σ input`
/// (domain.md §2.4: never the average of the parts' ratios).
pub fn energy_weighted_pct(parts: &[(f64, f64)]) -> Option<f64> {
    let (u, i) = parts
        .iter()
        .fold((0.0, 0.0), |(u, i), (pu, pi)| (u + pu, i + pi));
    ratio_pct(u, i)
}

/// Harmonised reference efficiencies for one fuel (domain.md §2.2; Delegated Regulation (EU)
/// 2015/2402 Annex I as amended, Annex II for heat).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceEfficiency {
    /// Fuel.
    pub fuel: Fuel,
    /// Ref_Eη, %: built before 2016, 2016–2023, from 2024.
    pub electric_pct: [f64; 3],
    /// Ref_Hη for hot water, %.
    pub heat_pct: f64,
}

/// The table of domain.md §2.2. Biomass takes the "dry biomass" (S4) row, the higher and so
/// more demanding reference; wet wood chips (S5: 25 / 30 / 30 %) need a configured row. Oil
/// has no row in domain.md, so PES is not computed for oil-fired units until one is configured.
pub fn default_reference_table() -> Vec<ReferenceEfficiency> {
    vec![
        ReferenceEfficiency {
            fuel: Fuel::NaturalGas,
            electric_pct: [52.5, 53.0, 53.0],
            heat_pct: 92.0,
        },
        ReferenceEfficiency {
            fuel: Fuel::Coal,
            electric_pct: [44.2, 44.2, 53.0],
            heat_pct: 88.0,
        },
        ReferenceEfficiency {
            fuel: Fuel::Biomass,
            electric_pct: [33.0, 37.0, 37.0],
            heat_pct: 86.0,
        },
    ]
}

/// `(Ref_Eη, Ref_Hη)` in % for `fuel` and the year of construction, with the climate
/// correction (percentage points added) and the grid-loss factor (multiplied) applied to
/// Ref_Eη.
pub fn reference_for(
    table: &[ReferenceEfficiency],
    fuel: Fuel,
    year_built: i32,
    climate_pp: f64,
    grid_loss_factor: f64,
) -> Option<(f64, f64)> {
    let row = table.iter().find(|r| r.fuel == fuel)?;
    let column = match year_built {
        ..=2015 => 0,
        2016..=2023 => 1,
        _ => 2,
    };
    Some((
        (row.electric_pct[column] + climate_pp) * grid_loss_factor,
        row.heat_pct,
    ))
}

/// Primary energy savings of cogeneration (EED 2012/27/EU Annex II, domain.md §2.2 \[R\]):
/// `PES = (1 − 1 / (CHP_Hη / Ref_Hη + CHP_Eη / Ref_Eη)) × 100 %` with
/// `CHP_Hη = Q / E_chem` and `CHP_Eη = E_el / E_chem`.
pub fn pes_pct(
    heat_gj: f64,
    el_mwh: f64,
    fuel_gj: f64,
    ref_h_pct: f64,
    ref_e_pct: f64,
) -> Option<f64> {
    if fuel_gj <= 0.0 || ref_h_pct <= 0.0 || ref_e_pct <= 0.0 {
        return None;
    }
    let chp_h = heat_gj / fuel_gj;
    let chp_e = el_mwh * GJ_PER_MWH / fuel_gj;
    let sum = chp_h / (ref_h_pct / 100.0) + chp_e / (ref_e_pct / 100.0);
    (sum > 0.0).then(|| (1.0 - 1.0 / sum) * 100.0)
}

/// Maximum permissible error of a complete heat meter, % of the measured energy
/// (domain.md §4.2 after EN 1434-1 / MID MI-004): `E = Ef + Et + Ec` with
/// - calculator `Ec = 0.5 + Δθmin/Δθ`,
/// - sensor pair `Et = 0.5 + 3·Δθmin/Δθ`,
/// - flow sensor class 1 `Ef = 1 + 0.01·q_p/q` (≤ 3.5), class 2 `2 + 0.02·q_p/q` (≤ 5),
///   class 3 `3 + 0.05·q_p/q` (≤ 5).
///
/// `None` for an unknown class or a non-positive Δθ.
pub fn heat_meter_mpe_pct(
    class: u8,
    delta_theta_k: f64,
    delta_theta_min_k: f64,
    qp_over_q: f64,
) -> Option<f64> {
    if delta_theta_k <= 0.0 {
        return None;
    }
    let r = delta_theta_min_k / delta_theta_k;
    let ec = 0.5 + r;
    let et = 0.5 + 3.0 * r;
    let ef = match class {
        1 => (1.0 + 0.01 * qp_over_q).min(3.5),
        2 => (2.0 + 0.02 * qp_over_q).min(5.0),
        3 => (3.0 + 0.05 * qp_over_q).min(5.0),
        _ => return None,
    };
    Some(ef + et + ec)
}

/// Root sum of squares of independent relative uncertainties (%).
pub fn rss(parts: &[f64]) -> f64 {
    parts.iter().map(|u| u * u).sum::<f64>().sqrt()
}

/// Relative uncertainty (%) of a sum of independently measured energies `(energy, u_pct)`:
/// `√Σ(E_i·u_i)² / ΣE_i`.
pub fn sum_uncertainty_pct(parts: &[(f64, f64)]) -> Option<f64> {
    let total: f64 = parts.iter().map(|(e, _)| e).sum();
    (total > 0.0).then(|| {
        parts
            .iter()
            .map(|(e, u)| (e * u) * (e * u))
            .sum::<f64>()
            .sqrt()
            / total
    })
}

/// The band `value × (1 ± u/100)`.
pub fn band(value: f64, u_pct: f64) -> (f64, f64) {
    (value * (1.0 - u_pct / 100.0), value * (1.0 + u_pct / 100.0))
}

/// The plausibility rule of domain.md §2.6: above 100 % on the LHV basis is possible only with
/// condensing equipment; otherwise it is a data error (fuel meter, LHV given as HHV, heat-meter
/// scaling), reported as "standard not followed" and the value is not judged.
pub fn plausibility(kpi: &str, eta_pct: f64, condensing: bool) -> Option<Irregularity> {
    if eta_pct <= 100.0 || condensing {
        return None;
    }
    Some(Irregularity::not_followed(
        "domain.md §2.6 (η ≤ 100 % LHV without condensing equipment)",
        format!(
            "{kpi} = {eta_pct:.2} % on the LHV basis without condensing equipment: a data error; check the fuel meter, whether the heating value is an HHV (gas invoice), the heat-meter scaling (MWh shown as GJ), or set `condensing = true` if the unit has a flue-gas condenser"
        ),
    ))
}

/// Mean load as a share of rated output: `Q / (P_rated × 3.6 GJ/MWh × hours)`.
pub fn load_share(heat_gj: f64, rated_heat_mw: f64, hours: f64) -> Option<f64> {
    let cap = rated_heat_mw * GJ_PER_MWH * hours;
    (cap > 0.0).then(|| heat_gj / cap)
}

/// Heat and fuel energy of one hour (from register differences).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourEnergy {
    /// The hour.
    pub window: Window,
    /// Heat delivered, GJ (`None` when unknown).
    pub heat_gj: Option<f64>,
    /// Fuel energy burnt, GJ (`None` when unknown).
    pub fuel_gj: Option<f64>,
}

/// A run of consecutive hot-standby hours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StandbyRun {
    /// From the first hour's start to the last hour's end.
    pub window: Window,
    /// Hours in the run.
    pub hours: u32,
    /// Fuel burnt in the run, GJ (kept in E_chem: it is a real loss, domain.md §2.6).
    pub fuel_gj: f64,
}

/// Hot-standby hours (domain.md §2.6): fuel burnt while the heat output stays below
/// `max_heat_share` of the rated output, merged into runs of consecutive hours.
pub fn hot_standby(
    hours: &[HourEnergy],
    rated_heat_mw: f64,
    max_heat_share: f64,
) -> Vec<StandbyRun> {
    let mut runs: Vec<StandbyRun> = Vec::new();
    for h in hours {
        let (Some(fuel), Some(heat)) = (h.fuel_gj, h.heat_gj) else {
            continue;
        };
        let hour_h = h.window.len_ms() as f64 / 3_600_000.0;
        let floor_gj = max_heat_share * rated_heat_mw * GJ_PER_MWH * hour_h;
        if fuel <= 0.0 || !beyond(heat, floor_gj, Direction::Min) {
            continue;
        }
        match runs.last_mut() {
            Some(r) if r.window.end == h.window.start => {
                r.window.end = h.window.end;
                r.hours += 1;
                r.fuel_gj += fuel;
            }
            _ => runs.push(StandbyRun {
                window: h.window,
                hours: 1,
                fuel_gj: fuel,
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::counter::delta_of;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn fuel_energy_on_the_lhv_basis() {
        // 100 000 Nm³ × 0.0355 GJ/Nm³ (35.5 MJ/Nm³ LHV) = 3550 GJ
        let lhv = FuelInput {
            quantity: 100_000.0,
            heating_value: 0.0355,
            hhv_basis: false,
        };
        close(fuel_energy_gj(&lhv, 0.9), 3550.0, 1e-9);
        // An invoice HHV of 39.4 MJ/Nm³ × 0.90 = 35.46 MJ/Nm³ → 100 000 × 0.03546 = 3546 GJ
        let hhv = FuelInput {
            quantity: 100_000.0,
            heating_value: 0.0394,
            hhv_basis: true,
        };
        close(fuel_energy_gj(&hhv, 0.9), 3546.0, 1e-9);
        // Coal: 120 t × 22.5 GJ/t = 2700 GJ
        let coal = FuelInput {
            quantity: 120.0,
            heating_value: 22.5,
            hhv_basis: false,
        };
        close(fuel_energy_gj(&coal, 0.9), 2700.0, 1e-9);
    }

    #[test]
    fn energy_weighted_efficiency_differs_from_the_average_of_ratios() {
        // October: Q = 900 GJ, E = 1000 GJ → 90 %. July (DHW only): Q = 60 GJ, E = 100 GJ → 60 %.
        let months = [(900.0, 1000.0), (60.0, 100.0)];
        // Energy-weighted: (900 + 60) / (1000 + 100) = 960 / 1100 = 87.2727 %
        close(
            energy_weighted_pct(&months).unwrap(),
            87.272_727_272_7,
            1e-9,
        );
        // The average of ratios would be (90 + 60) / 2 = 75 % — 12.27 pp too low.
        let avg = months.iter().map(|(q, e)| q / e * 100.0).sum::<f64>() / 2.0;
        close(avg, 75.0, 1e-12);
        assert!((energy_weighted_pct(&months).unwrap() - avg).abs() > 12.0);
        assert_eq!(energy_weighted_pct(&[(0.0, 0.0)]), None);
    }

    #[test]
    fn efficiency_with_a_heat_meter_reset_inside_the_month() {
        // Heat register, GJ: 5000 → 5400 (+400), reset to 0.5 (≤ 1 % of 5400: boundary interval
        // excluded, domain.md §8), 0.5 → 300.5 (+300): Q = 700 GJ.
        let heat = delta_of([(0, 5000.0), (1, 5400.0), (2, 0.5), (3, 300.5)], None);
        close(heat.delta, 700.0, 1e-9);
        assert_eq!(heat.resets, 1);
        // Gas register, Nm³: 200 000 → 222 000 = 22 000 Nm³ × 0.0355 GJ/Nm³ = 781 GJ.
        let gas = delta_of([(0, 200_000.0), (3, 222_000.0)], None);
        let e = fuel_energy_gj(
            &FuelInput {
                quantity: gas.delta,
                heating_value: 0.0355,
                hhv_basis: false,
            },
            0.9,
        );
        close(e, 781.0, 1e-9);
        // η = 700 / 781 = 89.6287 %
        close(
            boiler_efficiency_pct(heat.delta, e).unwrap(),
            89.628_681_178,
            1e-6,
        );
    }

    #[test]
    fn plant_and_chp_efficiencies() {
        // Plant: Q into network 9000 GJ, accumulator charged by 200 GJ, fuel 10 000 GJ:
        // (9000 + 200) / 10 000 = 92 % (90 % if the charge were ignored).
        close(
            plant_efficiency_pct(9000.0, 200.0, 10_000.0).unwrap(),
            92.0,
            1e-9,
        );
        // CHP: E_el 100 MWh × 3.6 = 360 GJ, Q 450 GJ, fuel 1000 GJ: (360 + 450) / 1000 = 81 %
        close(
            chp_total_efficiency_pct(100.0, 450.0, 1000.0).unwrap(),
            81.0,
            1e-9,
        );
        assert_eq!(boiler_efficiency_pct(10.0, 0.0), None);
    }

    #[test]
    fn pes_of_a_gas_engine() {
        let table = default_reference_table();
        // Gas engine built 2018: Ref_Eη 53.0 %, Ref_Hη 92 %.
        let (re, rh) = reference_for(&table, Fuel::NaturalGas, 2018, 0.0, 1.0).unwrap();
        assert_eq!((re, rh), (53.0, 92.0));
        // CHP_Hη = 450/1000 = 0.45; CHP_Eη = 360/1000 = 0.36 (100 MWh × 3.6 GJ/MWh)
        // 0.45/0.92 + 0.36/0.53 = 0.489130 + 0.679245 = 1.168376
        // PES = 1 − 1/1.168376 = 1 − 0.855889 = 14.4111 %
        close(
            pes_pct(450.0, 100.0, 1000.0, rh, re).unwrap(),
            14.411_093_558,
            1e-6,
        );
        // The same engine built in 2012: Ref_Eη 52.5 % → 0.45/0.92 + 0.36/0.525 = 1.174845
        // PES = 1 − 1/1.174845 = 14.8824 %
        let (re12, _) = reference_for(&table, Fuel::NaturalGas, 2012, 0.0, 1.0).unwrap();
        close(
            pes_pct(450.0, 100.0, 1000.0, rh, re12).unwrap(),
            14.882_368_491,
            1e-6,
        );
        // Coal built 2024: 53.0 %; dry biomass built 2015: 33.0 %; oil: not in domain.md.
        assert_eq!(
            reference_for(&table, Fuel::Coal, 2024, 0.0, 1.0).unwrap().0,
            53.0
        );
        assert_eq!(
            reference_for(&table, Fuel::Biomass, 2015, 0.0, 1.0)
                .unwrap()
                .0,
            33.0
        );
        assert_eq!(reference_for(&table, Fuel::Oil, 2015, 0.0, 1.0), None);
        // Corrections: (53.0 + 0.5 pp) × 0.945 = 50.5575 %
        close(
            reference_for(&table, Fuel::NaturalGas, 2020, 0.5, 0.945)
                .unwrap()
                .0,
            50.5575,
            1e-9,
        );
    }

    #[test]
    fn heat_meter_mpe_and_the_efficiency_band() {
        // Class 2, Δθ = 30 K, Δθmin = 3 K, q_p/q = 2:
        // Ec = 0.5 + 3/30 = 0.6; Et = 0.5 + 3·3/30 = 0.8; Ef = 2 + 0.02·2 = 2.04; E = 3.44 %
        close(heat_meter_mpe_pct(2, 30.0, 3.0, 2.0).unwrap(), 3.44, 1e-12);
        // Class 1: Ef = 1 + 0.02 = 1.02 → 2.42 %; class 3: Ef = 3 + 0.1 = 3.1 → 4.5 %
        close(heat_meter_mpe_pct(1, 30.0, 3.0, 2.0).unwrap(), 2.42, 1e-12);
        close(heat_meter_mpe_pct(3, 30.0, 3.0, 2.0).unwrap(), 4.5, 1e-12);
        // Flow-sensor cap: class 2 at q_p/q = 200 → 2 + 4 = 6, capped at 5 → 5 + 0.8 + 0.6 = 6.4 %
        close(heat_meter_mpe_pct(2, 30.0, 3.0, 200.0).unwrap(), 6.4, 1e-12);
        assert_eq!(heat_meter_mpe_pct(4, 30.0, 3.0, 2.0), None);
        // η = 90 %, u_Q = 3.44 %, fuel: gas meter 1.0 % and LHV 0.5 %:
        // u_η = √(3.44² + 1.0² + 0.5²) = √13.0836 = 3.6171 % → 90 × (1 ∓ 0.036171)
        let u = rss(&[3.44, rss(&[1.0, 0.5])]);
        close(u, 3.617_125_931, 1e-8);
        let (lo, hi) = band(90.0, u);
        close(lo, 86.744_586_662, 1e-6);
        close(hi, 93.255_413_338, 1e-6);
        // Two outlet meters, 6000 GJ at 3 % and 2000 GJ at 4 %:
        // √((180)² + (80)²) / 8000 = √(32400 + 6400) / 8000 = 196.977 / 8000 = 2.4622 %
        close(
            sum_uncertainty_pct(&[(6000.0, 3.0), (2000.0, 4.0)]).unwrap(),
            2.462_214_450,
            1e-8,
        );
    }

    #[test]
    fn above_100_percent_is_a_data_error_without_condensing_equipment() {
        let i = plausibility("boiler_efficiency", 103.2, false).unwrap();
        assert_eq!(i.kind, crate::kpi::result::IrregularityKind::NotFollowed);
        assert!(i.message.contains("103.20 %"));
        assert!(plausibility("boiler_efficiency", 103.2, true).is_none());
        assert!(plausibility("boiler_efficiency", 100.0, false).is_none());
    }

    #[test]
    fn hot_standby_hours_are_tagged_in_runs() {
        // Rated 10 MW, share 0.02: the floor is 0.02 × 10 MW × 3.6 GJ/MWh × 1 h = 0.72 GJ/h.
        let h = |i: i64, heat: f64, fuel: f64| HourEnergy {
            window: Window::new(i * 3_600_000, (i + 1) * 3_600_000),
            heat_gj: Some(heat),
            fuel_gj: Some(fuel),
        };
        let hours = [
            h(0, 30.0, 33.0), // producing
            h(1, 0.5, 2.0),   // standby
            h(2, 0.0, 1.8),   // standby (joins the run)
            h(3, 0.0, 0.0),   // off: no fuel
            h(4, 0.7, 1.0),   // standby: 0.7 < 0.72
            h(5, 0.72, 1.0),  // at the floor: producing
        ];
        let runs = hot_standby(&hours, 10.0, 0.02);
        assert_eq!(runs.len(), 2);
        assert_eq!(
            (runs[0].hours, runs[0].window),
            (2, Window::new(3_600_000, 3 * 3_600_000))
        );
        close(runs[0].fuel_gj, 3.8, 1e-12); // 2.0 + 1.8
        assert_eq!(runs[1].hours, 1);
        // Load: 720 GJ in 24 h at 10 MW rated = 720 / (10 × 3.6 × 24 = 864) = 83.33 %
        close(load_share(720.0, 10.0, 24.0).unwrap(), 0.833_333_333, 1e-9);
    }
}
