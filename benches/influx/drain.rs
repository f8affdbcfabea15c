//! The `drain` part of the InfluxDB figures (see benches/influx.rs): the outbox after an
//! outage, against a private influxd / victoria-metrics that this bench starts and stops.

use crate::{BATCH, Target, env_usize, median, outbox_options, sample, store, uptime};
use heatkpi::store::Store;
use heatkpi::store::influx::InfluxApi;
use heatkpi::store::outbox::Outbox;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Wall time the server stays away at least, so the forwarder's back-off has reached its
/// ceiling (10 s) as it has after a long outage: 0.2 + 0.4 + … + 6.4 s, plus the store's own
/// attempts. The outage's points of these last seconds arrive live; the ones before are
/// written into the outbox at full speed.
const SETTLE: Duration = Duration::from_secs(30);
/// The backlog counts as drained when the oldest queued point is younger than this.
const CAUGHT_UP_MS: i64 = 2000;

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Influx,
    Victoria,
}

/// A private server with its own port and data directory.
pub struct Server {
    kind: Kind,
    dir: PathBuf,
    port: usize,
    rpc_port: usize,
    child: Option<Child>,
}

fn curl_ok(url: &str) -> bool {
    Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--max-time", "2", url])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl Server {
    /// A server of `kind` on its configured port, data under `dir` (not started).
    pub fn new(kind: Kind, dir: PathBuf) -> Self {
        Server {
            kind,
            dir,
            port: match kind {
                Kind::Influx => env_usize("HEATKPI_BENCH_INFLUX_PORT", 18086),
                Kind::Victoria => env_usize("HEATKPI_BENCH_VM_PORT", 18428),
            },
            rpc_port: env_usize("HEATKPI_BENCH_INFLUX_RPC_PORT", 18088),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn probe(&self) -> String {
        match self.kind {
            Kind::Influx => format!("{}/ping", self.url()),
            Kind::Victoria => format!("{}/health", self.url()),
        }
    }

    pub fn start(&mut self) {
        assert!(
            !curl_ok(&self.probe()),
            "port {} is already in use; set HEATKPI_BENCH_INFLUX_PORT / HEATKPI_BENCH_VM_PORT",
            self.port
        );
        std::fs::create_dir_all(&self.dir).expect("server dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("server log");
        let mut cmd = match self.kind {
            Kind::Influx => {
                let d = self.dir.display();
                let conf = format!(
                    "reporting-enabled = false\nbind-address = \"127.0.0.1:{rpc}\"\n[meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n[monitor]\n  store-enabled = false\n[http]\n  enabled = true\n  bind-address = \"127.0.0.1:{port}\"\n  auth-enabled = false\n  log-enabled = false\n  max-body-size = 25000000\n[ifql]\n  enabled = false\n",
                    rpc = self.rpc_port,
                    port = self.port
                );
                let f = self.dir.join("influxdb.conf");
                std::fs::write(&f, conf).expect("influxdb.conf");
                let mut c = Command::new("influxd");
                c.arg("run").arg("-config").arg(f);
                c
            }
            Kind::Victoria => {
                let mut c = Command::new("victoria-metrics");
                c.arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
                    .arg(format!(
                        "-storageDataPath={}",
                        self.dir.join("vm").display()
                    ))
                    .args(["-retentionPeriod=100y", "-search.latencyOffset=0s"]);
                c
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the private server (is influxd / victoria-metrics on PATH?)");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(60);
        while !curl_ok(&self.probe()) {
            assert!(Instant::now() < until, "private server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM, so influxd closes its files; then wait.
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let until = Instant::now() + Duration::from_secs(30);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Resident memory of this process, MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// New points at `rate`/s in writes of `piece`, timestamps from the wall clock.
struct Live {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    handle: JoinHandle<()>,
}

impl Live {
    fn start(ob: Arc<Outbox>, run: String, rate: usize, piece: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let (s, w) = (stop.clone(), written.clone());
        let handle = std::thread::spawn(move || {
            let t0 = chrono::Utc::now().timestamp_millis();
            let start = Instant::now();
            let mut j = 0usize;
            let mut buf = Vec::with_capacity(piece);
            while !s.load(Ordering::Relaxed) {
                let due = start + Duration::from_secs_f64((j + piece) as f64 / rate as f64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                buf.clear();
                buf.extend((j..j + piece).map(|i| sample(&run, i, t0, rate)));
                // `block` policy: a full outbox would fail the write; 4 GiB is never full here.
                ob.write(&buf).expect("live write");
                j += piece;
                w.store(j as u64, Ordering::Relaxed);
            }
        });
        Live {
            stop,
            written,
            handle,
        }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
        self.written.load(Ordering::Relaxed)
    }
}

/// Points of the run's series on a private InfluxDB (value fields only, not `_q`).
fn influx_count(url: &str, db: &str) -> u64 {
    let out = Command::new("curl")
        .args(["-s", "-G", &format!("{url}/query")])
        .args(["--data-urlencode", &format!("db={db}")])
        .args(["--data-urlencode", "q=SELECT count(*) FROM \"substation\""])
        .output()
        .expect("curl");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let mut n = 0u64;
    for s in v["results"][0]["series"].as_array().into_iter().flatten() {
        let cols = s["columns"].as_array().cloned().unwrap_or_default();
        for row in s["values"].as_array().into_iter().flatten() {
            for (c, x) in cols.iter().zip(row.as_array().into_iter().flatten()) {
                let c = c.as_str().unwrap_or("");
                if c.starts_with("count_") && !c.ends_with("_q") {
                    n += x.as_u64().unwrap_or(0);
                }
            }
        }
    }
    n
}

struct Figures {
    backlog: u64,
    first_s: f64,
    rate: f64,
    empty_s: f64,
    rss_before: f64,
    rss_peak: f64,
}

fn one(kind: Kind, run: &str, dir: &Path, outage_s: usize, rate: usize) -> Figures {
    let sdir = dir.join(run);
    let mut server = Server::new(kind, sdir.join("server"));
    let db = format!("drain_{run}");
    let target = Target {
        name: "",
        url: server.url(),
        api: if kind == Kind::Influx {
            InfluxApi::V1
        } else {
            InfluxApi::V2
        },
        check: kind == Kind::Influx,
    };
    server.start();
    if kind == Kind::Influx {
        store(&target, &db, run, &sdir)
            .ensure_database(&db)
            .expect("create database");
    }
    // The outage begins.
    server.stop();
    let down = Instant::now();
    let inner: Arc<dyn Store> = Arc::new(store(&target, &db, run, &sdir));
    let ob =
        Arc::new(Outbox::open(inner, outbox_options(&sdir.join("outbox.db"))).expect("outbox"));
    let backlog = outage_s * rate;
    // The points of the outage's last SETTLE seconds arrive live, as the forwarder backs off.
    let prefill = backlog.saturating_sub(SETTLE.as_secs() as usize * rate);
    // Half a second of points per write: the ingest path's default linger (500 ms) at this rate.
    let piece = (rate / 2).clamp(1, BATCH);
    let t_from = chrono::Utc::now().timestamp_millis() - outage_s as i64 * 1000;
    let t = Instant::now();
    let mut buf = Vec::with_capacity(piece);
    for i0 in (0..prefill).step_by(piece) {
        buf.clear();
        buf.extend((i0..(i0 + piece).min(prefill)).map(|i| sample(run, i, t_from, rate)));
        ob.write(&buf).expect("queue");
    }
    let fill = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(sdir.join("outbox.db")).map_or(0, |m| m.len());
    println!(
        "    queued {prefill} points in {fill:.1} s ({:.0} points/s), outbox file {:.0} MB ({:.1} bytes/point)",
        prefill as f64 / fill,
        size as f64 / 1e6,
        size as f64 / prefill.max(1) as f64
    );
    let live = Live::start(ob.clone(), run.to_string(), rate, piece);
    while down.elapsed() < SETTLE || (ob.stats().depth_points as usize) < backlog {
        std::thread::sleep(Duration::from_millis(50));
    }
    let rss_before = rss_mib();
    let at_start = ob.stats();
    let t_up = Instant::now();
    server.start();
    let started_s = t_up.elapsed().as_secs_f64();
    let mut first: Option<(f64, u64)> = None;
    let mut rss_peak = rss_before;
    let empty = loop {
        std::thread::sleep(Duration::from_millis(100));
        let s = ob.stats();
        let el = t_up.elapsed().as_secs_f64();
        rss_peak = rss_peak.max(rss_mib());
        if first.is_none() && s.forwarded_points > 0 {
            first = Some((el, s.forwarded_points));
        }
        if first.is_some() && s.oldest_age_ms.is_none_or(|a| a <= CAUGHT_UP_MS) {
            break (el, s.forwarded_points);
        }
        assert!(el < 3600.0, "not drained within an hour: {s:?}");
    };
    let written_live = live.finish();
    assert!(ob.flush(Duration::from_secs(120)), "the rest forwarded");
    let end = ob.stats();
    assert_eq!(
        end.forwarded_points,
        prefill as u64 + written_live,
        "every queued point forwarded once"
    );
    if kind == Kind::Influx {
        let n = influx_count(&server.url(), &db);
        assert_eq!(n, prefill as u64 + written_live, "points in the database");
    }
    let (first_s, first_n) = first.unwrap_or((empty.0, 0));
    let rate_fwd = (empty.1 - first_n) as f64 / (empty.0 - first_s).max(1e-3);
    println!(
        "    server up after {started_s:.1} s; backlog then {} points; first forward {first_s:.1} s after the start; forwarded {:.0} points/s; caught up (oldest < {} s) {:.1} s after the start; memory {:.0} MiB before, {:.0} MiB peak while draining",
        at_start.depth_points,
        rate_fwd,
        CAUGHT_UP_MS / 1000,
        empty.0,
        rss_before,
        rss_peak
    );
    drop(ob);
    server.stop();
    let _ = std::fs::remove_dir_all(&sdir);
    Figures {
        backlog: at_start.depth_points,
        first_s,
        rate: rate_fwd,
        empty_s: empty.0,
        rss_before,
        rss_peak,
    }
}

pub fn run(rounds: usize) {
    let outage_s = env_usize("HEATKPI_BENCH_OUTAGE_S", 600);
    let rate = env_usize("HEATKPI_BENCH_RATE", 10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let stamp = chrono::Utc::now().timestamp_millis() % 1_000_000;
    println!(
        "== drain: {outage_s} s outage at {rate} points/s ({} points) pre-filled while a private server is down, {rate} points/s keep arriving; {rounds} rounds",
        outage_s * rate
    );
    for (k, (kind, name)) in [
        (
            Kind::Influx,
            "InfluxDB 1.6.7 (private, v1, duplicate check on)",
        ),
        (Kind::Victoria, "VictoriaMetrics (private, v2)"),
    ]
    .into_iter()
    .enumerate()
    {
        println!("-- {name}");
        let mut all = Vec::new();
        for r in 0..rounds {
            println!("  round {} ({})", r + 1, uptime());
            all.push(one(
                kind,
                &format!("{stamp}d{k}r{r}"),
                dir.path(),
                outage_s,
                rate,
            ));
        }
        let m = |f: fn(&Figures) -> f64| median(all.iter().map(f).collect());
        println!(
            "  median over {rounds} rounds: backlog {:.0} points, first forward after {:.1} s, forwarded {:.0} points/s, caught up after {:.1} s ({:.0} points/s of backlog), memory {:.0} → {:.0} MiB",
            m(|f| f.backlog as f64),
            m(|f| f.first_s),
            m(|f| f.rate),
            m(|f| f.empty_s),
            m(|f| f.backlog as f64 / f.empty_s),
            m(|f| f.rss_before),
            m(|f| f.rss_peak)
        );
    }
}
