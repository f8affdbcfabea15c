//! Nothing acknowledged is lost: numbered QoS 1 messages flow at a steady rate into the agent
//! (a separate process, the `mqtt_agent` example) while Mosquitto is restarted (persistence on,
//! so it keeps the session) and the agent is killed with `kill -9` twice and started again.
//! Every number must be in the store exactly once.
//!
//! The test runs its own Mosquitto (HEATKPI_PEER_MOSQUITTO, from tests/peers/mosquitto.sh) so
//! restarting it disturbs no other test.

mod support;

use heatkpi::store::sqlite::SqliteStore;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::store::{counts, points};
use support::{PrivateBroker, Publisher, peer};

/// 2026-01-15T10:00:00Z in ms.
const T0: i64 = 1_768_471_200_000;
const N: usize = 1500;

/// The example binary next to this test's executable; built on demand when this test was
/// selected alone (cargo builds examples only for a plain `cargo test`).
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir.join("examples").join(name);
    if !bin.exists() {
        let profile = profile_dir
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("debug");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--example", name]);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        assert!(
            cmd.status().expect("cargo build").success(),
            "building example {name}"
        );
    }
    bin
}

struct Consumer {
    bin: PathBuf,
    cfg: PathBuf,
    db: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Consumer {
    fn start(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let child = Command::new(&self.bin)
            .arg(&self.cfg)
            .arg(&self.db)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start consumer");
        self.child = Some(child);
        // ready when this run has logged its subscription (the broker confirmed it)
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.matches("mqtt: subscribed").count() >= self.starts {
                return;
            }
            assert!(Instant::now() < end, "consumer did not subscribe:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// SIGTERM and the final status it prints.
    fn stop(&mut self) -> String {
        let Some(c) = self.child.take() else {
            return String::new();
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let out = c.wait_with_output().expect("consumer exit");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_and_kill_9_lose_nothing_and_store_everything_once() {
    let Some(mosquitto) = peer("HEATKPI_PEER_MOSQUITTO") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut broker = PrivateBroker::start(&mosquitto, &dir.path().join("broker"), "");
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
            [ingest]
            linger_ms = 20
            [[mqtt.broker]]
            host = "127.0.0.1"
            port = {}
            client_id = "heatkpi-restart-test"
            reconnect_min_ms = 100
            reconnect_max_ms = 1000
            [[mqtt.subscription]]
            topic = "plant/+/seq"
            template = "plant/{{asset}}/seq"
            format = "json"
            time_field = "ts"
            time_format = "epoch_ms"
            fields = {{ seq = {{ quantity = "flow", unit = "m3/h" }} }}
            "#,
            broker.port
        ),
    )
    .unwrap();
    let mut consumer = Consumer {
        bin: example_binary("mqtt_agent"),
        cfg,
        db: dir.path().join("agent.db"),
        log: dir.path().join("agent.log"),
        child: None,
        starts: 0,
    };
    consumer.start();

    let msgs: Vec<(String, Vec<u8>)> = (1..=N)
        .map(|n| {
            let ts = T0 + n as i64 * 1000;
            (
                "plant/ss-r/seq".to_string(),
                format!(r#"{{"seq":{n},"ts":{ts}}}"#).into_bytes(),
            )
        })
        .collect();
    let addr = broker.addr();
    let publisher = tokio::spawn(async move {
        Publisher::new(&addr)
            .publish_all(msgs, Duration::from_millis(4))
            .await;
    });

    // faults while the stream runs: kill -9, broker restart, kill -9 while messages queue
    tokio::time::sleep(Duration::from_millis(1500)).await;
    consumer.kill9();
    tokio::time::sleep(Duration::from_millis(700)).await;
    consumer.start();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    broker.restart(Duration::from_millis(500));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    consumer.kill9();
    tokio::time::sleep(Duration::from_millis(800)).await;
    consumer.start();

    tokio::time::timeout(Duration::from_secs(120), publisher)
        .await
        .expect("publisher finished")
        .unwrap();
    // another process may open the same store file (it is the agent's, written meanwhile)
    let store = SqliteStore::open(&consumer.db).unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while counts(&store, "ss-r.flow").1 < N && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = consumer.stop();
    let samples = points(&store, "ss-r.flow");
    let (rows, distinct) = counts(&store, "ss-r.flow");
    let mut values: Vec<i64> = samples.iter().map(|s| s.value as i64).collect();
    values.sort_unstable();
    let missing: Vec<i64> = (1..=N as i64)
        .filter(|n| values.binary_search(n).is_err())
        .collect();
    eprintln!("consumer status at the end: {status}");
    eprintln!(
        "rows {rows}, distinct {distinct}, missing {}",
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "lost {} messages, first {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert_eq!((rows, distinct), (N, N), "every number exactly once");
    assert!(samples.iter().all(|s| s.ts == T0 + s.value as i64 * 1000));
}
