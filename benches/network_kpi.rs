//! Time and memory of the network-side evaluators (transmission losses, rational use) on a
//! month of simulated history. Prints figures; asserts nothing.
//!
//! Make the store once (a month of 1,000 substations at one-minute steps, about 10 GB):
//!
//! ```sh
//! HEATKPI__STORE__PATH=/tmp/netkpi/month.db target/release/heatkpi -c config/demo.toml \
//!     simulate --history 2026-01 --substations 1000
//! HEATKPI_BENCH_DB=/tmp/netkpi/month.db /usr/bin/time -v cargo bench --bench network_kpi
//! ```
//!
//! Environment: `HEATKPI_BENCH_DB` (the store; required), `HEATKPI_BENCH_MONTH` (default
//! `2026-01`), `HEATKPI_BENCH_ALL=1` evaluates every standard instead of the two network-side
//! ones, `HEATKPI_BENCH_ONLY=losses|usage|availability|efficiency|emissions` only one of them. The substations are the ones found in the store (`ss-*.heat_energy`), on the demo's
//! network with the demo's parameters, so the work done is that of the configured utility.

use heatkpi::kpi::Engine;
use heatkpi::kpi::availability_eval::AvailabilityEvaluator;
use heatkpi::kpi::efficiency_eval::EfficiencyEvaluator;
use heatkpi::kpi::emissions_eval::EmissionsEvaluator;
use heatkpi::kpi::engine::template_moduli;
use heatkpi::kpi::losses_eval::LossesEvaluator;
use heatkpi::kpi::usage_eval::UsageEvaluator;
use heatkpi::model::asset::Substation;
use heatkpi::sim::demo_settings;
use heatkpi::store::Store;
use heatkpi::store::sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let Ok(db) = std::env::var("HEATKPI_BENCH_DB") else {
        println!(
            "network_kpi: set HEATKPI_BENCH_DB to a store written by `heatkpi simulate --history` (see the file's documentation); skipped"
        );
        return;
    };
    let month = std::env::var("HEATKPI_BENCH_MONTH").unwrap_or_else(|_| "2026-01".into());
    let all = std::env::var("HEATKPI_BENCH_ALL").is_ok_and(|v| v == "1");
    let store = SqliteStore::open(&db).expect("open the store");
    let mut settings = demo_settings().expect("demo settings");
    // The demo's [kpi.availability] is tuned for its 60x live clock; history keeps the
    // contract defaults.
    settings.kpi.availability = Default::default();
    let template = settings.substations[0].clone();
    let ids = store.list_series("ss-*.heat_energy").expect("list series");
    settings.substations = ids
        .iter()
        .map(|k| Substation {
            id: k.asset.clone(),
            name: k.asset.clone(),
            ..template.clone()
        })
        .collect();
    let templates = heatkpi::sim::templates::builtin().expect("templates");
    let mut moduli: BTreeMap<String, f64> = template_moduli(&settings, &templates);
    for s in &settings.substations {
        // The simulated heat meter's registers (dh-sim-heat-meter): u32 in kWh and 0.01 m³.
        moduli.insert(format!("{}.heat_energy", s.id), 4_294_967_296.0 * 0.0036);
        moduli.insert(format!("{}.volume", s.id), 4_294_967_296.0 * 0.01);
    }
    let only = std::env::var("HEATKPI_BENCH_ONLY").unwrap_or_default();
    let engine = if all {
        Engine::standards(&settings).expect("engine")
    } else {
        match only.as_str() {
            "losses" => Engine::empty(&settings)
                .expect("engine")
                .with(LossesEvaluator),
            "usage" => Engine::empty(&settings)
                .expect("engine")
                .with(UsageEvaluator),
            "availability" => Engine::empty(&settings)
                .expect("engine")
                .with(AvailabilityEvaluator),
            "efficiency" => Engine::empty(&settings)
                .expect("engine")
                .with(EfficiencyEvaluator),
            "emissions" => Engine::empty(&settings)
                .expect("engine")
                .with(EmissionsEvaluator),
            _ => Engine::empty(&settings)
                .expect("engine")
                .with(LossesEvaluator)
                .with(UsageEvaluator),
        }
    }
    .with_register_moduli(moduli);
    let period = engine.calendar().parse(&month).expect("month");
    let label = if all {
        "all standards"
    } else if only.is_empty() {
        "losses + usage"
    } else {
        only.as_str()
    };
    let now = chrono::Utc::now().timestamp_millis();
    let rss0 = peak_rss_kib();
    let t = Instant::now();
    let ev = engine
        .evaluate(&settings, &store, &period, None, now)
        .expect("evaluate");
    let wall = t.elapsed().as_secs_f64();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &ev.results {
        *by_status.entry(r.status.name()).or_default() += 1;
    }
    let loss = ev
        .results
        .iter()
        .find(|r| r.kpi == "transmission_loss")
        .and_then(|r| r.value);
    println!(
        "network_kpi: {} substations, {month}, {}: {:.2} s wall, {} results ({by_status:?}), {} events, loss {:?} %, peak RSS {} MiB (before evaluating {} MiB)",
        settings.substations.len(),
        label,
        wall,
        ev.results.len(),
        ev.events.len(),
        loss,
        peak_rss_kib().unwrap_or(0) / 1024,
        rss0.unwrap_or(0) / 1024,
    );
}
