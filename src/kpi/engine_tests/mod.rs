//! The engine over a store: inputs → formulas → results and events, with hand-computed
//! expectations. Every scenario runs twice: on the in-memory store of `testkit` and on the
//! SQLite store, so the numbers do not depend on the backend.

mod efficiency;
mod emissions;
mod network;
mod storage;

use super::period::Calendar;
use super::result::{IrregularityKind, KpiResult, Status};
use super::testkit::MemStore;
use crate::config::Settings;
use crate::kpi::engine::Engine;
use crate::model::TimestampMs;
use crate::model::time::parse_instant;
use crate::store::sqlite::SqliteStore;
use crate::store::{EventFilter, ResultFilter, Store};

const CONFIG: &str = r#"
[site]
timezone = "Europe/Warsaw"

[[source]]
id = "ec"

[[unit]]
id = "k1"
source = "ec"
kind = "boiler"
fuel = "natural_gas"
lhv_gj_per_unit = 0.036
rated_heat_mw = 5.0

[[unit]]
id = "k2"
source = "ec"
kind = "boiler"
fuel = "coal"
lhv_gj_per_unit = 22.0
rated_heat_mw = 5.0

[[unit]]
id = "g1"
source = "ec"
kind = "engine"
fuel = "natural_gas"
lhv_gj_per_unit = 0.036
rated_heat_mw = 1.2
rated_el_mw = 1.0
year_built = 2018

[[stack]]
id = "em-1"
source = "ec"
units = ["k2"]
o2_ref_pct = 6.0
limits_mg_nm3 = { nox = 300.0 }

[kpi.emissions]
raw_interval_s = 900
"#;

/// Run a scenario on the in-memory store and on SQLite in a temporary directory. The scenario
/// gets a factory of empty stores of that kind (some scenarios need more than one).
fn for_each_store(scenario: impl Fn(&dyn Fn() -> Box<dyn Store>)) {
    eprintln!("scenario on the in-memory store");
    scenario(&|| Box::new(MemStore::new()));
    eprintln!("scenario on SQLite");
    let dir = tempfile::tempdir().expect("temporary directory");
    let n = std::cell::Cell::new(0);
    scenario(&|| {
        n.set(n.get() + 1);
        let path = dir.path().join(format!("kpi-{}.db", n.get()));
        Box::new(SqliteStore::open(path).expect("sqlite store"))
    });
}

/// Write good samples of one series.
fn put(store: &dyn Store, series: &str, points: &[(TimestampMs, f64)]) {
    let key: crate::model::SeriesKey = series.parse().expect("test series key");
    let samples: Vec<crate::model::Sample> = points
        .iter()
        .map(|(ts, v)| crate::model::Sample {
            series: key.clone(),
            ts: *ts,
            value: *v,
            quality: crate::model::Quality::Good,
        })
        .collect();
    store.write(&samples).expect("store write");
}

fn settings() -> Settings {
    toml::from_str(CONFIG).expect("test configuration")
}

fn cal() -> Calendar {
    Calendar::default()
}

fn at(s: &str) -> TimestampMs {
    parse_instant(cal().tz, s).expect("test time")
}

fn find<'a>(rs: &'a [KpiResult], kpi: &str, asset: &str) -> &'a KpiResult {
    rs.iter()
        .find(|r| r.kpi == kpi && r.asset == asset)
        .unwrap_or_else(|| {
            panic!(
                "no {kpi} for {asset} in {:#?}",
                rs.iter().map(|r| (&r.kpi, &r.asset)).collect::<Vec<_>>()
            )
        })
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b}");
}

/// k1 (gas boiler) and g1 (gas engine) registers at every local hour of October and at
/// 1 November 00:00, skipping the hours in `skip`.
fn write_october_meters(store: &dyn Store, skip: &[usize]) {
    let c = cal();
    let oct = c.parse("2026-10").unwrap();
    let mut ts: Vec<TimestampMs> = c.hours_in(oct.window).iter().map(|h| h.start).collect();
    ts.push(oct.end());
    let keep = |i: &usize| !skip.contains(i);
    let series = |per_hour: f64| -> Vec<(TimestampMs, f64)> {
        ts.iter()
            .enumerate()
            .filter(|(i, _)| keep(i))
            .map(|(i, t)| (*t, 1000.0 + per_hour * i as f64))
            .collect()
    };
    // k1: heat 8.1 GJ/h, gas 250 Nm³/h × 0.036 GJ/Nm³ = 9 GJ/h → η = 8.1 / 9 = 90 %.
    put(store, "k1.heat_energy", &series(8.1));
    put(store, "k1.fuel_volume", &series(250.0));
    // g1: heat 1.0 GJ/h, electricity 0.25 MWh/h = 0.9 GJ/h, gas 60 Nm³/h × 0.036 = 2.16 GJ/h.
    put(store, "g1.heat_energy", &series(1.0));
    put(store, "g1.electricity", &series(0.25));
    put(store, "g1.fuel_volume", &series(60.0));
}

#[test]
fn every_result_names_its_programme_standard_and_evaluators_run_in_order() {
    // The demo utility on an empty store: every evaluator still reports each of its assets
    // (no data), so all five standards appear; the evaluators run on their own threads and
    // their results come back in the order the evaluators were added.
    let settings = crate::sim::demo_settings().unwrap();
    let engine = Engine::standards(&settings).unwrap();
    let period = engine.calendar().parse("2026-01").unwrap();
    let store = MemStore::default();
    let ev = engine
        .evaluate(&settings, &store, &period, None, at("2026-02-02T06:00"))
        .unwrap();
    let order = [
        "efficient_production",
        "emission_limits",
        "transmission_losses",
        "rational_use",
        "supply_availability",
    ];
    let seen: Vec<&str> = ev
        .results
        .iter()
        .map(|r| r.details["standard"].as_str().expect("details.standard"))
        .collect();
    let mut firsts: Vec<&str> = seen.clone();
    firsts.dedup();
    assert_eq!(firsts, order, "each standard once, in evaluator order");
    let std_of = |kpi: &str| {
        let r = ev.results.iter().find(|r| r.kpi == kpi).expect(kpi);
        r.details["standard"].as_str().unwrap().to_string()
    };
    assert_eq!(std_of("boiler_efficiency"), "efficient_production");
    assert_eq!(std_of("transmission_loss"), "transmission_losses");
    assert_eq!(std_of("saidi"), "supply_availability");
    // The same evaluation again gives the same results in the same order.
    let again = engine
        .evaluate(&settings, &store, &period, None, at("2026-02-02T06:00"))
        .unwrap();
    let key = |r: &KpiResult| (r.kpi.clone(), r.asset.clone(), r.status);
    assert_eq!(
        ev.results.iter().map(key).collect::<Vec<_>>(),
        again.results.iter().map(key).collect::<Vec<_>>()
    );
}
