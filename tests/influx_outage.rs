//! Outage: a writer process ingests at a steady rate through the durable outbox into InfluxDB
//! 1.6.7; the database is stopped for about 30 s, the writer is killed with SIGKILL during the
//! outage and started again, then the database comes back. Afterwards every point is in the
//! database exactly once per series, in order, and the one point the server refuses is
//! quarantined while the rest of its batch lands.
//!
//! Needs `HEATKPI_PEER_INFLUXDB` and `HEATKPI_PEER_INFLUX_SCRIPT` (tests/peers/influx.sh, which
//! stops and starts influxd here).

mod influx_support;

use heatkpi::model::time::Window;
use heatkpi::model::{Quantity, SeriesKey};
use heatkpi::store::Store;
use heatkpi::store::influx::InfluxStore;
use influx_support::{example_binary, peer, post_lines, unique_db, v1_options};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T0: i64 = 1_767_225_600_000; // as in examples/influx_writer.rs
const SERIES: i64 = 20;
const TOTAL: i64 = 1500;
const RATE: i64 = 600; // points/s over all series: 30 points per series per second, 50 s
const BAD_INDEX: i64 = 300;

/// Starts influxd again when the test ends, however it ends.
struct Influxd {
    script: String,
    stopped: bool,
}

impl Influxd {
    fn run(&mut self, what: &str) {
        let ok = Command::new("bash")
            .args([&self.script, what])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "influx.sh {what}");
        self.stopped = what == "stop-influxd";
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        if self.stopped {
            let _ = Command::new("bash")
                .args([&self.script, "start-influxd"])
                .status();
        }
    }
}

fn spawn_writer(bin: &Path, url: &str, db: &str, dir: &Path, n: usize) -> Child {
    let log = std::fs::File::create(dir.join(format!("writer-{n}.log"))).unwrap();
    Command::new(bin)
        .args([url, db])
        .arg(dir)
        .args([
            SERIES.to_string(),
            TOTAL.to_string(),
            RATE.to_string(),
            BAD_INDEX.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start writer")
}

fn progress(dir: &Path) -> i64 {
    std::fs::read_to_string(dir.join("progress"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn nothing_is_lost_across_a_database_outage_and_a_kill_9_of_the_writer() {
    let Some(url) = peer("HEATKPI_PEER_INFLUXDB") else {
        return;
    };
    let Some(script) = peer("HEATKPI_PEER_INFLUX_SCRIPT") else {
        return;
    };
    let bin: PathBuf = example_binary("influx_writer");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = unique_db("heatkpi_outage");
    let mut o = v1_options(&url, &db, &dir.join("check"));
    o.measurements = (0..SERIES)
        .map(|i| (format!("m-{i}"), "meter".to_string()))
        .collect();
    let check = InfluxStore::open(o).unwrap();
    check.ensure_database(&db).unwrap();
    // `o2` as a string in `meter` in this shard: the writer's float `m-0.o2` gets refused.
    post_lines(
        &url,
        &db,
        &format!("meter,asset=other o2=\"n/a\" {}", T0 * 1_000_000),
    );

    let mut influxd = Influxd {
        script,
        stopped: false,
    };
    let mut writer = spawn_writer(&bin, &url, &db, dir, 1);
    let started = Instant::now();
    let wait_until = |secs: u64| {
        while started.elapsed() < Duration::from_secs(secs) {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_until(5);
    let before_outage = progress(dir);
    assert!(before_outage > 0, "the writer makes progress");
    influxd.run("stop-influxd");
    wait_until(12);
    // SIGKILL: no flush, no clean shutdown of the outbox.
    writer.kill().expect("kill -9 writer");
    let _ = writer.wait();
    let at_kill = progress(dir);
    assert!(
        at_kill > before_outage,
        "the writer kept acknowledging during the outage"
    );
    let mut writer = spawn_writer(&bin, &url, &db, dir, 2);
    wait_until(40);
    influxd.run("start-influxd");

    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some(status) = writer.try_wait().unwrap() {
            assert!(status.success(), "writer failed: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "writer did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut out = String::new();
    use std::io::Read as _;
    writer
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.starts_with("done"), "{out}");

    for i in 0..SERIES {
        let key = SeriesKey::new(format!("m-{i}"), Quantity::Flow);
        let pts = check
            .read_range(&key, Window::new(T0, T0 + TOTAL * 1000))
            .unwrap();
        assert_eq!(pts.len() as i64, TOTAL, "{key}: every point exactly once");
        for (n, p) in pts.iter().enumerate() {
            assert_eq!(
                (p.ts, p.value),
                (T0 + n as i64 * 1000, n as f64),
                "{key} #{n}"
            );
        }
    }
    // The refused point is quarantined in the writer's side file, with the server's reason.
    let side = InfluxStore::open(v1_options(&url, &db, dir)).unwrap();
    let q = side.quarantined().unwrap();
    assert!(!q.is_empty(), "the refused point is quarantined");
    assert!(
        q.iter().all(|p| p.sample.series.to_string() == "m-0.o2"),
        "{q:?}"
    );
    assert!(
        q[0].reason.contains("field type conflict"),
        "{}",
        q[0].reason
    );
}
