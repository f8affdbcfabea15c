//! Stacks and their continuous emission monitoring systems (CEMS).
//!
//! The physics gives each pollutant a concentration at the reference O2 (dry) that depends on
//! the fuel and the load (NOx rises with load on a grate, CO rises at low load); the flue gas
//! leaves at a measured O2 that rises at part load (more excess air). What the analyser shows in
//! normal operation is the dry concentration **at measured O2**, as the DAHS delivers it:
//! `C_meas = C_ref × (21 − O2_meas) / (21 − O2_ref)`, the inverse of domain.md §3.2, so the
//! evaluator's normalisation recovers the true value. All concentrations are on a dry basis
//! (extractive cold-dry analysers; the DAHS converts the in-situ O2 and dust readings to dry);
//! H2O is reported for the record.
//!
//! Analyser states: a daily automatic zero/span check (03:00–03:10 local) shows span gas with
//! the calibration bit; a maintenance day shows zero gas and instrument air with the
//! maintenance bit; a fault freezes the outputs with the fault bit.

use super::plant::UnitSim;
use super::rng::{Ar1, Rng};
use crate::model::asset::{Fuel, Pollutant, Stack, UnitKind};

/// The pollutants in array order.
pub const POLLUTANTS: [Pollutant; 4] = [
    Pollutant::So2,
    Pollutant::Nox,
    Pollutant::Dust,
    Pollutant::Co,
];

/// Status bit: analyser in maintenance.
pub const STATUS_MAINTENANCE: u16 = 0x0001;
/// Status bit: calibration (zero/span check) running.
pub const STATUS_CALIBRATION: u16 = 0x0002;
/// Status bit: analyser fault.
pub const STATUS_FAULT: u16 = 0x0004;
/// Status bit: no unit firing into the stack (information only).
pub const STATUS_NOT_OPERATING: u16 = 0x0008;

/// Oxygen in air as an analyser reads it, % vol.
const AIR_O2: f64 = 20.9;
/// Dry stoichiometric flue gas per MJ of fuel (LHV), Nm³/MJ: hard coal and natural gas
/// (US EPA F_d factors converted to 0 °C and an LHV basis).
const V0_SOLID: f64 = 0.255;
const V0_GAS: f64 = 0.242;

/// What an analyser is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CemsMode {
    /// Measuring.
    #[default]
    Normal,
    /// Zero/span check.
    Calibration,
    /// Maintenance.
    Maintenance,
    /// Fault: outputs frozen.
    Fault,
}

impl CemsMode {
    /// The status bits of the mode.
    pub fn bits(self) -> u16 {
        match self {
            CemsMode::Normal => 0,
            CemsMode::Calibration => STATUS_CALIBRATION,
            CemsMode::Maintenance => STATUS_MAINTENANCE,
            CemsMode::Fault => STATUS_FAULT,
        }
    }
}

/// The kind of combustion behind a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackKind {
    /// Coal or biomass on a grate.
    Solid,
    /// Gas or oil boiler.
    GasBoiler,
    /// Gas engine.
    Engine,
}

/// What the CEMS outputs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Shown {
    /// O2, % vol dry.
    pub o2: f64,
    /// H2O, % vol.
    pub h2o: f64,
    /// SO2, NOx, dust, CO, mg/Nm³ dry at measured O2.
    pub conc: [f64; 4],
    /// Dry flue-gas flow, Nm³/h.
    pub flow_nm3h: f64,
}

/// One simulated stack.
#[derive(Debug, Clone)]
pub struct StackSim {
    /// Stack id.
    pub id: String,
    /// Units venting into it.
    pub units: Vec<usize>,
    /// Combustion kind.
    pub kind: StackKind,
    /// Reference O2, %.
    pub o2_ref: f64,
    /// O2 constant of the normalisation formula (21 or 20.9).
    pub o2_air: f64,
    /// Load share below which hours count as start-up/shut-down.
    pub min_load_share: f64,
    /// Sum of the units' rated heat, MW.
    pub rated_mw: f64,
    /// Emission limits at reference O2, mg/Nm³, in [`POLLUTANTS`] order.
    pub limits: [Option<f64>; 4],
    /// Daily limit factor (1.1 or 1.5).
    pub daily_limit_factor: f64,
    /// 95 % confidence interval as a share of the ELV, per pollutant.
    pub ci_share: [f64; 4],
    base_ref: [f64; 4],
    v0: f64,
    rng: Rng,
    conc_noise: [Ar1; 4],
    o2_noise: Ar1,
    h2o_noise: Ar1,
    /// Whether any unit fires.
    pub operating: bool,
    /// Σ unit heat / Σ rated.
    pub load: f64,
    /// True concentrations at reference O2, dry, mg/Nm³.
    pub conc_ref: [f64; 4],
    /// True flue-gas state.
    pub physics: Shown,
    /// What the analyser shows.
    pub shown: Shown,
    /// Analyser mode.
    pub mode: CemsMode,
    /// Status word.
    pub status: u16,
}

const NOISE: [(f64, f64); 4] = [
    (0.10, 3600.0),
    (0.06, 1800.0),
    (0.25, 1200.0),
    (0.30, 600.0),
];

impl StackSim {
    /// The stack for asset `s` with its units (indices into `units`).
    pub fn new(
        s: &Stack,
        unit_ids: Vec<usize>,
        units: &[UnitSim],
        (seed, index): (u64, u64),
        dt: f64,
    ) -> Self {
        let mut rng = Rng::new(seed, 0x57_0000 + index);
        let first = unit_ids.first().map(|&u| &units[u]);
        let kind = match first.map(|u| (u.kind, u.fuel)) {
            Some((UnitKind::Engine | UnitKind::Chp, _)) => StackKind::Engine,
            Some((_, Fuel::NaturalGas | Fuel::Oil)) => StackKind::GasBoiler,
            _ => StackKind::Solid,
        };
        let limits = POLLUTANTS.map(|p| s.limits_mg_nm3.get(&p).copied());
        // Typical concentrations of a compliant plant as shares of its limits, or typical
        // values where the permit sets none (a coal grate with dry sorbent injection and a bag
        // filter; a lean-burn engine; a low-NOx gas boiler).
        let lim = |i: usize, share: f64, otherwise: f64| limits[i].map_or(otherwise, |l| share * l);
        let base_ref = match kind {
            StackKind::Solid => [
                lim(0, 0.7, 280.0),
                lim(1, 0.8, 240.0),
                lim(2, 0.6, 18.0),
                lim(3, 0.5, 120.0),
            ],
            StackKind::GasBoiler => [1.5, lim(1, 0.7, 70.0), 0.5, lim(3, 0.3, 15.0)],
            StackKind::Engine => [1.0, lim(1, 0.85, 80.0), 0.3, lim(3, 0.6, 80.0)],
        };
        let conc_noise = NOISE.map(|(sd, tau)| Ar1::new(&mut rng, sd, tau, dt));
        let o2_sd = match kind {
            StackKind::Solid => 0.5,
            StackKind::GasBoiler => 0.3,
            StackKind::Engine => 0.2,
        };
        let o2_noise = Ar1::new(&mut rng, o2_sd, 900.0, dt);
        let h2o_noise = Ar1::new(&mut rng, 0.4, 1800.0, dt);
        let rated_mw = unit_ids.iter().map(|&u| units[u].rated_mw).sum();
        StackSim {
            id: s.id.clone(),
            units: unit_ids,
            kind,
            o2_ref: s.o2_ref_pct,
            o2_air: s.o2_air_pct,
            min_load_share: s.min_load_share,
            rated_mw,
            limits,
            daily_limit_factor: s.daily_limit_factor,
            ci_share: POLLUTANTS
                .map(|p| s.ci_share.get(&p).copied().unwrap_or(p.default_ci_share())),
            base_ref,
            v0: if kind == StackKind::Solid {
                V0_SOLID
            } else {
                V0_GAS
            },
            rng,
            conc_noise,
            o2_noise,
            h2o_noise,
            operating: false,
            load: 0.0,
            conc_ref: [0.0; 4],
            physics: Shown::default(),
            shown: Shown::default(),
            mode: CemsMode::Normal,
            status: 0,
        }
    }

    /// Advance one step: flue gas from the units' firing, `factor` per pollutant from an
    /// emission episode, `event_mode` from a maintenance or fault event, `hour` local time.
    pub fn step(
        &mut self,
        units: &[UnitSim],
        factor: &[f64; 4],
        event_mode: Option<CemsMode>,
        hour: f64,
    ) {
        let (heat, fuel) = self
            .units
            .iter()
            .map(|&u| (units[u].heat_mw, units[u].fuel_mw))
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        self.operating = fuel > 0.0;
        self.load = heat / self.rated_mw.max(1e-9);
        let l = self.load.min(1.0);
        let noise: [f64; 4] = std::array::from_fn(|i| self.conc_noise[i].step(&mut self.rng));
        let o2n = self.o2_noise.step(&mut self.rng);
        let h2on = self.h2o_noise.step(&mut self.rng);
        if self.operating {
            let (o2, h2o) = match self.kind {
                StackKind::Solid => (7.5 + 5.0 * (1.0 - l) + o2n, 7.5 + h2on),
                StackKind::GasBoiler => (3.0 + 2.0 * (1.0 - l) + o2n, 16.0 + h2on),
                StackKind::Engine => (10.0 + o2n, 10.0 + h2on),
            };
            let o2 = o2.clamp(2.0, 19.0);
            let load_effect = match self.kind {
                StackKind::Solid => [
                    1.0,
                    0.8 + 0.2 * l,
                    0.7 + 0.3 * l,
                    1.0 + 2.0 * (0.4 - l).max(0.0) / 0.4,
                ],
                StackKind::GasBoiler => [1.0, 0.85 + 0.15 * l, 1.0, 1.0],
                StackKind::Engine => [1.0; 4],
            };
            let to_measured = (self.o2_air - o2) / (self.o2_air - self.o2_ref);
            let mut conc = [0.0; 4];
            for i in 0..4 {
                // SO2 and NOx vary smoothly; dust and CO are spiky (lognormal).
                let m = if i < 2 {
                    (1.0 + noise[i]).max(0.0)
                } else {
                    let sd = NOISE[i].0;
                    (noise[i] - 0.5 * sd * sd).exp()
                };
                self.conc_ref[i] = self.base_ref[i] * load_effect[i] * m * factor[i];
                conc[i] = self.conc_ref[i] * to_measured;
            }
            let flow = fuel * 3600.0 * self.v0 * 21.0 / (21.0 - o2);
            self.physics = Shown {
                o2,
                h2o,
                conc,
                flow_nm3h: flow,
            };
        } else {
            self.conc_ref = [0.0; 4];
            let trace = noise.map(|n| (0.5 + n).max(0.0));
            self.physics = Shown {
                o2: AIR_O2 + 0.05 * o2n,
                h2o: 1.0,
                conc: trace,
                flow_nm3h: 0.0,
            };
        }
        // The automatic zero/span check runs daily at 03:00 for ten minutes.
        let auto_cal = (3.0..3.0 + 10.0 / 60.0).contains(&hour);
        self.mode = event_mode.unwrap_or(if auto_cal {
            CemsMode::Calibration
        } else {
            CemsMode::Normal
        });
        let flow = self.physics.flow_nm3h;
        self.shown = match self.mode {
            CemsMode::Normal => self.physics,
            CemsMode::Calibration => {
                let span = |i: usize| self.limits[i].map_or(500.0, |l| 1.6 * l);
                Shown {
                    o2: AIR_O2,
                    h2o: self.shown.h2o,
                    conc: [span(0), span(1), self.shown.conc[2], span(3)],
                    flow_nm3h: flow,
                }
            }
            CemsMode::Maintenance => Shown {
                o2: AIR_O2,
                h2o: 0.0,
                conc: [0.0; 4],
                flow_nm3h: flow,
            },
            CemsMode::Fault => Shown {
                flow_nm3h: flow,
                ..self.shown
            },
        };
        self.status = self.mode.bits()
            | if self.operating {
                0
            } else {
                STATUS_NOT_OPERATING
            };
    }
}
