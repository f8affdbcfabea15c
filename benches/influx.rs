//! Figures for the InfluxDB backend (a benchmark, not a test): points/s through heatkpi into
//! InfluxDB 1.6.7 (v1) and VictoriaMetrics (v2) — directly, and through the durable outbox —
//! next to curl posting the same line protocol over one keep-alive connection in the same
//! run; then the outbox's drain rate after an outage.
//!
//! Needs the peers (tests/peers/influx.sh start; source $run/influx.env). Sizes:
//! HEATKPI_BENCH_POINTS (default 1,000,000; 1000 series, 5000 points per request) and
//! HEATKPI_BENCH_DRAIN_POINTS (default 2,000,000; the 10 min × 10,000 points/s is
//! 6,000,000).
//!
//! `cargo bench --bench influx`

use heatkpi::model::{Quality, Quantity, Sample, SeriesKey};
use heatkpi::store::Store;
use heatkpi::store::influx::{InfluxApi, InfluxOptions, InfluxStore};
use heatkpi::store::outbox::{Outbox, OutboxOptions};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 5000;
const ASSETS: usize = 100;
const QUANTITIES: [Quantity; 10] = [
    Quantity::SupplyTemp,
    Quantity::ReturnTemp,
    Quantity::Flow,
    Quantity::HeatPower,
    Quantity::HeatEnergy,
    Quantity::Volume,
    Quantity::DiffPressure,
    Quantity::O2,
    Quantity::Nox,
    Quantity::Co,
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` samples over 1000 series, timestamps 1 ms apart ending near now, run-unique assets.
fn samples(n: usize, run: &str) -> Vec<Sample> {
    let t0 = chrono::Utc::now().timestamp_millis() - n as i64 - 60_000;
    (0..n)
        .map(|i| Sample {
            series: SeriesKey::new(
                format!("ss{run}-{}", i % ASSETS),
                QUANTITIES[(i / ASSETS) % QUANTITIES.len()],
            ),
            ts: t0 + i as i64,
            value: i as f64 * 0.5,
            quality: Quality::Good,
        })
        .collect()
}

fn measurements(run: &str) -> HashMap<String, String> {
    (0..ASSETS)
        .map(|i| (format!("ss{run}-{i}"), "substation".to_string()))
        .collect()
}

/// The same line protocol heatkpi sends, for curl.
fn bodies(s: &[Sample]) -> Vec<String> {
    s.chunks(BATCH)
        .map(|c| {
            let mut b = String::with_capacity(c.len() * 80);
            for x in c {
                let q = x.series.quantity.name();
                let _ = writeln!(
                    b,
                    "substation,asset={} {q}={},{q}_q={}i {}",
                    x.series.asset,
                    x.value,
                    x.quality.code(),
                    x.ts * 1_000_000
                );
            }
            b
        })
        .collect()
}

fn curl(url: &str, bodies: &[String], dir: &Path) -> Duration {
    let mut cfg = String::new();
    for (i, b) in bodies.iter().enumerate() {
        let f = dir.join(format!("body{i}.lp"));
        let _ = std::fs::write(&f, b);
        if i > 0 {
            cfg.push_str("next\n");
        }
        let _ = writeln!(
            cfg,
            "url = \"{url}\"\nrequest = POST\ndata-binary = \"@{}\"\nsilent\noutput = /dev/null\nheader = \"Content-Type: text/plain; charset=utf-8\"",
            f.display()
        );
    }
    let cfgf = dir.join("curl.cfg");
    let _ = std::fs::write(&cfgf, cfg);
    let t = Instant::now();
    let ok = std::process::Command::new("curl")
        .arg("--config")
        .arg(&cfgf)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let el = t.elapsed();
    assert!(ok, "curl failed");
    el
}

struct Target {
    name: &'static str,
    url: String,
    api: InfluxApi,
    write_path: String,
    check: bool,
}

fn store(t: &Target, db: &str, run: &str, dir: &Path, check: bool) -> InfluxStore {
    let mut o = InfluxOptions::new(&t.url, t.api, db, dir.join(format!("side-{run}.db")));
    o.measurements = measurements(run);
    o.check_duplicates = check;
    o.batch_size = BATCH;
    let s = InfluxStore::open(o).expect("store");
    if t.api == InfluxApi::V1 {
        s.ensure_database(db).expect("create database");
    }
    s
}

fn rate(n: usize, d: Duration) -> String {
    format!(
        "{:>9.0} points/s ({:.2} s)",
        n as f64 / d.as_secs_f64(),
        d.as_secs_f64()
    )
}

fn through_outbox(inner: Arc<dyn Store>, s: &[Sample], dir: &Path, run: &str) -> Duration {
    let mut o = OutboxOptions::new(dir.join(format!("outbox-{run}.db")));
    o.batch_size = BATCH;
    o.linger = Duration::from_millis(50);
    let ob = Outbox::open(inner, o).expect("outbox");
    let t = Instant::now();
    // As the ingest pipeline hands them over: 10,000 samples per write.
    for c in s.chunks(10_000) {
        ob.write(c).expect("outbox write");
    }
    assert!(ob.flush(Duration::from_secs(600)), "outbox drained");
    t.elapsed()
}

fn main() {
    let (Ok(influx), Ok(vm)) = (
        std::env::var("HEATKPI_PEER_INFLUXDB"),
        std::env::var("HEATKPI_PEER_VICTORIA"),
    ) else {
        eprintln!(
            "skipped: HEATKPI_PEER_INFLUXDB / HEATKPI_PEER_VICTORIA not set (tests/peers/influx.sh start)"
        );
        return;
    };
    let n = env_usize("HEATKPI_BENCH_POINTS", 1_000_000);
    let drain_n = env_usize("HEATKPI_BENCH_DRAIN_POINTS", 2_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let stamp = chrono::Utc::now().timestamp_millis() % 1_000_000;
    let targets = [
        Target {
            name: "InfluxDB 1.6.7, v1 /write",
            url: influx.clone(),
            api: InfluxApi::V1,
            write_path: "/write?db={db}&precision=ns".into(),
            check: true,
        },
        Target {
            name: "VictoriaMetrics, /api/v2/write",
            url: vm.clone(),
            api: InfluxApi::V2,
            write_path: "/api/v2/write?org=o&bucket={db}&precision=ns".into(),
            check: false,
        },
    ];
    println!("{n} points, 1000 series, {BATCH} points per request, gzip on for heatkpi");
    for t in &targets {
        println!("== {}", t.name);
        let run = format!("{stamp}c{}", t.api as u8);
        let db = format!("bench_{run}");
        let s = samples(n, &run);
        let _ = store(t, &db, &run, dir.path(), false);
        let url = format!("{}{}", t.url, t.write_path.replace("{db}", &db));
        let base = curl(&url, &bodies(&s), dir.path());
        println!("  curl, same line protocol         {}", rate(n, base));
        let mut modes = vec![(false, false)];
        if t.check {
            modes.push((false, true));
        }
        modes.push((true, false));
        if t.check {
            modes.push((true, true));
        }
        for (outbox, check) in modes {
            let run = format!("{stamp}{}{}{}", t.api as u8, outbox as u8, check as u8);
            let db = format!("bench_{run}");
            let s = samples(n, &run);
            let st = Arc::new(store(t, &db, &run, dir.path(), check));
            let el = if outbox {
                through_outbox(st, &s, dir.path(), &run)
            } else {
                let t0 = Instant::now();
                for c in s.chunks(10_000) {
                    st.write(c).expect("write");
                }
                t0.elapsed()
            };
            println!(
                "  heatkpi {:<7} dup check {:<3}   {}   {:.0} % of curl's rate",
                if outbox { "outbox" } else { "direct" },
                if check { "on" } else { "off" },
                rate(n, el),
                100.0 * base.as_secs_f64() / el.as_secs_f64()
            );
        }
    }

    // Drain after an outage: queue while forwarding is held, then release and time it.
    println!("== outbox drain into InfluxDB 1.6.7 after an outage ({drain_n} points queued)");
    let t = &targets[0];
    let run = format!("{stamp}d");
    let db = format!("bench_{run}");
    let st: Arc<dyn Store> = Arc::new(store(t, &db, &run, dir.path(), true));
    let mut o = OutboxOptions::new(dir.path().join("outbox-drain.db"));
    o.batch_size = BATCH;
    o.max_bytes = 4 << 30;
    let ob = Outbox::open(st, o).expect("outbox");
    ob.pause(true);
    let s = samples(drain_n, &run);
    let t0 = Instant::now();
    for c in s.chunks(10_000) {
        ob.write(c).expect("queue");
    }
    let queued = t0.elapsed();
    let size = std::fs::metadata(dir.path().join("outbox-drain.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "  queued       {}   outbox file {:.0} MB ({:.1} bytes/point)",
        rate(drain_n, queued),
        size as f64 / 1e6,
        size as f64 / drain_n as f64
    );
    let t0 = Instant::now();
    ob.pause(false);
    assert!(ob.flush(Duration::from_secs(3600)), "drained");
    println!("  drained      {}", rate(drain_n, t0.elapsed()));
}
