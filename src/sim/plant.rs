//! Heat sources: boilers and gas engines, their efficiency at part load, fuel and electricity
//! counters, and the dispatch that follows network demand.
//!
//! Dispatch is a merit order: CHP engines first (they earn from electricity), then solid-fuel
//! boilers, then gas and oil boilers for peaks. Within a group the boilers share the load in
//! proportion to their rating; one more is started above 95 % load and one stopped when the
//! others could carry the load below 70 % (hysteresis, as shift operators do). A stoker boiler
//! loses efficiency at part load — 82 % at rated load, 70 % at 30 % by default — which is why
//! summer DHW-only months show poor efficiency (domain.md §2.4).

use super::rng::{Ar1, Rng};
use super::water;
use crate::config::sim::PhysicsConfig;
use crate::model::asset::{Fuel, GenUnit, UnitKind};

/// Efficiency curve of a unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Curve {
    /// Stoker or grate boiler: `η(L) = η_r − (η_r − η_30)·((1 − L)/0.7)²`: flat near rated
    /// load, falling steeply at low load (radiation and excess-air losses do not shrink with
    /// the fire).
    Stoker {
        /// η at rated load.
        rated: f64,
        /// η at 30 % load.
        at_30: f64,
    },
    /// Gas or oil boiler: nearly flat, 2 points lower at zero load.
    Flat {
        /// η at rated load.
        rated: f64,
    },
    /// Gas engine: heat and electricity shares of the fuel.
    Engine {
        /// Heat out / fuel in.
        heat: f64,
        /// Electricity out / fuel in at rated load.
        el: f64,
    },
}

impl Curve {
    /// Heat efficiency at load share `l` (0–1).
    pub fn heat_eta(&self, l: f64) -> f64 {
        let l = l.clamp(0.0, 1.0);
        match *self {
            Curve::Stoker { rated, at_30 } => {
                (rated - (rated - at_30) * ((1.0 - l) / 0.7).powi(2)).max(0.5)
            }
            Curve::Flat { rated } => rated - 0.02 * (1.0 - l),
            Curve::Engine { heat, .. } => heat,
        }
    }

    /// Electrical efficiency at load share `l` (engines lose 15 % of it at half load).
    pub fn el_eta(&self, l: f64) -> f64 {
        match *self {
            Curve::Engine { el, .. } => el * (1.0 - 0.3 * (1.0 - l.clamp(0.5, 1.0))),
            _ => 0.0,
        }
    }
}

/// One simulated generating unit.
#[derive(Debug, Clone)]
pub struct UnitSim {
    /// Unit id.
    pub id: String,
    /// Source index.
    pub source: usize,
    /// Boiler, CHP or engine.
    pub kind: UnitKind,
    /// Fuel.
    pub fuel: Fuel,
    /// Rated heat output, MW.
    pub rated_mw: f64,
    /// Lower heating value as really burnt, GJ/t or GJ/Nm³.
    pub lhv: f64,
    /// Efficiency curve.
    pub curve: Curve,
    /// Merit-order group (0 engines, 1 solid fuel, 2 gas and oil boilers).
    pub priority: u8,
    rng: Rng,
    eta_drift: Ar1,
    /// Heat output, MW.
    pub heat_mw: f64,
    /// Fuel input (LHV), MW.
    pub fuel_mw: f64,
    /// Electrical output, MW.
    pub el_mw: f64,
    /// Load share of rated heat.
    pub load: f64,
    /// Outlet temperature, °C.
    pub supply_c: f64,
    /// Inlet temperature, °C.
    pub return_c: f64,
    /// Water flow, m³/h.
    pub flow_m3h: f64,
    /// Heat since the simulation began, GJ.
    pub heat_gj: f64,
    /// Water volume since the simulation began, m³.
    pub volume_m3: f64,
    /// Fuel since the simulation began, t or Nm³.
    pub fuel_qty: f64,
    /// Fuel energy (LHV) since the simulation began, GJ.
    pub fuel_gj: f64,
    /// Electricity since the simulation began, MWh.
    pub el_mwh: f64,
}

impl UnitSim {
    /// The unit for asset `u` of source `source`, with random stream `index`, stepped every `dt`
    /// seconds.
    pub fn new(
        u: &GenUnit,
        source: usize,
        physics: &PhysicsConfig,
        (seed, index): (u64, u64),
        dt: f64,
    ) -> Self {
        let mut rng = Rng::new(seed, 0x0B_0000 + index);
        let default_lhv = if u.fuel.is_solid() {
            physics.coal_lhv_gj_t
        } else {
            physics.gas_lhv_gj_nm3
        };
        // A gas invoice value is an HHV; what burns is ≈ 0.90 of it (domain.md §2.2).
        let lhv = u
            .lhv_gj_per_unit
            .map(|v| if u.lhv_is_hhv { 0.9 * v } else { v })
            .unwrap_or(default_lhv);
        let (curve, priority) = match (u.kind, u.fuel) {
            (UnitKind::Engine | UnitKind::Chp, _) => (
                Curve::Engine {
                    heat: physics.engine_eta_heat,
                    el: physics.engine_eta_el,
                },
                0,
            ),
            (UnitKind::Boiler, Fuel::Coal) => (
                Curve::Stoker {
                    rated: physics.coal_eta_rated,
                    at_30: physics.coal_eta_30,
                },
                1,
            ),
            (UnitKind::Boiler, Fuel::Biomass) => (
                Curve::Stoker {
                    rated: physics.coal_eta_rated + 0.02,
                    at_30: physics.coal_eta_30 + 0.02,
                },
                1,
            ),
            (UnitKind::Boiler, Fuel::NaturalGas | Fuel::Oil) => (
                Curve::Flat {
                    rated: physics.gas_boiler_eta,
                },
                2,
            ),
        };
        UnitSim {
            id: u.id.clone(),
            source,
            kind: u.kind,
            fuel: u.fuel,
            rated_mw: u.rated_heat_mw,
            lhv,
            curve,
            priority,
            // Fuel quality and fouling move efficiency by about half a point over days.
            eta_drift: Ar1::new(&mut rng, 0.005, 2.0 * 86_400.0, dt),
            rng,
            heat_mw: 0.0,
            fuel_mw: 0.0,
            el_mw: 0.0,
            load: 0.0,
            supply_c: 40.0,
            return_c: 40.0,
            flow_m3h: 0.0,
            heat_gj: 0.0,
            volume_m3: 0.0,
            fuel_qty: 0.0,
            fuel_gj: 0.0,
            el_mwh: 0.0,
        }
    }

    /// Whether the unit is firing.
    pub fn running(&self) -> bool {
        self.heat_mw > 0.0
    }

    /// Run at `heat_mw` for `dt` seconds with the network at `supply_c`/`return_c`.
    pub fn run(&mut self, heat_mw: f64, (supply_c, return_c): (f64, f64), dt: f64) {
        let drift = self.eta_drift.step(&mut self.rng);
        self.heat_mw = heat_mw.max(0.0);
        self.load = self.heat_mw / self.rated_mw.max(1e-9);
        if self.heat_mw > 0.0 {
            let eta = (self.curve.heat_eta(self.load) + drift).max(0.3);
            self.fuel_mw = self.heat_mw / eta;
            self.el_mw = self.fuel_mw * self.curve.el_eta(self.load);
            // The boiler outlet runs a little above the network supply (mixing downstream).
            self.supply_c = supply_c + 1.5;
            self.return_c = return_c;
            self.flow_m3h = water::flow_m3h(self.heat_mw, self.supply_c, self.return_c);
        } else {
            self.fuel_mw = 0.0;
            self.el_mw = 0.0;
            self.flow_m3h = 0.0;
            self.supply_c = super::rng::lag(self.supply_c, return_c, 3600.0, dt);
            self.return_c = return_c;
        }
        self.heat_gj += self.heat_mw * dt / 1000.0;
        self.volume_m3 += self.flow_m3h * dt / 3600.0;
        self.fuel_gj += self.fuel_mw * dt / 1000.0;
        self.fuel_qty += self.fuel_mw * dt / (self.lhv * 1000.0);
        self.el_mwh += self.el_mw * dt / 3600.0;
    }
}

/// One simulated heat source with its outlet meter.
#[derive(Debug, Clone)]
pub struct SourceSim {
    /// Source id.
    pub id: String,
    /// Network index.
    pub network: usize,
    /// Its units.
    pub units: Vec<usize>,
    /// Own-use share of unit heat.
    pub own_use: f64,
    /// Heat into the network, MW.
    pub out_mw: f64,
    /// Heat into the network since the simulation began, GJ.
    pub out_gj: f64,
    /// Own use since the simulation began, GJ.
    pub own_use_gj: f64,
    /// Outlet flow, m³/h.
    pub flow_m3h: f64,
    /// Outlet volume since the simulation began, m³.
    pub volume_m3: f64,
}

impl SourceSim {
    /// A source of network `network` with the given units.
    pub fn new(id: &str, network: usize, units: Vec<usize>, own_use: f64) -> Self {
        SourceSim {
            id: id.to_string(),
            network,
            units,
            own_use,
            out_mw: 0.0,
            out_gj: 0.0,
            own_use_gj: 0.0,
            flow_m3h: 0.0,
            volume_m3: 0.0,
        }
    }
}

/// Merit-order dispatch of the units of one network, with boiler start/stop hysteresis.
#[derive(Debug, Clone, Default)]
pub struct Dispatcher {
    /// Units per merit group, ordered by priority.
    groups: Vec<(u8, Vec<usize>, usize)>,
}

impl Dispatcher {
    /// A dispatcher for `unit_ids` (indices into `units`).
    pub fn new(units: &[UnitSim], unit_ids: &[usize]) -> Self {
        let mut groups: Vec<(u8, Vec<usize>, usize)> = Vec::new();
        for &u in unit_ids {
            let p = units[u].priority;
            match groups.iter_mut().find(|g| g.0 == p) {
                Some(g) => g.1.push(u),
                None => groups.push((p, vec![u], 0)),
            }
        }
        groups.sort_by_key(|g| g.0);
        Dispatcher { groups }
    }

    /// Split `need_mw` (at the source outlets) into unit heat outputs, written to `out` by unit
    /// index. Returns the outlet heat really available (less than asked when capacity is short).
    pub fn dispatch(
        &mut self,
        units: &[UnitSim],
        own_use: &[f64],
        need_mw: f64,
        out: &mut [f64],
    ) -> f64 {
        let mut remaining = need_mw.max(0.0);
        let n_groups = self.groups.len();
        for (gi, (prio, ids, n_on)) in self.groups.iter_mut().enumerate() {
            let last = gi + 1 == n_groups;
            let net = |u: usize| units[u].rated_mw * (1.0 - own_use[units[u].source]);
            if *prio == 0 {
                // Engines run between 50 % and 100 %; below that they stop unless nothing else
                // could take the load.
                for &u in ids.iter() {
                    let cap = net(u);
                    let take = remaining.min(cap);
                    let take = if take < 0.5 * cap && !last { 0.0 } else { take };
                    out[u] = take / (1.0 - own_use[units[u].source]);
                    remaining -= take;
                }
                continue;
            }
            if remaining <= 1e-9 {
                *n_on = 0;
                ids.iter().for_each(|&u| out[u] = 0.0);
                continue;
            }
            let cap_of = |n: usize| ids[..n].iter().map(|&u| net(u)).sum::<f64>();
            *n_on = (*n_on).clamp(1, ids.len());
            while *n_on < ids.len() && remaining > 0.95 * cap_of(*n_on) {
                *n_on += 1;
            }
            while *n_on > 1 && remaining < 0.70 * cap_of(*n_on - 1) {
                *n_on -= 1;
            }
            let cap = cap_of(*n_on);
            let share = (remaining / cap).min(1.0);
            for (i, &u) in ids.iter().enumerate() {
                out[u] = if i < *n_on {
                    share * units[u].rated_mw
                } else {
                    0.0
                };
            }
            remaining -= share * cap;
        }
        need_mw.max(0.0) - remaining.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stoker_curve_matches_the_brief() {
        let c = Curve::Stoker {
            rated: 0.82,
            at_30: 0.70,
        };
        assert!((c.heat_eta(1.0) - 0.82).abs() < 1e-12);
        assert!((c.heat_eta(0.3) - 0.70).abs() < 1e-12);
        assert!(c.heat_eta(0.6) < 0.82 && c.heat_eta(0.6) > 0.70);
    }

    #[test]
    fn dispatch_uses_the_engine_first_and_adds_boilers_with_load() {
        let p = PhysicsConfig::default();
        let mk = |id: &str, kind, fuel, mw| GenUnit {
            id: id.into(),
            source: "s".into(),
            kind,
            fuel,
            lhv_gj_per_unit: None,
            lhv_series: None,
            lhv_is_hhv: false,
            rated_heat_mw: mw,
            rated_el_mw: None,
            condensing: false,
            meter_class: 2,
            year_built: None,
        };
        let units: Vec<UnitSim> = [
            mk("k1", UnitKind::Boiler, Fuel::Coal, 5.8),
            mk("k2", UnitKind::Boiler, Fuel::Coal, 5.8),
            mk("g1", UnitKind::Engine, Fuel::NaturalGas, 1.2),
        ]
        .iter()
        .enumerate()
        .map(|(i, u)| UnitSim::new(u, 0, &p, (1, i as u64), 60.0))
        .collect();
        let mut d = Dispatcher::new(&units, &[0, 1, 2]);
        let mut out = vec![0.0; 3];
        let got = d.dispatch(&units, &[0.0], 3.0, &mut out);
        assert!((got - 3.0).abs() < 1e-9);
        assert!((out[2] - 1.2).abs() < 1e-9 && out[1] == 0.0);
        let got = d.dispatch(&units, &[0.0], 8.0, &mut out);
        assert!((got - 8.0).abs() < 1e-9 && out[1] > 0.0);
        // Beyond capacity: 5.8 + 5.8 + 1.2 = 12.8 MW.
        let got = d.dispatch(&units, &[0.0], 20.0, &mut out);
        assert!((got - 12.8).abs() < 1e-9);
    }
}
