//! KPI 2, emission limits (domain.md §3.2–3.4): normalisation of measured concentrations and
//! the validated hourly value.
//!
//! Order of the calculation for one stack, pollutant and hour:
//! 1. the hourly means of the CEMS raw values (valid raw values only) — an operating hour is
//!    valid if at least `min_valid_share` (75 % \[P\]) of its expected raw values of both the
//!    pollutant and O2 are valid, since the reference-O2 correction needs both; maintenance,
//!    calibration and fault values are not valid (`model::Quality::is_valid`);
//! 2. non-operating hours are excluded (not invalid), and so are start-up and shut-down hours
//!    (load below the stack's `min_load_share`, Implementing Decision 2012/249/EU \[R\]);
//! 3. wet → dry (`C_dry = C_wet × 100 / (100 − H2O)`), for analysers that measure wet;
//! 4. reference O2: `C_ref = C_dry × (O2_air − O2_ref) / (O2_air − O2_meas)`, with O2_air 21
//!    (IED) or 20.9 recorded per stack. The measured O2 used is capped at `cap_pct` (19 % by
//!    default \[P\], domain.md §3.6): near 21 % the factor explodes, e.g. 15 / 0.5 = 30 at 20.5 %
//!    O2 for a coal plant; with the cap it is at most (21 − O2_ref)/(21 − 19), i.e. 7.5 for
//!    O2_ref 6 %, 9 for 3 % and 3 for 15 %. Capped hours are counted in the details;
//! 5. the validated hourly value (domain.md §3.4 point 2) on the selected basis.
//!
//! The correction is applied to hourly means of concentration and O2 (product of means, not
//! mean of products): within-hour O2 swings make a second-order difference that operating
//! plants keep small; the store keeps hourly rollups, so every period can be recomputed from
//! them after raw data has been thinned.
//!
//! Pure formulas; imports only `model` and the result vocabulary.

use crate::model::asset::Pollutant;
use crate::model::time::Window;

/// `C_dry = C_wet × 100 / (100 − H2O_vol%)` (domain.md §3.2 point 1); also for wet O2.
/// `None` when the water content is not in `[0, 100)`.
pub fn wet_to_dry(c_wet: f64, h2o_pct: f64) -> Option<f64> {
    (0.0..100.0)
        .contains(&h2o_pct)
        .then(|| c_wet * 100.0 / (100.0 - h2o_pct))
}

/// `C [mg/Nm³] = C_ppm × M / 22.414` (domain.md §3.2 point 2, NOx as NO2); `None` for dust.
pub fn ppm_to_mg_per_nm3(pollutant: Pollutant, ppm: f64) -> Option<f64> {
    crate::model::quantity::ppm_to_mg_per_nm3(pollutant.quantity(), ppm)
}

/// The reference-oxygen rule of a stack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct O2Reference {
    /// O2_ref, % (6 solid fuels, 3 gas and oil boilers, 15 turbines and engines).
    pub reference_pct: f64,
    /// The O2 constant of the formula: 21 (IED) or 20.9.
    pub air_pct: f64,
    /// Highest measured O2 used in the correction, %.
    pub cap_pct: f64,
}

impl O2Reference {
    /// The largest correction factor the cap allows: `(O2_air − O2_ref)/(O2_air − cap)`.
    pub fn max_factor(&self) -> f64 {
        (self.air_pct - self.reference_pct) / (self.air_pct - self.cap_pct)
    }
}

/// A concentration at reference O2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalised {
    /// C_ref, mg/Nm³ dry at O2_ref.
    pub c_ref: f64,
    /// The factor applied.
    pub factor: f64,
    /// Whether the measured O2 was above the cap (the capped O2 was used).
    pub capped: bool,
}

/// `C_ref = C_meas,dry × (O2_air − O2_ref) / (O2_air − min(O2_meas,dry, cap))`
/// (domain.md §3.2 point 3, §3.6). `None` when the rule cannot work (cap at or above O2_air).
pub fn to_reference_o2(c_dry: f64, o2_dry_pct: f64, r: &O2Reference) -> Option<Normalised> {
    if r.cap_pct >= r.air_pct {
        return None;
    }
    let capped = o2_dry_pct > r.cap_pct;
    let o2 = o2_dry_pct.min(r.cap_pct);
    let factor = (r.air_pct - r.reference_pct) / (r.air_pct - o2);
    Some(Normalised {
        c_ref: c_dry * factor,
        factor,
        capped,
    })
}

/// `E [kg/h] = C_meas,dry [mg/Nm³ at actual O2] × Q_fg,dry [Nm³/h at actual O2] × 10⁻⁶`
/// (domain.md §3.2 point 4). Both at actual O2: never combine C_ref with the actual flow.
pub fn mass_emission_kg_h(c_dry_actual_mg_nm3: f64, flow_dry_actual_nm3_h: f64) -> f64 {
    c_dry_actual_mg_nm3 * flow_dry_actual_nm3_h * 1e-6
}

/// Emission factor `g/GJ = E [kg/h] × 1000 / (fuel power [MW] × 3.6 GJ/h per MW)`.
pub fn emission_factor_g_per_gj(kg_h: f64, fuel_power_mw: f64) -> Option<f64> {
    (fuel_power_mw > 0.0).then(|| kg_h * 1000.0 / (fuel_power_mw * 3.6))
}

/// What the confidence interval is a share of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiBasis {
    /// IED Annex V Part 3: `V = max(0, C_ref − min(U_QAL2, share × ELV))`.
    ShareOfElv,
    /// Dz.U. 2024 poz. 400 § 4(3): `V = C_ref − min(U_QAL2, share × C_ref)`.
    ShareOfMeasured,
}

/// The confidence-interval rule of one stack and pollutant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CiRule {
    /// Basis.
    pub basis: CiBasis,
    /// Share (0.20 = 20 %): CO 10 %, SO2 20 %, NOx 20 %, dust 30 % by default.
    pub share: f64,
    /// Uncertainty from QAL2 (EN 14181), mg/Nm³, where known: the smaller interval is taken.
    pub qal2_mg_nm3: Option<f64>,
}

/// The interval subtracted from `c_ref` (mg/Nm³); `None` on the ELV basis without an ELV.
pub fn confidence_interval(c_ref: f64, elv: Option<f64>, rule: &CiRule) -> Option<f64> {
    let share_based = match rule.basis {
        CiBasis::ShareOfElv => rule.share * elv?,
        CiBasis::ShareOfMeasured => rule.share * c_ref.max(0.0),
    };
    Some(match rule.qal2_mg_nm3 {
        Some(u) => share_based.min(u),
        None => share_based,
    })
}

/// The validated hourly value `max(0, C_ref − CI)` (domain.md §3.4 point 2; negative values
/// left by the subtraction are clipped to 0, §3.6).
pub fn validated_hourly(c_ref: f64, elv: Option<f64>, rule: &CiRule) -> Option<f64> {
    confidence_interval(c_ref, elv, rule).map(|ci| (c_ref - ci).max(0.0))
}

/// What the plant was doing in an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantState {
    /// Not firing (excluded from every count).
    NotOperating,
    /// Firing below the start-up/shut-down load (excluded from every count).
    StartupShutdown,
    /// Normal operation.
    Operating,
    /// No plant-state data: treated as operating when the analysers delivered anything (even
    /// values flagged maintenance or fault), so that missing or bad CEMS data counts as invalid
    /// rather than disappearing from the statistics; with nothing at all from the analysers
    /// either, the hour is `Unclassified`.
    Unknown,
}

/// The hourly means and counts of one stack, pollutant and hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawHour {
    /// The hour.
    pub window: Window,
    /// Plant state.
    pub state: PlantState,
    /// Raw values expected in the hour (60 for 1-minute values).
    pub expected: u32,
    /// Valid raw values of the pollutant.
    pub valid: u32,
    /// Valid raw values of O2.
    pub o2_valid: u32,
    /// Raw values of any quality received from the pollutant and O2 analysers.
    pub received: u32,
    /// Mean of the valid pollutant values, mg/Nm³ at measured O2 (dry, or wet if `wet`).
    pub conc: Option<f64>,
    /// Mean of the valid O2 values, % (dry, or wet if `wet`).
    pub o2: Option<f64>,
    /// Mean water vapour, % vol (needed when `wet`).
    pub h2o: Option<f64>,
    /// Whether the analysers measure wet gas.
    pub wet: bool,
    /// Mean dry flue-gas flow at actual O2, Nm³/h, if measured.
    pub flow: Option<f64>,
}

/// How an hour counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HourClass {
    /// Not operating: excluded.
    NotOperating,
    /// Start-up or shut-down: excluded.
    StartupShutdown,
    /// Operating, but the CEMS data do not make a valid hour: counts towards invalid days.
    Invalid,
    /// A valid hourly average.
    Valid,
    /// Neither plant-state data nor any analyser value: whether the plant operated is unknown.
    /// Excluded from the IED counts, reported as an irregularity and as lower completeness.
    Unclassified,
}

/// The evaluated hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourValue {
    /// The hour.
    pub window: Window,
    /// How it counts.
    pub class: HourClass,
    /// The smaller of the pollutant's and O2's valid shares (0–1).
    pub valid_share: f64,
    /// C_ref, mg/Nm³ (valid hours).
    pub c_ref: Option<f64>,
    /// The validated hourly value, mg/Nm³ (valid hours with a defined interval).
    pub validated: Option<f64>,
    /// Whether the O2 cap was applied.
    pub o2_capped: bool,
    /// Mass emission, kg/h (valid hours with a flow).
    pub mass_kg_h: Option<f64>,
    /// Why an operating hour is invalid.
    pub invalid_reason: Option<&'static str>,
}

/// The rules for the hours of one stack and pollutant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourRules {
    /// Reference-O2 rule.
    pub o2: O2Reference,
    /// ELV at reference O2, mg/Nm³ (none for CO at an MCP).
    pub elv: Option<f64>,
    /// Confidence-interval rule.
    pub ci: CiRule,
    /// Share of valid raw values for a valid hour (0.75).
    pub min_valid_share: f64,
}

/// Evaluate one hour (steps 1–5 of the module documentation).
pub fn hour_value(raw: &RawHour, rules: &HourRules) -> HourValue {
    let share = |n: u32| {
        if raw.expected == 0 {
            0.0
        } else {
            (n as f64 / raw.expected as f64).min(1.0)
        }
    };
    let mut v = HourValue {
        window: raw.window,
        class: HourClass::Invalid,
        valid_share: share(raw.valid).min(share(raw.o2_valid)),
        c_ref: None,
        validated: None,
        o2_capped: false,
        mass_kg_h: None,
        invalid_reason: None,
    };
    match raw.state {
        PlantState::NotOperating => {
            v.class = HourClass::NotOperating;
            return v;
        }
        PlantState::StartupShutdown => {
            v.class = HourClass::StartupShutdown;
            return v;
        }
        PlantState::Unknown if raw.received == 0 => {
            v.class = HourClass::Unclassified;
            return v;
        }
        PlantState::Operating | PlantState::Unknown => {}
    }
    let invalid = |mut v: HourValue, why: &'static str| {
        v.invalid_reason = Some(why);
        v
    };
    // The 1e-12 keeps 45 of 60 values (exactly 75 %) valid despite rounding.
    if v.valid_share + 1e-12 < rules.min_valid_share {
        return invalid(
            v,
            "fewer valid raw values than the hourly validity rule requires",
        );
    }
    let (Some(conc), Some(o2)) = (raw.conc, raw.o2) else {
        return invalid(v, "no valid pollutant or O2 mean");
    };
    let (c_dry, o2_dry) = if raw.wet {
        let Some(h2o) = raw.h2o else {
            return invalid(v, "wet analyser without a water-vapour value");
        };
        match (wet_to_dry(conc, h2o), wet_to_dry(o2, h2o)) {
            (Some(c), Some(o)) => (c, o),
            _ => return invalid(v, "water-vapour value outside 0–100 %"),
        }
    } else {
        (conc, o2)
    };
    let Some(n) = to_reference_o2(c_dry, o2_dry, &rules.o2) else {
        return invalid(v, "O2 cap at or above the O2 constant");
    };
    v.class = HourClass::Valid;
    v.c_ref = Some(n.c_ref);
    v.o2_capped = n.capped;
    v.validated = validated_hourly(n.c_ref, rules.elv, &rules.ci);
    v.mass_kg_h = raw.flow.map(|q| mass_emission_kg_h(c_dry, q));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    fn coal() -> O2Reference {
        O2Reference {
            reference_pct: 6.0,
            air_pct: 21.0,
            cap_pct: 19.0,
        }
    }

    #[test]
    fn unit_conversions() {
        // NOx 100 ppm × 46.0055 / 22.414 = 205.2534 mg/Nm³ (factor ≈ 2.05, domain.md §3.2)
        close(
            ppm_to_mg_per_nm3(Pollutant::Nox, 100.0).unwrap(),
            205.253_413_045,
            1e-6,
        );
        // SO2 50 ppm × 64.066 / 22.414 = 142.9151 mg/Nm³ (factor ≈ 2.86)
        close(
            ppm_to_mg_per_nm3(Pollutant::So2, 50.0).unwrap(),
            142.915_142_322,
            1e-6,
        );
        // CO 80 ppm × 28.010 / 22.414 = 99.9732 mg/Nm³ (factor ≈ 1.25)
        close(
            ppm_to_mg_per_nm3(Pollutant::Co, 80.0).unwrap(),
            99.973_231_016,
            1e-6,
        );
        assert_eq!(ppm_to_mg_per_nm3(Pollutant::Dust, 1.0), None);
        // Wet → dry: 180 mg/Nm³ wet at 10 % H2O → 180 × 100 / 90 = 200 mg/Nm³ dry
        close(wet_to_dry(180.0, 10.0).unwrap(), 200.0, 1e-12);
        // O2 8.1 % wet at 10 % H2O → 8.1 × 100 / 90 = 9 % dry
        close(wet_to_dry(8.1, 10.0).unwrap(), 9.0, 1e-12);
        assert_eq!(wet_to_dry(1.0, 100.0), None);
        // Mass: 200 mg/Nm³ × 50 000 Nm³/h × 10⁻⁶ = 10 kg/h
        close(mass_emission_kg_h(200.0, 50_000.0), 10.0, 1e-12);
        // Factor: 10 kg/h = 10 000 g/h over 20 MW × 3.6 = 72 GJ/h → 138.89 g/GJ
        close(
            emission_factor_g_per_gj(10.0, 20.0).unwrap(),
            138.888_888_889,
            1e-6,
        );
    }

    #[test]
    fn reference_oxygen_with_21_and_20_9_and_the_cap() {
        // Coal, O2_ref 6 %, measured 250 mg/Nm³ at 9 % O2: (21 − 6)/(21 − 9) = 15/12 = 1.25
        // → 250 × 1.25 = 312.5 mg/Nm³
        let n = to_reference_o2(250.0, 9.0, &coal()).unwrap();
        close(n.c_ref, 312.5, 1e-12);
        assert!(!n.capped);
        // With 20.9: (20.9 − 6)/(20.9 − 9) = 14.9/11.9 = 1.252101 → 313.0252 mg/Nm³
        let r209 = O2Reference {
            air_pct: 20.9,
            ..coal()
        };
        close(
            to_reference_o2(250.0, 9.0, &r209).unwrap().c_ref,
            313.025_210_084,
            1e-6,
        );
        // Gas boiler, O2_ref 3 %, 80 mg/Nm³ at 5 % O2: (21 − 3)/(21 − 5) = 18/16 = 1.125 → 90
        let gas = O2Reference {
            reference_pct: 3.0,
            ..coal()
        };
        close(to_reference_o2(80.0, 5.0, &gas).unwrap().c_ref, 90.0, 1e-12);
        // Below reference O2 the factor is < 1: 15/(21 − 4) = 0.882353 → 100 → 88.2353
        close(
            to_reference_o2(100.0, 4.0, &coal()).unwrap().c_ref,
            88.235_294_118,
            1e-6,
        );
        // Purge at 20.5 % O2: uncapped 15/0.5 = 30; capped at 19 %: 15/2 = 7.5 → 10 × 7.5 = 75
        let n = to_reference_o2(10.0, 20.5, &coal()).unwrap();
        assert!(n.capped);
        close(n.factor, 7.5, 1e-12);
        close(n.c_ref, 75.0, 1e-12);
        close(coal().max_factor(), 7.5, 1e-12);
        // At the cap itself the measured value is used (not capped).
        assert!(!to_reference_o2(10.0, 19.0, &coal()).unwrap().capped);
    }

    #[test]
    fn validated_hourly_value_on_both_bases() {
        // NOx, ELV 300, CI 20 % of the ELV = 60 mg/Nm³
        let elv = Some(300.0);
        let on_elv = CiRule {
            basis: CiBasis::ShareOfElv,
            share: 0.20,
            qal2_mg_nm3: None,
        };
        // 312.5 − 60 = 252.5
        close(validated_hourly(312.5, elv, &on_elv).unwrap(), 252.5, 1e-12);
        // 40 − 60 = −20 → clipped to 0 (domain.md §3.6)
        assert_eq!(validated_hourly(40.0, elv, &on_elv), Some(0.0));
        // QAL2 uncertainty 45 < 60 → 312.5 − 45 = 267.5
        let qal2 = CiRule {
            qal2_mg_nm3: Some(45.0),
            ..on_elv
        };
        close(validated_hourly(312.5, elv, &qal2).unwrap(), 267.5, 1e-12);
        // Without an ELV the ELV basis is undefined.
        assert_eq!(validated_hourly(312.5, None, &on_elv), None);
        // Polish basis (Dz.U. 2024 poz. 400 § 4(3)), p = 20 % of the measured value:
        // 312.5 − 0.2 × 312.5 = 312.5 − 62.5 = 250
        let on_measured = CiRule {
            basis: CiBasis::ShareOfMeasured,
            share: 0.20,
            qal2_mg_nm3: None,
        };
        close(
            validated_hourly(312.5, elv, &on_measured).unwrap(),
            250.0,
            1e-12,
        );
        // With U_QAL2 = 45: 312.5 − min(45, 62.5) = 267.5; with U_QAL2 = 80: 312.5 − 62.5 = 250
        let m45 = CiRule {
            qal2_mg_nm3: Some(45.0),
            ..on_measured
        };
        close(validated_hourly(312.5, elv, &m45).unwrap(), 267.5, 1e-12);
        let m80 = CiRule {
            qal2_mg_nm3: Some(80.0),
            ..on_measured
        };
        close(validated_hourly(312.5, elv, &m80).unwrap(), 250.0, 1e-12);
        // The measured basis needs no ELV (CO at an MCP): 100 − 10 % × 100 = 90
        let co = CiRule {
            basis: CiBasis::ShareOfMeasured,
            share: 0.10,
            qal2_mg_nm3: None,
        };
        close(validated_hourly(100.0, None, &co).unwrap(), 90.0, 1e-12);
    }

    fn raw(valid: u32, state: PlantState) -> RawHour {
        RawHour {
            window: Window::new(0, 3_600_000),
            state,
            expected: 60,
            valid,
            o2_valid: 60,
            received: 120,
            conc: Some(250.0),
            o2: Some(9.0),
            h2o: None,
            wet: false,
            flow: Some(40_000.0),
        }
    }

    fn rules() -> HourRules {
        HourRules {
            o2: coal(),
            elv: Some(300.0),
            ci: CiRule {
                basis: CiBasis::ShareOfElv,
                share: 0.2,
                qal2_mg_nm3: None,
            },
            min_valid_share: 0.75,
        }
    }

    #[test]
    fn hourly_validity_and_exclusions() {
        // 45 of 60 raw values = 75 %: valid (at the limit). C_ref 312.5, V = 252.5,
        // mass 250 × 40 000 × 10⁻⁶ = 10 kg/h (dry at actual O2, not C_ref).
        let h = hour_value(&raw(45, PlantState::Operating), &rules());
        assert_eq!(h.class, HourClass::Valid);
        close(h.validated.unwrap(), 252.5, 1e-12);
        close(h.mass_kg_h.unwrap(), 10.0, 1e-12);
        // 44 of 60 = 73.3 %: invalid.
        let h = hour_value(&raw(44, PlantState::Operating), &rules());
        assert_eq!(h.class, HourClass::Invalid);
        assert!(h.invalid_reason.unwrap().contains("validity rule"));
        // O2 analyser in calibration for 20 minutes: 40/60 valid O2 → invalid, whatever NOx does.
        let mut r = raw(60, PlantState::Operating);
        r.o2_valid = 40;
        assert_eq!(hour_value(&r, &rules()).class, HourClass::Invalid);
        // An hour without plant-state data counts as operating when the analysers sent
        // anything: 60 values all flagged maintenance → invalid.
        let mut r = raw(0, PlantState::Unknown);
        (r.conc, r.o2_valid, r.received) = (None, 0, 120);
        assert_eq!(hour_value(&r, &rules()).class, HourClass::Invalid);
        // Nothing at all, neither plant state nor analyser values: unclassified.
        r.received = 0;
        assert_eq!(hour_value(&r, &rules()).class, HourClass::Unclassified);
        // Not operating and start-up/shut-down hours are excluded, not invalid.
        assert_eq!(
            hour_value(&raw(0, PlantState::NotOperating), &rules()).class,
            HourClass::NotOperating
        );
        assert_eq!(
            hour_value(&raw(60, PlantState::StartupShutdown), &rules()).class,
            HourClass::StartupShutdown
        );
        // Wet analyser: 225 mg/Nm³ and 8.1 % O2 wet at 10 % H2O → 250 and 9 % dry → 312.5.
        let mut r = raw(60, PlantState::Operating);
        (r.wet, r.conc, r.o2, r.h2o) = (true, Some(225.0), Some(8.1), Some(10.0));
        close(hour_value(&r, &rules()).c_ref.unwrap(), 312.5, 1e-9);
        r.h2o = None;
        assert_eq!(hour_value(&r, &rules()).class, HourClass::Invalid);
    }
}
