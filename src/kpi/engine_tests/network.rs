//! KPI 3 and KPI 4 through the engine: a loss balance with a manually read meter, the block
//! rule, make-up spikes, cooling, return temperature, degree days.

use super::*;
use crate::kpi::losses_eval::LossesEvaluator;
use crate::kpi::usage_eval::UsageEvaluator;

const NET: &str = r#"
[site]
timezone = "Europe/Warsaw"

[[source]]
id = "src"
outlet_meters = ["src-out"]

[[meter]]
id = "src-out"
kind = "heat"
meter_class = 2

[[meter]]
id = "mu"
kind = "makeup_water"

[[network]]
id = "net"
sources = ["src"]
makeup_meter = "mu"
water_volume_m3 = 500.0
length_km = 10.0
regulation = "c"
weather = "wx"

[[weather]]
id = "wx"

[[regulation]]
id = "c"
points = [[-20.0, 120.0, 60.0], [0.0, 90.0, 50.0], [15.0, 70.0, 40.0]]

[[substation]]
id = "ss-a"
network = "net"
ordered_capacity_mw = 2.0
heated_area_m2 = 10000.0
design_delta_t_k = 60.0

[[substation]]
id = "ss-b"
network = "net"
ordered_capacity_mw = 1.0
heated_area_m2 = 5000.0
design_delta_t_k = 60.0
manual_read = true
"#;

fn net_settings(text: &str) -> Settings {
    toml::from_str(text).expect("test configuration")
}

fn engine(s: &Settings) -> Engine {
    Engine::empty(s)
        .unwrap()
        .with(LossesEvaluator)
        .with(UsageEvaluator)
}

/// A register every local hour from `from` to `to` (inclusive), rising by `per_hour`.
fn hourly_register(
    store: &dyn Store,
    series: &str,
    from: &str,
    to: &str,
    per_hour: impl Fn(TimestampMs) -> f64,
) {
    let (a, b) = (at(from), at(to));
    let mut v = 0.0;
    let mut pts = Vec::new();
    let mut t = a;
    while t <= b {
        pts.push((t, v));
        v += per_hour(t);
        t += 3_600_000;
    }
    put(store, series, &pts);
}

/// Outdoor temperature every hour: −2 °C in December, 8 °C from January on.
fn write_weather(store: &dyn Store) {
    let jan = at("2026-01-01");
    let (a, b) = (at("2025-12-20"), at("2026-02-05"));
    let pts: Vec<_> = (0..)
        .map(|i| a + i * 3_600_000)
        .take_while(|t| *t <= b)
        .map(|t| (t, if t < jan { -2.0 } else { 8.0 }))
        .collect();
    put(store, "wx.outdoor_temp", &pts);
}

#[test]
fn january_loss_balance_with_a_manually_read_meter() {
    for_each_store(|new_store| {
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        write_weather(store);
        // Plant outlet 10 GJ/h and ss-a 6 GJ/h, AMR, readings on every hour.
        hourly_register(
            store,
            "src-out.heat_energy",
            "2025-12-31T20:00",
            "2026-02-01T04:00",
            |_| 10.0,
        );
        hourly_register(
            store,
            "ss-a.heat_energy",
            "2025-12-31T20:00",
            "2026-02-01T04:00",
            |_| 6.0,
        );
        // ss-b read by hand on 29 Dec, 14 Jan, 29 Jan and 3 Feb.
        put(
            store,
            "ss-b.heat_energy",
            &[
                (at("2025-12-29"), 1000.0),
                (at("2026-01-14"), 1600.0),
                (at("2026-01-29"), 2200.0),
                (at("2026-02-03"), 2400.0),
            ],
        );
        let s = net_settings(NET);
        let e = engine(&s);
        let jan = e.calendar().parse("2026-01").unwrap();
        let rs = e
            .evaluate(&s, store, &jan, Some("net"), at("2026-02-10"))
            .unwrap()
            .results;
        let l = find(&rs, "transmission_loss", "net");
        // In: 744 h × 10 GJ = 7440 GJ. ss-a: 744 × 6 = 4464 GJ.
        // ss-b, start: readings 29 Dec and 14 Jan are 16 days apart (> 7): degree-day weighted.
        //   December days at −2 °C: 20 Kd, January days at 8 °C: 10 Kd; 3 December days (60 Kd)
        //   and 13 January days (130 Kd) → January gets 600 × 130/190 = 410.526 GJ (estimated).
        // Inner: 14 → 29 Jan: 600 GJ. End: 29 Jan and 3 Feb are 5 days apart: linear, 3 of 5
        //   days in January → 200 × 3/5 = 120 GJ (interpolated).
        // Q_out = 4464 + 410.526 + 600 + 120 = 5594.526 GJ; L = 1845.474 / 7440 = 24.8048 %.
        close(l.details["heat_in_gj"].as_f64().unwrap(), 7440.0, 1e-6);
        close(
            l.details["heat_out_gj"].as_f64().unwrap(),
            5_594.526_316,
            1e-5,
        );
        close(l.value.unwrap(), 24.804_754, 1e-5);
        // Shares of Q_out: 120 / 5594.526 = 0.02145 interpolated, 410.526 / 5594.526 = 0.07338
        // estimated.
        close(
            l.details["interpolated_share"].as_f64().unwrap(),
            0.021_449_5,
            1e-6,
        );
        close(
            l.details["estimated_share"].as_f64().unwrap(),
            0.073_380_0,
            1e-6,
        );
        // Monthly L is reported, never judged (domain.md §4.4).
        assert_eq!(l.status, Status::NoStandard);
        assert!(
            l.threshold.is_none() && l.irregularities.is_empty(),
            "{:?}",
            l.irregularities
        );
        // Band: no temperatures, so the typical Δθ 30 K: class 2 MPE 0.6 + 0.8 + 2.04 = 3.44 %.
        // In: 7440 × 3.44 % = 255.94 GJ; out: 3.44 % × √(4464² + 1130.53²) = 158.41 GJ;
        // u = 0.75195 × √(0.0344² + (158.41/5594.53)²) × 100 = 3.3503 pp.
        let (lo, hi) = l.uncertainty.unwrap();
        close(hi - l.value.unwrap(), 3.350_288, 1e-4);
        close(l.value.unwrap() - lo, 3.350_288, 1e-4);
        // 1845.474 GJ over 10 km.
        close(
            find(&rs, "specific_transmission_loss", "net")
                .value
                .unwrap(),
            184.547_368,
            1e-4,
        );
    });
}

#[test]
fn a_loss_below_zero_or_above_forty_percent_is_blocked_with_an_event() {
    for_each_store(|new_store| {
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        let s = net_settings(&NET.replace("manual_read = true", ""));
        hourly_register(
            store,
            "src-out.heat_energy",
            "2025-12-31T20:00",
            "2026-02-01T04:00",
            |_| 10.0,
        );
        // ss-a 6 GJ/h and ss-b 5 GJ/h: 11 GJ/h delivered out of 10 introduced: L = −10 %.
        hourly_register(
            store,
            "ss-a.heat_energy",
            "2025-12-31T20:00",
            "2026-02-01T04:00",
            |_| 6.0,
        );
        hourly_register(
            store,
            "ss-b.heat_energy",
            "2025-12-31T20:00",
            "2026-02-01T04:00",
            |_| 5.0,
        );
        let e = engine(&s);
        let jan = e.calendar().parse("2026-01").unwrap();
        let ev = e
            .evaluate(&s, store, &jan, Some("net"), at("2026-02-10"))
            .unwrap();
        let l = find(&ev.results, "transmission_loss", "net");
        close(l.value.unwrap(), -10.0, 1e-9);
        assert_eq!(l.status, Status::Provisional);
        assert_eq!(l.details["blocked"], true);
        assert!(
            l.irregularities
                .iter()
                .any(|i| i.kind == IrregularityKind::NotFollowed && i.standard.contains("§4.6"))
        );
        let evt = ev
            .events
            .iter()
            .find(|e| e.kind == "loss_balance_implausible")
            .expect("event");
        assert_eq!(evt.subject, "net:month");
        assert_eq!((evt.start, evt.end), (jan.start(), Some(jan.end())));
        // The specific loss of a blocked balance is not given.
        assert_eq!(
            find(&ev.results, "specific_transmission_loss", "net").value,
            None
        );
        // Without ss-b, ss-a at 5.9 GJ/h: (10 − 5.9) / 10 = 41 % > 40 %: blocked too.
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        let cut = NET.find("[[substation]]\nid = \"ss-b\"").unwrap();
        let s2 = net_settings(&NET[..cut]);
        hourly_register(
            store,
            "src-out.heat_energy",
            "2025-12-31T20:00",
            "2026-02-01T04:00",
            |_| 10.0,
        );
        hourly_register(
            store,
            "ss-a.heat_energy",
            "2025-12-31T20:00",
            "2026-02-01T04:00",
            |_| 5.9,
        );
        let ev = e
            .evaluate(&s2, store, &jan, Some("net"), at("2026-02-10"))
            .unwrap();
        let l = find(&ev.results, "transmission_loss", "net");
        // (10 − 5.9) / 10 = 41 % > 40 %: blocked.
        close(l.value.unwrap(), 41.0, 1e-9);
        assert_eq!(l.status, Status::Provisional);
        assert!(
            ev.events
                .iter()
                .any(|e| e.kind == "loss_balance_implausible")
        );
    });
}

#[test]
fn makeup_spike_against_its_thirty_day_median() {
    for_each_store(|new_store| {
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        let (d20, d21, d22) = (at("2026-01-20"), at("2026-01-21"), at("2026-01-22"));
        // 0.5 m³/h (12 m³ a day); 20 January 1.5 m³/h (36 m³), 21 January 1.75 m³/h (42 m³).
        hourly_register(store, "mu.makeup_water", "2025-11-20", "2026-02-02", |t| {
            if (d20..d21).contains(&t) {
                1.5
            } else if (d21..d22).contains(&t) {
                1.75
            } else {
                0.5
            }
        });
        let s = net_settings(NET);
        let e = engine(&s);
        let jan = e.calendar().parse("2026-01").unwrap();
        let ev = e
            .evaluate(&s, store, &jan, Some("net"), at("2026-02-10"))
            .unwrap();
        // 20 Jan: 36 / median 12 = 3.0, above 2: warn; 21 Jan: the preceding 30 days are 29 × 12
        // and 36, median 12: 42 / 12 = 3.5 > 3: fail.
        let r = find(&ev.results, "makeup_daily_ratio_max", "net");
        close(r.value.unwrap(), 3.5, 1e-9);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.details["days_above_warn"], 2);
        let spikes: Vec<_> = ev
            .events
            .iter()
            .filter(|e| e.kind == "makeup_spike")
            .collect();
        assert_eq!(spikes.len(), 1, "{spikes:?}");
        assert_eq!((spikes[0].start, spikes[0].end), (d20, Some(d22)));
        assert_eq!(spikes[0].body["level"], "fail");
        close(spikes[0].body["peak"].as_f64().unwrap(), 3.5, 1e-9);
        // January: 29 × 12 + 36 + 42 = 426 m³; X = 426 / 500 = 0.852 (annualised × 8760/744).
        close(
            find(&ev.results, "makeup_water", "net").value.unwrap(),
            426.0,
            1e-9,
        );
        let x = find(&ev.results, "makeup_exchange_ratio", "net");
        close(x.value.unwrap(), 0.852, 1e-12);
        close(
            x.details["annualised"].as_f64().unwrap(),
            0.852 * 8760.0 / 744.0,
            1e-9,
        );
    });
}

#[test]
fn cooling_return_temperature_and_degree_days_of_a_substation() {
    for_each_store(|new_store| {
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        write_weather(store);
        // 6 GJ/h across 40 m³/h, 90/50 °C, through January (and the 48 h look-back).
        hourly_register(
            store,
            "ss-a.heat_energy",
            "2025-12-29T20:00",
            "2026-02-01T04:00",
            |_| 6.0,
        );
        hourly_register(
            store,
            "ss-a.volume",
            "2025-12-29T20:00",
            "2026-02-01T04:00",
            |_| 40.0,
        );
        let temps = |v: f64| -> Vec<(TimestampMs, f64)> {
            let (a, b) = (at("2025-12-29T20:00"), at("2026-02-01T04:00"));
            (0..)
                .map(|i| a + i * 900_000)
                .take_while(|t| *t <= b)
                .map(|t| (t, v))
                .collect()
        };
        put(store, "ss-a.supply_temp", &temps(90.0));
        put(store, "ss-a.return_temp", &temps(50.0));
        let s = net_settings(NET);
        let e = engine(&s);
        let jan = e.calendar().parse("2026-01").unwrap();
        let ev = e.evaluate(&s, store, &jan, None, at("2026-02-10")).unwrap();
        let rs = &ev.results;
        // ΔT_w = 744 × 6 GJ = 4464 GJ = 1 240 000 kWh over 1.15 × 744 × 40 m³ = 34 224:
        // 36.2319 K.
        let dt = find(rs, "cooling_delta_t", "ss-a");
        close(dt.value.unwrap(), 36.231_884, 1e-5);
        // Reference at the mean outdoor 8 °C: table 79.333/44.667 → 34.667 K of the design
        // row's 60 K, × design 60 K = 34.667 K; warn 0.7 × = 24.267 (above the absolute 20 K
        // of a 120 °C network), fail 17.333: pass.
        close(
            dt.details["reference_k"].as_f64().unwrap(),
            34.666_667,
            1e-5,
        );
        assert_eq!(dt.status, Status::Pass);
        close(
            dt.threshold.as_ref().unwrap().warn.unwrap(),
            24.266_667,
            1e-5,
        );
        // T_r,w = 50 °C; the limit at 8 °C is 44.667 × 1.07 = 47.793 °C: every hour is above
        // it, 100 % > 10 %: warn, and one episode over the whole month.
        close(
            find(rs, "return_temperature", "ss-a").value.unwrap(),
            50.0,
            1e-9,
        );
        let ex = find(rs, "return_temperature_excess", "ss-a");
        close(ex.value.unwrap(), 100.0, 1e-9);
        assert_eq!(ex.status, Status::Warn);
        let eps: Vec<_> = ev
            .events
            .iter()
            .filter(|e| e.kind == "return_temperature_episode")
            .collect();
        assert_eq!(eps.len(), 1);
        // HDD: 31 days at 8 °C → 31 × (18 − 8) = 310 Kd.
        let hdd = find(rs, "heating_degree_days", "wx");
        close(hdd.value.unwrap(), 310.0, 1e-9);
        // Capacity: 6 GJ/h = 1.6667 MW of 2 MW ordered = 83.33 %: pass.
        let cap = find(rs, "capacity_utilisation", "ss-a");
        close(cap.value.unwrap(), 83.333_333, 1e-5);
        assert_eq!(cap.status, Status::Pass);
        // Specific: 4464 GJ = 1 240 000 kWh over 10 000 m² = 124 kWh/m².
        close(
            find(rs, "specific_consumption", "ss-a").value.unwrap(),
            124.0,
            1e-9,
        );
        // No baseline configured: normalised consumption is not covered.
        let n = find(rs, "normalised_consumption", "ss-a");
        assert_eq!(n.status, Status::NoData);
    });
}
