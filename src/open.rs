//! Opening the configured store: the wiring between `[store]` settings and the store backends
//! (config and store do not know each other, design.md §2).

use crate::config::influx::{self as cfg, InfluxConfig};
use crate::config::{Backend, Loaded};
use crate::store::influx::{Auth, InfluxApi, InfluxOptions, InfluxStore};
use crate::store::outbox::{Outbox, OutboxOptions, WhenFull};
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// An opened InfluxDB store: what to hand to ingest and the evaluator, and the outbox (when
/// enabled) for flushing at shutdown and for its statistics.
pub struct OpenedInflux {
    /// The store to use (the outbox when enabled, else the backend).
    pub store: Arc<dyn Store>,
    /// The outbox, when enabled.
    pub outbox: Option<Arc<Outbox>>,
    /// The backend itself (quarantine, database creation).
    pub influx: Arc<InfluxStore>,
}

/// InfluxDB options from `[store.influx]`, reading secrets now.
pub fn influx_options(loaded: &Loaded, c: &InfluxConfig) -> Result<InfluxOptions, StoreError> {
    let secret = |s: &crate::config::Secret| {
        s.resolve()
            .map_err(|e| StoreError::Other(format!("[store.influx]: {e}")))
    };
    let auth = match (&c.token, &c.username, &c.password) {
        (Some(t), _, _) => Auth::Token(secret(t)?),
        (None, Some(user), Some(p)) => Auth::Basic {
            user: user.clone(),
            password: secret(p)?,
        },
        _ => Auth::None,
    };
    let ca_pem = match &c.ca_file {
        Some(f) => {
            let path = loaded.resolve(f);
            Some(std::fs::read(&path).map_err(|e| {
                StoreError::Other(format!("[store.influx] ca_file {}: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let mut o = InfluxOptions::new(
        &c.url,
        match c.api {
            cfg::InfluxApi::V1 => InfluxApi::V1,
            cfg::InfluxApi::V2 => InfluxApi::V2,
        },
        &c.database,
        loaded.resolve(&loaded.settings.store.path),
    );
    o.org = c.org.clone();
    o.retention_policy = c.retention_policy.clone();
    o.auth = auth;
    o.ca_pem = ca_pem;
    o.batch_size = c.batch_size.max(1);
    o.gzip = c.gzip;
    o.timeout = Duration::from_millis(c.timeout_ms.max(1));
    o.max_attempts = c.max_attempts.max(1);
    o.check_duplicates = c.check_duplicates;
    o.measurements = cfg::measurements(&loaded.settings);
    Ok(o)
}

/// Open the InfluxDB store of a configuration with `backend = "influx"`, behind its outbox
/// unless `[store.influx.outbox] enabled = false`.
pub fn open_influx(loaded: &Loaded) -> Result<OpenedInflux, StoreError> {
    let s = &loaded.settings.store;
    let c = match (s.backend, &s.influx) {
        (Backend::Influx, Some(c)) => c,
        _ => {
            return Err(StoreError::Other(
                "the configuration does not select backend = \"influx\" with a [store.influx] section"
                    .into(),
            ));
        }
    };
    let influx = Arc::new(InfluxStore::open(influx_options(loaded, c)?)?);
    if !c.outbox.enabled {
        return Ok(OpenedInflux {
            store: influx.clone(),
            outbox: None,
            influx,
        });
    }
    let mut o = OutboxOptions::new(loaded.resolve(&c.outbox.path));
    o.max_bytes = c.outbox.max_bytes;
    o.when_full = match c.outbox.when_full {
        cfg::WhenFull::Block => WhenFull::Block,
        cfg::WhenFull::DropOldest => WhenFull::DropOldest,
    };
    o.batch_size = c.batch_size.max(1);
    o.linger = Duration::from_millis(c.linger_ms);
    let outbox = Arc::new(Outbox::open(influx.clone(), o)?);
    Ok(OpenedInflux {
        store: outbox.clone(),
        outbox: Some(outbox),
        influx,
    })
}
