//! The simulator's configuration files pass the configuration loader (`heatkpi check-config`),
//! and the simulator runs other configurations too.

use heatkpi::config::load;
use heatkpi::sim::{DEMO_TOML, HashSink, HistoryOptions, demo_settings, history};
use std::path::Path;

#[test]
fn demo_config_passes_the_loader_with_its_templates() {
    let loaded = match load(Path::new("config/demo.toml")) {
        Ok(l) => l,
        Err(e) => panic!("config/demo.toml:\n{e}"),
    };
    // The compiled-in copy is the file.
    assert_eq!(loaded.settings, demo_settings().unwrap());
    assert_eq!(
        DEMO_TOML,
        std::fs::read_to_string("config/demo.toml").unwrap()
    );
    for name in [
        "dh-sim-heat-meter",
        "dh-sim-heat-meter-gj",
        "dh-sim-boiler",
        "dh-sim-engine",
        "dh-sim-cems",
        "dh-sim-weather",
        "dh-sim-makeup",
    ] {
        assert_eq!(
            loaded.templates.get(name),
            heatkpi::sim::templates::builtin().unwrap().get(name),
            "{name}: the built-in copy is the file"
        );
    }
    let sim = loaded.settings.simulator.as_ref().unwrap();
    // Every device on one port, under its unit id, where the agent polls it.
    assert_eq!(sim.listen.as_deref(), Some("127.0.0.1:5020"));
    let devices = &loaded.settings.modbus.devices;
    assert!(devices.iter().all(|d| d.address == "127.0.0.1:5020"));
}

#[test]
fn the_annotated_example_runs_in_the_simulator() {
    // Two networks, other templates and no [simulator] section: the simulator adapts.
    let loaded = match load(Path::new("config/example.toml")) {
        Ok(l) => l,
        Err(e) => panic!("config/example.toml:\n{e}"),
    };
    let mut o = HistoryOptions::month(2026, 2);
    o.days = Some(1);
    o.templates = Some(loaded.templates.clone());
    let mut sink = HashSink::default();
    let r = history(&loaded.settings, &mut sink, &o).unwrap();
    assert!(r.readings > 0 && r.series > 0);
    for n in &r.truth.months[0].networks {
        assert!(
            n.balance_residual_gj.abs() < 1e-6 * n.heat_in_gj.max(1.0),
            "{n:?}"
        );
    }
}

#[test]
fn demo_mqtt_is_the_demo_plus_the_amr_gateway() {
    let demo = std::fs::read_to_string("config/demo.toml").unwrap();
    let mqtt = std::fs::read_to_string("config/demo-mqtt.toml").unwrap();
    // One utility, two ways to collect it: the file may only add the gateway section.
    assert!(
        mqtt.starts_with(&demo),
        "config/demo-mqtt.toml must be config/demo.toml followed by the [simulator.mqtt] section"
    );
    let loaded = match load(Path::new("config/demo-mqtt.toml")) {
        Ok(l) => l,
        Err(e) => panic!("config/demo-mqtt.toml:\n{e}"),
    };
    let mut settings = loaded.settings.clone();
    let gw = settings.simulator.as_mut().unwrap().mqtt.take().unwrap();
    assert_eq!(settings, demo_settings().unwrap());
    let amr: Vec<&str> = loaded
        .settings
        .substations
        .iter()
        .map(|s| s.id.as_str())
        .filter(|id| gw.selects(id))
        .collect();
    assert_eq!(amr.len(), 15, "ss-10 … ss-24 over MQTT: {amr:?}");
    assert_eq!((gw.host.as_str(), gw.broker().port()), ("127.0.0.1", 1883));
}

#[test]
fn bad_gateway_settings_are_reported_with_their_lines() {
    let text = std::fs::read_to_string("config/demo-mqtt.toml")
        .unwrap()
        .replace("interval_s = 300", "interval_s = 90")
        .replace("qos = 1", "qos = 2")
        .replace("[\"ss-1*\", \"ss-2*\"]", "[\"ss-1*\", \"ss-9*\"]")
        .replace(
            "topic_prefix = \"heatkpi-sim/amr\"",
            "topic_prefix = \"amr/#\"",
        )
        + "hots = \"x\"\n";
    let line = |needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    let e = heatkpi::config::load_str(&text, "bad.toml", Path::new("config"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    for (key, starts, says) in [
        (
            "interval_s",
            "interval_s",
            "90 s is not a whole number of simulator steps (step_s = 60)",
        ),
        ("qos", "qos", "QoS 2 is not offered"),
        (
            "substations[1]",
            "substations",
            "`ss-9*` matches no [[substation]]",
        ),
        (
            "topic_prefix",
            "topic_prefix",
            "`amr/#` is not a plain topic prefix",
        ),
        ("hots", "hots", "unknown key `hots`; did you mean `host`?"),
    ] {
        let at = format!("bad.toml:{}:", line(starts));
        let shown = e
            .lines()
            .find(|l| l.contains(&format!("simulator.mqtt.{key}:")))
            .unwrap_or_else(|| panic!("no problem for {key} in:\n{e}"));
        assert!(shown.starts_with(&at) && shown.contains(says), "{shown}");
    }
}
