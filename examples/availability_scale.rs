//! Time the availability evaluator alone over simulated history of many substations, reading
//! the store as `heatkpi evaluate` does. The substations are the ones found in the store
//! (`ss-*.supply_temp`, as `heatkpi simulate --substations N` generates them, spread
//! round-robin over the simulator's branches), with nominal master data.
//!
//! ```sh
//! heatkpi -c k.toml simulate --history 2026-01 --substations 1000
//! /usr/bin/time -v target/release/examples/availability_scale k.toml 2026-01
//! ```

use heatkpi::model::asset::Substation;
use heatkpi::store::Store;
use heatkpi::store::sqlite::SqliteStore;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, period] = args.as_slice() else {
        anyhow::bail!("usage: availability_scale CONFIG PERIOD");
    };
    let loaded = heatkpi::config::load(std::path::Path::new(config))?;
    let mut settings = loaded.settings.clone();
    let store = SqliteStore::open(loaded.dir.join(&settings.store.path))?;
    let branches = settings.simulator.as_ref().map_or(3, |s| s.branches).max(1);
    let net = settings.networks[0].id.clone();
    let ids: Vec<String> = store
        .list_series("ss-*.supply_temp")?
        .into_iter()
        .map(|k| k.asset.to_string())
        .collect();
    settings.substations = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Substation {
            id: id.clone(),
            name: String::new(),
            network: net.clone(),
            branch: Some(format!("b{}", i % branches + 1)),
            ordered_capacity_mw: 0.4,
            heated_area_m2: 7000.0,
            customers: 100,
            regulation: None,
            design_delta_t_k: 50.0,
            dhw: true,
            meter_class: 2,
            capacity_fee_pln_per_mw_month: None,
            manual_read: false,
            baseline: None,
        })
        .collect();
    let engine = heatkpi::kpi::Engine::empty(&settings)?
        .with(heatkpi::kpi::availability_eval::AvailabilityEvaluator);
    let p = engine.calendar().parse(period)?;
    let now = chrono::Utc::now().timestamp_millis();
    let t = Instant::now();
    let ev = engine.evaluate(&settings, &store, &p, None, now)?;
    let read = ev
        .results
        .iter()
        .find(|r| r.kpi == "saidi")
        .and_then(|r| r.details.get("read").cloned());
    println!(
        "availability of {} substations over {}: {} results, {} events in {:.2} s; read: {}",
        settings.substations.len(),
        p.label,
        ev.results.len(),
        ev.events.len(),
        t.elapsed().as_secs_f64(),
        read.unwrap_or_default()
    );
    Ok(())
}
