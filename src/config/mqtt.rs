//! MQTT collection configuration: `[[mqtt.broker]]` connections and `[[mqtt.subscription]]`
//! mappings from topics and payloads to series.
//!
//! ```toml
//! [[mqtt.broker]]
//! host = "broker.example.net"
//! port = 8883
//! username = "heatkpi"
//! password_env = "HEATKPI_MQTT_PASSWORD"
//! tls = { ca_file = "/etc/heatkpi/broker-ca.pem" }
//!
//! [[mqtt.subscription]]
//! topic = "dh/+/+/+"
//! template = "dh/{network}/{asset}/{quantity}"
//! format = "number"
//! units = { supply_temp = "degC", heat_energy = "kWh" }
//! expected_interval_s = 300
//! ```
//!
//! Secrets never sit in the file: a password comes from an environment variable or a file.

use crate::model::{Quality, Quantity, Unit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[mqtt]`: MQTT collection. Nothing connects unless at least one broker and one subscription
/// are configured.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker connections (`[[mqtt.broker]]`). One connection per broker; each has its own
    /// persistent session.
    #[serde(default, rename = "broker")]
    pub brokers: Vec<Broker>,
    /// Topic subscriptions and how their messages become readings (`[[mqtt.subscription]]`).
    #[serde(default, rename = "subscription")]
    pub subscriptions: Vec<Subscription>,
}

/// One broker connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    /// Name that subscriptions use in `broker = "…"`; only needed with several brokers.
    #[serde(default = "default_broker_id")]
    pub id: String,
    /// Host name or IP address of the broker. With TLS this name is also checked against the
    /// broker's certificate, so write the name the certificate was issued for.
    pub host: String,
    /// TCP port; default 1883, or 8883 when `tls` is set.
    #[serde(default)]
    pub port: Option<u16>,
    /// MQTT client id. It must stay the same across restarts: the broker keeps the session
    /// (and the QoS 1 messages that arrive while heatkpi is away) under this id. Two
    /// programs using the same id push each other off the broker. Default
    /// `heatkpi-<hostname>` (plus `-<id>` for brokers other than `default`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Keep-alive interval in seconds: a ping is sent when the link is idle this long, and the
    /// broker drops the connection after 1.5 times this without traffic.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    /// Start a new, empty session on every connect. Leave `false` (the default): with a
    /// persistent session the broker queues QoS 1 messages while heatkpi is down and
    /// delivers them on reconnect; with `true` they are lost.
    #[serde(default)]
    pub clean_session: bool,
    /// User name for the broker login; give a password with `password_env` or
    /// `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    /// Name of the environment variable that holds the password (never the password itself).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Path of a file whose first line is the password (relative to the working directory;
    /// keep it readable by the heatkpi user only).
    #[serde(default)]
    pub password_file: Option<String>,
    /// TLS settings; when present the connection is encrypted and the broker's certificate and
    /// host name are verified (verification cannot be turned off).
    #[serde(default)]
    pub tls: Option<Tls>,
    /// First wait before reconnecting after a failure, ms; it doubles (with random jitter) after
    /// each failed attempt.
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_ms: u64,
    /// Longest wait between reconnect attempts, ms.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    /// Seconds to wait for the TCP connect, TLS handshake and CONNACK before trying again.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u64,
}

/// TLS for a broker connection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM file with the CA certificate(s) that signed the broker's certificate. When set, only
    /// these CAs are trusted; when absent, the system's CA store is used.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// PEM file with a client certificate, for brokers that require one (`require_certificate`).
    #[serde(default)]
    pub client_cert: Option<String>,
    /// PEM file with the client certificate's private key (PKCS#8, unencrypted).
    #[serde(default)]
    pub client_key: Option<String>,
}

/// How a message payload is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// The payload is one number as text (`80.5`); the series comes from the topic.
    #[default]
    Number,
    /// A JSON object (or an array of objects); `fields` maps paths to quantities.
    Json,
    /// Influx line protocol, one or more lines, values in canonical units
    /// (`substation,asset=ss-001 supply_temp=80.5 1790812800000000000`).
    LineProtocol,
    /// wmbusmeters telegrams (one JSON object per telegram, e.g. on `wmbusmeters/<name>`);
    /// known fields such as `total_energy_consumption_kwh` and `flow_temperature_c` are mapped
    /// without configuration, the meter is mapped to an asset with `meters`.
    Wmbusmeters,
}

/// How a timestamp in the payload is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// RFC 3339 text (`2026-01-15T10:00:00Z`, `2026-01-15T11:00:00+01:00`); numbers are read
    /// as epoch seconds, milliseconds or microseconds by their size.
    #[default]
    Auto,
    /// RFC 3339 text only.
    Rfc3339,
    /// Seconds since the epoch (fractions allowed).
    EpochS,
    /// Milliseconds since the epoch.
    EpochMs,
    /// Microseconds since the epoch.
    EpochUs,
}

/// One JSON field (or wmbusmeters field) mapped to a quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// Quantity the value measures (e.g. `heat_energy`, `supply_temp`).
    pub quantity: Quantity,
    /// Unit the value arrives in (e.g. `kWh`, `degC`, `m3/h`); ingest converts it.
    pub unit: Unit,
    /// Asset of this field when it differs from the message's asset (a template like
    /// `{asset}-hx2` may use topic captures).
    #[serde(default)]
    pub asset: Option<String>,
    /// A record without this field is normal (not counted as `missing_field`).
    #[serde(default)]
    pub optional: bool,
}

/// One subscription: a topic filter, and how its topics and payloads become readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// Name used in metrics, status, logs and data-gap events; default the topic filter.
    #[serde(default)]
    pub name: Option<String>,
    /// Broker id (from `[[mqtt.broker]] id`); may be left out when there is one broker.
    #[serde(default)]
    pub broker: Option<String>,
    /// MQTT topic filter with `+` (one level) and `#` (the rest) wildcards.
    pub topic: String,
    /// Requested QoS: 0 (fast; messages while disconnected or in flight can be lost), 1
    /// (default; a message is acknowledged to the broker only after its readings are in the
    /// store, so nothing is lost), or 2 (accepted and subscribed as 1, see the module docs of
    /// `collect::mqtt`; the store's de-duplication gives the same result).
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// Topic template naming the levels of matching topics, e.g.
    /// `dh/{network}/{asset}/{quantity}`: `{name}` captures a level, `+` skips one, a final
    /// `#` skips the rest, other text must match exactly. Captures other than `asset` and
    /// `quantity` are tags: usable in `asset` and shown by `heatkpi mqtt tap`.
    #[serde(default)]
    pub template: Option<String>,
    /// Asset id of the readings, with topic captures in braces; default `{asset}`. A fixed
    /// id (`asset = "ec-north"`) is fine when the topic has no asset level.
    #[serde(default)]
    pub asset: Option<String>,
    /// Quantity of a `number` payload when the topic has no `{quantity}` level.
    #[serde(default)]
    pub quantity: Option<Quantity>,
    /// Payload format.
    #[serde(default)]
    pub format: PayloadFormat,
    /// Unit of a `number` payload (when all topics of the subscription share one unit).
    #[serde(default)]
    pub unit: Option<Unit>,
    /// Units of `number` payloads per quantity, e.g. `{ heat_energy = "kWh", flow = "m3/h" }`;
    /// a number whose quantity has no unit here (nor in `unit`) is rejected as `no_unit`.
    #[serde(default)]
    pub units: BTreeMap<Quantity, Unit>,
    /// JSON field paths (dots between levels, e.g. `heat.energy`) and what they measure. For
    /// `wmbusmeters` these add to or override the built-in fields.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldMap>,
    /// JSON path of an array of records inside the message (e.g. `readings`); a payload that
    /// is itself an array is read as records without this.
    #[serde(default)]
    pub records: Option<String>,
    /// JSON path of the record's timestamp (e.g. `ts` or `meta.time`). Without it, readings
    /// get the receive time, which is wrong for messages the broker kept while heatkpi was
    /// away; a record whose timestamp is missing or unreadable is rejected, not re-dated.
    /// Default `timestamp` for `wmbusmeters`.
    #[serde(default)]
    pub time_field: Option<String>,
    /// How `time_field` is written.
    #[serde(default)]
    pub time_format: TimeFormat,
    /// JSON path of a quality flag in the record; its value is a quality name (`good`, `bad`,
    /// `maintenance`, …) or a key of `quality_map`. A record whose flag cannot be read is
    /// rejected as `bad_quality`.
    #[serde(default)]
    pub quality_field: Option<String>,
    /// Device quality codes to heatkpi qualities, e.g. `{ "0" = "good", "4" = "maintenance" }`.
    #[serde(default)]
    pub quality_map: BTreeMap<String, Quality>,
    /// wmbusmeters: meter id or meter name (from the telegram's `id` / `name`) to asset id.
    #[serde(default)]
    pub meters: BTreeMap<String, String>,
    /// Line protocol: timestamp precision, `ns` (default), `us`, `ms` or `s`.
    #[serde(default = "default_precision")]
    pub precision: String,
    /// Largest payload accepted, bytes; larger messages are rejected as `oversize` (and
    /// acknowledged, so the broker does not send them again).
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: usize,
    /// Expected longest silence, seconds: when no message arrives for longer, a `data_gap`
    /// event opens (closed when messages return). Unset: no gap detection.
    #[serde(default)]
    pub expected_interval_s: Option<u64>,
}

impl Broker {
    /// The port, defaulting by TLS.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.tls.is_some() { 8883 } else { 1883 })
    }

    /// The client id, defaulting to one derived from the host name.
    pub fn client_id(&self) -> String {
        if let Some(id) = &self.client_id {
            return id.clone();
        }
        let host = hostname();
        if self.id == default_broker_id() {
            format!("heatkpi-{host}")
        } else {
            format!("heatkpi-{host}-{}", self.id)
        }
    }
}

impl Subscription {
    /// The name used in metrics and events.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.topic)
    }
}

/// This machine's host name (Linux `/proc`, then `/etc/hostname`, then `HOSTNAME`), reduced to
/// characters brokers accept in client ids.
pub fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
        .collect();
    if clean.is_empty() {
        "localhost".into()
    } else {
        clean
    }
}

fn default_broker_id() -> String {
    "default".into()
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
fn default_qos() -> u8 {
    1
}
fn default_precision() -> String {
    "ns".into()
}
fn default_max_payload() -> usize {
    64 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrap {
        mqtt: MqttConfig,
    }

    #[test]
    fn example_parses_with_defaults() {
        let w: Wrap = toml::from_str(
            r#"
            [[mqtt.broker]]
            host = "127.0.0.1"
            password_env = "PW"
            [[mqtt.subscription]]
            topic = "dh/+/+/+"
            template = "dh/{network}/{asset}/{quantity}"
            units = { supply_temp = "degC", heat_energy = "kWh" }
            expected_interval_s = 60
            [[mqtt.subscription]]
            topic = "meters/#"
            format = "json"
            fields = { "heat.energy" = { quantity = "heat_energy", unit = "kWh" } }
            "#,
        )
        .unwrap();
        let b = &w.mqtt.brokers[0];
        assert_eq!(
            (b.port(), b.keep_alive_s, b.clean_session),
            (1883, 30, false)
        );
        assert!(b.client_id().starts_with("heatkpi-"));
        let s = &w.mqtt.subscriptions[0];
        assert_eq!(
            (s.qos, s.format, s.name()),
            (1, PayloadFormat::Number, "dh/+/+/+")
        );
        assert_eq!(s.units[&Quantity::HeatEnergy], Unit::KWh);
        assert_eq!(
            w.mqtt.subscriptions[1].fields["heat.energy"].quantity,
            Quantity::HeatEnergy
        );
    }

    #[test]
    fn unknown_keys_and_plain_passwords_are_refused() {
        let e = toml::from_str::<Wrap>("[[mqtt.broker]]\nhost = \"h\"\npassword = \"x\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("password"), "{e}");
        let tls: Wrap = toml::from_str("[[mqtt.broker]]\nhost = \"h\"\ntls = {}\n").unwrap();
        assert_eq!(tls.mqtt.brokers[0].port(), 8883);
    }
}

#[cfg(test)]
mod load_tests {
    /// The `[mqtt]` section passes the configuration loader as a whole (structure checks,
    /// secret rules, environment overrides), not only serde.
    #[test]
    fn mqtt_section_loads_through_the_configuration_loader() {
        let text = r#"
[[mqtt.broker]]
host = "broker.example.net"
username = "heatkpi"
password_env = "HEATKPI_MQTT_PASSWORD"
tls = { ca_file = "/etc/heatkpi/ca.pem" }

[[mqtt.subscription]]
topic = "wmbusmeters/+"
format = "wmbusmeters"
meters = { "12345678" = "ss-042" }
"#;
        let dir = tempfile::tempdir().unwrap();
        let loaded = match crate::config::load_str(text, "heatkpi.toml", dir.path()) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        let m = &loaded.settings.mqtt;
        assert_eq!(m.brokers[0].port(), 8883);
        assert_eq!(m.subscriptions[0].meters["12345678"], "ss-042");
    }
}
