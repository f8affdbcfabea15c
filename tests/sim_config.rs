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
