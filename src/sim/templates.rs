//! The simulator's own register maps (`config/templates/dh-sim-*.toml`), compiled in so that a
//! history can be written without a configuration directory. They are the same files the Modbus
//! agent reads for the simulated devices.

use super::SimError;
use crate::config::modbus::Template;
use std::collections::BTreeMap;

/// (name, TOML) of every built-in template.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "dh-sim-heat-meter",
        include_str!("../../config/templates/dh-sim-heat-meter.toml"),
    ),
    (
        "dh-sim-heat-meter-gj",
        include_str!("../../config/templates/dh-sim-heat-meter-gj.toml"),
    ),
    (
        "dh-sim-boiler",
        include_str!("../../config/templates/dh-sim-boiler.toml"),
    ),
    (
        "dh-sim-engine",
        include_str!("../../config/templates/dh-sim-engine.toml"),
    ),
    (
        "dh-sim-cems",
        include_str!("../../config/templates/dh-sim-cems.toml"),
    ),
    (
        "dh-sim-weather",
        include_str!("../../config/templates/dh-sim-weather.toml"),
    ),
    (
        "dh-sim-makeup",
        include_str!("../../config/templates/dh-sim-makeup.toml"),
    ),
];

/// The built-in templates by name.
pub fn builtin() -> Result<BTreeMap<String, Template>, SimError> {
    BUILTIN
        .iter()
        .map(|(name, text)| {
            toml::from_str::<Template>(text)
                .map(|t| (name.to_string(), t))
                .map_err(|e| SimError::Config(format!("built-in template {name}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_templates_parse() {
        let t = super::builtin().unwrap();
        assert_eq!(t.len(), super::BUILTIN.len());
        assert!(t["dh-sim-cems"].points.iter().any(|p| p.name == "co"));
    }
}
