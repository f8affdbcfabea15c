//! Transmission losses (domain.md §4): pure formulas, no I/O.
//!
//! - the balance `Q_loss = Q_in − Q_out − ΔQ_stored`, `L = Q_loss / Q_in × 100` (§4.2), with
//!   the storage term `ΔQ_stored ≈ V_net × ρ·cp × ΔT_mean,net`;
//! - its uncertainty band from the meters' maximum permissible errors (§4.2): the errors of
//!   the entry meters and of the delivery meters are each combined as independent errors and
//!   propagated through `L = 1 − Q_out / Q_in`; the fully correlated (worst-case) band is
//!   given beside it;
//! - the block rule of §4.6 (L < 0 or > 40 % is a data fault, never a result);
//! - the trend rule of §4.5 (rolling 12 months against a year earlier);
//! - make-up water: daily volume against the median of the preceding days (§4.5), the
//!   exchange ratio `X = ΣV_mu / V_net` and the heat lost with leaks (§4.2);
//! - the month-boundary interpolation of manually read registers (§4.4): linear for readings
//!   up to 7 days apart, degree-day weighted beyond.

use super::result::{Irregularity, Status};
use crate::model::TimestampMs;
use crate::model::time::Window;

/// The loss balance of a network over a window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LossBalance {
    /// Heat introduced, GJ.
    pub heat_in_gj: f64,
    /// Heat delivered (customers and transfers), GJ.
    pub heat_out_gj: f64,
    /// Change of heat stored in the network water subtracted, GJ (0 when not applied).
    pub storage_gj: f64,
    /// `Q_in − Q_out − ΔQ_stored`, GJ.
    pub loss_gj: f64,
    /// `Q_loss / Q_in × 100`; `None` without heat introduced.
    pub loss_pct: Option<f64>,
}

/// `Q_loss = Q_in − Q_out − ΔQ_stored` and `L = Q_loss / Q_in × 100` (domain.md §4.2).
pub fn loss_balance(heat_in_gj: f64, heat_out_gj: f64, storage_gj: f64) -> LossBalance {
    let loss_gj = heat_in_gj - heat_out_gj - storage_gj;
    LossBalance {
        heat_in_gj,
        heat_out_gj,
        storage_gj,
        loss_gj,
        loss_pct: (heat_in_gj > 0.0).then(|| loss_gj / heat_in_gj * 100.0),
    }
}

/// `ΔQ_stored = V_net × ρ·cp × (T_mean,end − T_mean,start)`, GJ, with ρ·cp in MJ/(m³·K).
pub fn storage_change_gj(
    volume_m3: f64,
    rho_cp_mj_per_m3_k: f64,
    t_start_c: f64,
    t_end_c: f64,
) -> f64 {
    volume_m3 * rho_cp_mj_per_m3_k * (t_end_c - t_start_c) / 1000.0
}

/// Absolute error (GJ) of a sum of independently metered energies `(GJ, MPE %)`:
/// `√Σ(E_i · u_i / 100)²`.
pub fn independent_error_gj(parts: &[(f64, f64)]) -> f64 {
    parts
        .iter()
        .map(|(e, u)| (e * u / 100.0).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Absolute error (GJ) of a sum whose meter errors all go the same way: `Σ|E_i · u_i / 100|`.
pub fn correlated_error_gj(parts: &[(f64, f64)]) -> f64 {
    parts.iter().map(|(e, u)| (e * u / 100.0).abs()).sum()
}

/// Uncertainty of L in percentage points from the absolute errors of `Q_in` and `Q_out`:
/// `L = 1 − Q_out/Q_in`, so `u_L = (Q_out/Q_in) × √((u_in/Q_in)² + (u_out/Q_out)²) × 100`.
pub fn loss_uncertainty_pp(
    heat_in_gj: f64,
    err_in_gj: f64,
    heat_out_gj: f64,
    err_out_gj: f64,
) -> Option<f64> {
    if heat_in_gj <= 0.0 {
        return None;
    }
    let ratio = heat_out_gj / heat_in_gj;
    let rel_in = err_in_gj / heat_in_gj;
    let rel_out = if heat_out_gj > 0.0 {
        err_out_gj / heat_out_gj
    } else {
        0.0
    };
    Some(ratio * (rel_in * rel_in + rel_out * rel_out).sqrt() * 100.0)
}

/// The block rule of domain.md §4.6: a loss below `below_pct` or above `above_pct` signals a
/// missing meter, a unit error (GJ vs MWh) or a double-counted customer; the KPI is blocked.
pub fn loss_block(loss_pct: f64, below_pct: f64, above_pct: f64) -> Option<Irregularity> {
    if loss_pct >= below_pct && loss_pct <= above_pct {
        return None;
    }
    let side = if loss_pct < below_pct {
        format!("below {below_pct} %: more heat delivered than introduced")
    } else {
        format!("above {above_pct} %")
    };
    Some(Irregularity::not_followed(
        "domain.md §4.6 (0 ≤ L ≤ 40 %)",
        format!(
            "transmission loss {loss_pct:.2} % is {side}; this signals a missing meter, a unit error (GJ vs MWh) or a double-counted customer, not a real loss: the KPI is blocked until the meters are checked"
        ),
    ))
}

/// Specific loss per km of trench, GJ/km.
pub fn specific_loss_gj_per_km(loss_gj: f64, length_km: f64) -> Option<f64> {
    (length_km > 0.0).then(|| loss_gj / length_km)
}

/// The trend rule of domain.md §4.5 for `Δ1 = L − L(a year earlier)` and
/// `Δ2 = L(a year earlier) − L(two years earlier)`, in percentage points: lower than a year
/// earlier (Δ1 ≤ 0) passes; at least `fail_pp` higher two years running fails; anything else
/// (not reduced) warns.
pub fn loss_trend_status(delta1_pp: f64, delta2_pp: Option<f64>, fail_pp: f64) -> Status {
    if delta1_pp >= fail_pp && delta2_pp.is_some_and(|d| d >= fail_pp) {
        Status::Fail
    } else if delta1_pp > 0.0 {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// Median of the values (mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

/// One day's make-up water against the median of the preceding days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MakeupDay {
    /// The local day.
    pub window: Window,
    /// Make-up water of the day, m³.
    pub volume_m3: f64,
    /// Median of the preceding days with a volume, m³.
    pub median_m3: f64,
    /// volume / median.
    pub ratio: f64,
    /// Above the failure factor (possible burst), else above the warning factor, else pass.
    pub status: Status,
}

/// Each day of `days[from..]` with a volume, judged against the median of the up to
/// `median_days` preceding days that have one (at least half of them needed). Days without a
/// volume or a median are left out.
pub fn makeup_days(
    days: &[(Window, Option<f64>)],
    from: usize,
    median_days: usize,
    warn: f64,
    fail: f64,
) -> Vec<MakeupDay> {
    let mut out = Vec::new();
    for i in from..days.len() {
        let Some(v) = days[i].1 else { continue };
        let prev: Vec<f64> = days[i.saturating_sub(median_days)..i]
            .iter()
            .filter_map(|d| d.1)
            .collect();
        if prev.len() * 2 < median_days {
            continue;
        }
        let Some(m) = median(&prev).filter(|m| *m > 0.0) else {
            continue;
        };
        let ratio = v / m;
        let status = if ratio > fail {
            Status::Fail
        } else if ratio > warn {
            Status::Warn
        } else {
            Status::Pass
        };
        out.push(MakeupDay {
            window: days[i].0,
            volume_m3: v,
            median_m3: m,
            ratio,
            status,
        });
    }
    out
}

/// Exchange ratio `X = ΣV_mu / V_net` (domain.md §4.2).
pub fn exchange_ratio(makeup_m3: f64, network_volume_m3: f64) -> Option<f64> {
    (network_volume_m3 > 0.0).then(|| makeup_m3 / network_volume_m3)
}

/// Heat lost with leaked water `Q_mu ≈ V_mu × ρ·cp × (T_net,mean − T_cold)`, GJ.
pub fn leak_heat_gj(makeup_m3: f64, rho_cp_mj_per_m3_k: f64, t_mean_c: f64, t_cold_c: f64) -> f64 {
    makeup_m3 * rho_cp_mj_per_m3_k * (t_mean_c - t_cold_c).max(0.0) / 1000.0
}

/// How a register value at a boundary was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Linearly in time (readings up to the linear limit apart): "interpolated".
    Linear,
    /// Weighted by degree days (readings further apart): "estimated".
    DegreeDay,
    /// Readings further apart, but no degree days between them (summer without hot water):
    /// linearly in time, still "estimated".
    TimeFallback,
}

fn overlap(a: Window, b: Window) -> i64 {
    (a.end.min(b.end) - a.start.max(b.start)).max(0)
}

/// Weight of `part` under daily weights `(day, weight)`: each day contributes its weight in
/// proportion to the share of the day inside `part`.
pub fn weight_of(part: Window, days: &[(Window, f64)]) -> f64 {
    days.iter()
        .map(|(d, w)| w * overlap(*d, part) as f64 / d.len_ms().max(1) as f64)
        .sum()
}

/// The share of a register step `step` (between readings at `from` and `to`) that falls in
/// `part`: linear in time when `to − from ≤ linear_max_ms`, otherwise in proportion to the
/// daily weights (heating degree days plus any hot-water equivalent) over the two spans, and
/// linear in time again when the weights add up to nothing (domain.md §4.4).
pub fn step_share(
    step: f64,
    from: TimestampMs,
    to: TimestampMs,
    part: Window,
    days: &[(Window, f64)],
    linear_max_ms: i64,
) -> (f64, Interpolation) {
    let whole = Window::new(from, to);
    if to <= from {
        return (0.0, Interpolation::Linear);
    }
    let linear = step * overlap(whole, part) as f64 / whole.len_ms() as f64;
    if whole.len_ms() <= linear_max_ms {
        return (linear, Interpolation::Linear);
    }
    let total = weight_of(whole, days);
    if total <= 0.0 {
        return (linear, Interpolation::TimeFallback);
    }
    let clipped = Window::new(part.start.max(from), part.end.min(to));
    let w = if clipped.end > clipped.start {
        weight_of(clipped, days)
    } else {
        0.0
    };
    (step * w / total, Interpolation::DegreeDay)
}

#[cfg(test)]
#[path = "losses_tests.rs"]
mod tests;
