//! Properties of network water.
//!
//! Heat meters integrate `q_v · k(θf, θr) · (θf − θr)` (EN 1434); the simulator uses the same
//! heat coefficient for its meters and its energy balance, so metered and true energy agree to
//! the register resolution.

/// Density of water at `theta_c`, kg/m³: a cubic least-squares fit to the IAPWS values from
/// 10 to 130 °C, within 0.13 kg/m³ (20 °C: 998.2, 70 °C: 977.8, 100 °C: 958.4). A polynomial
/// rather than a power law because it runs for every substation every step.
pub fn density(theta_c: f64) -> f64 {
    let t = theta_c;
    1000.652 + t * (-0.035_677 + t * (-0.004_761_2 + t * 8.82e-6))
}

/// Specific heat capacity of water at `theta_c`, kJ/(kg·K): minimum 4.178 near 35 °C,
/// 4.197 at 80 °C, 4.218 at 100 °C.
pub fn specific_heat(theta_c: f64) -> f64 {
    let d = theta_c - 35.0;
    4.178 + 9.5e-6 * d * d
}

/// EN 1434 heat coefficient for a meter whose flow sensor sits in the return pipe (the usual
/// place in Polish substations), MJ/(m³·K): ρ(θr) × c̄p(θf, θr).
pub fn heat_coefficient(supply_c: f64, return_c: f64) -> f64 {
    density(return_c) * specific_heat(0.5 * (supply_c + return_c)) / 1000.0
}

/// Heat power, MW, for a volume flow in m³/h across `supply_c` → `return_c`.
#[cfg(test)]
pub fn power_mw(flow_m3h: f64, supply_c: f64, return_c: f64) -> f64 {
    flow_m3h / 3600.0 * heat_coefficient(supply_c, return_c) * (supply_c - return_c)
}

/// The volume flow, m³/h, that carries `power_mw` across `supply_c` → `return_c`.
pub fn flow_m3h(power_mw: f64, supply_c: f64, return_c: f64) -> f64 {
    let dt = supply_c - return_c;
    if dt <= 0.0 {
        return 0.0;
    }
    power_mw * 3600.0 / (heat_coefficient(supply_c, return_c) * dt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficient_in_the_range_of_domain_md() {
        // domain.md §0.1: ρ·cp ≈ 4.10–4.15 MJ/(m³·K) at 40–70 °C.
        let k = heat_coefficient(70.0, 40.0);
        assert!((4.10..4.16).contains(&k), "{k}");
        // 1 MW across 90/50 °C: 3600 MJ/h / (k × 40 K) ≈ 22 m³/h.
        let q = flow_m3h(1.0, 90.0, 50.0);
        assert!((q - 22.0).abs() < 0.5, "{q}");
        assert!((power_mw(q, 90.0, 50.0) - 1.0).abs() < 1e-12);
        assert!((density(70.0) - 977.8).abs() < 0.5);
        assert!((density(100.0) - 958.4).abs() < 0.5);
    }
}
