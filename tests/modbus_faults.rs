//! The Modbus agent against misbehaving devices, in-process: one that never answers, one that
//! answers with exceptions, one that closes every connection, one that answers after the
//! timeout. The healthy device beside them must keep its cadence, no late reply may be read as
//! the answer to a later request, and every failure must be visible (bad-quality gaps, counted
//! errors, an unreachable event) rather than silent.

use heatkpi::cli::runtime::Service;
use heatkpi::model::time::Window;
use heatkpi::model::{Quality, Quantity, SeriesKey};
use heatkpi::store::sqlite::SqliteStore;
use heatkpi::store::{EventFilter, Store};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_modbus::prelude::*;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Healthy,
    Silent,
    Exception,
    Closes,
    /// Every second request is answered 600 ms late (the client times out after 300 ms).
    Late,
}

#[derive(Clone)]
struct Device {
    behaviour: Behaviour,
    calls: Arc<AtomicU64>,
}

impl tokio_modbus::server::Service for Device {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let behaviour = self.behaviour;
        Box::pin(async move {
            let Request::ReadHoldingRegisters(addr, cnt) = req else {
                return Err(ExceptionCode::IllegalFunction);
            };
            // Each register holds its own address: a reply read for the wrong request would
            // show up as a wrong value.
            let words: Vec<u16> = (addr..addr + cnt).collect();
            match behaviour {
                Behaviour::Silent => std::future::pending().await,
                Behaviour::Exception => Err(ExceptionCode::ServerDeviceFailure),
                Behaviour::Late if n.is_multiple_of(2) => {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    Ok(Response::ReadHoldingRegisters(words))
                }
                _ => Ok(Response::ReadHoldingRegisters(words)),
            }
        })
    }
}

async fn start(behaviour: Behaviour) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(listener);
    let dev = Device {
        behaviour,
        calls: Arc::new(AtomicU64::new(0)),
    };
    tokio::spawn(async move {
        let new_service = move |_peer| {
            // A device that accepts and drops every connection.
            Ok((behaviour != Behaviour::Closes).then(|| dev.clone()))
        };
        let on_connected = move |stream, peer| {
            let new_service = new_service.clone();
            async move { accept_tcp_connection(stream, peer, new_service) }
        };
        let _ = server.serve(&on_connected, |_err| {}).await;
    });
    addr
}

const TEMPLATE: &str = r#"
description = "two points far apart, so each poll is two requests"
[[point]]
name = "near"
quantity = "flow"
unit = "m3/h"
register = "holding"
address = 0
type = "u16"
[[point]]
name = "far"
quantity = "diff_pressure"
unit = "bar"
register = "holding"
address = 100
type = "u16"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_devices_do_not_disturb_healthy_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/pair.toml"), TEMPLATE).unwrap();
    let names = ["healthy", "silent", "exception", "closes", "late"];
    let behaviours = [
        Behaviour::Healthy,
        Behaviour::Silent,
        Behaviour::Exception,
        Behaviour::Closes,
        Behaviour::Late,
    ];
    let mut toml = String::from("[store]\npath = \"t.db\"\n[ingest]\nlinger_ms = 50\n");
    for (name, b) in names.iter().zip(behaviours) {
        let addr = start(b).await;
        toml.push_str(&format!(
            "[[meter]]\nid = \"{name}\"\nkind = \"heat\"\n\
             [[modbus.device]]\nid = \"{name}-dev\"\ntemplate = \"pair\"\nasset = \"{name}\"\naddress = \"{addr}\"\n\
             poll_ms = 200\ntimeout_ms = 300\nmax_hole = 0\nstale_after_polls = 2\n"
        ));
    }
    let loaded = heatkpi::config::load_str(&toml, "faults.toml", dir.path()).expect("config");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("t.db")).unwrap());
    let svc = Service::start(&loaded, store.clone()).unwrap_or_else(|_| panic!("service"));
    let run = Duration::from_secs(4);
    let t0 = chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(run).await;
    let board = svc.devices.lock().unwrap().clone();
    svc.stop().await.unwrap_or_else(|_| panic!("stop"));
    let all = Window::new(t0 - 1000, chrono::Utc::now().timestamp_millis() + 1000);
    let points =
        |asset: &str, q: Quantity| store.read_range(&SeriesKey::new(asset, q), all).unwrap();
    let status = |id: &str| board.iter().find(|d| d.id == id).unwrap().clone();

    // Healthy: every poll good and correct, at its own cadence (4 s / 200 ms = 20 polls; allow
    // for start-up and a loaded machine, but a device stalled behind the others would get ~4).
    let healthy = points("healthy", Quantity::Flow);
    assert!(
        healthy
            .iter()
            .all(|p| p.quality == Quality::Good && p.value == 0.0)
    );
    assert!(
        healthy.len() >= 12,
        "healthy device polled only {} times",
        healthy.len()
    );
    assert!(
        points("healthy", Quantity::DiffPressure)
            .iter()
            .all(|p| p.value == 100.0)
    );
    assert_eq!(status("healthy-dev").failures_in_row, 0);

    // Late replies never poison later reads: every good value is the right one, and good reads
    // do happen after timeouts.
    let mut good_reads = 0;
    for (q, want) in [(Quantity::Flow, 0.0), (Quantity::DiffPressure, 100.0)] {
        for p in points("late", q)
            .iter()
            .filter(|p| p.quality == Quality::Good)
        {
            assert_eq!(
                p.value, want,
                "a late reply was read as the answer to a later request"
            );
            good_reads += 1;
        }
    }
    // The first request timed out, so every good read came over a re-opened connection.
    assert!(good_reads > 0, "no good read after a timeout");
    assert!(
        status("late-dev")
            .errors
            .get("timeout")
            .copied()
            .unwrap_or(0)
            > 0
    );

    // Failures are visible: bad-quality gaps, errors counted by kind, an unreachable event.
    for (name, kind) in [
        ("silent", "timeout"),
        ("exception", "exception"),
        ("closes", "transport"),
    ] {
        let p = points(name, Quantity::Flow);
        assert!(
            !p.is_empty() && p.iter().all(|p| p.quality == Quality::Bad),
            "{name}: {p:?}"
        );
        let st = status(&format!("{name}-dev"));
        assert!(
            st.errors.get(kind).copied().unwrap_or(0) > 0,
            "{name}: {:?}",
            st.errors
        );
        assert!(st.stale, "{name} not flagged stale");
    }
    let events = store
        .events(&EventFilter {
            kind: Some("device_unreachable".into()),
            ..Default::default()
        })
        .unwrap();
    let subjects: std::collections::BTreeSet<_> =
        events.iter().map(|e| e.subject.as_str()).collect();
    for name in ["silent", "exception", "closes"] {
        assert!(
            subjects.contains(name),
            "no unreachable event for {name}: {subjects:?}"
        );
    }
    assert!(!subjects.contains("healthy"));
}
