//! The simulator's AMR gateway (`[simulator.mqtt]`) against a real Mosquitto: its telegrams,
//! collected by heatkpi's own MQTT agent through the broker, land in the store as exactly the
//! values the simulated meters showed at those instants; the same seed publishes the same bytes;
//! and a broker that is down or goes away neither stalls the simulation nor hides a drop.
//!
//! The tests that need the broker skip with a reason when `HEATKPI_PEER_MQTT` is not set (fail
//! with `HEATKPI_REQUIRE_PEERS=1`); the dead-broker test needs no peer. Each test publishes
//! under a topic prefix of its own.

mod support;

use heatkpi::collect::mqtt::{self, MqttStatus};
use heatkpi::config::Settings;
use heatkpi::config::mqtt::MqttConfig;
use heatkpi::config::sim::{EventConfig, EventKind};
use heatkpi::config::sim_mqtt::SimMqttConfig;
use heatkpi::model::quantity::convert;
use heatkpi::model::time::parse_instant;
use heatkpi::model::{Quality, Quantity};
use heatkpi::sim::{ServeOptions, SimHandle, demo_settings, serve, templates};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::BTreeMap;
use std::time::Duration;
use support::store::points;
use support::{PrivateBroker, host_port, peer, pipeline_in, unique, wait_for};
use tokio::sync::{mpsc, watch};

/// 2026-01-10T00:00 in Warsaw, in the heating season.
fn t0() -> i64 {
    parse_instant(chrono_tz::Europe::Warsaw, "2026-01-10T00:00").unwrap()
}

fn event(kind: EventKind, target: &str) -> EventConfig {
    EventConfig::new(kind, target, "+0d00:00", None)
}

/// The gateway: `substations` on `host:port` under `prefix`, a telegram every 5 minutes.
fn gateway(host: &str, port: u16, prefix: &str, substations: &[&str]) -> SimMqttConfig {
    let list: Vec<String> = substations.iter().map(|s| format!("\"{s}\"")).collect();
    toml::from_str(&format!(
        r#"
        host = "{host}"
        port = {port}
        client_id = "{prefix}-gw"
        topic_prefix = "{prefix}"
        interval_s = 300
        reconnect_min_ms = 50
        reconnect_max_ms = 200
        substations = [{}]
        "#,
        list.join(", ")
    ))
    .unwrap()
}

/// The demo utility with `gw` as its gateway and `events` as its only faults.
fn settings(gw: SimMqttConfig, events: Vec<EventConfig>) -> Settings {
    let mut s = demo_settings().unwrap();
    let sim = s.simulator.as_mut().unwrap();
    sim.default_scenario = false;
    sim.events = events;
    sim.mqtt = Some(gw);
    s
}

/// Serve on an ephemeral Modbus port from 10 January 2026, `speed` 0 unless given.
async fn start(settings: &Settings, seed: u64, speed: f64) -> SimHandle {
    let opts = ServeOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        speed: Some(speed),
        start_ms: Some(t0()),
        anchor_ms: Some(t0()),
        seed: Some(seed),
        step_s: Some(60),
    };
    serve(settings, &templates::builtin().unwrap(), opts)
        .await
        .unwrap()
}

/// Wait until the gateway is connected.
async fn connected(h: &SimHandle) -> bool {
    wait_for(Duration::from_secs(10), || {
        h.amr_stats().is_some_and(|s| s.connected)
    })
    .await
}

/// Every message under `filter`, from the moment the broker confirmed the subscription.
async fn subscribe(addr: &str, filter: &str) -> mpsc::UnboundedReceiver<(String, Vec<u8>)> {
    let (host, port) = host_port(addr);
    let mut o = MqttOptions::new(unique("sub"), host, port);
    o.set_keep_alive(Duration::from_secs(5))
        .set_clean_session(true);
    let (client, mut el) = AsyncClient::new(o, 64);
    client
        .subscribe(filter, QoS::AtLeastOnce)
        .await
        .expect("queue the subscription");
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready) = watch::channel(false);
    tokio::spawn(async move {
        let _client = client;
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(true);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic, p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready.wait_for(|r| *r))
        .await
        .expect("subscribed within 10 s")
        .unwrap();
    rx
}

/// The quantities a telegram carries.
const CARRIED: [Quantity; 6] = [
    Quantity::HeatEnergy,
    Quantity::Volume,
    Quantity::Flow,
    Quantity::HeatPower,
    Quantity::SupplyTemp,
    Quantity::ReturnTemp,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegrams_collected_through_mosquitto_equal_the_simulated_meters() {
    let Some(addr) = peer("HEATKPI_PEER_MQTT") else {
        return;
    };
    let (host, port) = host_port(&addr);
    let p = unique("simamr");
    // ss-01 counts MWh, ss-03 GJ and litres; ss-05 has swapped sensors, ss-10 is stale and
    // ss-23 does not answer.
    let gw = gateway(
        &host,
        port,
        &p,
        &["ss-01", "ss-03", "ss-05", "ss-10", "ss-23"],
    );
    let s = settings(
        gw.clone(),
        vec![
            event(EventKind::SwappedSensors, "ss-05-hm"),
            event(EventKind::Stale, "ss-10-hm"),
            event(EventKind::NoResponse, "ss-23-hm"),
        ],
    );
    let h = start(&s, 3, 0.0).await;
    assert!(connected(&h).await, "{:?}", h.amr_stats());

    // heatkpi's MQTT agent with the mapping the demo uses, into a SQLite store.
    let (broker, sub) = heatkpi::sim::mqtt::collector(&gw, &format!("{p}-collect"), None).unwrap();
    let cfg = MqttConfig {
        brokers: vec![broker],
        subscriptions: vec![sub],
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, ingest, pipe) = pipeline_in(dir.path());
    let status = MqttStatus::default();
    let (stop, stop_rx) = watch::channel(false);
    let agent = tokio::spawn({
        let (ingest, status) = (ingest.clone(), status.clone());
        async move { mqtt::run(&cfg, ingest, status, stop_rx).await }
    });
    assert!(
        wait_for(Duration::from_secs(10), || status
            .snapshot()
            .first()
            .is_some_and(|b| b.subscribed))
        .await,
        "{:?}",
        status.snapshot()
    );

    // One simulated hour, step by step, noting what each meter shows at each reading instant.
    let mut expected: BTreeMap<(String, i64), f64> = BTreeMap::new();
    let mut instants = 0;
    for _ in 0..60 {
        h.advance(1);
        let ts = h.sim_time();
        if ts % 300_000 != 0 {
            continue;
        }
        instants += 1;
        for m in h.amr_meters().iter().filter(|m| m.asset != "ss-23") {
            for v in h.device_values(&m.device).unwrap() {
                if CARRIED.contains(&v.quantity) && !v.sentinel {
                    let canonical = convert(v.quantity, v.unit, v.value).unwrap();
                    expected.insert((format!("{}.{}", m.asset, v.quantity), ts), canonical);
                }
            }
        }
    }
    assert_eq!(instants, 12);
    let stats = h.amr_stats().unwrap();
    assert_eq!(stats.meters, 5);
    assert_eq!(stats.telegrams, 4 * 12, "{stats:?}");
    assert_eq!(stats.silent, 12, "ss-23 sends nothing");
    assert!(
        wait_for(Duration::from_secs(15), || {
            let s = h.amr_stats().unwrap();
            let agent_acked = status.snapshot().first().map_or(0, |b| b.acked);
            s.published == 48 && s.acked == 48 && agent_acked == 48
        })
        .await,
        "gateway {:?} agent {:?}",
        h.amr_stats(),
        status.snapshot()
    );
    ingest.flush().await.unwrap();

    // Every value the meters showed is in the store at its instant, and nothing else. Exact:
    // the telegram carries the register value, and ingest converts it as it converts a poll.
    let mut stored: BTreeMap<(String, i64), (f64, Quality)> = BTreeMap::new();
    for m in ["ss-01", "ss-03", "ss-05", "ss-10", "ss-23"] {
        for q in CARRIED {
            let series = format!("{m}.{q}");
            for pt in points(store.as_ref(), &series) {
                stored.insert((series.clone(), pt.ts), (pt.value, pt.quality));
            }
        }
    }
    assert_eq!(
        expected.len(),
        4 * 6 * 12,
        "four meters, six quantities, twelve readings"
    );
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (k, want) in &expected {
        assert_eq!(stored[k].0, *want, "{k:?}");
    }
    // The faults show: ss-10 repeats one frozen reading, ss-05's temperatures are swapped and
    // its telegrams are flagged, so the readings are suspect; the others are good.
    let energy = |m: &str| -> Vec<f64> {
        stored
            .iter()
            .filter(|(k, _)| k.0 == format!("{m}.heat_energy"))
            .map(|(_, v)| v.0)
            .collect()
    };
    let e10 = energy("ss-10");
    assert_eq!(e10.len(), 12);
    assert!(e10.iter().all(|v| *v == e10[0]), "stale: {e10:?}");
    let e01 = energy("ss-01");
    assert!(e01.last() > e01.first(), "a healthy meter counts: {e01:?}");
    let e05 = energy("ss-05");
    assert!(
        e05.iter().all(|v| *v == e05[0]),
        "swapped: the register stops"
    );
    let at = |k: &str, ts: i64| stored[&(k.to_string(), ts)];
    let last = h.sim_time();
    assert!(at("ss-05.supply_temp", last).0 < at("ss-05.return_temp", last).0);
    assert_eq!(at("ss-05.supply_temp", last).1, Quality::Suspect);
    assert_eq!(at("ss-01.supply_temp", last).1, Quality::Good);
    assert!(at("ss-01.supply_temp", last).0 > at("ss-01.return_temp", last).0);

    let final_stats = h.shutdown().await.unwrap();
    assert_eq!(final_stats.dropped(), 0, "{final_stats:?}");
    stop.send(true).unwrap();
    agent.await.unwrap().unwrap();
    drop(ingest);
    pipe.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_publishes_the_same_telegrams() {
    let Some(addr) = peer("HEATKPI_PEER_MQTT") else {
        return;
    };
    let (host, port) = host_port(&addr);
    let run = |seed: u64, tag: &'static str| {
        let (addr, host) = (addr.clone(), host.clone());
        async move {
            let p = unique(tag);
            let mut rx = subscribe(&addr, &format!("{p}/#")).await;
            let gw = gateway(&host, port, &p, &["ss-0*"]);
            // A meter reset and a replacement within the hour, so the faults are compared too.
            let mut reset = event(EventKind::MeterReset, "ss-02-hm");
            reset.start = "+0d00:20".into();
            let mut swap = event(EventKind::MeterReplacement, "ss-04-hm");
            swap.start = "+0d00:30".into();
            swap.new_reading = Some(10.0);
            swap.gap_min = Some(10.0);
            let h = start(&settings(gw, vec![reset, swap]), seed, 0.0).await;
            assert!(connected(&h).await, "{:?}", h.amr_stats());
            h.advance(60);
            let n = h.amr_stats().unwrap().telegrams as usize;
            assert!(
                wait_for(Duration::from_secs(15), || h
                    .amr_stats()
                    .is_some_and(|s| s.acked == n as u64))
                .await
            );
            let mut got = Vec::new();
            while got.len() < n {
                let (topic, payload) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .expect("every telegram arrives")
                    .unwrap();
                let suffix = topic.strip_prefix(&p).unwrap().to_string();
                got.push((suffix, String::from_utf8(payload).unwrap()));
            }
            let st = h.shutdown().await.unwrap();
            got.sort();
            (got, st.silent)
        }
    };
    let (a, silent) = run(7, "seed-a").await;
    let (b, _) = run(7, "seed-b").await;
    let (c, _) = run(8, "seed-c").await;
    // Nine meters (ss-01 … ss-09), twelve readings, less those of ss-04 while it is off line.
    assert!(silent > 0, "the meter being exchanged sends nothing");
    assert_eq!(a.len() as u64, 9 * 12 - silent);
    assert_eq!(a, b, "same seed, same telegrams, byte for byte");
    assert_ne!(a, c, "another seed, other telegrams");
    // The replaced meter reports under a new serial.
    let serials: std::collections::BTreeSet<String> = a
        .iter()
        .filter(|(t, _)| t == "/ss-04")
        .map(|(_, j)| serde_json::from_str::<serde_json::Value>(j).unwrap()["id"].to_string())
        .collect();
    assert_eq!(serials.len(), 2, "{serials:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_broker_neither_stalls_the_simulation_nor_hides_drops() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let gw = gateway(
        "127.0.0.1",
        port,
        &unique("dead"),
        &["ss-01", "ss-02", "ss-03"],
    );
    let s = settings(gw, Vec::new());

    // Stepped by hand: every step returns, every telegram is counted as dropped.
    let h = start(&s, 1, 0.0).await;
    h.advance(120);
    assert_eq!(h.sim_time(), t0() + 120 * 60_000);
    let st = h.amr_stats().unwrap();
    assert_eq!(st.telegrams, 3 * 24);
    assert!(
        wait_for(Duration::from_secs(10), || h
            .amr_stats()
            .is_some_and(|s| s.dropped() == 72 && s.failed_connects >= 2))
        .await,
        "{:?}",
        h.amr_stats()
    );
    let st = h.amr_stats().unwrap();
    assert_eq!((st.published, st.connects, st.connected), (0, 0, false));
    let err = st.last_error.unwrap_or_default();
    eprintln!("operator sees: {err}");
    assert!(err.contains("connection refused"), "{err}");
    h.shutdown().await;

    // On its own clock (100 simulated minutes per second) the simulation runs on regardless.
    let h = start(&s, 1, 6000.0).await;
    assert!(
        wait_for(Duration::from_secs(60), || h.sim_time()
            >= t0() + 3 * 3_600_000
            && h.amr_stats().is_some_and(|s| s.dropped() >= 3 * 36))
        .await,
        "simulated {} min, {:?}",
        (h.sim_time() - t0()) / 60_000,
        h.amr_stats()
    );
    let st = h.shutdown().await.unwrap();
    assert_eq!(st.dropped(), st.telegrams, "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_reconnects_after_a_broker_restart() {
    let Some(bin) = peer("HEATKPI_PEER_MOSQUITTO") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut broker = PrivateBroker::start(&bin, dir.path(), "");
    let p = unique("restart");
    let gw = gateway("127.0.0.1", broker.port, &p, &["ss-01", "ss-02"]);
    let h = start(&settings(gw, Vec::new()), 2, 0.0).await;
    assert!(connected(&h).await, "{:?}", h.amr_stats());
    h.advance(10);
    assert!(
        wait_for(Duration::from_secs(10), || h
            .amr_stats()
            .is_some_and(|s| s.acked == 4))
        .await,
        "{:?}",
        h.amr_stats()
    );

    broker.stop();
    assert!(
        wait_for(Duration::from_secs(15), || h
            .amr_stats()
            .is_some_and(|s| !s.connected))
        .await,
        "{:?}",
        h.amr_stats()
    );
    h.advance(10);
    assert!(
        wait_for(Duration::from_secs(10), || h
            .amr_stats()
            .is_some_and(|s| s.dropped_broker_down == 4))
        .await,
        "{:?}",
        h.amr_stats()
    );

    broker.restart(Duration::ZERO);
    let mut rx = subscribe(&broker.addr(), &format!("{p}/#")).await;
    assert!(connected(&h).await, "{:?}", h.amr_stats());
    h.advance(10);
    let mut got = 0;
    while got < 4 {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("telegrams flow again after the restart")
            .unwrap();
        got += 1;
    }
    let st = h.shutdown().await.unwrap();
    assert_eq!(
        (st.telegrams, st.acked, st.dropped_broker_down),
        (12, 8, 4),
        "{st:?}"
    );
    assert!(st.connects >= 2);
}
