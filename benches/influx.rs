//! Figures for the InfluxDB backend (a benchmark, not a test).
//!
//! `rate`: points/s through heatkpi into InfluxDB 1.6.7 (v1 `/write`) and VictoriaMetrics
//! (`/api/v2/write`) — directly and through the durable outbox — next to curl posting the same
//! line protocol (5000 points per request, one keep-alive connection). The servers are
//! private instances the bench starts (ports 18086/18088 and 18428, data in a temporary
//! directory), so other users of the shared peers do not land in some measurements and not
//! in others. Each round measures the three in a rotated order with fresh database names;
//! the ratios are taken within a round and their median over the rounds is reported,
//! because the machine is shared and its load moves between rounds.
//!
//! `drain`: the outbox after a 10-minute outage at 10,000 points/s. The bench starts its own
//! influxd and victoria-metrics (ports 18086/18088 and 18428, data in a temporary directory;
//! the shared peers are never stopped), creates the database and stops the server. The
//! outage's points up to its last 30 s are written into the outbox at full speed, in pieces of
//! 5000 (what the ingest path writes at that rate), timestamps spread over the outage; then
//! points arrive live at 10,000/s, and once 6,000,000 are queued and the forwarder has backed
//! off as far as in a long outage (30 s) the server is started again, while points keep
//! arriving. Reported: time to the first forwarded point, forward rate, time until the
//! backlog is gone (the oldest queued point younger than 2 s), the process's memory, and a
//! check that every point is in the database once.
//!
//! Needs `influxd`, `victoria-metrics` and `curl` on PATH (Debian packages `influxdb`,
//! `victoria-metrics`, `curl`; tests/peers/influx.sh installs them); the shared peers are not
//! used.
//! Environment: HEATKPI_BENCH_PART (`rate`, `drain` or both when unset), HEATKPI_BENCH_ROUNDS
//! (3), HEATKPI_BENCH_POINTS (2,000,000 per measurement), HEATKPI_BENCH_OUTAGE_S (600),
//! HEATKPI_BENCH_RATE (10,000 points/s).
//!
//! `cargo bench --bench influx`

#[path = "influx/drain.rs"]
mod drain;

use heatkpi::model::{Quality, Quantity, Sample, SeriesKey};
use heatkpi::store::Store;
use heatkpi::store::influx::{InfluxApi, InfluxOptions, InfluxStore};
use heatkpi::store::outbox::{Outbox, OutboxOptions};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Points per request (heatkpi's default `batch_size`, and curl's bodies).
pub const BATCH: usize = 5000;
/// Assets × quantities = 1000 series.
pub const ASSETS: usize = 100;
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
/// Samples per store write, as the ingest path's default `batch_size` hands them over.
const WRITE: usize = 10_000;

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Point `i` of a stream of `rate` points/s over 1000 series starting at `t0` (ms): series
/// `i % 1000`, so every series gets `rate / 1000` points per second.
pub fn sample(run: &str, i: usize, t0: i64, rate: usize) -> Sample {
    let s = i % (ASSETS * QUANTITIES.len());
    Sample {
        series: SeriesKey::new(format!("ss{run}-{}", s % ASSETS), QUANTITIES[s / ASSETS]),
        ts: t0 + (i as i64 * 1000) / rate.max(1) as i64,
        value: i as f64 * 0.5,
        quality: Quality::Good,
    }
}

pub fn measurements(run: &str) -> HashMap<String, String> {
    (0..ASSETS)
        .map(|i| (format!("ss{run}-{i}"), "substation".to_string()))
        .collect()
}

pub fn uptime() -> String {
    std::process::Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
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
        std::fs::write(&f, b).expect("write body");
        if i > 0 {
            cfg.push_str("next\n");
        }
        let _ = writeln!(
            cfg,
            "url = \"{url}\"\nrequest = POST\ndata-binary = \"@{}\"\nsilent\nfail\noutput = /dev/null\nheader = \"Content-Type: text/plain; charset=utf-8\"",
            f.display()
        );
    }
    let cfgf = dir.join("curl.cfg");
    std::fs::write(&cfgf, cfg).expect("write curl config");
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

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Curl,
    Direct,
    Outbox,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Curl => "curl, same line protocol",
            Mode::Direct => "heatkpi direct",
            Mode::Outbox => "heatkpi through the outbox",
        }
    }
}

pub struct Target {
    pub name: &'static str,
    pub url: String,
    pub api: InfluxApi,
    /// The documented setting: on for InfluxDB, off for VictoriaMetrics (write-only target).
    pub check: bool,
}

impl Target {
    fn write_url(&self, db: &str) -> String {
        match self.api {
            InfluxApi::V1 => format!("{}/write?db={db}&precision=ns", self.url),
            InfluxApi::V2 => format!("{}/api/v2/write?org=o&bucket={db}&precision=ns", self.url),
        }
    }

    /// Remove what a measurement wrote (the shared servers are used by others too).
    pub fn clean(&self, db: &str, run: &str) {
        let (path, arg) = match self.api {
            InfluxApi::V1 => ("/query", format!("q=DROP DATABASE \"{db}\"")),
            InfluxApi::V2 => (
                "/api/v1/admin/tsdb/delete_series",
                format!("match[]={{asset=~\"ss{run}-.*\"}}"),
            ),
        };
        let _ = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-g", "-XPOST"])
            .arg(format!("{}{path}", self.url))
            .arg("--data-urlencode")
            .arg(arg)
            .status();
    }
}

pub fn store(t: &Target, db: &str, run: &str, dir: &Path) -> InfluxStore {
    let mut o = InfluxOptions::new(&t.url, t.api, db, dir.join(format!("side-{run}.db")));
    o.measurements = measurements(run);
    o.check_duplicates = t.check;
    o.batch_size = BATCH;
    InfluxStore::open(o).expect("store")
}

pub fn outbox_options(path: &Path) -> OutboxOptions {
    let mut o = OutboxOptions::new(path);
    o.batch_size = BATCH;
    o.linger = Duration::from_millis(1000);
    o.max_bytes = 4 << 30;
    o
}

fn measure(t: &Target, mode: Mode, n: usize, run: &str, dir: &Path) -> Duration {
    let db = format!("bench_{run}");
    let t0 = chrono::Utc::now().timestamp_millis() - n as i64 - 60_000;
    let s: Vec<Sample> = (0..n).map(|i| sample(run, i, t0, 1000)).collect();
    let st = store(t, &db, run, dir);
    if t.api == InfluxApi::V1 {
        st.ensure_database(&db).expect("create database");
    }
    let el = match mode {
        Mode::Curl => curl(&t.write_url(&db), &bodies(&s), dir),
        Mode::Direct => {
            let t0 = Instant::now();
            for c in s.chunks(WRITE) {
                st.write(c).expect("write");
            }
            t0.elapsed()
        }
        Mode::Outbox => {
            let ob = Outbox::open(
                Arc::new(st),
                outbox_options(&dir.join(format!("outbox-{run}.db"))),
            )
            .expect("outbox");
            let t0 = Instant::now();
            for c in s.chunks(WRITE) {
                ob.write(c).expect("outbox write");
            }
            assert!(ob.flush(Duration::from_secs(600)), "outbox drained");
            let el = t0.elapsed();
            assert_eq!(ob.stats().forwarded_points, n as u64);
            el
        }
    };
    t.clean(&db, run);
    el
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn rate_part(rounds: usize) {
    let n = env_usize("HEATKPI_BENCH_POINTS", 2_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    // Private servers: the shared peers also serve other users' tests, whose requests would
    // land in some measurements and not in others.
    let mut servers = [
        drain::Server::new(drain::Kind::Influx, dir.path().join("influxd")),
        drain::Server::new(drain::Kind::Victoria, dir.path().join("vm")),
    ];
    for s in &mut servers {
        s.start();
    }
    let (influx, vm) = (servers[0].url(), servers[1].url());
    let stamp = chrono::Utc::now().timestamp_millis() % 1_000_000;
    let targets = [
        Target {
            name: "InfluxDB 1.6.7 (private), v1 /write, duplicate check on",
            url: influx,
            api: InfluxApi::V1,
            check: true,
        },
        Target {
            name: "VictoriaMetrics (private), /api/v2/write, duplicate check off",
            url: vm,
            api: InfluxApi::V2,
            check: false,
        },
    ];
    println!(
        "== rate: {n} points per measurement, 1000 series, {BATCH} points per request (gzip level 1 for heatkpi, none for curl), {rounds} rounds"
    );
    for (ti, t) in targets.iter().enumerate() {
        println!("-- {}", t.name);
        let modes = [Mode::Curl, Mode::Direct, Mode::Outbox];
        let mut ratios: [Vec<f64>; 3] = Default::default();
        let mut rates: [Vec<f64>; 3] = Default::default();
        for r in 0..rounds {
            println!("  round {} ({})", r + 1, uptime());
            let mut secs = [0.0f64; 3];
            for k in 0..3 {
                let m = (k + r) % 3;
                let run = format!("{stamp}t{ti}r{r}m{m}");
                let el = measure(t, modes[m], n, &run, dir.path());
                secs[m] = el.as_secs_f64();
                rates[m].push(n as f64 / secs[m]);
                println!(
                    "    {:<28} {:>9.0} points/s ({:.2} s)",
                    modes[m].name(),
                    n as f64 / secs[m],
                    secs[m]
                );
            }
            // direct / curl, outbox / curl, outbox / direct (rates, so time ratios inverted)
            ratios[0].push(secs[0] / secs[1]);
            ratios[1].push(secs[0] / secs[2]);
            ratios[2].push(secs[1] / secs[2]);
            println!(
                "    ratios: direct/curl {:.2}, outbox/curl {:.2}, outbox/direct {:.2}",
                secs[0] / secs[1],
                secs[0] / secs[2],
                secs[1] / secs[2]
            );
        }
        println!(
            "  median over {rounds} rounds: curl {:.0}, direct {:.0}, outbox {:.0} points/s; direct/curl {:.2}, outbox/curl {:.2}, outbox/direct {:.2}",
            median(rates[0].clone()),
            median(rates[1].clone()),
            median(rates[2].clone()),
            median(ratios[0].clone()),
            median(ratios[1].clone()),
            median(ratios[2].clone())
        );
    }
}

fn main() {
    let part = std::env::var("HEATKPI_BENCH_PART").unwrap_or_default();
    let rounds = env_usize("HEATKPI_BENCH_ROUNDS", 3).max(1);
    if part.is_empty() || part == "rate" {
        rate_part(rounds);
    }
    if part == "drain" {
        drain::run(rounds);
    } else if part.is_empty() {
        // In a process of its own, so its memory figures do not include the rate part's heap.
        let ok = std::env::current_exe()
            .and_then(|exe| {
                std::process::Command::new(exe)
                    .env("HEATKPI_BENCH_PART", "drain")
                    .status()
            })
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "the drain part failed");
    }
}
