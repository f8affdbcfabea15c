//! The whole simulated utility, built from the asset sections of the configuration, and one
//! step of its physics.
//!
//! Order within a step: weather → supply-temperature control → substations (demand, flow) →
//! network balance (losses, leak, what the plant is asked for) → dispatch → units → sources →
//! stacks. The physics knows nothing of devices or registers; `devices` reads it.

use super::SimError;
use super::cems::StackSim;
use super::faults::{Conditions, Topology};
use super::network::NetworkSim;
use super::plant::{Dispatcher, SourceSim, UnitSim};
use super::rng::{Ar1, Rng};
use super::substation::{self, Feed, StepEnv, SubstationSim};
use super::weather::{Clock, Weather, WeatherNow};
use crate::config::Settings;
use crate::config::sim::{PhysicsConfig, SimulatorConfig};
use crate::model::asset::{Fuel, Network, RegulationTable, Substation};
use crate::model::{Quantity, TimestampMs};
use chrono_tz::Tz;
use std::collections::HashMap;

/// A simulated asset that devices can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetRef {
    /// A substation's heat meter.
    Substation(usize),
    /// A generating unit.
    Unit(usize),
    /// A source's outlet heat meter.
    Outlet(usize),
    /// A stack's CEMS.
    Stack(usize),
    /// A weather station.
    Station(usize),
    /// A network's make-up water meter.
    Makeup(usize),
}

/// A weather station: the reference outdoor temperature plus a local offset and sensor noise.
#[derive(Debug, Clone)]
pub struct StationSim {
    /// Station id.
    pub id: String,
    offset_c: f64,
    rng: Rng,
    noise: Ar1,
    /// Last reading, °C.
    pub value_c: f64,
}

/// A branch of a network.
#[derive(Debug, Clone)]
pub struct BranchInfo {
    /// Network index.
    pub network: usize,
    /// Branch name.
    pub name: String,
}

/// The simulated utility.
#[derive(Debug, Clone)]
pub struct Utility {
    /// Time zone of local days.
    pub tz: Tz,
    /// Step length, s.
    pub dt_s: f64,
    /// Physical parameters.
    pub physics: PhysicsConfig,
    weather: Weather,
    /// Weather stations.
    pub stations: Vec<StationSim>,
    tables: Vec<RegulationTable>,
    table_now: Vec<(f64, f64)>,
    /// Networks.
    pub networks: Vec<NetworkSim>,
    dispatchers: Vec<Dispatcher>,
    network_units: Vec<Vec<usize>>,
    /// Branches.
    pub branches: Vec<BranchInfo>,
    /// Substations.
    pub substations: Vec<SubstationSim>,
    /// Substation assets (as configured or generated).
    pub substation_assets: Vec<Substation>,
    /// Generating units.
    pub units: Vec<UnitSim>,
    /// Sources.
    pub sources: Vec<SourceSim>,
    /// Stacks.
    pub stacks: Vec<StackSim>,
    /// Asset ids that devices may name.
    pub assets: HashMap<String, AssetRef>,
    /// Conditions the scenario imposes.
    pub cond: Conditions,
    /// Clock of the last step.
    pub clock: Clock,
    /// Weather of the last step.
    pub weather_now: WeatherNow,
    own_use: Vec<f64>,
    unit_heat: Vec<f64>,
    acc: Vec<(f64, f64)>,
    lags: substation::Lags,
}

fn cfg_err(msg: String) -> SimError {
    SimError::Config(msg)
}

impl Utility {
    /// Build the utility from `settings` (generating `sim.substations` substations when none
    /// are configured, or `substations` when given) for steps of `dt_s`.
    pub fn build(
        settings: &Settings,
        sim: &SimulatorConfig,
        substations_override: Option<usize>,
        seed: u64,
        dt_s: f64,
    ) -> Result<Self, SimError> {
        let tz: Tz = settings.site.timezone.parse().map_err(|_| {
            cfg_err(format!(
                "site.timezone `{}` is not an IANA time zone",
                settings.site.timezone
            ))
        })?;
        let physics = sim.physics.clone();
        let first_net = settings.networks.first().ok_or_else(|| {
            cfg_err("the simulator needs at least one [[network]] (see config/demo.toml)".into())
        })?;
        let generated = match (substations_override, settings.substations.is_empty()) {
            (Some(n), _) => Some(n),
            (None, true) => Some(sim.substations),
            (None, false) => None,
        };
        let subs: Vec<Substation> = match generated {
            Some(n) => substation::generate(n, sim.branches, &first_net.id, seed),
            None => settings.substations.clone(),
        };
        // A generated utility may be far larger than the configured one: scale the network
        // and the plant with the ordered capacity so losses and load factors stay realistic.
        let configured_mw: f64 = settings
            .substations
            .iter()
            .map(|s| s.ordered_capacity_mw)
            .sum();
        let total_mw: f64 = subs.iter().map(|s| s.ordered_capacity_mw).sum();
        let scale = match generated {
            Some(_) if configured_mw > 0.0 => total_mw / configured_mw,
            Some(_) => total_mw / 15.0,
            None => 1.0,
        };

        let tables = settings.regulations.clone();
        let table_index = |id: &str| tables.iter().position(|t| t.id == id);
        let mut stations: Vec<StationSim> = Vec::new();
        for (i, w) in settings.weather.iter().enumerate() {
            let mut rng = Rng::new(seed, 0xA7_0000 + i as u64);
            let noise = Ar1::new(&mut rng, 0.15, 600.0, dt_s);
            stations.push(StationSim {
                id: w.id.clone(),
                // Stations a few km apart differ by a few tenths (urban heat island).
                offset_c: 0.3 * i as f64,
                rng,
                noise,
                value_c: 0.0,
            });
        }

        let mut networks = Vec::new();
        let mut branches: Vec<BranchInfo> = Vec::new();
        let mut sims = Vec::new();
        let mut design_flow = vec![0.0; settings.networks.len()];
        for (i, s) in subs.iter().enumerate() {
            let n = settings
                .networks
                .iter()
                .position(|n| n.id == s.network)
                .ok_or_else(|| {
                    cfg_err(format!(
                        "substation `{}`: network `{}` is not configured",
                        s.id, s.network
                    ))
                })?;
            let bname = s.branch.clone().unwrap_or_else(|| "main".into());
            let b = match branches
                .iter()
                .position(|b| b.network == n && b.name == bname)
            {
                Some(b) => b,
                None => {
                    branches.push(BranchInfo {
                        network: n,
                        name: bname,
                    });
                    branches.len() - 1
                }
            };
            let reg = s
                .regulation
                .as_deref()
                .unwrap_or(&settings.networks[n].regulation);
            let t = table_index(reg).ok_or_else(|| {
                cfg_err(format!(
                    "substation `{}`: regulation table `{reg}` is not configured",
                    s.id
                ))
            })?;
            let sim_s = SubstationSim::new(s, &physics, (n, b, t), seed, i as u64, dt_s);
            design_flow[n] += sim_s.max_flow_m3h;
            sims.push(sim_s);
        }
        for (i, n) in settings.networks.iter().enumerate() {
            let t = table_index(&n.regulation).ok_or_else(|| {
                cfg_err(format!(
                    "network `{}`: regulation table `{}` is not configured",
                    n.id, n.regulation
                ))
            })?;
            let st = settings
                .weather
                .iter()
                .position(|w| w.id == n.weather)
                .ok_or_else(|| {
                    cfg_err(format!(
                        "network `{}`: weather station `{}` is not configured",
                        n.id, n.weather
                    ))
                })?;
            let scaled = Network {
                length_km: n.length_km * scale,
                water_volume_m3: n.water_volume_m3 * scale,
                ..n.clone()
            };
            networks.push(NetworkSim::new(
                &scaled,
                &physics,
                (t, st),
                design_flow[i],
                (seed, i as u64),
                dt_s,
            ));
        }

        let mut units = Vec::new();
        let mut sources = Vec::new();
        for (si, src) in settings.sources.iter().enumerate() {
            let net = settings
                .networks
                .iter()
                .position(|n| n.sources.contains(&src.id))
                .ok_or_else(|| {
                    cfg_err(format!(
                        "source `{}` feeds no [[network]] (list it in a network's `sources`)",
                        src.id
                    ))
                })?;
            let mut ids = Vec::new();
            for u in settings.units.iter().filter(|u| u.source == src.id) {
                let mut u = u.clone();
                u.rated_heat_mw *= scale;
                ids.push(units.len());
                units.push(UnitSim::new(
                    &u,
                    si,
                    &physics,
                    (seed, units.len() as u64),
                    dt_s,
                ));
            }
            let solid = ids.iter().any(|&u| units[u].fuel.is_solid());
            let own_use = if solid { physics.own_use_share } else { 0.0 };
            sources.push(SourceSim::new(&src.id, net, ids, own_use));
        }
        let network_units: Vec<Vec<usize>> = (0..networks.len())
            .map(|n| {
                (0..units.len())
                    .filter(|&u| sources[units[u].source].network == n)
                    .collect()
            })
            .collect();
        let dispatchers = network_units
            .iter()
            .map(|ids| Dispatcher::new(&units, ids))
            .collect();

        let mut stacks = Vec::new();
        for (i, s) in settings.stacks.iter().enumerate() {
            let ids: Vec<usize> = s
                .units
                .iter()
                .map(|id| {
                    units.iter().position(|u| &u.id == id).ok_or_else(|| {
                        cfg_err(format!("stack `{}`: unit `{id}` is not configured", s.id))
                    })
                })
                .collect::<Result<_, _>>()?;
            stacks.push(StackSim::new(s, ids, &units, (seed, i as u64), dt_s));
        }

        let mut assets = HashMap::new();
        for (i, s) in subs.iter().enumerate() {
            assets.insert(s.id.clone(), AssetRef::Substation(i));
        }
        for (i, u) in units.iter().enumerate() {
            assets.insert(u.id.clone(), AssetRef::Unit(i));
        }
        for (i, src) in settings.sources.iter().enumerate() {
            for m in &src.outlet_meters {
                assets.insert(m.clone(), AssetRef::Outlet(i));
            }
        }
        for (i, s) in stacks.iter().enumerate() {
            assets.insert(s.id.clone(), AssetRef::Stack(i));
        }
        for (i, s) in stations.iter().enumerate() {
            assets.insert(s.id.clone(), AssetRef::Station(i));
        }
        for (i, n) in settings.networks.iter().enumerate() {
            if let Some(m) = &n.makeup_meter {
                assets.insert(m.clone(), AssetRef::Makeup(i));
            }
        }
        let own_use = sources.iter().map(|s| s.own_use).collect();
        let n_networks = networks.len();
        let n_units = units.len();
        let table_now = vec![(0.0, 0.0); tables.len()];
        Ok(Utility {
            tz,
            dt_s,
            weather: Weather::new(seed, &physics, dt_s),
            physics,
            stations,
            tables,
            table_now,
            networks,
            dispatchers,
            network_units,
            branches,
            substations: sims,
            substation_assets: subs,
            units,
            sources,
            stacks,
            assets,
            cond: Conditions::default(),
            clock: Clock::at(tz, 0),
            weather_now: WeatherNow::default(),
            own_use,
            unit_heat: vec![0.0; n_units],
            acc: vec![(0.0, 0.0); n_networks],
            lags: substation::Lags::new(dt_s),
        })
    }

    /// Names of what events may target (devices are added by the caller).
    pub fn topology(&self) -> Topology {
        Topology {
            networks: self.networks.iter().map(|n| n.id.clone()).collect(),
            branches: self
                .branches
                .iter()
                .map(|b| (b.network, b.name.clone()))
                .collect(),
            substations: self
                .substation_assets
                .iter()
                .zip(&self.substations)
                .map(|(a, s)| (a.id.clone(), s.branch))
                .collect(),
            stacks: self.stacks.iter().map(|s| s.id.clone()).collect(),
            devices: Vec::new(),
        }
    }

    /// The part of a step every substation depends on: clock, weather, regulation tables and
    /// the networks' supply temperature control.
    fn begin_step(&mut self, ts: TimestampMs) -> StepEnv {
        let dt = self.dt_s;
        self.clock = Clock::at(self.tz, ts);
        let wx = self.weather.step(&self.clock, dt);
        self.weather_now = wx;
        for s in &mut self.stations {
            s.value_c = wx.outdoor_c + s.offset_c + s.noise.step(&mut s.rng);
        }
        for (t, now) in self.tables.iter().zip(self.table_now.iter_mut()) {
            *now = t.at(wx.setpoint_outdoor_c).unwrap_or((70.0, 40.0));
        }
        for (i, n) in self.networks.iter_mut().enumerate() {
            let running = !self.cond.network_off.get(i).copied().unwrap_or(false);
            let delta = self.cond.network_delta.get(i).copied().unwrap_or(0.0);
            n.prepare(self.table_now[n.table], delta, running, dt);
        }
        // More heat is needed to warm colder mains water to the DHW set point of ~55 °C.
        let cold_factor = (55.0 - wx.cold_water_c) / (55.0 - 8.0);
        StepEnv {
            dt_s: dt,
            lags: self.lags,
            building_outdoor_c: wx.building_outdoor_c,
            hdd_base_c: self.physics.hdd_base_c,
            heating_limit_c: self.physics.heating_limit_c,
            sh_factor: substation::heating_schedule(self.clock.hour),
            dhw_factor: substation::dhw_profile(self.clock.hour, self.clock.weekday >= 5)
                * cold_factor,
            cold_water_c: wx.cold_water_c,
        }
    }

    /// Advance only the shared conditions and substation `i` to `ts`: what substation `i`
    /// does depends on nothing else, so a look-ahead of one meter need not run the plant.
    pub fn step_one_substation(&mut self, ts: TimestampMs, i: usize) {
        let env = self.begin_step(ts);
        let feed = feed(
            &self.networks,
            &self.cond,
            &self.table_now,
            &self.substations[i],
            i,
        );
        self.substations[i].step(&env, &feed);
    }

    /// Advance the physics to `ts` (one step of `dt_s`) under `self.cond`.
    pub fn step(&mut self, ts: TimestampMs) {
        let dt = self.dt_s;
        let env = self.begin_step(ts);
        let wx = self.weather_now;
        self.acc.iter_mut().for_each(|a| *a = (0.0, 0.0));
        for (i, s) in self.substations.iter_mut().enumerate() {
            let feed = feed(&self.networks, &self.cond, &self.table_now, s, i);
            s.step(&env, &feed);
            self.acc[s.network].0 += s.power_mw;
            self.acc[s.network].1 += s.flow_m3h;
        }
        let acc = &self.acc;
        for (i, n) in self.networks.iter_mut().enumerate() {
            let leak = self.cond.leak_factor.get(i).copied().unwrap_or(1.0);
            let need = n.request(acc[i].0, acc[i].1, (wx.ground_c, wx.cold_water_c), leak);
            let got =
                self.dispatchers[i].dispatch(&self.units, &self.own_use, need, &mut self.unit_heat);
            n.integrate(got, wx.ground_c, dt);
            for &u in &self.network_units[i] {
                self.units[u].run(self.unit_heat[u], (n.supply_c, n.return_c), dt);
            }
        }
        for s in &mut self.sources {
            let heat: f64 = s.units.iter().map(|&u| self.units[u].heat_mw).sum();
            let net = &self.networks[s.network];
            s.out_mw = heat * (1.0 - s.own_use);
            s.out_gj += s.out_mw * dt / 1000.0;
            s.own_use_gj += heat * s.own_use * dt / 1000.0;
            s.flow_m3h = if net.heat_in_mw > 0.0 {
                net.plant_flow_m3h * s.out_mw / net.heat_in_mw
            } else {
                0.0
            };
            s.volume_m3 += s.flow_m3h * dt / 3600.0;
        }
        for (i, s) in self.stacks.iter_mut().enumerate() {
            let factor = self.cond.stack_factor.get(i).copied().unwrap_or([1.0; 4]);
            let mode = self.cond.stack_mode.get(i).copied().flatten();
            s.step(&self.units, &factor, mode, self.clock.hour);
        }
    }

    /// The value of quantity `q` of asset `a` in canonical units, as its instrument shows it
    /// (the CEMS values follow the analyser's mode); `None` if the asset has no such quantity.
    pub fn value(&self, a: AssetRef, q: Quantity) -> Option<f64> {
        use Quantity as Q;
        Some(match a {
            AssetRef::Substation(i) => {
                let s = &self.substations[i];
                match q {
                    Q::HeatEnergy => s.energy_gj,
                    Q::Volume => s.volume_m3,
                    Q::Flow => s.flow_m3h,
                    Q::SupplyTemp => s.supply_c,
                    Q::ReturnTemp => s.return_c,
                    Q::HeatPower => s.power_mw,
                    Q::DiffPressure => s.dp_bar,
                    Q::DeviceStatus => 0.0,
                    _ => return None,
                }
            }
            AssetRef::Outlet(i) => {
                let s = &self.sources[i];
                let n = &self.networks[s.network];
                match q {
                    Q::HeatEnergy => s.out_gj,
                    Q::Volume => s.volume_m3,
                    Q::Flow => s.flow_m3h,
                    Q::SupplyTemp => n.supply_c,
                    Q::ReturnTemp => n.return_c,
                    Q::HeatPower => s.out_mw,
                    Q::DiffPressure => n.dp_bar,
                    Q::DeviceStatus => 0.0,
                    _ => return None,
                }
            }
            AssetRef::Unit(i) => {
                let u = &self.units[i];
                match q {
                    Q::HeatEnergy => u.heat_gj,
                    Q::Volume => u.volume_m3,
                    Q::Flow => u.flow_m3h,
                    Q::SupplyTemp => u.supply_c,
                    Q::ReturnTemp => u.return_c,
                    Q::HeatPower => u.heat_mw,
                    Q::FuelMass if u.fuel.is_solid() => u.fuel_qty,
                    Q::FuelVolume if matches!(u.fuel, Fuel::NaturalGas) => u.fuel_qty,
                    Q::Electricity => u.el_mwh,
                    Q::Lhv => u.lhv,
                    // Bit 0: firing.
                    Q::DeviceStatus => f64::from(u8::from(u.running())),
                    _ => return None,
                }
            }
            AssetRef::Stack(i) => {
                let s = &self.stacks[i];
                let v = &s.shown;
                match q {
                    Q::O2 => v.o2,
                    Q::H2o => v.h2o,
                    Q::So2 => v.conc[0],
                    Q::Nox => v.conc[1],
                    Q::Dust => v.conc[2],
                    Q::Co => v.conc[3],
                    Q::FlueGasFlow => v.flow_nm3h,
                    Q::DeviceStatus => f64::from(s.status),
                    _ => return None,
                }
            }
            AssetRef::Station(i) => match q {
                Q::OutdoorTemp => self.stations[i].value_c,
                Q::DeviceStatus => 0.0,
                _ => return None,
            },
            AssetRef::Makeup(i) => {
                let n = &self.networks[i];
                match q {
                    Q::MakeupWater => n.makeup_m3,
                    Q::Flow => n.leak_m3h,
                    Q::DeviceStatus => 0.0,
                    _ => return None,
                }
            }
        })
    }

    /// A typical rate of a counter, canonical units per hour: sets plausible register readings
    /// of meters that have been counting for years before the simulation starts.
    pub fn typical_rate(&self, a: AssetRef, q: Quantity) -> f64 {
        let mw = match a {
            AssetRef::Substation(i) => self.substations[i].ordered_mw,
            AssetRef::Unit(i) => self.units[i].rated_mw,
            AssetRef::Outlet(i) => self.sources[i]
                .units
                .iter()
                .map(|&u| self.units[u].rated_mw)
                .sum(),
            AssetRef::Makeup(i) => return self.networks[i].base_leak_m3h,
            AssetRef::Stack(_) | AssetRef::Station(_) => 0.0,
        } * 0.35;
        match q {
            Quantity::HeatEnergy => mw * 3.6,
            Quantity::Volume => mw * 3600.0 / (4.1 * 40.0),
            Quantity::FuelMass => mw * 3.6 / 0.8 / self.physics.coal_lhv_gj_t,
            Quantity::FuelVolume => mw * 3.6 / 0.85 / self.physics.gas_lhv_gj_nm3,
            Quantity::Electricity => mw * 0.8,
            _ => 0.0,
        }
    }
}

/// What the network offers substation `s` (index `i`) under the scenario's conditions.
fn feed(
    networks: &[NetworkSim],
    cond: &Conditions,
    table_now: &[(f64, f64)],
    s: &SubstationSim,
    i: usize,
) -> Feed {
    let net = &networks[s.network];
    let off = !net.running
        || cond.branch_off.get(s.branch).copied().unwrap_or(false)
        || cond.substation_off.get(i).copied().unwrap_or(false);
    Feed {
        on: !off,
        supply_c: net.supply_c - cond.branch_delta.get(s.branch).copied().unwrap_or(0.0),
        return_table_c: table_now[s.table].1,
        dp_plant_bar: net.dp_bar,
        flow_ratio_sq: net.flow_ratio_sq(),
    }
}
