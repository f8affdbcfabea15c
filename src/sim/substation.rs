//! Substations (węzły cieplne): space-heating and DHW demand, and what the heat meter sees.
//!
//! Space heating follows the degree-day model the evaluator normalises with (domain.md §5.2):
//! `P_SH = H × (T_base − T_b)` while the building's lagged outdoor temperature `T_b` is below
//! the heating limit, with `H` (MW/K) derived from the ordered capacity and the heated area. DHW
//! follows a daily profile with morning and evening peaks. The supply temperature is the
//! network's, minus transport cooling; the return temperature is the regulation table's plus the
//! substation's own cooling quality. Flow is what carries the power across that Δθ, capped by
//! the control valve; energy and volume registers integrate it exactly as a meter does.

use super::rng::{Ar1, Rng};
use super::water;
use crate::config::sim::PhysicsConfig;
use crate::model::asset::Substation;

/// Temperature a substation room settles to; stagnant pipes cool towards it.
const ROOM_C: f64 = 20.0;
/// Cooling of stagnant water at the meter's sensors after supply is lost.
const OUTAGE_TAU_S: f64 = 90.0 * 60.0;
/// Cooling of the sensors when the valve is closed for lack of demand (insulated, slower).
const IDLE_TAU_S: f64 = 3.0 * 3600.0;
/// Sensor and mixing dynamics of the supply and return temperatures.
const SUPPLY_TAU_S: f64 = 5.0 * 60.0;
const RETURN_TAU_S: f64 = 15.0 * 60.0;
/// Power below which the substation's valve is closed.
const IDLE_MW: f64 = 1e-6;

/// Hourly DHW draw weights, working days and weekends (normalised to mean 1 in [`dhw_profile`]).
const DHW_WORKDAY: [f64; 24] = [
    0.3, 0.2, 0.2, 0.2, 0.3, 0.8, 1.8, 2.0, 1.4, 1.0, 0.9, 0.9, 1.0, 0.9, 0.8, 0.8, 1.0, 1.3, 1.7,
    2.0, 1.9, 1.5, 0.9, 0.5,
];
const DHW_WEEKEND: [f64; 24] = [
    0.4, 0.3, 0.2, 0.2, 0.2, 0.3, 0.6, 1.0, 1.6, 1.9, 1.7, 1.4, 1.3, 1.1, 1.0, 0.9, 1.0, 1.2, 1.6,
    1.9, 1.8, 1.4, 1.0, 0.6,
];

/// The DHW draw at local `hour` (0–24) relative to the daily mean, interpolated between hours.
pub fn dhw_profile(hour: f64, weekend: bool) -> f64 {
    let w = if weekend { &DHW_WEEKEND } else { &DHW_WORKDAY };
    let mean = w.iter().sum::<f64>() / 24.0;
    let h = hour.rem_euclid(24.0);
    let i = h.floor() as usize % 24;
    let f = h - h.floor();
    (w[i] * (1.0 - f) + w[(i + 1) % 24] * f) / mean
}

/// Space-heating schedule of weather-compensated controllers: a night setback and a morning
/// boost that recovers it.
pub fn heating_schedule(hour: f64) -> f64 {
    match hour {
        h if !(5.0..22.0).contains(&h) => 0.88,
        h if h < 7.0 => 1.12,
        _ => 1.0,
    }
}

/// First-order lag factors `e^(−dt/τ)` of the sensor dynamics for one step length, computed
/// once per step rather than once per substation.
#[derive(Debug, Clone, Copy)]
pub struct Lags {
    outage: f64,
    idle: f64,
    supply: f64,
    ret: f64,
}

impl Lags {
    /// The factors for steps of `dt_s`.
    pub fn new(dt_s: f64) -> Self {
        let f = |tau: f64| (-dt_s / tau).exp();
        Lags {
            outage: f(OUTAGE_TAU_S),
            idle: f(IDLE_TAU_S),
            supply: f(SUPPLY_TAU_S),
            ret: f(RETURN_TAU_S),
        }
    }
}

/// `x` moved towards `target` by the lag factor `a`.
fn towards(x: f64, target: f64, a: f64) -> f64 {
    target + (x - target) * a
}

/// Conditions common to all substations in one step.
#[derive(Debug, Clone, Copy)]
pub struct StepEnv {
    /// Step length, s.
    pub dt_s: f64,
    /// Lag factors for `dt_s`.
    pub lags: Lags,
    /// Outdoor temperature as the buildings feel it, °C.
    pub building_outdoor_c: f64,
    /// Degree-day base, °C.
    pub hdd_base_c: f64,
    /// Heating limit, °C.
    pub heating_limit_c: f64,
    /// Space-heating schedule factor.
    pub sh_factor: f64,
    /// DHW draw factor (profile × cold-water temperature).
    pub dhw_factor: f64,
    /// Cold water temperature, °C.
    pub cold_water_c: f64,
}

/// What the network offers one substation in one step.
#[derive(Debug, Clone, Copy)]
pub struct Feed {
    /// Whether the substation is supplied at all.
    pub on: bool,
    /// Supply temperature at the plant for this branch, °C (after any degradation).
    pub supply_c: f64,
    /// Return temperature of the substation's regulation table, °C.
    pub return_table_c: f64,
    /// Differential pressure at the plant, bar.
    pub dp_plant_bar: f64,
    /// (network flow / design flow)²: pressure drop along the branch grows with it.
    pub flow_ratio_sq: f64,
}

/// One simulated substation: parameters and state.
#[derive(Debug, Clone)]
pub struct SubstationSim {
    /// Network index.
    pub network: usize,
    /// Global branch index.
    pub branch: usize,
    /// Regulation-table index for the return temperature.
    pub table: usize,
    /// Ordered capacity, MW.
    pub ordered_mw: f64,
    /// Building heat-loss coefficient, MW/K.
    pub h_mw_per_k: f64,
    /// Mean DHW power, MW.
    pub dhw_mean_mw: f64,
    /// Flow the control valve can pass, m³/h.
    pub max_flow_m3h: f64,
    /// Transport cooling from the plant at full load, K.
    pub drop_k: f64,
    /// Return temperature above the table (poor cooling > 0), K.
    pub return_bias_k: f64,
    /// Position along its branch, 0 (plant) – 1 (far end).
    pub distance: f64,
    rng: Rng,
    sh_noise: Ar1,
    dhw_noise: Ar1,
    ret_noise: Ar1,
    /// Supply temperature at the meter, °C.
    pub supply_c: f64,
    /// Return temperature at the meter, °C.
    pub return_c: f64,
    /// Volume flow, m³/h.
    pub flow_m3h: f64,
    /// Heat power delivered, MW.
    pub power_mw: f64,
    /// Differential pressure, bar.
    pub dp_bar: f64,
    /// Heat the building asked for, MW.
    pub demand_mw: f64,
    /// Delivered energy since the simulation began, GJ.
    pub energy_gj: f64,
    /// Volume since the simulation began, m³.
    pub volume_m3: f64,
    /// Heat asked for but not delivered (outages, degraded supply), GJ.
    pub unsupplied_gj: f64,
}

impl SubstationSim {
    /// A substation for the asset `s`, drawing from its own random stream `index`, stepped
    /// every `dt` seconds.
    pub fn new(
        s: &Substation,
        physics: &PhysicsConfig,
        (network, branch, table): (usize, usize, usize),
        seed: u64,
        index: u64,
        dt: f64,
    ) -> Self {
        let mut rng = Rng::new(seed, 0x5B_0000 + index);
        let dhw_mean = if s.dhw {
            physics.dhw_share * s.ordered_capacity_mw
        } else {
            0.0
        };
        // Ordered capacity covers the space-heating design load plus the DHW peak (≈ 2 × mean),
        // booked with a margin (`capacity_use`). The heated area gives a second estimate at
        // 55 W/m², the design load of the Polish multi-family stock; take their mean.
        let design_span_k = physics.hdd_base_c - physics.design_outdoor_c;
        let sh_design = (s.ordered_capacity_mw - 2.0 * dhw_mean).max(0.0) * physics.capacity_use;
        let h_capacity = sh_design / design_span_k;
        let h_area = s.heated_area_m2 * 55e-6 / design_span_k;
        let h = if s.heated_area_m2 > 0.0 {
            0.5 * (h_capacity + h_area)
        } else {
            h_capacity
        } * rng.range(0.92, 1.08);
        let design_dt = s.design_delta_t_k.max(10.0);
        let max_flow = 1.15 * s.ordered_capacity_mw * 3600.0 / (4.1 * design_dt);
        let distance = rng.range(0.1, 1.0);
        // One substation in seven has a poor-cooling fault (bypass, fouled exchanger): Gadd &
        // Werner found faults in most substations they studied (domain.md §5.5).
        let poor = if rng.uniform() < 0.15 {
            rng.range(5.0, 10.0)
        } else {
            0.0
        };
        SubstationSim {
            network,
            branch,
            table,
            ordered_mw: s.ordered_capacity_mw,
            h_mw_per_k: h,
            dhw_mean_mw: dhw_mean,
            max_flow_m3h: max_flow,
            drop_k: rng.range(0.5, 2.5) * (1.0 + distance),
            return_bias_k: 2.0 * rng.normal() + poor,
            distance,
            sh_noise: Ar1::new(&mut rng, 0.04, 2.0 * 3600.0, dt),
            dhw_noise: Ar1::new(&mut rng, 0.35, 600.0, dt),
            ret_noise: Ar1::new(&mut rng, 0.3, 1200.0, dt),
            rng,
            supply_c: 70.0,
            return_c: 45.0,
            flow_m3h: 0.0,
            power_mw: 0.0,
            dp_bar: 0.0,
            demand_mw: 0.0,
            energy_gj: 0.0,
            volume_m3: 0.0,
            unsupplied_gj: 0.0,
        }
    }

    /// Advance one step.
    pub fn step(&mut self, env: &StepEnv, feed: &Feed) {
        let dt = env.dt_s;
        let tb = env.building_outdoor_c;
        // Controllers switch heating off over a 2 K band around the heating limit.
        let ramp = ((env.heating_limit_c + 1.0 - tb) / 2.0).clamp(0.0, 1.0);
        let sh = self.h_mw_per_k
            * (env.hdd_base_c - tb).max(0.0)
            * ramp
            * env.sh_factor
            * (1.0 + self.sh_noise.step(&mut self.rng));
        let dhw = self.dhw_mean_mw * env.dhw_factor * (1.0 + self.dhw_noise.step(&mut self.rng));
        let demand = sh.max(0.0) + dhw.max(0.0);
        self.demand_mw = demand;
        let ret_noise = self.ret_noise.step(&mut self.rng);
        let dp_noise = self.rng.normal();

        if !feed.on {
            // Branch valve closed or pumps off: no flow, Δp collapses, the water cools.
            self.power_mw = 0.0;
            self.flow_m3h = 0.0;
            self.supply_c = towards(self.supply_c, ROOM_C, env.lags.outage);
            self.return_c = towards(self.return_c, ROOM_C, env.lags.outage);
            self.dp_bar = (0.02 + 0.01 * dp_noise).max(0.0);
            self.unsupplied_gj += demand * dt / 1000.0;
            return;
        }
        let dp = feed.dp_plant_bar * (1.0 - 0.75 * self.distance * feed.flow_ratio_sq);
        self.dp_bar = (dp + 0.03 * dp_noise).max(0.05);
        if demand < IDLE_MW {
            // Supplied but nothing asked (summer, no DHW): the valve is shut and the sensors
            // cool — zero flow alone does not mean an interruption (domain.md §6.2).
            self.power_mw = 0.0;
            self.flow_m3h = 0.0;
            self.supply_c = towards(self.supply_c, ROOM_C + 10.0, env.lags.idle);
            self.return_c = towards(self.return_c, ROOM_C + 5.0, env.lags.idle);
            return;
        }
        let load = (self.flow_m3h / self.max_flow_m3h).min(1.0);
        // Transport cooling grows as the flow falls (longer residence time in the pipe).
        let target_f = feed.supply_c - self.drop_k * (1.5 - 0.5 * load);
        self.supply_c = towards(self.supply_c, target_f, env.lags.supply);
        let target_r = (feed.return_table_c + self.return_bias_k + ret_noise)
            .max(env.cold_water_c + 5.0)
            .min(self.supply_c - 1.0);
        self.return_c = towards(self.return_c, target_r, env.lags.ret).min(self.supply_c - 1.0);
        // Flow that carries the demand across Δθ, capped by the valve; power is what that flow
        // carries, so the meter identity E = V·k·Δθ holds exactly.
        let dtheta = self.supply_c - self.return_c;
        let k = water::heat_coefficient(self.supply_c, self.return_c);
        let flow = (demand * 3600.0 / (k * dtheta)).min(self.max_flow_m3h);
        self.flow_m3h = flow;
        self.power_mw = flow / 3600.0 * k * dtheta;
        self.energy_gj += self.power_mw * dt / 1000.0;
        self.volume_m3 += flow * dt / 3600.0;
        self.unsupplied_gj += (demand - self.power_mw).max(0.0) * dt / 1000.0;
    }
}

/// `count` substations for a generated utility: ids `ss-0001`…, lognormal ordered capacity
/// (median 0.4 MW), 50–80 W/m² design load, 85 % with DHW, spread round-robin over `branches`.
pub fn generate(count: usize, branches: usize, network: &str, seed: u64) -> Vec<Substation> {
    let mut rng = Rng::new(seed, 0x6E4E);
    let branches = branches.max(1);
    (0..count)
        .map(|i| {
            let p = (0.4 * (0.6 * rng.normal()).exp()).clamp(0.08, 3.0);
            let area = p * 1e6 / rng.range(50.0, 80.0);
            Substation {
                id: format!("ss-{:04}", i + 1),
                name: format!("Substation {}", i + 1),
                network: network.to_string(),
                branch: Some(format!("b{}", i % branches + 1)),
                ordered_capacity_mw: (p * 1000.0).round() / 1000.0,
                heated_area_m2: area.round(),
                customers: ((area / 55.0).round() as u32).max(1),
                regulation: None,
                design_delta_t_k: rng.range(45.0, 60.0).round(),
                dhw: rng.uniform() < 0.85,
                meter_class: 2,
                capacity_fee_pln_per_mw_month: None,
                manual_read: false,
                baseline: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhw_profile_has_mean_one_and_two_peaks() {
        let mean: f64 = (0..24 * 60)
            .map(|m| dhw_profile(m as f64 / 60.0, false))
            .sum::<f64>()
            / 1440.0;
        assert!((mean - 1.0).abs() < 1e-9, "{mean}");
        assert!(dhw_profile(7.0, false) > 1.5 && dhw_profile(19.0, false) > 1.5);
        assert!(dhw_profile(3.0, false) < 0.3);
    }

    #[test]
    fn supplied_substation_delivers_its_demand_and_an_outage_stops_it() {
        let asset = &generate(1, 1, "n", 1)[0];
        let mut s = SubstationSim::new(asset, &PhysicsConfig::default(), (0, 0, 0), 1, 0, 60.0);
        let env = StepEnv {
            dt_s: 60.0,
            lags: Lags::new(60.0),
            building_outdoor_c: -1.0,
            hdd_base_c: 18.0,
            heating_limit_c: 15.0,
            sh_factor: 1.0,
            dhw_factor: 1.0,
            cold_water_c: 8.0,
        };
        let mut feed = Feed {
            on: true,
            supply_c: 90.0,
            return_table_c: 50.0,
            dp_plant_bar: 4.5,
            flow_ratio_sq: 0.25,
        };
        for _ in 0..600 {
            s.step(&env, &feed);
        }
        assert!((s.power_mw - s.demand_mw).abs() < 1e-9);
        assert!(s.supply_c > 80.0 && s.return_c < s.supply_c);
        // Meter identity: power = q · k · Δθ.
        let p = water::power_mw(s.flow_m3h, s.supply_c, s.return_c);
        assert!((p - s.power_mw).abs() < 1e-12);
        let e = s.energy_gj;
        feed.on = false;
        for _ in 0..240 {
            s.step(&env, &feed);
        }
        assert_eq!(s.energy_gj, e);
        assert!(s.flow_m3h == 0.0 && s.dp_bar < 0.1 && s.supply_c < 50.0);
        assert!(s.unsupplied_gj > 0.0);
    }
}
