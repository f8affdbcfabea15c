//! Rational use of delivered heat (domain.md §5): pure formulas, no I/O.
//!
//! - volume-weighted cooling `ΔT_w = Q [kWh] / (k × V [m³])` and return temperature
//!   `T_r,w = Σ(V_i·T_r,i) / ΣV_i` (§5.2);
//! - return-temperature excess hours against the regulation table + tolerance, and episodes
//!   (runs longer than 24 h, §5.4);
//! - heating degree days, Eurostat `HDD_day = 18 − T_m if T_m ≤ 15 °C` (§5.2), base and
//!   threshold configurable;
//! - weather normalisation against the `E = a + b·Sd` baseline, specific consumption per m²,
//!   capacity utilisation `P_max,1h / P_ordered` (§5.2);
//! - the reference cooling the ΔT rule of §5.5 judges against.

use crate::model::quantity::GJ_PER_MWH;
use crate::model::time::Window;

/// kWh per GJ.
pub const KWH_PER_GJ: f64 = 1000.0 / GJ_PER_MWH;

/// `ΔT_w = Q / (k × V)` in K, with Q in GJ (converted to kWh), V in m³ and k in
/// kWh/(m³·K); `None` without flow.
pub fn volume_weighted_cooling_k(heat_gj: f64, volume_m3: f64, k_kwh_per_m3_k: f64) -> Option<f64> {
    (volume_m3 > 0.0 && k_kwh_per_m3_k > 0.0)
        .then(|| heat_gj * KWH_PER_GJ / (k_kwh_per_m3_k * volume_m3))
}

/// `Σ(V_i·T_i) / ΣV_i` over `(volume, temperature)` pairs with a positive volume.
pub fn volume_weighted_mean(pairs: &[(f64, f64)]) -> Option<f64> {
    let (num, den) = pairs
        .iter()
        .filter(|(v, _)| *v > 0.0)
        .fold((0.0, 0.0), |(n, d), (v, t)| (n + v * t, d + v));
    (den > 0.0).then(|| num / den)
}

/// Degree days of one day with mean outdoor temperature `t_mean_c` (Eurostat Sd(18; 15)):
/// `base − T_m` if `T_m ≤ threshold`, else 0.
pub fn degree_days(t_mean_c: f64, base_c: f64, threshold_c: f64) -> f64 {
    if t_mean_c <= threshold_c {
        base_c - t_mean_c
    } else {
        0.0
    }
}

/// Heating degree days of a run of days (`None` = the day's mean is missing): the sum over
/// the days with a mean, and the number of days without one.
pub fn heating_degree_days(
    daily_means: &[Option<f64>],
    base_c: f64,
    threshold_c: f64,
) -> (f64, usize) {
    let hdd = daily_means
        .iter()
        .flatten()
        .map(|t| degree_days(*t, base_c, threshold_c))
        .sum();
    (hdd, daily_means.iter().filter(|d| d.is_none()).count())
}

/// The highest acceptable return temperature: the table's return × (1 + tolerance/100).
pub fn return_limit_c(table_return_c: f64, tolerance_pct: f64) -> f64 {
    table_return_c * (1.0 + tolerance_pct / 100.0)
}

/// What one hour shows about the return temperature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnHour {
    /// Above the table + tolerance.
    Excess,
    /// At or below it.
    Within,
    /// Not evaluated (no flow, no data, below Δθmin, no outdoor temperature).
    Unknown,
}

/// Runs of excess hours, bridging hours that were not evaluated (an unknown hour neither
/// breaks a run nor counts in it), that last longer than `min_ms` from the start of the first
/// excess hour to the end of the last one.
pub fn excess_episodes(hours: &[(Window, ReturnHour)], min_ms: i64) -> Vec<Window> {
    let mut out = Vec::new();
    let mut run: Option<Window> = None;
    for (w, state) in hours {
        match state {
            ReturnHour::Excess => {
                run = Some(match run {
                    Some(r) => Window::new(r.start, w.end),
                    None => *w,
                });
            }
            ReturnHour::Within => {
                if let Some(r) = run.take()
                    && r.len_ms() > min_ms
                {
                    out.push(r);
                }
            }
            ReturnHour::Unknown => {}
        }
    }
    if let Some(r) = run
        && r.len_ms() > min_ms
    {
        out.push(r);
    }
    out
}

/// The cooling a substation should reach at the period's mean outdoor temperature: its design
/// ΔT carried along the regulation table, `design ΔT × ΔT_table(T_out) / ΔT_table(design)`,
/// where the design point is the table's coldest row (domain.md §5.5: "0.7 × design ΔT at the
/// month's mean T_out").
pub fn reference_cooling_k(
    design_delta_t_k: f64,
    table_dt_at_outdoor_k: f64,
    table_dt_design_k: f64,
) -> Option<f64> {
    (table_dt_design_k > 0.0 && design_delta_t_k > 0.0)
        .then(|| design_delta_t_k * table_dt_at_outdoor_k / table_dt_design_k)
}

/// Warning and failure limits of ΔT_w: `warn_share × reference` (raised to `absolute_min_k`
/// where that applies) and `fail_share × reference`.
pub fn cooling_limits(
    reference_k: f64,
    warn_share: f64,
    fail_share: f64,
    absolute_min_k: Option<f64>,
) -> (f64, f64) {
    let warn = (warn_share * reference_k).max(absolute_min_k.unwrap_or(f64::NEG_INFINITY));
    (warn, fail_share * reference_k)
}

/// Weather normalisation against a baseline `E = a + b·Sd` (domain.md §5.2):
/// `Q_SH = Q − a × days` and `Q_SH,norm / Q_SH,norm,baseline = Q_SH / (b × HDD_actual)` (the
/// reference degree days of both cancel). Returns `(Q_SH, % of baseline)`; `None` without
/// degree days (a DHW-only period cannot be normalised).
pub fn normalised_consumption_pct(
    heat_gj: f64,
    days: f64,
    hdd_actual: f64,
    sh_gj_per_kd: f64,
    dhw_gj_per_day: f64,
) -> Option<(f64, f64)> {
    if hdd_actual <= 0.0 || sh_gj_per_kd <= 0.0 {
        return None;
    }
    let q_sh = (heat_gj - dhw_gj_per_day * days).max(0.0);
    Some((q_sh, q_sh / (sh_gj_per_kd * hdd_actual) * 100.0))
}

/// Specific consumption `q = Q / A`, kWh/m².
pub fn specific_consumption_kwh_m2(heat_gj: f64, area_m2: f64) -> Option<f64> {
    (area_m2 > 0.0).then(|| heat_gj * KWH_PER_GJ / area_m2)
}

/// Capacity utilisation `P_max,1h / P_ordered × 100`, %.
pub fn capacity_utilisation_pct(p_max_mw: f64, ordered_mw: f64) -> Option<f64> {
    (ordered_mw > 0.0).then(|| p_max_mw / ordered_mw * 100.0)
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
