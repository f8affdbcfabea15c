//! KPI 1 through the engine: units, CHP, plants, periods.

use super::*;

#[test]
fn october_efficiency_of_a_gas_boiler_and_a_gas_engine() {
    for_each_store(|new_store| {
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        write_october_meters(store, &[]);
        let s = settings();
        let engine = Engine::plant(&s).unwrap();
        let oct = engine.calendar().parse("2026-10").unwrap();
        let rs = engine
            .evaluate(&s, store, &oct, Some("ec"), at("2026-11-02"))
            .unwrap()
            .results;
        let k1 = find(&rs, "boiler_efficiency", "k1");
        // 745 h × 8.1 GJ = 6034.5 GJ over 745 h × 9 GJ = 6705 GJ → 90 %
        close(k1.value.unwrap(), 90.0, 1e-9);
        close(k1.details["heat_gj"].as_f64().unwrap(), 6034.5, 1e-6);
        assert_eq!(k1.completeness, 1.0);
        // Built-in gas boiler threshold (domain.md §2.5: warn < 88, fail < 85): pass.
        assert_eq!(k1.status, Status::Pass);
        assert_eq!(k1.threshold.as_ref().unwrap().scope, "built-in");
        // Band: class 2 heat meter at Δθ 30 K: 3.44 %; gas 1.0 % and LHV 0.5 %:
        // √(3.44² + 1.0² + 0.5²) = 3.6171 % → 90 × (1 ∓ 0.036171) = 86.7446 … 93.2554
        let (lo, hi) = k1.uncertainty.unwrap();
        close(lo, 86.744_586_662, 1e-6);
        close(hi, 93.255_413_338, 1e-6);
        // Load 6034.5 / (5 MW × 3.6 × 745 h = 13 410) = 0.45: not low-load.
        close(k1.details["load_share"].as_f64().unwrap(), 0.45, 1e-12);
        // g1: η_tot = (0.25 × 3.6 + 1.0) / 2.16 = 1.9 / 2.16 = 87.963 % ≥ 75 % (EED Annex I): pass.
        let tot = find(&rs, "chp_total_efficiency", "g1");
        close(tot.value.unwrap(), 87.962_962_963, 1e-6);
        assert_eq!(tot.status, Status::Pass);
        // PES: CHP_Hη = 1/2.16 = 0.462963, CHP_Eη = 0.9/2.16 = 0.416667; built 2018: Ref_E 53,
        // Ref_H 92 → 0.462963/0.92 + 0.416667/0.53 = 0.503221 + 0.786164 = 1.289385
        // PES = 1 − 1/1.289385 = 22.4436 %. The EED criterion is judged per year, so the month has
        // no standard (and g1 at exactly 1 MWe is not small-scale).
        let pes = find(&rs, "primary_energy_savings", "g1");
        close(pes.value.unwrap(), 22.443_6, 1e-3);
        assert_eq!(pes.status, Status::NoStandard);
        // Plant: no outlet meter → Σ unit heat; k2 has no meters, so the plant input is incomplete.
        let plant = find(&rs, "plant_efficiency", "ec");
        assert_eq!(plant.status, Status::NoData);
        assert!(plant.irregularities.iter().any(
            |i| i.kind == IrregularityKind::NotCovered && i.message.contains("no outlet meter")
        ));
    });
}

#[test]
fn a_meter_reset_provisional_data_and_an_implausible_value() {
    for_each_store(|new_store| {
        let c = cal();
        let s = settings();
        let engine = Engine::plant(&s).unwrap();
        let oct = c.parse("2026-10").unwrap();
        // Reset: the k1 heat register restarts at 0.5 GJ on 15 October 12:00 (hour index 348).
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        let hours = c.hours_in(oct.window);
        let mut ts: Vec<TimestampMs> = hours.iter().map(|h| h.start).collect();
        ts.push(oct.end());
        let heat: Vec<(TimestampMs, f64)> = ts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (
                    *t,
                    if i < 348 {
                        1000.0 + 8.1 * i as f64
                    } else {
                        0.5 + 8.1 * (i - 348) as f64
                    },
                )
            })
            .collect();
        put(store, "k1.heat_energy", &heat);
        put(
            store,
            "k1.fuel_volume",
            &ts.iter()
                .enumerate()
                .map(|(i, t)| (*t, 250.0 * i as f64))
                .collect::<Vec<_>>(),
        );
        let rs = engine
            .evaluate(&s, store, &oct, Some("k1"), at("2026-11-02"))
            .unwrap()
            .results;
        let k1 = find(&rs, "boiler_efficiency", "k1");
        // The step across the reset (one hour, 8.1 GJ) is excluded: Q = 744 × 8.1 = 6026.4 GJ;
        // fuel 745 × 9 = 6705 GJ → η = 6026.4 / 6705 = 89.8792 %
        close(k1.value.unwrap(), 89.879_194_631, 1e-6);
        assert!(k1.irregularities.iter().any(|i| i.standard.contains("§8")));

        // 50 hours without readings: completeness (745 − 50)/745 = 0.9329 < 0.95 → provisional.
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        let skip: Vec<usize> = (100..150).collect();
        write_october_meters(store, &skip);
        let rs = engine
            .evaluate(&s, store, &oct, Some("k1"), at("2026-11-02"))
            .unwrap()
            .results;
        let k1 = find(&rs, "boiler_efficiency", "k1");
        close(k1.completeness, 695.0 / 745.0, 1e-12);
        assert_eq!(k1.status, Status::Provisional);
        assert_eq!(k1.details["indicative_status"], "pass");
        // The energy is still all there (register differences span the gap): 90 %.
        close(k1.value.unwrap(), 90.0, 1e-9);

        // Gas heating value entered as 0.036 but metered heat 9.5 GJ/h: 105.6 % without condensing
        // equipment is a data error → provisional with a "not followed" irregularity.
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        put(
            store,
            "k1.heat_energy",
            &ts.iter()
                .enumerate()
                .map(|(i, t)| (*t, 9.5 * i as f64))
                .collect::<Vec<_>>(),
        );
        put(
            store,
            "k1.fuel_volume",
            &ts.iter()
                .enumerate()
                .map(|(i, t)| (*t, 250.0 * i as f64))
                .collect::<Vec<_>>(),
        );
        let rs = engine
            .evaluate(&s, store, &oct, Some("k1"), at("2026-11-02"))
            .unwrap()
            .results;
        let k1 = find(&rs, "boiler_efficiency", "k1");
        close(k1.value.unwrap(), 9.5 / 9.0 * 100.0, 1e-9);
        assert_eq!(k1.status, Status::Provisional);
        assert!(
            k1.irregularities
                .iter()
                .any(|i| i.kind == IrregularityKind::NotFollowed && i.standard.contains("§2.6"))
        );
    });
}

#[test]
fn the_heat_meter_error_uses_the_delta_theta_of_the_hours_with_heat() {
    for_each_store(|new_store| {
        let c = cal();
        let s = settings();
        let engine = Engine::plant(&s).unwrap();
        let oct = c.parse("2026-10").unwrap();
        let mut ts: Vec<TimestampMs> = c.hours_in(oct.window).iter().map(|h| h.start).collect();
        ts.push(oct.end());
        let series = |f: &dyn Fn(usize) -> f64| -> Vec<(TimestampMs, f64)> {
            ts.iter().enumerate().map(|(i, t)| (*t, f(i))).collect()
        };
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        // k1 fires for the first 100 hours (8.1 GJ/h heat, 250 Nm³/h gas), then stands still
        // (no flow: Δθ −0.01 K) for the other 645 hours of October.
        put(
            store,
            "k1.heat_energy",
            &series(&|i| 1000.0 + 8.1 * i.min(100) as f64),
        );
        put(
            store,
            "k1.fuel_volume",
            &series(&|i| 250.0 * i.min(100) as f64),
        );
        put(
            store,
            "k1.supply_temp",
            &series(&|i| if i <= 100 { 80.0 } else { 40.0 }),
        );
        put(
            store,
            "k1.return_temp",
            &series(&|i| if i <= 100 { 60.0 } else { 40.01 }),
        );
        // k2 never fires: registers flat, the same standstill temperatures.
        put(store, "k2.heat_energy", &series(&|_| 500.0));
        put(store, "k2.fuel_mass", &series(&|_| 10.0));
        put(store, "k2.supply_temp", &series(&|_| 40.0));
        put(store, "k2.return_temp", &series(&|_| 40.01));
        let rs = engine
            .evaluate(&s, store, &oct, Some("ec"), at("2026-11-02"))
            .unwrap()
            .results;
        let k1 = find(&rs, "boiler_efficiency", "k1");
        // η = 100 × 8.1 / (100 × 250 × 0.036) = 810 / 900 = 90 %.
        close(k1.value.unwrap(), 90.0, 1e-9);
        // Hourly heat is the step to each hour's last reading, so hours 1–100 carry 8.1 GJ each,
        // all at Δθ = 80 − 60 = 20 K; the standstill hours weigh nothing (the plain time mean
        // would be (101 × 20 − 644 × 0.01) / 745 = 2.70 K).
        close(
            k1.details["inputs"]["delta_theta_k"].as_f64().unwrap(),
            20.0,
            1e-9,
        );
        // Class 2 at Δθ 20 K, Δθmin 3 K, qp/q 2: Ef 2 + 0.02 × 2 = 2.04, Et 0.5 + 3 × 3/20 =
        // 0.95, Ec 0.5 + 3/20 = 0.65 → 3.64 %; with gas 1.0 % and LHV 0.5 %:
        // √(3.64² + 1.0² + 0.5²) = 3.807834 % → 90 × (1 ∓ 0.03807834) = 86.572949 … 93.427051
        let (lo, hi) = k1.uncertainty.unwrap();
        close(lo, 86.572_949_373, 1e-6);
        close(hi, 93.427_050_627, 1e-6);
        // A unit that produced nothing says nothing about its temperature sensors.
        for r in rs.iter().filter(|r| r.asset == "k1" || r.asset == "k2") {
            assert!(
                !r.irregularities.iter().any(|i| i.message.contains("Δθ")),
                "{} {}: {:?}",
                r.kpi,
                r.asset,
                r.irregularities
            );
        }

        // Swapped sensors while k1 fires all month: Δθ = 60 − 80 = −20 K is flagged.
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        put(store, "k1.heat_energy", &series(&|i| 8.1 * i as f64));
        put(store, "k1.fuel_volume", &series(&|i| 250.0 * i as f64));
        put(store, "k1.supply_temp", &series(&|_| 60.0));
        put(store, "k1.return_temp", &series(&|_| 80.0));
        let rs = engine
            .evaluate(&s, store, &oct, Some("k1"), at("2026-11-02"))
            .unwrap()
            .results;
        let k1 = find(&rs, "boiler_efficiency", "k1");
        assert!(k1.irregularities.iter().any(|i| {
            i.kind == IrregularityKind::NotFollowed
                && i.message
                    .contains("mean Δθ = -20.00 K ≤ 0 while heat was produced")
        }));
        // The band falls back to the typical Δθ of 30 K (3.44 % for the heat meter).
        close(
            k1.details["inputs"]["delta_theta_k"].as_f64().unwrap(),
            30.0,
            1e-9,
        );
    });
}

#[test]
fn a_period_efficiency_is_energy_weighted_over_its_months() {
    for_each_store(|new_store| {
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        let c = cal();
        let s = settings();
        let engine = Engine::plant(&s).unwrap();
        let span = c.parse("2026-09-01..2026-11-01").unwrap();
        let hours = c.hours_in(span.window);
        // September (720 h): heat 4 GJ/h, fuel 9 GJ/h → 44.44 %. October (745 h): 8.1 / 9 → 90 %.
        let sep_end = c.parse("2026-09").unwrap().end();
        let (mut q, mut heat, mut gas) = (0.0, Vec::new(), Vec::new());
        for (i, h) in hours.iter().enumerate() {
            heat.push((h.start, q));
            gas.push((h.start, 250.0 * i as f64));
            q += if h.start < sep_end { 4.0 } else { 8.1 };
        }
        heat.push((span.end(), q));
        gas.push((span.end(), 250.0 * hours.len() as f64));
        put(store, "k1.heat_energy", &heat);
        put(store, "k1.fuel_volume", &gas);
        let eta = |label: &str| {
            let p = c.parse(label).unwrap();
            let rs = engine
                .evaluate(&s, store, &p, Some("k1"), at("2026-11-02"))
                .unwrap()
                .results;
            find(&rs, "boiler_efficiency", "k1").value.unwrap()
        };
        close(eta("2026-09"), 4.0 / 9.0 * 100.0, 1e-9);
        close(eta("2026-10"), 90.0, 1e-9);
        // Both months: (720 × 4 + 745 × 8.1) / (1465 × 9) = (2880 + 6034.5) / 13 185 = 67.6109 %,
        // not (44.444 + 90) / 2 = 67.2222 %.
        let both = eta("2026-09-01..2026-11-01");
        close(both, 8914.5 / 13_185.0 * 100.0, 1e-9);
        assert!((both - (4.0 / 9.0 * 100.0 + 90.0) / 2.0).abs() > 0.3);
    });
}

#[test]
fn plant_efficiency_counts_own_use_as_loss_and_storage_charge_as_output() {
    for_each_store(|new_store| {
        let text = r#"
    [[source]]
    id = "ec2"
    outlet_meters = ["ec2-out"]
    storage = "acc"

    [[unit]]
    id = "k3"
    source = "ec2"
    kind = "boiler"
    fuel = "natural_gas"
    lhv_gj_per_unit = 0.036
    rated_heat_mw = 5.0

    [[meter]]
    id = "ec2-out"
    kind = "heat"
    meter_class = 2

    [[meter]]
    id = "acc"
    kind = "storage"
    "#;
        let s: Settings = toml::from_str(text).unwrap();
        let engine = Engine::plant(&s).unwrap();
        let c = engine.calendar();
        let oct = c.parse("2026-10").unwrap();
        let mut ts: Vec<TimestampMs> = c.hours_in(oct.window).iter().map(|h| h.start).collect();
        ts.push(oct.end());
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        let lin = |per_hour: f64, base: f64| -> Vec<(TimestampMs, f64)> {
            ts.iter()
                .enumerate()
                .map(|(i, t)| (*t, base + per_hour * i as f64))
                .collect()
        };
        // Unit meter 8.1 GJ/h, of which 0.1 GJ/h is own use: the outlet meter sees 8.0 GJ/h.
        put(store, "k3.heat_energy", &lin(8.1, 0.0));
        put(store, "ec2-out.heat_energy", &lin(8.0, 0.0));
        put(store, "k3.fuel_volume", &lin(250.0, 0.0));
        // The accumulator charges from 100 GJ to 100 + 745 × 200/745 = 300 GJ over the month.
        put(store, "acc.stored_energy", &lin(200.0 / 745.0, 100.0));
        let rs = engine
            .evaluate(&s, store, &oct, None, at("2026-11-02"))
            .unwrap()
            .results;
        let plant = find(&rs, "plant_efficiency", "ec2");
        // (745 × 8.0 + 200) / (745 × 9) = (5960 + 200) / 6705 = 91.8718 %
        close(plant.value.unwrap(), 6160.0 / 6705.0 * 100.0, 1e-9);
        close(
            plant.details["storage_delta_gj"].as_f64().unwrap(),
            200.0,
            1e-9,
        );
        assert_eq!(plant.details["boundary"], "plant outlet meters");
        // No threshold is configured or built in for plants: no standard set.
        assert_eq!(plant.status, Status::NoStandard);
        // The boiler itself: 8.1 / 9 = 90 %.
        close(
            find(&rs, "boiler_efficiency", "k3").value.unwrap(),
            90.0,
            1e-9,
        );
    });
}
