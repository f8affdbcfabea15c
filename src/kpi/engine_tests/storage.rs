//! Revisions, late data, live periods, the table and JSON, configuration.

use super::*;

#[test]
fn results_are_stored_as_revisions_and_late_data_recomputes_closed_periods() {
    for_each_store(|new_store| {
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        let s = settings();
        let engine = Engine::plant(&s).unwrap();
        let c = engine.calendar();
        let oct = c.parse("2026-10").unwrap();
        // First: October with 50 hours of k1 readings missing (provisional).
        write_october_meters(store, &(100..150).collect::<Vec<_>>());
        let now = at("2026-11-02T06:00");
        engine
            .evaluate_and_store(&s, store, &oct, Some("k1"), now)
            .unwrap();
        // The first live tick only sets the watermark.
        assert!(engine.recompute_late(&s, store, now).unwrap().is_empty());
        // The missing hours arrive late (backfill from the meter's logger).
        let hours = c.hours_in(oct.window);
        let late: Vec<(TimestampMs, f64)> = (100..150)
            .map(|i| (hours[i].start, 1000.0 + 8.1 * i as f64))
            .collect();
        put(store, "k1.heat_energy", &late);
        put(
            store,
            "k1.fuel_volume",
            &(100..150)
                .map(|i| (hours[i].start, 1000.0 + 250.0 * i as f64))
                .collect::<Vec<_>>(),
        );
        let later = now + 300_000;
        let redone = engine.recompute_late(&s, store, later).unwrap();
        // 100 h after 1 Oct 00:00 is 5 Oct 04:00: days 5 Oct … 1 Nov, October and nothing older.
        assert!(redone.iter().any(|p| p.label == "2026-10"));
        assert!(redone.iter().any(|p| p.label == "2026-10-05"));
        assert!(!redone.iter().any(|p| p.label == "2026-10-04"));
        assert!(
            !redone.iter().any(|p| p.label == "2026"),
            "2026 is not closed yet"
        );
        let revs = store
            .results(&ResultFilter {
                kpi: Some("boiler_efficiency".into()),
                asset: Some("k1".into()),
                overlapping: Some(oct.window),
                all_revisions: true,
            })
            .unwrap()
            .into_iter()
            .filter(|r| r.period_start == oct.start() && r.period_end == oct.end())
            .collect::<Vec<_>>();
        assert_eq!(revs.len(), 2, "both revisions are kept");
        let latest = crate::kpi::record::from_record(&revs[1]).unwrap();
        assert_eq!(latest.status, Status::Pass);
        assert_eq!(latest.as_of, later);
        assert_eq!(
            latest.details["recalculation"]["previous_status"],
            "provisional"
        );
        assert_eq!(latest.details["recalculation"]["previous_as_of"], now);
        // Nothing new written: nothing recomputed.
        assert!(
            engine
                .recompute_late(&s, store, later + 300_000)
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn live_periods_and_the_table() {
    for_each_store(|new_store| {
        let s = settings();
        let engine = Engine::plant(&s).unwrap();
        let now = at("2026-10-14T13:20");
        let live = engine.live_periods(now);
        let labels: Vec<&str> = live.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-10-14T13:00+02:00", "2026-10-14", "2026-10"]);
        assert!(
            live.iter()
                .all(|p| p.is_partial() && p.evaluated_end == now)
        );
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        write_october_meters(store, &[]);
        let done = engine.live_tick(&s, store, now).unwrap();
        assert_eq!(done.len(), 3);
        let k1_results = |store: &dyn Store| {
            store
                .results(&ResultFilter {
                    kpi: Some("boiler_efficiency".into()),
                    asset: Some("k1".into()),
                    ..Default::default()
                })
                .unwrap()
        };
        // Live periods go to the snapshot, not to the result revisions.
        assert!(k1_results(store).is_empty());
        let snap = crate::kpi::live_snapshot(store).unwrap().unwrap();
        let m = snap
            .iter()
            .find(|r| {
                r.kpi == "boiler_efficiency" && r.asset == "k1" && r.period.label == "2026-10"
            })
            .unwrap()
            .clone();
        assert_eq!(m.period.evaluated_until, Some(now));
        close(m.value.unwrap(), 90.0, 1e-9);
        // The next tick after 14:00: the 13:00 hour has closed and is stored once, as a closed
        // period; the live snapshot moves on.
        let now2 = at("2026-10-14T14:05");
        let done = engine.live_tick(&s, store, now2).unwrap();
        assert_eq!(done[0].label, "2026-10-14T13:00+02:00");
        let stored = k1_results(store);
        assert_eq!(stored.len(), 1);
        let hour = crate::kpi::record::from_record(&stored[0]).unwrap();
        assert_eq!(hour.period.evaluated_until, None);
        close(hour.value.unwrap(), 90.0, 1e-9);
        let snap = crate::kpi::live_snapshot(store).unwrap().unwrap();
        assert!(snap.iter().all(|r| r.as_of == now2));
        let table = crate::kpi::render::render_table(&[m], engine.calendar().tz);
        assert!(
            table.contains("2026-10 (to 2026-10-14T13:20:00+02:00)"),
            "{table}"
        );
        let json = crate::kpi::record::to_json(
            &crate::kpi::engine::evaluate(
                &s,
                store,
                &engine.calendar().parse("2026-10-13").unwrap(),
                Some("k1"),
            )
            .unwrap(),
            engine.calendar().tz,
        );
        assert_eq!(json[0]["kpi"], "boiler_efficiency");
        assert_eq!(json[0]["period_start"], "2026-10-13T00:00:00+02:00");
        let e = engine
            .evaluate(&s, store, &live[1], Some("k9"), now)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no asset `k9`") && e.contains("em-1, g1, k1, k2"),
            "{e}"
        );
    });
}

#[test]
fn the_example_configuration_evaluates_and_its_thresholds_apply() {
    for_each_store(|new_store| {
        let loaded = crate::config::load(std::path::Path::new("config/example.toml"))
            .expect("example configuration");
        let s = loaded.settings;
        // The [kpi] section of the example spells out the defaults, and must keep doing so.
        assert_eq!(s.kpi, crate::config::kpi::KpiConfig::default());
        let engine = Engine::plant(&s).unwrap();
        let oct = engine.calendar().parse("2026-10").unwrap();
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        let rs = engine
            .evaluate(&s, store, &oct, None, at("2026-11-02"))
            .unwrap()
            .results;
        assert!(!rs.is_empty());
        // Nothing measured: no value anywhere, and never a pass.
        assert!(rs.iter().all(|r| r.value.is_none()
            || r.kpi.ends_with("invalid_days")
            || r.kpi.ends_with("days_above_daily_limit")));
        assert!(
            rs.iter()
                .all(|r| r.status != Status::Pass || r.value.is_some())
        );
        // The pollutant-agnostic `emission_hours_above_hourly_limit` threshold (class stack, warn 3)
        // applies to NOx of em-1 in the year to date.
        let share = find(&rs, "emission_nox_hours_above_hourly_limit", "em-1");
        let t = share.threshold.as_ref().unwrap();
        assert_eq!(
            (t.warn, t.fail, t.scope.as_str()),
            (Some(3.0), Some(5.0), "class stack")
        );
    });
}

#[test]
fn register_moduli_come_from_the_device_templates() {
    let loaded = crate::config::load(std::path::Path::new("config/example.toml"))
        .expect("example configuration");
    let m = crate::kpi::engine::template_moduli(&loaded.settings, &loaded.templates);
    // u32 of 0.001 MWh: 4 294 967 296 × 0.001 MWh × 3.6 GJ/MWh = 15 461 882.2656 GJ
    close(m["ss-001.heat_energy"], 15_461_882.265_6, 1e-6);
    // u32 of 0.01 m³: 42 949 672.96 m³
    close(m["ss-001.volume"], 42_949_672.96, 1e-6);
    assert!(!m.contains_key("ss-001.flow"), "gauges have no modulus");
}

#[test]
fn check_config_reports_kpi_problems_with_their_keys() {
    let text = format!(
        "{CONFIG}\nwet_stacks = [\"em-9\"]\nmin_valid_share = 75.0\n\n[[threshold]]\nkpi = \"boiler_efficiency\"\nunit = \"%\"\ndirection = \"min\"\nfail = 88.0\nperiod = \"month\"\nclass = \"boiler:natural_gas:condensing\"\nsource = \"t\"\n"
    );
    let e = crate::config::load_str(&text, "kpi.toml", std::path::Path::new(".")).unwrap_err();
    let all = e.to_string();
    assert!(
        all.contains("kpi.emissions.min_valid_share: 75 is not usable; a share between 0 and 1"),
        "{all}"
    );
    assert!(all.contains("kpi.emissions.wet_stacks[0]"), "{all}");
    // The compound unit class is accepted.
    assert!(!all.contains("threshold[0].class"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_loop_ticks_and_stops_on_shutdown() {
    let store = std::sync::Arc::new(MemStore::new());
    let s = std::sync::Arc::new(settings());
    let live = || crate::kpi::LiveLoop::standards(&s, &Default::default()).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let dyn_store: std::sync::Arc<dyn Store> = store.clone();
    let task = tokio::spawn(crate::kpi::run_live(live(), s.clone(), dyn_store, rx));
    // The first tick runs at once; it sets the late-data watermark. Wait for it (bounded, so a
    // broken loop fails instead of hanging).
    let mut ticked = false;
    for _ in 0..2000 {
        if store.state("kpi.watermark").unwrap().is_some() {
            ticked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(ticked, "the live loop never ran a tick");
    tx.send(true).unwrap();
    task.await.unwrap().unwrap();
    // Already shut down before the first tick: returns without evaluating.
    let (tx, rx) = tokio::sync::watch::channel(true);
    let fresh = std::sync::Arc::new(MemStore::new());
    let fresh_dyn: std::sync::Arc<dyn Store> = fresh.clone();
    crate::kpi::run_live(live(), s.clone(), fresh_dyn, rx)
        .await
        .unwrap();
    assert!(fresh.state("kpi.watermark").unwrap().is_none());
    drop(tx);
}
