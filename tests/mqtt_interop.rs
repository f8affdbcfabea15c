//! The MQTT agent against a real Mosquitto (tests/peers/mosquitto.sh): every payload format
//! end to end, the tap, data gaps, login, and TLS. Skips with a reason when the peer variables
//! are not set, fails when `HEATKPI_REQUIRE_PEERS=1`.

mod support;

use heatkpi::collect::mqtt::{self, MqttStatus, SubscriptionStatus, TapOptions};
use heatkpi::config::mqtt::MqttConfig;
use heatkpi::store::EventFilter;
use heatkpi::store::sqlite::SqliteStore;
use std::sync::Arc;
use std::time::Duration;
use support::store::{SlowStore, all, counts};
use support::{
    Publisher, host_port, mqtt_config, peer, pipeline_in, pipeline_with, unique, wait_for,
};
use tokio::sync::watch;

/// 2026-01-15T10:00:00Z in ms.
const T0: i64 = 1_768_471_200_000;

fn sub<'a>(s: &'a [heatkpi::collect::mqtt::BrokerStatus], name: &str) -> &'a SubscriptionStatus {
    s[0].subscriptions
        .iter()
        .find(|x| x.name == name)
        .expect("subscription")
}

/// Start the agent on `cfg`; returns its status, the shutdown switch and the task.
fn start(
    cfg: MqttConfig,
    h: heatkpi::ingest::pipeline::IngestHandle,
) -> (
    MqttStatus,
    watch::Sender<bool>,
    tokio::task::JoinHandle<Result<(), mqtt::AgentError>>,
) {
    let status = MqttStatus::default();
    let (stop, stop_rx) = watch::channel(false);
    let st = status.clone();
    let task = tokio::spawn(async move { mqtt::run(&cfg, h, st, stop_rx).await });
    (status, stop, task)
}

fn first(status: &MqttStatus) -> Option<heatkpi::collect::mqtt::BrokerStatus> {
    status.snapshot().into_iter().next()
}

async fn subscribed(status: &MqttStatus) -> bool {
    wait_for(Duration::from_secs(10), || {
        status.snapshot().first().is_some_and(|b| b.subscribed)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_end_to_end_through_mosquitto() {
    let Some(addr) = peer("HEATKPI_PEER_MQTT") else {
        return;
    };
    let (host, port) = host_port(&addr);
    let p = unique("hk");
    let cfg = mqtt_config(&format!(
        r#"
        [[mqtt.broker]]
        host = "{host}"
        port = {port}
        client_id = "{p}"
        reconnect_min_ms = 100
        [[mqtt.subscription]]
        name = "numbers"
        topic = "{p}/num/+/+"
        template = "{p}/num/{{asset}}/{{quantity}}"
        units = {{ supply_temp = "degC" }}
        [[mqtt.subscription]]
        name = "json"
        topic = "{p}/json/+"
        template = "{p}/json/{{asset}}"
        format = "json"
        time_field = "ts"
        max_payload_bytes = 512
        fields = {{ "heat.energy" = {{ quantity = "heat_energy", unit = "kWh" }}, "t.supply" = {{ quantity = "supply_temp", unit = "degC", optional = true }} }}
        [[mqtt.subscription]]
        name = "lp"
        topic = "{p}/lp"
        format = "line_protocol"
        precision = "ms"
        qos = 0
        [[mqtt.subscription]]
        name = "wmbus"
        topic = "{p}/wmbus/+"
        format = "wmbusmeters"
        meters = {{ "12345678" = "ss-wm" }}
        [[mqtt.subscription]]
        name = "strict"
        topic = "{p}/strict/#"
        template = "{p}/strict/{{asset}}/{{quantity}}"
        unit = "degC"
        "#
    ));
    let dir = tempfile::tempdir().unwrap();
    let (store, h, pipe) = pipeline_in(dir.path());
    let (status, stop, task) = start(cfg, h.clone());
    assert!(
        subscribed(&status).await,
        "not subscribed: {:?}",
        status.snapshot()
    );

    let m = |t: &str, b: &str| (format!("{p}/{t}"), b.as_bytes().to_vec());
    let msgs = vec![
        m("num/ss-1/supply_temp", "80.5"),
        m("num/ss-1/supply_temp", "hot"),
        m(
            "json/ss-2",
            &format!(r#"{{"ts":{T0},"heat":{{"energy":1000}},"t":{{"supply":70}}}}"#),
        ),
        m(
            "json/ss-2",
            &format!(r#"{{"ts":{},"heat":{{"energy":NaN}}}}"#, T0 + 1),
        ),
        m("json/ss-2", r#"{"ts":"#),
        m("json/ss-2", r#"{"heat":{"energy":5}}"#),
        m(
            "json/ss-2",
            &format!(r#"{{"ts":{T0},"pad":"{}"}}"#, "x".repeat(600)),
        ),
        m("lp", &format!("substation,asset=ss-3 flow=1.5 {T0}")),
        m(
            "wmbus/ss042",
            r#"{"id":"12345678","total_energy_consumption_kwh":2000,"flow_temperature_c":71,"timestamp":"2026-01-15T10:00:00Z"}"#,
        ),
        m("strict/a/b/c", "1"),
    ];
    Publisher::new(&addr)
        .publish_all(msgs, Duration::ZERO)
        .await;

    let done = wait_for(Duration::from_secs(10), || {
        let s = status.snapshot();
        let msgs: u64 = s[0].subscriptions.iter().map(|x| x.messages).sum();
        msgs == 9 && s[0].unmatched == 1 && s[0].acked == 9
    })
    .await;
    assert!(done, "{:#?}", status.snapshot());
    h.flush().await.unwrap();

    let got: Vec<(String, i64, f64)> = all(store.as_ref())
        .into_iter()
        .map(|(s, ts, v)| (s, ts, (v * 1e6).round() / 1e6))
        .collect();
    let of = |k: &str| {
        got.iter()
            .filter(|g| g.0 == k)
            .map(|g| (g.1, g.2))
            .collect::<Vec<_>>()
    };
    assert_eq!(of("ss-1.supply_temp").len(), 1);
    assert_eq!(of("ss-1.supply_temp")[0].1, 80.5);
    assert_eq!(of("ss-2.heat_energy"), [(T0, 3.6)], "1000 kWh = 3.6 GJ");
    assert_eq!(of("ss-2.supply_temp"), [(T0, 70.0)]);
    assert_eq!(of("ss-3.flow"), [(T0, 1.5)]);
    assert_eq!(of("ss-wm.heat_energy"), [(T0, 7.2)]);
    assert_eq!(of("ss-wm.supply_temp"), [(T0, 71.0)]);
    assert_eq!(got.len(), 6, "{got:?}");

    let s = status.snapshot();
    let rejects = |n: &str| sub(&s, n).rejects.clone();
    assert_eq!(rejects("numbers").get("not_a_number"), Some(&1));
    let j = rejects("json");
    for r in ["not_finite", "malformed", "missing_timestamp", "oversize"] {
        assert_eq!(j.get(r), Some(&1), "json rejects {j:?}");
    }
    assert_eq!(sub(&s, "lp").samples, 1);
    assert_eq!(s[0].stale_acks, 0);

    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
    drop(h);
    pipe.shutdown().unwrap();
}

/// A QoS 1 burst larger than every internal queue, into a slow store: the agent must neither
/// stall nor lose anything. (With a small rumqttc request queue the ack, process and poll
/// tasks waited on each other in a cycle and this hung.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos1_burst_into_a_slow_store_neither_stalls_nor_loses() {
    let Some(addr) = peer("HEATKPI_PEER_MQTT") else {
        return;
    };
    let (host, port) = host_port(&addr);
    let p = unique("burst");
    const N: usize = 20_000;
    let cfg = mqtt_config(&format!(
        r#"
        [[mqtt.broker]]
        host = "{host}"
        port = {port}
        client_id = "{p}"
        clean_session = true
        [[mqtt.subscription]]
        topic = "{p}/b"
        format = "json"
        asset = "ss-b"
        time_field = "t"
        time_format = "epoch_ms"
        fields = {{ v = {{ quantity = "flow", unit = "m3/h" }} }}
        "#
    ));
    let dir = tempfile::tempdir().unwrap();
    let slow = SlowStore {
        inner: SqliteStore::open(dir.path().join("slow.db")).unwrap(),
        delay: Duration::from_millis(20),
    };
    let (store, h, pipe) = pipeline_with(Arc::new(slow));
    let (status, stop, task) = start(cfg, h.clone());
    assert!(subscribed(&status).await, "{:?}", status.snapshot());
    let lines: String = (0..N)
        .map(|i| format!("{{\"t\":{},\"v\":{i}}}\n", T0 + i as i64))
        .collect();
    let file = dir.path().join("burst.txt");
    std::fs::write(&file, lines).unwrap();
    let published = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            &host,
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            &format!("{p}/b"),
            "-l",
        ])
        .stdin(std::fs::File::open(&file).unwrap())
        .status()
        .expect("mosquitto_pub");
    assert!(published.success());
    let all = wait_for(Duration::from_secs(60), || {
        first(&status).is_some_and(|b| b.acked == N as u64)
    })
    .await;
    assert!(all, "stalled: {:?}", status.snapshot());
    assert_eq!(counts(store.as_ref(), "ss-b.flow"), (N, N));
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
    drop(h);
    pipe.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tap_shows_what_would_be_ingested_and_why_not() {
    let Some(addr) = peer("HEATKPI_PEER_MQTT") else {
        return;
    };
    let (host, port) = host_port(&addr);
    let p = unique("tap");
    let cfg = mqtt_config(&format!(
        r#"
        [[mqtt.broker]]
        host = "{host}"
        port = {port}
        [[mqtt.subscription]]
        topic = "{p}/+/+"
        template = "{p}/{{asset}}/{{quantity}}"
        unit = "degC"
        "#
    ));
    let pubs = tokio::spawn({
        let addr = addr.clone();
        let p = p.clone();
        async move {
            // repeated until the tap has seen enough: it subscribes at a moment we cannot see
            for _ in 0..100 {
                let msgs = vec![
                    (format!("{p}/ss-9/supply_temp"), b"61.5".to_vec()),
                    (format!("{p}/ss-9/supply_temp"), b"n/a".to_vec()),
                ];
                Publisher::new(&addr)
                    .publish_all(msgs, Duration::ZERO)
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let mut lines = Vec::new();
    let opts = TapOptions {
        count: Some(4),
        duration: Some(Duration::from_secs(15)),
        ..Default::default()
    };
    let n = mqtt::tap(&cfg, &format!("{p}/#"), &opts, |l| lines.push(l))
        .await
        .unwrap();
    pubs.abort();
    assert_eq!(n, 4, "{lines:?}");
    let text = lines.join("\n");
    assert!(
        text.contains("-> ss-9.supply_temp ") && text.contains(" 61.5 degC good"),
        "{text}"
    );
    assert!(text.contains("!! not_a_number: payload is `n/a`"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_opens_a_data_gap_and_messages_close_it() {
    let Some(addr) = peer("HEATKPI_PEER_MQTT") else {
        return;
    };
    let (host, port) = host_port(&addr);
    let p = unique("gap");
    let cfg = mqtt_config(&format!(
        r#"
        [[mqtt.broker]]
        host = "{host}"
        port = {port}
        client_id = "{p}"
        [[mqtt.subscription]]
        name = "quiet"
        topic = "{p}/ss-5/flow"
        asset = "ss-5"
        quantity = "flow"
        unit = "m3/h"
        expected_interval_s = 1
        "#
    ));
    let dir = tempfile::tempdir().unwrap();
    let (store, h, pipe) = pipeline_in(dir.path());
    let (status, stop, task) = start(cfg, h.clone());
    let gaps = |open_only| {
        store
            .events(&EventFilter {
                kind: Some("data_gap".into()),
                open_only,
                ..Default::default()
            })
            .unwrap()
    };
    assert!(
        wait_for(Duration::from_secs(8), || gaps(true).len() == 1).await,
        "no gap opened"
    );
    assert!(sub(&status.snapshot(), "quiet").gap_open);
    assert_eq!(gaps(true)[0].subject, "mqtt:quiet");
    Publisher::new(&addr)
        .publish_all(
            vec![(format!("{p}/ss-5/flow"), b"2.5".to_vec())],
            Duration::ZERO,
        )
        .await;
    assert!(
        wait_for(Duration::from_secs(8), || gaps(true).is_empty()
            && gaps(false).len() == 1)
        .await,
        "gap not closed: {:?}",
        gaps(false)
    );
    assert!(gaps(false)[0].end.is_some());
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
    drop(h);
    pipe.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_works_and_a_wrong_password_retries_with_a_clear_error() {
    let Some(addr) = peer("HEATKPI_PEER_MQTT_AUTH") else {
        return;
    };
    let (Some(user), Some(pw)) = (
        peer("HEATKPI_PEER_MQTT_USER"),
        peer("HEATKPI_PEER_MQTT_PASSWORD"),
    ) else {
        return;
    };
    let (host, port) = host_port(&addr);
    let dir = tempfile::tempdir().unwrap();
    let cfg_with = |password: &str, p: &str| {
        let f = dir.path().join(format!("{p}.pw"));
        std::fs::write(&f, format!("{password}\n")).unwrap();
        mqtt_config(&format!(
            r#"
            [[mqtt.broker]]
            host = "{host}"
            port = {port}
            client_id = "{p}"
            username = "{user}"
            password_file = "{}"
            reconnect_min_ms = 100
            reconnect_max_ms = 400
            [[mqtt.subscription]]
            topic = "{p}/v"
            asset = "ss-6"
            quantity = "flow"
            unit = "m3/h"
            "#,
            f.display()
        ))
    };

    let p = unique("auth");
    let (store, h, pipe) = pipeline_in(dir.path());
    let (status, stop, task) = start(cfg_with(&pw, &p), h.clone());
    assert!(subscribed(&status).await, "{:?}", status.snapshot());
    Publisher::new(&addr)
        .with_login(&user, &pw)
        .publish_all(vec![(format!("{p}/v"), b"4".to_vec())], Duration::ZERO)
        .await;
    assert!(
        wait_for(Duration::from_secs(10), || first(&status)
            .is_some_and(|b| b.acked == 1))
        .await
    );
    h.flush().await.unwrap();
    assert_eq!(counts(store.as_ref(), "ss-6.flow").0, 1);
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();

    let bad = unique("badpw");
    let (status, stop, task) = start(cfg_with("wrong", &bad), h.clone());
    assert!(
        wait_for(Duration::from_secs(10), || first(&status)
            .is_some_and(|b| b.failed_connects >= 3))
        .await,
        "no retries: {:?}",
        status.snapshot()
    );
    let s = status.snapshot();
    let err = s[0].last_error.clone().unwrap_or_default();
    eprintln!("operator sees: {err}");
    assert!(
        err.contains("refused the login of user `heatkpi-test`"),
        "{err}"
    );
    assert!(
        err.contains("password_file") || err.contains("file"),
        "{err}"
    );
    assert_eq!(s[0].connects, 0);
    assert!(
        !task.is_finished(),
        "a wrong password must not stop the agent"
    );
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
    drop(h);
    pipe.shutdown().unwrap();
}

#[cfg(feature = "mqtt-tls-system")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_right_ca_works_and_a_wrong_ca_is_a_clear_error() {
    let Some(addr) = peer("HEATKPI_PEER_MQTT_TLS") else {
        return;
    };
    let (Some(ca), Some(wrong)) = (
        peer("HEATKPI_PEER_MQTT_CA"),
        peer("HEATKPI_PEER_MQTT_WRONG_CA"),
    ) else {
        return;
    };
    let (host, port) = host_port(&addr);
    let cfg_with = |ca: &str, p: &str| {
        mqtt_config(&format!(
            r#"
            [[mqtt.broker]]
            host = "{host}"
            port = {port}
            client_id = "{p}"
            reconnect_min_ms = 100
            reconnect_max_ms = 400
            tls = {{ ca_file = "{ca}" }}
            [[mqtt.subscription]]
            topic = "{p}/v"
            asset = "ss-7"
            quantity = "flow"
            unit = "m3/h"
            "#
        ))
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, h, pipe) = pipeline_in(dir.path());

    let p = unique("tls");
    let (status, stop, task) = start(cfg_with(&ca, &p), h.clone());
    assert!(subscribed(&status).await, "{:?}", status.snapshot());
    let ok = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            &host,
            "-p",
            &port.to_string(),
            "--cafile",
            &ca,
            "-q",
            "1",
        ])
        .args(["-t", &format!("{p}/v"), "-m", "7.5"])
        .status()
        .expect("mosquitto_pub");
    assert!(ok.success());
    assert!(
        wait_for(Duration::from_secs(10), || first(&status)
            .is_some_and(|b| b.acked == 1))
        .await
    );
    h.flush().await.unwrap();
    assert_eq!(counts(store.as_ref(), "ss-7.flow").0, 1);
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();

    let (status, stop, task) = start(cfg_with(&wrong, &unique("tlsbad")), h.clone());
    assert!(
        wait_for(Duration::from_secs(10), || first(&status)
            .is_some_and(|b| b.failed_connects >= 2))
        .await,
        "{:?}",
        status.snapshot()
    );
    let err = first(&status)
        .and_then(|b| b.last_error)
        .unwrap_or_default();
    eprintln!("operator sees: {err}");
    assert!(err.contains("TLS handshake failed"), "{err}");
    assert!(err.contains("certificate verify failed"), "{err}");
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
    drop(h);
    pipe.shutdown().unwrap();
}

#[cfg(not(feature = "mqtt-tls-system"))]
#[test]
fn tls_with_the_right_ca_works_and_a_wrong_ca_is_a_clear_error() {
    eprintln!("SKIPPED: built without the mqtt-tls / mqtt-tls-system feature");
}
