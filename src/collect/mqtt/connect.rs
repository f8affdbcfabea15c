//! Connection setup: rumqttc options from a `[[mqtt.broker]]` (credentials from the
//! environment or a file, TLS from PEM files), and operator-readable explanations of
//! connection failures.

use crate::config::mqtt::Broker;
use rumqttc::{ConnectReturnCode, ConnectionError, MqttOptions, StateError};
use std::time::Duration;

/// Largest packet rumqttc will read: the MQTT maximum (256 MiB). rumqttc's default (10 KiB)
/// would turn one large QoS 1 message into a reconnect loop, because the broker sends it again
/// after every reconnect; heatkpi's own `max_payload_bytes` rejects (and acknowledges) it
/// instead.
pub const MAX_PACKET_BYTES: usize = 268_435_455;

/// A broker configuration that cannot be used; fatal at start, says what to change.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `password_env` names a variable that is not set.
    #[error("mqtt broker `{broker}`: environment variable `{var}` (password_env) is not set")]
    PasswordEnv {
        /// Broker id.
        broker: String,
        /// Variable name.
        var: String,
    },
    /// A file (password, CA, certificate, key) cannot be read.
    #[error("mqtt broker `{broker}`: cannot read {what} `{path}`: {source}")]
    File {
        /// Broker id.
        broker: String,
        /// Which setting.
        what: &'static str,
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Settings that do not fit together.
    #[error("mqtt broker `{broker}`: {message}")]
    Invalid {
        /// Broker id.
        broker: String,
        /// What to change.
        message: String,
    },
    /// TLS requested but this build has none.
    #[error(
        "mqtt broker `{0}` uses TLS, but this heatkpi was built without it; build with the default features (or `--features mqtt-tls-system`)"
    )]
    NoTls(String),
    /// The TLS material was read but not accepted.
    #[error("mqtt broker `{broker}`: TLS setup: {message}")]
    Tls {
        /// Broker id.
        broker: String,
        /// The problem.
        message: String,
    },
}

fn read(broker: &Broker, what: &'static str, path: &str) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path).map_err(|source| SetupError::File {
        broker: broker.id.clone(),
        what,
        path: path.to_string(),
        source,
    })
}

/// The password of a broker from `password_env` or `password_file`, if any.
pub fn password(broker: &Broker) -> Result<Option<String>, SetupError> {
    let invalid = |message: &str| SetupError::Invalid {
        broker: broker.id.clone(),
        message: message.into(),
    };
    match (&broker.password_env, &broker.password_file) {
        (Some(_), Some(_)) => Err(invalid(
            "give the password with either `password_env` or `password_file`, not both",
        )),
        (Some(var), None) => std::env::var(var)
            .map(Some)
            .map_err(|_| SetupError::PasswordEnv {
                broker: broker.id.clone(),
                var: var.clone(),
            }),
        (None, Some(path)) => {
            let bytes = read(broker, "password_file", path)?;
            let text = String::from_utf8_lossy(&bytes);
            Ok(Some(text.lines().next().unwrap_or_default().to_string()))
        }
        (None, None) => Ok(None),
    }
}

/// rumqttc options for a broker: session, keep-alive, credentials, TLS, packet limits.
/// `client_id` and `clean_session` are passed in so `tap` can use its own throw-away session.
pub fn options(
    broker: &Broker,
    client_id: &str,
    clean_session: bool,
) -> Result<MqttOptions, SetupError> {
    let invalid = |message: String| SetupError::Invalid {
        broker: broker.id.clone(),
        message,
    };
    if broker.host.is_empty() {
        return Err(invalid("`host` is empty".into()));
    }
    if broker.reconnect_min_ms == 0 || broker.reconnect_min_ms > broker.reconnect_max_ms {
        return Err(invalid(format!(
            "reconnect_min_ms ({}) must be above 0 and at most reconnect_max_ms ({})",
            broker.reconnect_min_ms, broker.reconnect_max_ms
        )));
    }
    if client_id.is_empty() {
        return Err(invalid("`client_id` is empty".into()));
    }
    let mut o = MqttOptions::new(client_id, broker.host.clone(), broker.port());
    // Whole seconds only: rumqttc's set_keep_alive panics on fractions of a second.
    o.set_keep_alive(Duration::from_secs(broker.keep_alive_s))
        .set_clean_session(clean_session)
        .set_max_packet_size(MAX_PACKET_BYTES, 64 * 1024);
    match (&broker.username, password(broker)?) {
        (Some(u), p) => {
            o.set_credentials(u.clone(), p.unwrap_or_default());
        }
        (None, Some(_)) => {
            return Err(invalid(
                "a password is configured without `username`; set both or neither".into(),
            ));
        }
        (None, None) => {}
    }
    if let Some(tls) = &broker.tls {
        o.set_transport(tls_transport(broker, tls)?);
    }
    Ok(o)
}

#[cfg(feature = "mqtt-tls-system")]
fn tls_transport(
    broker: &Broker,
    tls: &crate::config::mqtt::Tls,
) -> Result<rumqttc::Transport, SetupError> {
    let bad = |message: String| SetupError::Tls {
        broker: broker.id.clone(),
        message,
    };
    let mut b = native_tls::TlsConnector::builder();
    // Host-name and chain verification stay on: there is no setting to turn them off.
    if let Some(ca) = &tls.ca_file {
        let pem = read(broker, "tls.ca_file", ca)?;
        let cert = native_tls::Certificate::from_pem(&pem)
            .map_err(|e| bad(format!("ca_file `{ca}` is not a PEM certificate: {e}")))?;
        // An explicit CA is the only trust anchor, as with mosquitto_sub --cafile.
        b.disable_built_in_roots(true).add_root_certificate(cert);
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(c), Some(k)) => {
            let cert = read(broker, "tls.client_cert", c)?;
            let key = read(broker, "tls.client_key", k)?;
            let id = native_tls::Identity::from_pkcs8(&cert, &key).map_err(|e| {
                bad(format!(
                    "client_cert `{c}` / client_key `{k}` (PEM, PKCS#8 key): {e}"
                ))
            })?;
            b.identity(id);
        }
        (None, None) => {}
        _ => {
            return Err(bad(
                "set both `client_cert` and `client_key`, or neither".into()
            ));
        }
    }
    let connector = b.build().map_err(|e| bad(e.to_string()))?;
    Ok(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::NativeConnector(connector),
    ))
}

#[cfg(not(feature = "mqtt-tls-system"))]
fn tls_transport(
    broker: &Broker,
    _tls: &crate::config::mqtt::Tls,
) -> Result<rumqttc::Transport, SetupError> {
    Err(SetupError::NoTls(broker.id.clone()))
}

/// What kind of failure a connection error is; a metric label.
pub fn error_kind(e: &ConnectionError) -> &'static str {
    match e {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => "auth",
        ConnectionError::ConnectionRefused(_) => "refused",
        #[cfg(feature = "mqtt-tls-system")]
        ConnectionError::Tls(_) => "tls",
        ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => "timeout",
        ConnectionError::Io(_) => "network",
        ConnectionError::MqttState(StateError::Io(_) | StateError::ConnectionAborted) => "network",
        ConnectionError::MqttState(StateError::AwaitPingResp) => "timeout",
        _ => "protocol",
    }
}

/// An operator's explanation of a connection failure: what happened and what to check.
pub fn explain(broker: &Broker, e: &ConnectionError) -> String {
    let at = format!(
        "mqtt broker `{}` ({}:{})",
        broker.id,
        broker.host,
        broker.port()
    );
    match e {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => format!(
            "{at} refused the login of user `{}` ({code:?}): check `username` and the password in {}",
            broker.username.as_deref().unwrap_or("(none)"),
            match (&broker.password_env, &broker.password_file) {
                (Some(v), _) => format!("environment variable `{v}`"),
                (_, Some(f)) => format!("file `{f}`"),
                _ => "(none configured)".into(),
            }
        ),
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadClientId) => format!(
            "{at} refused client id `{}`: set another `client_id`",
            broker.client_id()
        ),
        ConnectionError::ConnectionRefused(code) => {
            format!("{at} refused the connection: {code:?}")
        }
        #[cfg(feature = "mqtt-tls-system")]
        ConnectionError::Tls(t) => format!(
            "{at}: TLS handshake failed: {t}. Check that `tls.ca_file` holds the CA that signed the broker's certificate and that `host` is a name in that certificate"
        ),
        ConnectionError::NetworkTimeout => format!(
            "{at}: no connection within {} s (broker down, firewall, or TLS/plain port mix-up?)",
            broker.connect_timeout_s
        ),
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("{at}: connection refused: is the broker running on this port?")
        }
        ConnectionError::MqttState(StateError::ConnectionAborted) if broker.tls.is_none() => {
            format!("{at}: the broker closed the connection (if this port expects TLS, add `tls`)")
        }
        other => format!("{at}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker() -> Broker {
        toml::from_str("host = \"127.0.0.1\"\nusername = \"u\"\n").unwrap()
    }

    #[test]
    fn password_sources() {
        let mut b = broker();
        assert_eq!(password(&b).unwrap(), None);
        b.password_env = Some("HEATKPI_TEST_NO_SUCH_VAR".into());
        let e = password(&b).unwrap_err().to_string();
        assert!(e.contains("HEATKPI_TEST_NO_SUCH_VAR"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        b.password_file = Some(f.display().to_string());
        assert!(password(&b).is_err(), "both sources at once");
        b.password_env = None;
        assert_eq!(password(&b).unwrap().as_deref(), Some("s3cret"));
    }

    #[test]
    fn options_and_explanations() {
        let b = broker();
        let o = options(&b, "heatkpi-test", false).unwrap();
        assert!(!o.clean_session());
        assert_eq!(o.credentials().map(|l| l.username), Some("u".into()));
        let e = ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized);
        assert_eq!(error_kind(&e), "auth");
        assert!(explain(&b, &e).contains("refused the login of user `u`"));
        let mut bad = b.clone();
        bad.reconnect_min_ms = 0;
        assert!(options(&bad, "x", false).is_err());
    }
}
