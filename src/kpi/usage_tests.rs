use super::*;

const H: i64 = 3_600_000;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn cooling_from_register_differences() {
    // Heat register 1000.0 → 1036.0 GJ: 36 GJ = 10 000 kWh; volume 5000 → 5250 m³: 250 m³.
    // ΔT_w = 10 000 / (1.15 × 250) = 34.7826 K.
    let dt = volume_weighted_cooling_k(1036.0 - 1000.0, 5250.0 - 5000.0, 1.15).unwrap();
    assert!(close(dt, 34.782_609, 1e-6), "{dt}");
    assert_eq!(volume_weighted_cooling_k(5.0, 0.0, 1.15), None);
    // T_r,w = (10 × 50 + 30 × 40) / 40 = 42.5 °C; hours without flow do not count.
    let tr = volume_weighted_mean(&[(10.0, 50.0), (30.0, 40.0), (0.0, 90.0)]).unwrap();
    assert!(close(tr, 42.5, 1e-12));
}

#[test]
fn degree_days_of_a_month_with_days_around_fifteen() {
    // Eurostat Sd(18; 15): 14.9 → 3.1; 15.0 → 3.0 (at the threshold counts); 15.1 → 0;
    // 16.0 → 0; −2.0 → 20; 10.0 → 8; one day missing. Σ = 3.1 + 3 + 20 + 8 = 34.1 Kd.
    let days = [
        Some(14.9),
        Some(15.0),
        Some(15.1),
        Some(16.0),
        Some(-2.0),
        Some(10.0),
        None,
    ];
    let (hdd, missing) = heating_degree_days(&days, 18.0, 15.0);
    assert!(close(hdd, 34.1, 1e-9), "{hdd}");
    assert_eq!(missing, 1);
    // Base 20 °C, threshold 15 °C: 5.1 + 5 + 22 + 10 = 42.1.
    assert!(close(heating_degree_days(&days, 20.0, 15.0).0, 42.1, 1e-9));
}

#[test]
fn return_excess_and_episodes() {
    // Table return 50 °C + 7 %: 53.5 °C.
    assert!(close(return_limit_c(50.0, 7.0), 53.5, 1e-12));
    // 26 excess hours with one unknown hour inside, then a hour within: one 26 h episode.
    let mut hours: Vec<(Window, ReturnHour)> = (0..26)
        .map(|i| {
            let s = if i == 10 {
                ReturnHour::Unknown
            } else {
                ReturnHour::Excess
            };
            (Window::new(i * H, (i + 1) * H), s)
        })
        .collect();
    hours.push((Window::new(26 * H, 27 * H), ReturnHour::Within));
    // Then 5 excess hours: too short.
    for i in 27..32 {
        hours.push((Window::new(i * H, (i + 1) * H), ReturnHour::Excess));
    }
    let eps = excess_episodes(&hours, 24 * H);
    assert_eq!(eps, vec![Window::new(0, 26 * H)]);
    // Exactly 24 h is not "over 24 h".
    assert!(excess_episodes(&hours[..24], 24 * H).is_empty());
}

#[test]
fn reference_cooling_and_limits() {
    // Design 50 K on a 125/65 table (60 K at the design row); at 0 °C the table gives
    // 90 − 51 = 39 K: reference 50 × 39/60 = 32.5 K; warn 0.7 × 32.5 = 22.75, fail 16.25.
    let r = reference_cooling_k(50.0, 39.0, 60.0).unwrap();
    assert!(close(r, 32.5, 1e-12));
    let (w, f) = cooling_limits(r, 0.7, 0.5, Some(20.0));
    assert!(close(w, 22.75, 1e-12) && close(f, 16.25, 1e-12));
    // The absolute 25 K raises the warning limit.
    assert!(close(
        cooling_limits(r, 0.7, 0.5, Some(25.0)).0,
        25.0,
        1e-12
    ));
}

#[test]
fn normalisation_specific_consumption_and_capacity() {
    // Q = 500 GJ in 31 days, HDD 400 Kd, baseline a = 2 GJ/d, b = 1.0 GJ/Kd:
    // Q_SH = 500 − 62 = 438 GJ; 438 / (1.0 × 400) = 109.5 % of the baseline.
    let (q_sh, pct) = normalised_consumption_pct(500.0, 31.0, 400.0, 1.0, 2.0).unwrap();
    assert!(close(q_sh, 438.0, 1e-9) && close(pct, 109.5, 1e-9));
    assert_eq!(normalised_consumption_pct(50.0, 31.0, 0.0, 1.0, 2.0), None);
    // 36 GJ = 10 000 kWh over 100 m²: 100 kWh/m².
    assert!(close(
        specific_consumption_kwh_m2(36.0, 100.0).unwrap(),
        100.0,
        1e-9
    ));
    // 0.45 MW against 0.4 MW ordered: 112.5 %.
    assert!(close(
        capacity_utilisation_pct(0.45, 0.4).unwrap(),
        112.5,
        1e-9
    ));
}
