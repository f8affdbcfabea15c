//! The MQTT collection agent: subscriptions on one or more brokers, payload formats (plain
//! numbers, JSON with field paths, Influx line protocol, wmbusmeters), and delivery that
//! survives broker restarts and heatkpi crashes without losing a reading.
//!
//! # Delivery guarantee
//!
//! With QoS 1 (the default) and a persistent session (`clean_session = false`, a stable
//! `client_id`), a message is acknowledged to the broker only after its readings are committed
//! to the store (`IngestHandle::send_durable`). If heatkpi dies in between, the broker still
//! holds the message and sends it again after the reconnect; the store's de-duplication on
//! (series, timestamp) drops the second copy. While heatkpi is away the broker queues the
//! messages (mind Mosquitto's `max_queued_messages`, default 1000, beyond which it drops them).
//! Exactly-once in the store needs timestamps in the payload: a reading stamped with the
//! receive time gets a new time when it is delivered again.
//!
//! QoS 1 throughput is bounded by the broker's window of unacknowledged messages per client
//! (Mosquitto `max_inflight_messages`, default 20): each group commit can cover at most that
//! many messages. Raise it on the broker for high-rate QoS 1 streams. When the store falls
//! behind, the agent stops reading from the socket; the broker queues (QoS 1) and, past
//! 1.5 × keep-alive without a ping, drops the connection, which the agent then re-opens.
//!
//! # QoS 2
//!
//! `qos = 2` is accepted and subscribed as QoS 1. rumqttc 0.25.1 forgets its half-finished
//! QoS 2 exchanges when a connection drops, then treats the broker's resent PUBREL as a
//! protocol error and disconnects, again after every reconnect (rumqtt #664, fix in the open
//! PR #1053). QoS 1 plus the store's de-duplication gives the same result in the store without
//! that loop.
//!
//! # TLS
//!
//! TLS uses OpenSSL through native-tls (rumqttc's `use-native-tls`), not rustls: rumqttc 0.25.1
//! pins rustls-webpki 0.102, which has open security advisories (rumqtt #1046, #1067). The
//! default cargo feature `mqtt-tls` builds OpenSSL from source (`openssl/vendored`), so a
//! fresh machine needs a C compiler, `make` and `perl` (Debian's `build-essential`) but no
//! OpenSSL headers; `--no-default-features --features mqtt-tls-system` links the system's
//! OpenSSL instead (libssl-dev, pkg-config) and gets the distribution's security updates;
//! `--no-default-features` builds without TLS, and a broker with `tls` is then refused at
//! start with a message that says so. The broker's certificate chain and host name are always
//! verified.
//!
//! # What it does not do
//!
//! MQTT 5, publishing (alerts publish elsewhere), Sparkplug B, and unsubscribing filters that
//! were removed from the configuration (a persistent session keeps them until it expires).

mod agent;
pub mod connect;
pub mod payload;
mod status;
mod tap;
pub mod topic;
mod wmbus;

pub use agent::Backoff;
pub use status::{BrokerStatus, MqttStatus, SubscriptionStatus};
pub use tap::{TapError, TapOptions, tap};

use crate::config::mqtt::{Broker, MqttConfig};
use crate::ingest::pipeline::{IngestHandle, PipelineClosed};
use payload::{MappingError, Router};
use tokio::sync::watch;

/// Why the agent cannot start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A broker setting (credentials, TLS files) cannot be used.
    #[error(transparent)]
    Setup(#[from] connect::SetupError),
    /// A subscription cannot be used.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// Subscriptions and brokers do not fit together.
    #[error("mqtt: {0}")]
    Config(String),
    /// Ingest stopped; unacknowledged messages stay with the broker.
    #[error("mqtt: {0}")]
    Ingest(#[from] PipelineClosed),
}

/// One broker and the subscriptions it serves, checked.
#[derive(Debug, Clone)]
pub(crate) struct BrokerPlan {
    broker: Broker,
    router: Router,
}

/// Pair every subscription with its broker and compile it; every configuration mistake that
/// can be found before connecting is reported here.
pub(crate) fn plan(cfg: &MqttConfig) -> Result<Vec<BrokerPlan>, AgentError> {
    for s in cfg.subscriptions.iter().filter(|s| s.qos == 2) {
        tracing::warn!(
            subscription = s.name(),
            "mqtt: qos = 2 is subscribed as QoS 1 (rumqttc cannot resume an interrupted QoS 2 exchange, rumqtt #664); the store's de-duplication keeps readings unique"
        );
    }
    let mut plans = Vec::new();
    for (i, b) in cfg.brokers.iter().enumerate() {
        if cfg.brokers[..i].iter().any(|o| o.id == b.id) {
            return Err(AgentError::Config(format!(
                "two brokers have id `{}`; give each `[[mqtt.broker]]` its own `id`",
                b.id
            )));
        }
        if b.clean_session {
            tracing::warn!(
                broker = %b.id,
                "mqtt: clean_session = true: messages published while heatkpi is not connected are lost"
            );
        }
        // Options are built here too, so a missing password variable stops the start.
        connect::options(b, &b.client_id(), b.clean_session)?;
        let subs = cfg.subscriptions.iter().filter(|s| match &s.broker {
            Some(id) => id == &b.id,
            None => cfg.brokers.len() == 1,
        });
        plans.push(BrokerPlan {
            broker: b.clone(),
            router: Router::new(subs)?,
        });
    }
    for s in &cfg.subscriptions {
        let found = match &s.broker {
            Some(id) => cfg.brokers.iter().any(|b| &b.id == id),
            None => cfg.brokers.len() == 1,
        };
        if !found {
            return Err(AgentError::Config(match &s.broker {
                Some(id) => format!(
                    "subscription `{}` names broker `{id}`, which is not configured",
                    s.name()
                ),
                None => format!(
                    "subscription `{}` does not say which broker (`broker = \"…\"`); {} brokers are configured",
                    s.name(),
                    cfg.brokers.len()
                ),
            }));
        }
    }
    Ok(plans)
}

/// Check an MQTT configuration the way [`run`] would at start, without connecting.
pub fn check(cfg: &MqttConfig) -> Result<(), AgentError> {
    plan(cfg).map(|_| ())
}

/// Run the agent: one connection per broker, until `shutdown` turns true. Readings go to
/// `ingest`; counts and connection state to `status`. Returns an error only for configuration
/// problems found at start or when ingest stops; broker failures are retried with back-off.
pub async fn run(
    cfg: &MqttConfig,
    ingest: IngestHandle,
    status: MqttStatus,
    shutdown: watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let plans = plan(cfg)?;
    if plans.iter().all(|p| p.router.mappings.is_empty()) {
        tracing::info!("mqtt: no subscriptions configured; the MQTT agent is idle");
        return Ok(());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for p in plans.into_iter().filter(|p| !p.router.mappings.is_empty()) {
        tasks.spawn(agent::run_broker(
            p,
            ingest.clone(),
            status.clone(),
            shutdown.clone(),
        ));
    }
    let mut result = Ok(());
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap_or_else(|e| Err(AgentError::Config(format!("broker task failed: {e}"))));
        if let Err(e) = r {
            result = Err(e);
        }
    }
    result
}
