//! The evaluator gives the same results from InfluxDB 1.6.7 as from SQLite (issue: InfluxDB as
//! the time-series store): the demo plant's simulated October goes through the ingest path into
//! both stores at once, the plant engine evaluates the month from each, and every result
//! (value, status, completeness, band, details) and every event must agree. Skips without
//! `HEATKPI_PEER_INFLUXDB` (tests/peers/influx.sh) unless `HEATKPI_REQUIRE_PEERS=1`.

mod influx_support;
mod kpi_support;

use heatkpi::config::IngestConfig;
use heatkpi::ingest::Ingest;
use heatkpi::sim::{Reading, ReadingSink, SeriesRules, SinkError, demo_settings};
use heatkpi::store::Store;
use heatkpi::store::influx::{InfluxApi, InfluxOptions, InfluxStore};
use heatkpi::store::sqlite::SqliteStore;
use influx_support::{peer, unique_db};
use kpi_support::{PlantOnly, october_plus_boundary, plant_engine};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// Float tolerance, relative (with the same as an absolute floor near zero). Both stores hold
/// the same float64 values (line protocol writes them in shortest round-trip form); SQLite
/// folds them into hourly rollups as they arrive, the InfluxDB backend folds the raw points it
/// reads back, so sums differ only in rounding order: ~1e-13 relative over a month.
const REL_TOL: f64 = 1e-9;

/// Both ingest paths, fed the same readings.
struct Both(Ingest, Ingest);

impl ReadingSink for Both {
    fn set_rules(&mut self, series: &heatkpi::model::SeriesKey, rules: SeriesRules) {
        ReadingSink::set_rules(&mut self.0, series, rules);
        ReadingSink::set_rules(&mut self.1, series, rules);
    }
    fn push(&mut self, readings: &[Reading]) -> Result<(), SinkError> {
        ReadingSink::push(&mut self.0, readings)?;
        ReadingSink::push(&mut self.1, readings)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        ReadingSink::flush(&mut self.0)?;
        ReadingSink::flush(&mut self.1)
    }
}

/// Compare two JSON values, numbers within the tolerance; `path` names the place.
fn same(a: &Value, b: &Value, path: &str, diffs: &mut Vec<String>) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() > REL_TOL * x.abs().max(y.abs()).max(1.0) {
                diffs.push(format!("{path}: SQLite {x} vs InfluxDB {y}"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                same(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    diffs,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                same(x, y, &format!("{path}[{i}]"), diffs);
            }
        }
        _ if a == b => {}
        _ => diffs.push(format!("{path}: SQLite {a} vs InfluxDB {b}")),
    }
}

#[test]
fn a_simulated_month_evaluates_the_same_from_influxdb_and_sqlite() {
    let Some(url) = peer("HEATKPI_PEER_INFLUXDB") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = demo_settings().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("kpi.db")).unwrap());
    let db = unique_db("heatkpi_kpi_e2e");
    let mut o = InfluxOptions::new(&url, InfluxApi::V1, &db, dir.path().join("side.db"));
    o.measurements = heatkpi::config::influx::measurements(&settings);
    let influx = Arc::new(InfluxStore::open(o).unwrap());
    influx.ensure_database(&db).unwrap();
    let influx_store: Arc<dyn Store> = influx.clone();

    let t = Instant::now();
    let cfg = IngestConfig::default();
    let mut sink = PlantOnly::new(
        Both(
            Ingest::new(sqlite.clone(), &cfg),
            Ingest::new(influx_store.clone(), &cfg),
        ),
        &settings,
    );
    heatkpi::sim::history(&settings, &mut sink, &october_plus_boundary(None)).unwrap();
    let (a, b) = (sink.inner.0.stats(), sink.inner.1.stats());
    assert_eq!(
        (a.written, a.rejected_total()),
        (sink.kept, 0),
        "SQLite: {a:?}"
    );
    assert_eq!(
        (b.written, b.rejected_total()),
        (sink.kept, 0),
        "InfluxDB: {b:?}"
    );
    eprintln!(
        "{} readings into SQLite and InfluxDB in {:.1} s",
        sink.kept,
        t.elapsed().as_secs_f64()
    );

    let engine = plant_engine(&settings);
    let oct = engine.calendar().parse("2026-10").unwrap();
    let as_of = oct.end() + 86_400_000;
    let t = Instant::now();
    let from_sqlite = engine
        .evaluate(&settings, &*sqlite, &oct, None, as_of)
        .unwrap();
    let t_sqlite = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let from_influx = engine
        .evaluate(&settings, &*influx_store, &oct, None, as_of)
        .unwrap();
    eprintln!(
        "evaluate: SQLite {t_sqlite:.2} s, InfluxDB {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let tz = settings.timezone();
    let (x, y) = (
        heatkpi::kpi::record::to_json(&from_sqlite.results, tz),
        heatkpi::kpi::record::to_json(&from_influx.results, tz),
    );
    assert!(
        x.as_array().is_some_and(|a| a.len() > 30),
        "the plant's results"
    );
    let mut diffs = Vec::new();
    same(&x, &y, "results", &mut diffs);
    let events = |ev: &heatkpi::kpi::Evaluation| serde_json::to_value(&ev.events).unwrap();
    same(
        &events(&from_sqlite),
        &events(&from_influx),
        "events",
        &mut diffs,
    );
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    // The comparison is not vacuous: the month has the SO2 episode's daily exceedance.
    assert!(
        from_influx
            .events
            .iter()
            .any(|e| e.kind == "emission_daily_exceedance")
    );
}
