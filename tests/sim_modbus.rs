//! The simulated utility over real Modbus TCP: every served register decodes (with the shared
//! codec) to what the simulator shows at that instant, and the protocol faults behave as a
//! collector must handle them: no answer (timeout), exception codes, frozen registers.

use heatkpi::collect::decode;
use heatkpi::config::Settings;
use heatkpi::config::modbus::{PointDef, RegisterKind, Template};
use heatkpi::config::sim::{EventConfig, EventKind};
use heatkpi::model::quantity::convert;
use heatkpi::model::time::parse_instant;
use heatkpi::model::{Kind, Quantity};
use heatkpi::sim::{ServeOptions, SimHandle, demo_settings, serve, templates};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_modbus::prelude::*;

fn event(kind: EventKind, target: &str, code: Option<u8>) -> EventConfig {
    EventConfig {
        kind,
        target: target.into(),
        start: "+0d00:00".into(),
        duration_h: None,
        enabled: true,
        notice_days: None,
        delta_k: None,
        pollutant: None,
        factor: None,
        exception_code: code,
        new_reading: None,
        gap_min: None,
    }
}

/// The demo utility on an ephemeral port with a stopped clock, 10 January 2026 (heating
/// season), with a silent meter, an exception meter and a stale meter from the start.
async fn start() -> (SimHandle, BTreeMap<String, Template>, Settings) {
    let mut settings = demo_settings().unwrap();
    let sim = settings.simulator.as_mut().unwrap();
    sim.default_scenario = false;
    // Kept: the demo's own event, the backup weather station answering exception 11.
    sim.events.extend([
        event(EventKind::NoResponse, "ss-23-hm", None),
        event(EventKind::Exception, "ss-24-hm", Some(4)),
        event(EventKind::Stale, "ss-20-hm", None),
    ]);
    let templates = templates::builtin().unwrap();
    let opts = ServeOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        speed: Some(0.0),
        start_ms: Some(parse_instant(chrono_tz::Europe::Warsaw, "2026-01-10T00:00").unwrap()),
        // Begin right there (no run-up from the 1st), so the events start at once.
        anchor_ms: Some(parse_instant(chrono_tz::Europe::Warsaw, "2026-01-10T00:00").unwrap()),
        seed: Some(3),
        step_s: Some(60),
    };
    let handle = serve(&settings, &templates, opts).await.unwrap();
    (handle, templates, settings)
}

async fn read(ctx: &mut client::Context, p: &PointDef) -> Vec<u16> {
    let n = decode::word_count(p).unwrap() as u16;
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        match p.register {
            RegisterKind::Input => ctx.read_input_registers(p.address, n).await,
            RegisterKind::Holding => ctx.read_holding_registers(p.address, n).await,
            _ => unreachable!("the dh-sim templates use registers only"),
        }
    })
    .await;
    r.expect("answer")
        .expect("transport")
        .expect("no exception")
}

async fn connect(addr: SocketAddr, unit: u8) -> client::Context {
    tcp::connect_slave(addr, Slave(unit)).await.unwrap()
}

#[tokio::test]
async fn served_registers_decode_to_the_simulated_values() {
    let (h, templates, _) = start().await;
    let silent = ["ss-23-hm", "ss-24-hm", "wx-airport-t"];
    let mut checked = 0;
    for (id, info) in h.devices().clone() {
        if silent.contains(&id.as_str()) {
            continue;
        }
        let t = &templates[&info.template];
        let shown = h.device_values(&id).unwrap();
        let mut ctx = connect(info.addr, info.unit_id).await;
        for p in &t.points {
            let words = read(&mut ctx, p).await;
            let d = decode::decode_point(p, &words).unwrap();
            let s = shown.iter().find(|v| v.name == p.name).unwrap();
            assert_eq!(d.sentinel, s.sentinel, "{id}.{}", p.name);
            if s.sentinel {
                continue;
            }
            // Bit for bit what the simulator shows.
            assert_eq!(
                d.value.to_bits(),
                s.value.to_bits(),
                "{id}.{} {} vs {}",
                p.name,
                d.value,
                s.value
            );
            // And what the physics says, to the register's resolution, for gauges of healthy
            // devices (counters start from the meter's years-old reading).
            if p.quantity.kind() == Kind::Gauge && id != "ss-20-hm" {
                let truth = h.true_value(&info.asset, p.quantity).unwrap();
                let in_unit = truth / convert(p.quantity, p.unit, 1.0).unwrap();
                let tol = (p.scale.abs() * 0.5).max(in_unit.abs() * 1e-6) + 1e-9;
                assert!(
                    (d.value - in_unit).abs() <= tol,
                    "{id}.{}: {} vs {in_unit}",
                    p.name,
                    d.value
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked} points checked");

    // Counters move with the physics: energy registered over 30 simulated minutes.
    let info = h.device("ss-01-hm").unwrap().clone();
    let energy = templates[&info.template]
        .points
        .iter()
        .find(|p| p.quantity == Quantity::HeatEnergy)
        .unwrap();
    let mut ctx = connect(info.addr, info.unit_id).await;
    let before = decode::decode_point(energy, &read(&mut ctx, energy).await)
        .unwrap()
        .value;
    let true_before = h.true_value("ss-01", Quantity::HeatEnergy).unwrap();
    h.advance(30);
    let after = decode::decode_point(energy, &read(&mut ctx, energy).await)
        .unwrap()
        .value;
    let true_after = h.true_value("ss-01", Quantity::HeatEnergy).unwrap();
    let metered_gj = convert(Quantity::HeatEnergy, energy.unit, after - before).unwrap();
    // Whole-kWh register: within 1 kWh = 0.0036 GJ.
    assert!(
        ((true_after - true_before) - metered_gj).abs() <= 0.0036 + 1e-9,
        "{metered_gj}"
    );
    assert!(metered_gj > 0.0);
    h.shutdown().await;
}

#[tokio::test]
async fn protocol_faults_time_out_raise_exceptions_and_freeze() {
    let (h, templates, _) = start().await;
    let p0 = |info: &heatkpi::sim::DeviceInfo| templates[&info.template].points[0].clone();

    // A device that does not answer: the request times out.
    let info = h.device("ss-23-hm").unwrap().clone();
    let mut ctx = connect(info.addr, info.unit_id).await;
    let p = p0(&info);
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        ctx.read_input_registers(p.address, 2),
    )
    .await;
    assert!(r.is_err(), "expected a timeout, got {r:?}");

    // A device answering with exception 4 (server device failure).
    let info = h.device("ss-24-hm").unwrap().clone();
    let mut ctx = connect(info.addr, info.unit_id).await;
    let p = p0(&info);
    let r = ctx.read_holding_registers(p.address, 2).await.unwrap();
    assert_eq!(r, Err(ExceptionCode::ServerDeviceFailure));
    // The demo's own event: the backup weather station answers 11 (gateway target failed).
    let info = h.device("wx-airport-t").unwrap().clone();
    let mut ctx = connect(info.addr, info.unit_id).await;
    let r = ctx.read_input_registers(0, 1).await.unwrap();
    assert_eq!(r, Err(ExceptionCode::GatewayTargetDevice));

    // A unit id nobody has, and an address outside a device's map.
    let any = h.device("ss-01-hm").unwrap().clone();
    let mut ctx = connect(any.addr, 200).await;
    assert_eq!(
        ctx.read_input_registers(0, 1).await.unwrap(),
        Err(ExceptionCode::GatewayTargetDevice)
    );
    let mut ctx = connect(any.addr, any.unit_id).await;
    assert_eq!(
        ctx.read_input_registers(500, 2).await.unwrap(),
        Err(ExceptionCode::IllegalDataAddress)
    );
    assert_eq!(
        ctx.write_single_register(0, 1).await.unwrap(),
        Err(ExceptionCode::IllegalFunction)
    );

    // A stale device keeps its registers while a healthy one moves on.
    let stale = h.device("ss-20-hm").unwrap().clone();
    let mut s_ctx = connect(stale.addr, stale.unit_id).await;
    let mut ok_ctx = connect(any.addr, any.unit_id).await;
    let s_before = s_ctx.read_input_registers(0, 12).await.unwrap().unwrap();
    let ok_before = ok_ctx.read_input_registers(0, 12).await.unwrap().unwrap();
    h.advance(15);
    assert_eq!(
        s_ctx.read_input_registers(0, 12).await.unwrap().unwrap(),
        s_before
    );
    assert_ne!(
        ok_ctx.read_input_registers(0, 12).await.unwrap().unwrap(),
        ok_before
    );
    assert_eq!(
        h.sim_time(),
        parse_instant(chrono_tz::Europe::Warsaw, "2026-01-10T00:15").unwrap()
    );

    let kinds: Vec<String> = h.events().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["exception", "no_response", "exception", "stale"]);
    h.shutdown().await;
}

#[tokio::test]
async fn the_clock_runs_at_the_given_speed() {
    // 3600 simulated seconds per wall second with 60 s steps: a step every ~17 ms of wall time.
    let settings = demo_settings().unwrap();
    let templates = templates::builtin().unwrap();
    let start = parse_instant(chrono_tz::Europe::Warsaw, "2026-01-10T00:00").unwrap();
    let opts = ServeOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        speed: Some(3600.0),
        start_ms: Some(start),
        anchor_ms: Some(start),
        seed: Some(3),
        step_s: Some(60),
    };
    let h = serve(&settings, &templates, opts).await.unwrap();
    // Wait (bounded) until the simulation has moved on; no assertion on how long it took.
    let mut moved = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if h.sim_time() >= start + 5 * 60_000 {
            moved = true;
            break;
        }
    }
    assert!(moved, "simulated time still at {}", h.sim_time());
    assert_eq!(
        (h.sim_time() - start) % 60_000,
        0,
        "time moves in whole steps"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn live_serving_continues_the_written_history() {
    // What `heatkpi demo` does: write the month's history up to midnight, then serve live. The
    // live registers must continue the history (a drop would read as a meter replacement).
    use heatkpi::sim::{HistoryOptions, VecSink, history};
    let settings = demo_settings().unwrap();
    let templates = templates::builtin().unwrap();
    let mut sink = VecSink::default();
    let mut o = HistoryOptions::month(2026, 1);
    o.days = Some(2);
    history(&settings, &mut sink, &o).unwrap();
    let last = parse_instant(chrono_tz::Europe::Warsaw, "2026-01-02T23:59").unwrap();
    let opts = ServeOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        speed: Some(0.0),
        start_ms: Some(last),
        ..Default::default()
    };
    let h = serve(&settings, &templates, opts).await.unwrap();
    assert_eq!(h.sim_time(), last);
    let mut compared = 0;
    for (id, info) in h.devices() {
        if h.events()
            .iter()
            .any(|e| e.assets.contains(&info.asset) && e.start_ms <= last)
        {
            continue;
        }
        for v in h.device_values(id).unwrap() {
            let written = sink
                .readings
                .iter()
                .rev()
                .find(|r| {
                    r.ts == last && r.series.asset == info.asset && r.series.quantity == v.quantity
                })
                .unwrap_or_else(|| panic!("{id} {} not written at {last}", v.name));
            if !v.sentinel {
                assert_eq!(
                    written.value.to_bits(),
                    v.value.to_bits(),
                    "{id}.{}",
                    v.name
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 200, "{compared}");
    h.shutdown().await;
}
