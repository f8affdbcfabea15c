//! `[simulator.mqtt]`: the simulated utility's AMR gateway, publishing heat-meter telegrams
//! to an MQTT broker.
//!
//! ```toml
//! [simulator.mqtt]
//! host = "127.0.0.1"
//! topic_prefix = "heatkpi-sim/amr"     # one topic per meter: heatkpi-sim/amr/ss-01
//! interval_s = 900                     # a telegram per meter every 15 simulated minutes
//! substations = ["ss-1*", "ss-20"]     # which substations report over AMR (default all)
//! ```
//!
//! The telegrams have the shape wmbusmeters publishes (one JSON object per meter and
//! reading), so `format = "wmbusmeters"` reads them without further mapping. Not here: what the
//! publisher does with these settings (`sim::mqtt`).

use super::doc::KeyPath;
use super::mqtt::{Broker, Tls, hostname};
use super::semantic::Checker;
use super::{Settings, sim::SimulatorConfig};
use crate::model::glob_match;
use serde::{Deserialize, Serialize};

/// Which clock stamps the telegrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmrTimestamps {
    /// The simulated instant of the reading (deterministic; at `speed` 1 it is the wall clock).
    #[default]
    Simulated,
    /// The wall-clock time of publishing, as a gateway with its own clock stamps what it reads
    /// now. Use it when the simulation runs accelerated next to collectors that stamp readings
    /// with the time they poll (the demo), so both paths share one time axis.
    Wall,
}

/// `[simulator.mqtt]`: where and what the simulated AMR gateway publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimMqttConfig {
    /// Host name or IP address of the MQTT broker.
    pub host: String,
    /// TCP port; default 1883, or 8883 when `tls` is set.
    #[serde(default)]
    pub port: Option<u16>,
    /// MQTT client id of the gateway; default `heatkpi-sim-<hostname>`. It must differ from
    /// the id of any collector on the same broker (two clients with one id push each other off).
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name for the broker login; the password comes from `password_env` or
    /// `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    /// Name of the environment variable that holds the password (never the password itself).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Path of a file whose first line is the password.
    #[serde(default)]
    pub password_file: Option<String>,
    /// TLS to the broker, as for `[[mqtt.broker]]` (`ca_file`, `client_cert`, `client_key`).
    #[serde(default)]
    pub tls: Option<Tls>,
    /// Keep-alive interval in whole seconds.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    /// First wait before reconnecting after a failure, ms; doubles (with jitter) up to
    /// `reconnect_max_ms`. Telegrams due while the broker is away are dropped and counted.
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_ms: u64,
    /// Longest wait between reconnect attempts, ms.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    /// Seconds to wait for the TCP connect and CONNACK before trying again.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u64,
    /// Topic of each meter: `<topic_prefix>/<substation id>` (as wmbusmeters publishes to
    /// `wmbusmeters/<meter name>`). Plain topic levels: no `+`, `#` or braces.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// QoS of the telegrams: 0 or 1 (default).
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// Simulated seconds between two telegrams of a meter, a whole number of simulator steps
    /// (`step_s`). Readings are taken on the multiples of the interval since the epoch
    /// (every full quarter-hour for 900), as head-end systems schedule them.
    #[serde(default = "default_interval")]
    pub interval_s: u32,
    /// Substations whose heat meters report over AMR: ids or globs (`ss-1*`, `ss-0?`);
    /// default all. A selected substation without a `[[modbus.device]]` gets a simulated meter
    /// of the built-in kind.
    #[serde(default = "default_substations")]
    pub substations: Vec<String>,
    /// Which clock stamps the telegrams: `simulated` (default) or `wall`.
    #[serde(default)]
    pub timestamps: AmrTimestamps,
    /// Telegrams waiting for the broker connection at most; more are dropped and counted, so
    /// a slow broker never holds up the simulation.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_keep_alive() -> u64 {
    30
}
fn default_reconnect_min() -> u64 {
    500
}
fn default_reconnect_max() -> u64 {
    30_000
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_prefix() -> String {
    "heatkpi-sim/amr".into()
}
fn default_qos() -> u8 {
    1
}
fn default_interval() -> u32 {
    900
}
fn default_substations() -> Vec<String> {
    vec!["*".into()]
}
fn default_queue() -> usize {
    10_000
}

impl SimMqttConfig {
    /// The gateway's client id.
    pub fn client_id(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("heatkpi-sim-{}", hostname()))
    }

    /// The connection as a `[[mqtt.broker]]` (id `simulator`), for the shared connection
    /// setup, and for a collector that reads the telegrams from the same broker.
    pub fn broker(&self) -> Broker {
        Broker {
            id: "simulator".into(),
            host: self.host.clone(),
            port: self.port,
            client_id: Some(self.client_id()),
            keep_alive_s: self.keep_alive_s,
            clean_session: true,
            username: self.username.clone(),
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            tls: self.tls.clone(),
            reconnect_min_ms: self.reconnect_min_ms,
            reconnect_max_ms: self.reconnect_max_ms,
            connect_timeout_s: self.connect_timeout_s,
        }
    }

    /// Whether substation `id` reports over AMR.
    pub fn selects(&self, id: &str) -> bool {
        self.substations.iter().any(|p| glob_match(p, id))
    }

    /// The topic of the meter of substation `id`.
    pub fn topic(&self, id: &str) -> String {
        format!("{}/{id}", self.topic_prefix)
    }
}

/// The checks serde cannot do for `[simulator.mqtt]`.
pub(crate) fn check(c: &mut Checker<'_>, s: &Settings) {
    let Some(sim) = &s.simulator else { return };
    let Some(m) = &sim.mqtt else { return };
    let path = KeyPath::root().key("simulator").key("mqtt");
    if m.host.trim().is_empty() {
        c.report(
            &path.key("host"),
            "host is empty",
            "write the broker's host name or IP address, e.g. \"127.0.0.1\"",
        );
    }
    if m.qos > 1 {
        c.report(
            &path.key("qos"),
            format!("QoS {} is not offered by the simulated gateway", m.qos),
            "write 0 (at most once) or 1 (at least once; the store drops duplicates)",
        );
    }
    interval(c, &path, sim, m);
    prefix(c, &path, &m.topic_prefix);
    if m.keep_alive_s == 0 {
        c.report(
            &path.key("keep_alive_s"),
            "must be at least 1 second",
            "write e.g. 30",
        );
    }
    if m.reconnect_min_ms == 0 || m.reconnect_min_ms > m.reconnect_max_ms {
        c.report(
            &path.key("reconnect_min_ms"),
            format!(
                "must be above 0 and at most reconnect_max_ms ({}), not {}",
                m.reconnect_max_ms, m.reconnect_min_ms
            ),
            "write e.g. reconnect_min_ms = 500 and reconnect_max_ms = 30000",
        );
    }
    if m.queue == 0 {
        c.report(&path.key("queue"), "must be at least 1", "write e.g. 10000");
    }
    if m.password_env.is_some() && m.password_file.is_some() {
        c.report(
            &path.key("password_file"),
            "a password is given twice",
            "keep either `password_env` or `password_file`",
        );
    }
    if m.username.is_none() && (m.password_env.is_some() || m.password_file.is_some()) {
        c.report(
            &path.key("username"),
            "a password is configured without `username`",
            "add `username`, or remove the password",
        );
    }
    if m.substations.is_empty() {
        c.report(
            &path.key("substations"),
            "no substation is selected",
            "write [\"*\"] for all, or ids and globs such as [\"ss-1*\", \"ss-20\"]; remove [simulator.mqtt] to publish nothing",
        );
    }
    // Generated substations (no [[substation]] in the file) cannot be checked by id here.
    if s.substations.is_empty() {
        return;
    }
    for (i, p) in m.substations.iter().enumerate() {
        if !s.substations.iter().any(|ss| glob_match(p, &ss.id)) {
            let ids: Vec<&str> = s
                .substations
                .iter()
                .take(4)
                .map(|x| x.id.as_str())
                .collect();
            c.report(
                &path.key("substations").index(i),
                format!("`{p}` matches no [[substation]]"),
                format!(
                    "write a substation id or a glob with * and ?, e.g. `{}` (ids: {}{})",
                    ids.first().copied().unwrap_or("ss-01"),
                    ids.join(", "),
                    if s.substations.len() > 4 { ", …" } else { "" }
                ),
            );
        }
    }
}

fn interval(c: &mut Checker<'_>, path: &KeyPath, sim: &SimulatorConfig, m: &SimMqttConfig) {
    let step = sim.step_s.max(1);
    if m.interval_s == 0 || !m.interval_s.is_multiple_of(step) {
        let suggest = (m.interval_s / step).max(1) * step;
        c.report(
            &path.key("interval_s"),
            format!(
                "{} s is not a whole number of simulator steps (step_s = {step})",
                m.interval_s
            ),
            format!("write a multiple of {step}, e.g. {suggest} (900 is a quarter-hour)"),
        );
    }
}

fn prefix(c: &mut Checker<'_>, path: &KeyPath, p: &str) {
    let bad = p.is_empty()
        || p.starts_with('/')
        || p.ends_with('/')
        || p.contains("//")
        || p.contains(['+', '#', '{', '}', '\0']);
    if bad {
        c.report(
            &path.key("topic_prefix"),
            format!("`{p}` is not a plain topic prefix"),
            "write topic levels without wildcards, braces or empty levels, e.g. \"heatkpi-sim/amr\"",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_broker() {
        let m: SimMqttConfig = toml::from_str("host = \"127.0.0.1\"").unwrap();
        assert_eq!(
            (m.qos, m.interval_s, m.queue, m.timestamps),
            (1, 900, 10_000, AmrTimestamps::Simulated)
        );
        assert!(m.selects("ss-0042") && m.selects("anything"));
        assert_eq!(m.topic("ss-01"), "heatkpi-sim/amr/ss-01");
        let b = m.broker();
        assert_eq!((b.port(), b.clean_session), (1883, true));
        assert!(b.client_id().starts_with("heatkpi-sim-"), "{b:?}");
        let e = toml::from_str::<SimMqttConfig>("host = \"h\"\npassword = \"x\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("unknown field `password`"), "{e}");
    }

    #[test]
    fn globs_select_substations() {
        let m: SimMqttConfig =
            toml::from_str("host = \"h\"\nsubstations = [\"ss-1*\", \"ss-20\"]").unwrap();
        assert!(m.selects("ss-10") && m.selects("ss-19") && m.selects("ss-20"));
        assert!(!m.selects("ss-01") && !m.selects("ss-21"));
    }
}
