use super::*;

const DAY: i64 = 86_400_000;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn balance_storage_and_specific_loss() {
    // 1000 GJ in, 880 GJ delivered, 5 GJ more stored: 1000 − 880 − 5 = 115 GJ = 11.5 %.
    let b = loss_balance(1000.0, 880.0, 5.0);
    assert!(close(b.loss_gj, 115.0, 1e-9) && close(b.loss_pct.unwrap(), 11.5, 1e-9));
    assert_eq!(loss_balance(0.0, 10.0, 0.0).loss_pct, None);
    // 650 m³ × 4.12 MJ/(m³·K) × (72 − 70) K = 5356 MJ = 5.356 GJ.
    assert!(close(
        storage_change_gj(650.0, 4.12, 70.0, 72.0),
        5.356,
        1e-9
    ));
    // 115 GJ over 12 km = 9.5833 GJ/km.
    assert!(close(
        specific_loss_gj_per_km(115.0, 12.0).unwrap(),
        9.583_333,
        1e-6
    ));
}

#[test]
fn uncertainty_band_from_meter_errors() {
    // In: two plant meters of 500 GJ at ±4 %: √(20² + 20²) = 28.284 GJ.
    let e_in = independent_error_gj(&[(500.0, 4.0), (500.0, 4.0)]);
    assert!(close(e_in, 28.284_271, 1e-6));
    // Out: four substations of 220 GJ at ±5 %: √(4 × 11²) = 22 GJ.
    let parts = [(220.0, 5.0); 4];
    assert!(close(independent_error_gj(&parts), 22.0, 1e-9));
    // L = 1 − 880/1000 = 12 %; u = 0.88 × √((28.284/1000)² + (22/880)²) × 100
    //   = 0.88 × √(0.0008 + 0.000625) × 100 = 0.88 × 3.77492 = 3.3219 pp.
    let u = loss_uncertainty_pp(1000.0, e_in, 880.0, 22.0).unwrap();
    assert!(close(u, 3.321_94, 1e-4), "{u}");
    // Worst case: 40 GJ and 44 GJ: 0.88 × √(0.04² + 0.05²) × 100 = 0.88 × 6.40312 = 5.6347 pp.
    let w_in = correlated_error_gj(&[(500.0, 4.0), (500.0, 4.0)]);
    let w_out = correlated_error_gj(&parts);
    assert!(close(w_in, 40.0, 1e-9) && close(w_out, 44.0, 1e-9));
    let w = loss_uncertainty_pp(1000.0, w_in, 880.0, w_out).unwrap();
    assert!(close(w, 5.634_75, 1e-4), "{w}");
}

#[test]
fn negative_or_above_forty_percent_blocks() {
    assert!(loss_block(-0.1, 0.0, 40.0).is_some_and(|i| i.message.contains("below 0")));
    assert!(loss_block(40.5, 0.0, 40.0).is_some_and(|i| i.message.contains("above 40")));
    assert!(loss_block(0.0, 0.0, 40.0).is_none());
    assert!(loss_block(40.0, 0.0, 40.0).is_none());
}

#[test]
fn trend_against_a_year_earlier() {
    // Lower than a year earlier: pass.
    assert_eq!(loss_trend_status(-0.2, None, 0.5), Status::Pass);
    // 0.3 pp higher: not reduced, warn.
    assert_eq!(loss_trend_status(0.3, Some(0.7), 0.5), Status::Warn);
    // ≥ 0.5 pp higher two years running: fail.
    assert_eq!(loss_trend_status(0.6, Some(0.5), 0.5), Status::Fail);
    // Only this year: warn.
    assert_eq!(loss_trend_status(0.6, Some(0.4), 0.5), Status::Warn);
    assert_eq!(loss_trend_status(0.6, None, 0.5), Status::Warn);
}

#[test]
fn makeup_spikes_against_the_thirty_day_median() {
    // 30 days at 10 m³, then 25, 31 and 20 m³.
    let mut days: Vec<(Window, Option<f64>)> = (0..30)
        .map(|i| (Window::new(i * DAY, (i + 1) * DAY), Some(10.0)))
        .collect();
    for (i, v) in [(30, 25.0), (31, 31.0), (32, 20.0)] {
        days.push((Window::new(i * DAY, (i + 1) * DAY), Some(v)));
    }
    let out = makeup_days(&days, 30, 30, 2.0, 3.0);
    assert_eq!(out.len(), 3);
    // Day 31: median of 30 × 10 = 10; 25 / 10 = 2.5 > 2: warn.
    assert!(close(out[0].ratio, 2.5, 1e-12) && out[0].status == Status::Warn);
    // Day 32: the preceding 30 days are 29 × 10 and 25: median 10; 31 / 10 = 3.1 > 3: fail.
    assert!(close(out[1].median_m3, 10.0, 1e-12) && out[1].status == Status::Fail);
    // Day 33: 28 × 10, 25, 31: median 10; 20 / 10 = 2.0 is not above 2: pass.
    assert_eq!(out[2].status, Status::Pass);
    // With fewer than half of the 30 days known, no median.
    let short: Vec<_> = days[20..].to_vec();
    assert!(makeup_days(&short, 10, 30, 2.0, 3.0).is_empty());
    assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), Some(2.5));
    // X = 1950 m³ / 650 m³ = 3 exchanges; leaks: 1950 × 4.12 × (70 − 10) / 1000 = 482.04 GJ.
    assert!(close(exchange_ratio(1950.0, 650.0).unwrap(), 3.0, 1e-12));
    assert!(close(leak_heat_gj(1950.0, 4.12, 70.0, 10.0), 482.04, 1e-9));
}

#[test]
fn manual_register_step_split_at_a_boundary() {
    let boundary = 31 * DAY; // "1 February 00:00" on a day grid starting at "1 January"
    let feb = Window::new(boundary, boundary + 28 * DAY);
    let jan = Window::new(0, boundary);
    // Readings 28 Jan 00:00 (day 27) and 3 Feb 00:00 (day 33), 6 days apart: linear.
    // January gets 120 GJ × 4/6 = 80 GJ, February 40 GJ.
    let (a, how) = step_share(120.0, 27 * DAY, 33 * DAY, jan, &[], 7 * DAY);
    assert!(close(a, 80.0, 1e-9) && how == Interpolation::Linear);
    let (b, _) = step_share(120.0, 27 * DAY, 33 * DAY, feb, &[], 7 * DAY);
    assert!(close(a + b, 120.0, 1e-9));
    // Readings 25 Jan (day 24) and 5 Feb (day 35), 11 days apart: degree-day weighted.
    // 7 January days at 20 Kd and 4 February days at 10 Kd: weight 140 of 180, so January
    // gets 330 × 140/180 = 256.667 GJ (linear would give 330 × 7/11 = 210 GJ).
    let days: Vec<(Window, f64)> = (24..35)
        .map(|d| {
            (
                Window::new(d * DAY, (d + 1) * DAY),
                if d < 31 { 20.0 } else { 10.0 },
            )
        })
        .collect();
    let (c, how) = step_share(330.0, 24 * DAY, 35 * DAY, jan, &days, 7 * DAY);
    assert!(
        close(c, 256.666_667, 1e-5) && how == Interpolation::DegreeDay,
        "{c}"
    );
    let (d, _) = step_share(330.0, 24 * DAY, 35 * DAY, feb, &days, 7 * DAY);
    assert!(close(c + d, 330.0, 1e-9));
    // No degree days between the readings (summer): linear in time, marked as estimated.
    let zero: Vec<(Window, f64)> = days.iter().map(|(w, _)| (*w, 0.0)).collect();
    let (e, how) = step_share(330.0, 24 * DAY, 35 * DAY, jan, &zero, 7 * DAY);
    assert!(close(e, 210.0, 1e-9) && how == Interpolation::TimeFallback);
}
