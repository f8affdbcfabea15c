//! The telegrams read back through the MQTT agent's own decoder with the mapping the demo
//! uses (`sim::mqtt::collector`): every reading equals what the meter shows, converted as a
//! Modbus poll of the same meter would be, at the same instant. No broker needed.

use crate::collect::mqtt::payload::Router;
use crate::config::sim::EventConfig;
use crate::config::sim::EventKind;
use crate::config::sim_mqtt::SimMqttConfig;
use crate::model::quantity::convert;
use crate::model::time::parse_instant;
use crate::model::{Quality, Quantity};
use crate::sim::engine::{SimSetup, Simulation};
use crate::sim::{demo_settings, templates};

fn event(kind: EventKind, target: &str) -> EventConfig {
    EventConfig::new(kind, target, "+0d00:00", None)
}

fn gateway() -> SimMqttConfig {
    toml::from_str(
        r#"
        host = "127.0.0.1"
        topic_prefix = "t/amr"
        interval_s = 300
        substations = ["ss-01", "ss-03", "ss-05", "ss-06"]
        "#,
    )
    .unwrap()
}

/// The demo utility on 10 January 2026 with ss-05's sensors swapped and ss-06 not answering.
fn simulation() -> Simulation {
    let mut settings = demo_settings().unwrap();
    let sim = settings.simulator.as_mut().unwrap();
    sim.default_scenario = false;
    sim.events = vec![
        event(EventKind::SwappedSensors, "ss-05-hm"),
        event(EventKind::NoResponse, "ss-06-hm"),
    ];
    sim.mqtt = Some(gateway());
    let start = parse_instant(chrono_tz::Europe::Warsaw, "2026-01-10T00:00").unwrap();
    let setup = SimSetup {
        seed: 5,
        step_s: 60,
        start_ms: start,
        substations: None,
        synthesize: false,
        amr_meters: true,
        months: 1,
    };
    let mut s = Simulation::new(&settings, &templates::builtin().unwrap(), &setup).unwrap();
    s.advance();
    s
}

#[test]
fn the_shipped_mapping_reads_every_telegram_as_the_meter_shows_it() {
    let sim = simulation();
    let g = gateway();
    let meters = crate::sim::mqtt::meters(&sim, &g);
    let names: Vec<&str> = meters.iter().map(|m| m.asset.as_str()).collect();
    assert_eq!(names, ["ss-01", "ss-03", "ss-05", "ss-06"]);
    let (_, sub) = crate::sim::mqtt::collector(&g, "test", None).unwrap();
    let router = Router::new([&sub]).unwrap();
    // ss-01 counts MWh in input registers, ss-03 GJ and litres in holding registers.
    for m in &meters[..3] {
        let d = &sim.devices.iter().find(|d| d.id == m.device).unwrap();
        let payload = super::telegram(d, &m.asset, "12345678", sim.ts);
        let decoded = router.decode(&m.topic, &payload, 0);
        assert!(decoded.rejects.is_empty(), "{:?}", decoded.rejects);
        let mut seen = 0;
        for p in d.points.iter().filter(|p| p.supported && !p.sentinel) {
            let q = p.def.quantity;
            let Some(r) = decoded.readings.iter().find(|r| r.series.quantity == q) else {
                // Δp and the status word are not readings of a wmbusmeters telegram.
                assert!(matches!(q, Quantity::DiffPressure | Quantity::DeviceStatus));
                continue;
            };
            assert_eq!(r.series.asset, m.asset);
            assert_eq!(r.ts, sim.ts, "the reading instant, not the receive time");
            let want = convert(q, p.def.unit, p.value).unwrap();
            let got = convert(q, r.unit, r.value).unwrap();
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{} {q}: telegram {got}, meter {want}",
                m.asset
            );
            seen += 1;
        }
        assert_eq!(seen, 6, "energy, volume, flow, power, supply and return");
        let want_quality = if m.asset == "ss-05" {
            // Swapped sensors: the meter flags a negative Δθ, the preset marks it suspect.
            Quality::Suspect
        } else {
            Quality::Good
        };
        assert!(decoded.readings.iter().all(|r| r.quality == want_quality));
    }
    let swapped = &sim.devices.iter().find(|d| d.id == "ss-05-hm").unwrap();
    let text = String::from_utf8(super::telegram(swapped, "ss-05", "1", sim.ts)).unwrap();
    assert!(
        text.contains("\"current_status\":\"NEGATIVE_TEMPERATURE_DIFFERENCE\""),
        "{text}"
    );
    let silent = &sim.devices.iter().find(|d| d.id == "ss-06-hm").unwrap();
    assert!(
        !silent.answering(),
        "a meter that does not answer sends nothing"
    );
}

#[test]
fn a_telegram_has_the_wmbusmeters_shape() {
    let sim = simulation();
    let d = &sim.devices.iter().find(|d| d.id == "ss-03-hm").unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&super::telegram(d, "ss-03", "00012345", 1_768_024_800_000))
            .unwrap();
    assert_eq!(v["_"], "telegram");
    assert_eq!(v["media"], "heat");
    assert_eq!(v["name"], "ss-03");
    assert_eq!(v["id"], "00012345");
    assert_eq!(v["timestamp"], "2026-01-10T06:00:00Z");
    assert_eq!(v["current_status"], "OK");
    // The GJ meter keeps its own energy unit.
    assert!(v["total_energy_consumption_gj"].as_f64().unwrap() > 0.0);
    assert!(v.get("total_energy_consumption_mwh").is_none());
    for k in [
        "total_volume_m3",
        "volume_flow_m3h",
        "power_kw",
        "flow_temperature_c",
        "return_temperature_c",
    ] {
        assert!(v[k].is_number(), "{k} in {v}");
    }
}
