//! Helpers shared by the MQTT interop tests: peer discovery (skip or fail), a test store, a
//! QoS 1 publisher that never gives up on a message, and a private Mosquitto the test may
//! restart at will.

#![allow(dead_code)]

pub mod store;

use heatkpi::config::IngestConfig;
use heatkpi::config::mqtt::MqttConfig;
use heatkpi::ingest::Ingest;
use heatkpi::ingest::pipeline::{self, IngestHandle, Pipeline};
use heatkpi::store::Store;
use heatkpi::store::sqlite::SqliteStore;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The value of a peer variable; `None` (with the reason printed) when the peer is absent,
/// a panic when `HEATKPI_REQUIRE_PEERS=1`.
pub fn peer(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let why = format!(
                "{var} is not set: start the peers with `bash tests/peers/mosquitto.sh start` and `source /tmp/heatkpi-peers/mqtt.env`"
            );
            if std::env::var("HEATKPI_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!("peer required (HEATKPI_REQUIRE_PEERS=1): {why}");
            }
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

/// `host:port` split.
pub fn host_port(addr: &str) -> (String, u16) {
    let (h, p) = addr.rsplit_once(':').expect("host:port");
    (h.to_string(), p.parse().expect("port"))
}

/// A name no other test run uses (topics, client ids).
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{}", std::process::id(), n % 1_000_000_000)
}

/// Parse `[mqtt]` configuration text.
pub fn mqtt_config(text: &str) -> MqttConfig {
    #[derive(serde::Deserialize)]
    struct Wrap {
        mqtt: MqttConfig,
    }
    toml::from_str::<Wrap>(text).expect("test config").mqtt
}

/// A SQLite store in `dir` with its ingest pipeline.
pub fn pipeline_in(dir: &Path) -> (Arc<dyn Store>, IngestHandle, Pipeline) {
    pipeline_with(Arc::new(
        SqliteStore::open(dir.join("test.db")).expect("store"),
    ))
}

/// An ingest pipeline over `store`.
pub fn pipeline_with(store: Arc<dyn Store>) -> (Arc<dyn Store>, IngestHandle, Pipeline) {
    let cfg = IngestConfig {
        linger_ms: 20,
        ..IngestConfig::default()
    };
    let ingest = Ingest::new(store.clone(), &cfg);
    let (h, p) = pipeline::spawn(ingest, &cfg).expect("pipeline");
    (store, h, p)
}

/// Poll `f` every 50 ms until it is true or `timeout` passes.
pub async fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// Publish `(topic, payload)` pairs at QoS 1, each one until the broker acknowledged it
/// (stop-and-wait, reconnecting as often as needed). A message may so reach the broker twice;
/// never zero times.
pub struct Publisher {
    host: String,
    port: u16,
    id: String,
    creds: Option<(String, String)>,
}

impl Publisher {
    /// A publisher for `addr` (`host:port`).
    pub fn new(addr: &str) -> Self {
        let (host, port) = host_port(addr);
        Publisher {
            host,
            port,
            id: unique("pub"),
            creds: None,
        }
    }

    /// Log in with these credentials.
    pub fn with_login(mut self, user: &str, password: &str) -> Self {
        self.creds = Some((user.into(), password.into()));
        self
    }

    /// Publish every message, in order; `pace` between messages.
    pub async fn publish_all(&self, msgs: Vec<(String, Vec<u8>)>, pace: Duration) {
        let mut i = 0;
        'connect: loop {
            let mut o = MqttOptions::new(self.id.clone(), self.host.clone(), self.port);
            o.set_keep_alive(Duration::from_secs(5))
                .set_clean_session(true);
            o.set_max_packet_size(1 << 24, 1 << 24);
            if let Some((u, p)) = &self.creds {
                o.set_credentials(u.clone(), p.clone());
            }
            let (client, mut el) = AsyncClient::new(o, 16);
            while i < msgs.len() {
                let (t, p) = &msgs[i];
                if client
                    .try_publish(t.clone(), QoS::AtLeastOnce, false, p.clone())
                    .is_err()
                {
                    continue 'connect;
                }
                loop {
                    match tokio::time::timeout(Duration::from_secs(5), el.poll()).await {
                        Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break,
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) | Err(_) => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue 'connect;
                        }
                    }
                }
                i += 1;
                if !pace.is_zero() {
                    tokio::time::sleep(pace).await;
                }
            }
            let _ = client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_secs(1), el.poll()).await;
            return;
        }
    }
}

/// A Mosquitto of the test's own (persistence on), on a free loopback port, restartable.
pub struct PrivateBroker {
    pub port: u16,
    dir: PathBuf,
    bin: String,
    child: Option<Child>,
}

impl PrivateBroker {
    /// Start one in `dir` with `mosquitto` at `bin`; `extra` config lines.
    pub fn start(bin: &str, dir: &Path, extra: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        std::fs::create_dir_all(dir.join("data")).expect("dir");
        let conf = format!(
            "user root\nallow_anonymous true\nlistener {port} 127.0.0.1\npersistence true\n\
             persistence_location {}/\nmax_queued_messages 1000000\nlog_dest file {}\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n{extra}\n",
            dir.join("data").display(),
            dir.join("mosquitto.log").display()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).expect("conf");
        let mut b = PrivateBroker {
            port,
            dir: dir.to_path_buf(),
            bin: bin.to_string(),
            child: None,
        };
        b.up();
        b
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < end,
                "mosquitto did not start; see {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop with SIGTERM (Mosquitto then saves its sessions and queues to disk) and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    /// Stop, then start again on the same port with the saved state.
    pub fn restart(&mut self, down_for: Duration) {
        self.stop();
        std::thread::sleep(down_for);
        self.up();
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
