//! Sustained MQTT ingest: messages per second from Mosquitto into the store, at QoS 0 and QoS 1,
//! with one JSON reading per message and with 20, next to `mosquitto_sub` reading the same
//! stream from the same broker on the same machine (the ratio is the figure to quote; absolute
//! rates depend on the machine).
//!
//! ```text
//! bash tests/peers/mosquitto.sh start      # installs mosquitto + clients if missing
//! cargo bench --bench mqtt                 # HEATKPI_BENCH_MSGS=50000 by default
//! ```
//!
//! Each scenario runs on a private Mosquitto (persistence off, `max_queued_messages` raised so
//! the broker does not drop QoS 1 messages for a slow reader). The stream is published by
//! `mosquitto_pub -l` from a file; a reader's time runs from the publisher's start until it has
//! everything: for heatkpi, until every reading is committed to the store (QoS 1: acknowledged
//! after commit, so the broker's 20-message in-flight window is part of the figure).

use heatkpi::collect::mqtt::{self, MqttStatus};
use heatkpi::config::IngestConfig;
use heatkpi::config::mqtt::MqttConfig;
use heatkpi::ingest::{Ingest, pipeline};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const T0: i64 = 1_768_471_200_000;

struct Broker {
    port: u16,
    child: std::process::Child,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn broker(bin: &str, dir: &std::path::Path) -> Broker {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "user root\nallow_anonymous true\nlistener {port} 127.0.0.1\npersistence false\n\
             max_queued_messages 10000000\nlog_dest none\n"
        ),
    )
    .expect("conf");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto");
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Broker { port, child }
}

/// One line per message: `{"r":[{"t":…,"v":…}, …]}` with `per` readings, unique timestamps.
fn stream(path: &std::path::Path, msgs: usize, per: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("stream file"));
    for i in 0..msgs {
        let recs: Vec<String> = (0..per)
            .map(|j| {
                let n = (i * per + j) as i64;
                format!(r#"{{"t":{},"v":{}.5}}"#, T0 + n, n % 1000)
            })
            .collect();
        writeln!(f, r#"{{"r":[{}]}}"#, recs.join(",")).expect("write");
    }
}

fn publish(port: u16, qos: u8, topic: &str, file: &std::path::Path) -> std::process::Child {
    Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            &qos.to_string(),
        ])
        .args(["-t", topic, "-l"])
        .stdin(std::fs::File::open(file).expect("stream"))
        .spawn()
        .expect("mosquitto_pub")
}

/// mosquitto_sub reading `msgs` messages: seconds from publish start to its exit.
fn mosquitto_sub(port: u16, qos: u8, msgs: usize, file: &std::path::Path) -> Option<f64> {
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            &qos.to_string(),
        ])
        .args(["-t", "bench/sub", "-C", &msgs.to_string(), "-W", "120"])
        .stdout(Stdio::null())
        .spawn()
        .expect("mosquitto_sub");
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let mut p = publish(port, qos, "bench/sub", file);
    let ok = sub.wait().map(|s| s.success()).unwrap_or(false);
    let secs = start.elapsed().as_secs_f64();
    let _ = p.wait();
    ok.then_some(secs)
}

/// heatkpi reading `msgs` messages into a store: seconds from publish start to the last commit.
async fn heatkpi(
    port: u16,
    qos: u8,
    msgs: usize,
    per: usize,
    file: &std::path::Path,
) -> Option<f64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        heatkpi::store::sqlite::SqliteStore::open(dir.path().join("bench.db")).expect("store"),
    );
    let icfg = IngestConfig::default();
    let (h, pipe) = pipeline::spawn(Ingest::new(store, &icfg), &icfg).expect("pipeline");
    #[derive(serde::Deserialize)]
    struct Wrap {
        mqtt: MqttConfig,
    }
    let cfg: MqttConfig = toml::from_str::<Wrap>(&format!(
        r#"
        [[mqtt.broker]]
        host = "127.0.0.1"
        port = {port}
        client_id = "heatkpi-bench-{qos}-{per}"
        clean_session = true
        [[mqtt.subscription]]
        topic = "bench/heatkpi"
        qos = {qos}
        format = "json"
        asset = "ss-bench"
        records = "r"
        time_field = "t"
        time_format = "epoch_ms"
        fields = {{ v = {{ quantity = "supply_temp", unit = "degC" }} }}
        "#
    ))
    .expect("config")
    .mqtt;
    let status = MqttStatus::default();
    let (stop, stop_rx) = watch::channel(false);
    let agent = tokio::spawn({
        let (status, h) = (status.clone(), h.clone());
        async move { mqtt::run(&cfg, h, status, stop_rx).await }
    });
    let subscribed = || status.snapshot().first().is_some_and(|b| b.subscribed);
    let ready_by = Instant::now() + Duration::from_secs(30);
    while !subscribed() {
        if Instant::now() > ready_by {
            eprintln!("  heatkpi did not subscribe: {:?}", status.snapshot());
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let want = (msgs * per) as u64;
    let start = Instant::now();
    let mut p = publish(port, qos, "bench/heatkpi", file);
    let samples = || {
        status.snapshot().first().map_or(0, |b| {
            b.subscriptions.iter().map(|s| s.samples).sum::<u64>()
        })
    };
    let deadline = start + Duration::from_secs(180);
    while samples() < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = samples();
    if got < want {
        eprintln!("  heatkpi stalled: {:?}", status.snapshot());
    }
    let _ = h.flush().await; // QoS 0 readings are not awaited per message
    let secs = start.elapsed().as_secs_f64();
    let _ = p.wait();
    let _ = stop.send(true);
    let _ = agent.await;
    drop(h);
    let stats = tokio::task::spawn_blocking(move || pipe.shutdown())
        .await
        .ok()?
        .ok()?;
    if got < want || stats.written < want {
        eprintln!(
            "  heatkpi got {got} of {want} readings ({} written)",
            stats.written
        );
        return None;
    }
    Some(secs)
}

fn main() {
    let bin = std::env::var("HEATKPI_PEER_MOSQUITTO").unwrap_or_else(|_| "mosquitto".into());
    if Command::new("mosquitto_pub")
        .arg("--help")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED: mosquitto_pub not found; run `bash tests/peers/mosquitto.sh start` first"
        );
        return;
    }
    let msgs: usize = std::env::var("HEATKPI_BENCH_MSGS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let reps: usize = std::env::var("HEATKPI_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "best of {reps} alternating runs per reader; load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{:<12} {:>7} {:>9} {:>14} {:>12} {:>20} {:>12}",
        "scenario",
        "msgs",
        "readings",
        "heatkpi msg/s",
        "readings/s",
        "mosquitto_sub msg/s",
        "heatkpi/sub"
    );
    if std::env::var("RUST_LOG").is_ok() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let only = std::env::var("HEATKPI_BENCH_ONLY").unwrap_or_default();
    for (qos, per) in [(0u8, 1usize), (0, 20), (1, 1), (1, 20)] {
        if !only.is_empty() && !format!("qos{qos}-{per}").starts_with(&only) {
            continue;
        }
        // QoS 1 bursts stay under mosquitto_pub's 65,535 message ids (services.md §1d)
        let n = if per == 1 {
            msgs.min(60_000)
        } else {
            (msgs / 5).max(1)
        };
        let file = dir.path().join(format!("stream-{per}.txt"));
        if !file.exists() {
            stream(&file, n, per);
        }
        let b = broker(&bin, dir.path());
        let best = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        let (mut sub, mut ours) = (None, None);
        // alternating, so both readers see the same background load
        for _ in 0..reps.max(1) {
            sub = best(sub, mosquitto_sub(b.port, qos, n, &file));
            ours = best(ours, rt.block_on(heatkpi(b.port, qos, n, per, &file)));
        }
        let rate =
            |s: Option<f64>| s.map_or("failed".to_string(), |s| format!("{:.0}", n as f64 / s));
        let ratio = match (ours, sub) {
            (Some(a), Some(b)) => format!("{:.2}", b / a), // rate ratio = inverse time ratio
            _ => "-".into(),
        };
        println!(
            "{:<12} {:>7} {:>9} {:>14} {:>12} {:>20} {:>12}",
            format!("qos{qos} {per}/msg"),
            n,
            n * per,
            rate(ours),
            ours.map_or("-".into(), |s| format!("{:.0}", (n * per) as f64 / s)),
            rate(sub),
            ratio
        );
    }
}
