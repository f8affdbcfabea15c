//! The heat network: supply temperature control, pipe losses, leaks, make-up water and the heat
//! stored in the network water.
//!
//! The network is one lumped water mass at its mean temperature. Each step the plant is asked for
//! `deliveries + pipe losses + leak losses + C·(T_target − T_mean)/τ`, and whatever it really
//! gives moves the mean temperature: `C·ΔT_mean = (P_in − P_del − P_loss − P_leak)·Δt`. So
//! `heat introduced = delivered + losses + ΔQ_stored` holds every step by construction
//! (domain.md §4.2), and the stored term is the real physics of a network warming up after a
//! stop or cooling during a cold snap's shift in the regulation table.
//!
//! Pipe losses are `U·L·(T_mean − T_ground)`: proportional to trench length and to the water's
//! temperature above the ground, so summer losses are smaller in MW but a larger share of the
//! small DHW-only sales.

use super::rng::{Ar1, Rng, lag};
use super::water;
use crate::config::sim::PhysicsConfig;
use crate::model::asset::Network;

/// Response time of the plant's supply-temperature control.
const SUPPLY_TAU_S: f64 = 20.0 * 60.0;
/// Time over which the dispatcher brings the network mean temperature back to target.
const CONTROL_TAU_S: f64 = 2.0 * 3600.0;
/// Nominal pump differential pressure at the plant, bar.
const DP_PLANT_BAR: f64 = 4.5;
/// Minimum circulation through the plant's bypass as a share of design flow.
const MIN_CIRCULATION: f64 = 0.05;

/// One simulated network.
#[derive(Debug, Clone)]
pub struct NetworkSim {
    /// Network id.
    pub id: String,
    /// Regulation-table index.
    pub table: usize,
    /// Weather-station index.
    pub station: usize,
    /// Water volume (zład), m³.
    pub volume_m3: f64,
    /// Pipe loss coefficient U·L, MW/K.
    pub ua_mw_per_k: f64,
    /// Usual leak (make-up) rate, m³/h.
    pub base_leak_m3h: f64,
    /// Design flow (sum of the substations' valve capacities), m³/h.
    pub design_flow_m3h: f64,
    // Two streams: the supply control must not depend on the leak, so a look-ahead of one
    // substation (engine::Simulation::probe) reproduces its supply temperature exactly.
    rng: Rng,
    leak_rng: Rng,
    leak_noise: Ar1,
    supply_noise: Ar1,
    /// Whether the plant feeds the network (false during a network-wide planned stop).
    pub running: bool,
    /// Supply temperature at the plant outlet, °C.
    pub supply_c: f64,
    /// Return temperature at the plant inlet, °C.
    pub return_c: f64,
    /// Lumped mean water temperature, °C.
    pub mean_c: f64,
    /// Flow through the plant, m³/h.
    pub plant_flow_m3h: f64,
    /// Flow to the substations, m³/h.
    pub substation_flow_m3h: f64,
    /// Differential pressure at the plant, bar.
    pub dp_bar: f64,
    /// Leak rate = make-up water flow, m³/h.
    pub leak_m3h: f64,
    /// Powers of the last step, MW.
    pub heat_in_mw: f64,
    /// See `heat_in_mw`.
    pub delivered_mw: f64,
    /// See `heat_in_mw`.
    pub loss_pipe_mw: f64,
    /// See `heat_in_mw`.
    pub loss_leak_mw: f64,
    /// Cumulative make-up water since the simulation began, m³.
    pub makeup_m3: f64,
    /// Mean-temperature target of the last step, °C.
    pub target_mean_c: f64,
    /// Cumulative energies since the simulation began, GJ: introduced, delivered, pipe
    /// losses, leak losses.
    pub heat_in_gj: f64,
    /// See `heat_in_gj`.
    pub delivered_gj: f64,
    /// See `heat_in_gj`.
    pub loss_pipe_gj: f64,
    /// See `heat_in_gj`.
    pub loss_leak_gj: f64,
}

impl NetworkSim {
    /// The network for asset `n`; `design_flow_m3h` is the sum of its substations' valves.
    pub fn new(
        n: &Network,
        physics: &PhysicsConfig,
        (table, station): (usize, usize),
        design_flow_m3h: f64,
        (seed, index): (u64, u64),
        dt: f64,
    ) -> Self {
        let mut rng = Rng::new(seed, 0x4E_0000 + index);
        let mut leak_rng = Rng::new(seed, 0x4F_0000 + index);
        NetworkSim {
            id: n.id.clone(),
            table,
            station,
            volume_m3: n.water_volume_m3,
            ua_mw_per_k: physics.pipe_loss_w_per_m_k * n.length_km * 1000.0 / 1e6,
            base_leak_m3h: physics.makeup_exchange_per_year * n.water_volume_m3 / 8760.0,
            design_flow_m3h: design_flow_m3h.max(1.0),
            leak_noise: Ar1::new(&mut leak_rng, 0.15, 6.0 * 3600.0, dt),
            supply_noise: Ar1::new(&mut rng, 0.4, 600.0, dt),
            rng,
            leak_rng,
            running: true,
            supply_c: 80.0,
            return_c: 50.0,
            mean_c: 65.0,
            plant_flow_m3h: 0.0,
            substation_flow_m3h: 0.0,
            dp_bar: DP_PLANT_BAR,
            leak_m3h: 0.0,
            heat_in_mw: 0.0,
            delivered_mw: 0.0,
            loss_pipe_mw: 0.0,
            loss_leak_mw: 0.0,
            makeup_m3: 0.0,
            target_mean_c: 65.0,
            heat_in_gj: 0.0,
            delivered_gj: 0.0,
            loss_pipe_gj: 0.0,
            loss_leak_gj: 0.0,
        }
    }

    /// Heat capacity of the network water, MJ/K. Constant (ρ·cp ≈ 4.1 MJ/(m³·K) at network
    /// temperatures) so that ΔQ_stored = C·ΔT_mean is exact; the 2 % density change between 50
    /// and 90 °C does not matter for a balance.
    pub fn capacity(&self) -> f64 {
        self.volume_m3 * 4.1
    }

    /// Heat stored in the water above 0 °C, GJ (the reference cancels in differences).
    pub fn stored_gj(&self) -> f64 {
        self.capacity() * self.mean_c / 1000.0
    }

    /// Set the plant supply temperature for this step from the regulation table `(supply,
    /// return)` at the dispatcher's outdoor temperature, lowered by `delta_k` when degraded.
    pub fn prepare(&mut self, table: (f64, f64), delta_k: f64, running: bool, dt: f64) {
        self.running = running;
        let noise = self.supply_noise.step(&mut self.rng);
        if running {
            self.supply_c = lag(self.supply_c, table.0 - delta_k + noise, SUPPLY_TAU_S, dt);
            self.dp_bar = DP_PLANT_BAR + 0.05 * noise;
        } else {
            self.supply_c = lag(self.supply_c, self.mean_c, SUPPLY_TAU_S, dt);
            self.dp_bar = 0.0;
        }
        self.target_mean_c = 0.5 * (table.0 - delta_k + table.1);
    }

    /// (network flow / design flow)² of the last step.
    pub fn flow_ratio_sq(&self) -> f64 {
        let r = self.substation_flow_m3h / self.design_flow_m3h;
        r * r
    }

    /// What the plant is asked for this step, MW, given the substations' deliveries and flow.
    pub fn request(
        &mut self,
        delivered_mw: f64,
        substation_flow_m3h: f64,
        (ground_c, cold_c): (f64, f64),
        leak_factor: f64,
    ) -> f64 {
        self.delivered_mw = delivered_mw;
        self.substation_flow_m3h = substation_flow_m3h;
        let noise = self.leak_noise.step(&mut self.leak_rng);
        self.leak_m3h = (self.base_leak_m3h * leak_factor * (1.0 + noise)).max(0.0);
        self.loss_pipe_mw = (self.ua_mw_per_k * (self.mean_c - ground_c)).max(0.0);
        // Leaked water leaves at the network temperature and is replaced by cold water.
        self.loss_leak_mw = (self.leak_m3h / 3600.0 * 4.1 * (self.mean_c - cold_c)).max(0.0);
        if !self.running {
            return 0.0;
        }
        let c = self.capacity();
        let correction = c * (self.target_mean_c - self.mean_c) / CONTROL_TAU_S;
        (delivered_mw + self.loss_pipe_mw + self.loss_leak_mw + correction).max(0.0)
    }

    /// Apply the heat the plant really gave, MW, over `dt` seconds.
    pub fn integrate(&mut self, heat_in_mw: f64, ground_c: f64, dt: f64) {
        self.heat_in_mw = heat_in_mw;
        let net = heat_in_mw - self.delivered_mw - self.loss_pipe_mw - self.loss_leak_mw;
        self.mean_c += net * dt / self.capacity();
        self.heat_in_gj += heat_in_mw * dt / 1000.0;
        self.delivered_gj += self.delivered_mw * dt / 1000.0;
        self.loss_pipe_gj += self.loss_pipe_mw * dt / 1000.0;
        self.loss_leak_gj += self.loss_leak_mw * dt / 1000.0;
        self.makeup_m3 += self.leak_m3h * dt / 3600.0;
        let flow = self.substation_flow_m3h + self.leak_m3h;
        if !self.running || heat_in_mw <= 0.0 {
            self.plant_flow_m3h = 0.0;
            self.return_c = lag(self.return_c, self.mean_c.min(self.supply_c), 1800.0, dt);
            return;
        }
        // The plant return follows from the energy its outlet meter registers: E = V·k·Δθ.
        let q = flow.max(MIN_CIRCULATION * self.design_flow_m3h);
        let k = water::heat_coefficient(self.supply_c, self.return_c);
        let max_dtheta = (self.supply_c - ground_c - 5.0).max(0.5);
        let dtheta = (heat_in_mw * 3600.0 / (k * q)).clamp(0.5, max_dtheta);
        self.return_c = self.supply_c - dtheta;
        self.plant_flow_m3h = water::flow_m3h(heat_in_mw, self.supply_c, self.return_c);
    }
}
