//! The Modbus collection agent: register maps (templates), request planning, polling.

pub mod lateness;
pub mod plan;
pub mod point;
pub mod poll;

use crate::config::modbus::{Device, Template};
use crate::ingest::SeriesRules;
use crate::model::SeriesKey;
use crate::model::quantity::convert;
use std::collections::BTreeMap;

/// The ingest rules (register modulus, plausibility limits) of every series the devices feed,
/// converted from the points' declared units to canonical units.
pub fn series_rules(
    devices: &[Device],
    templates: &BTreeMap<String, Template>,
) -> Vec<(SeriesKey, SeriesRules)> {
    let mut out = Vec::new();
    for d in devices {
        let Some(t) = templates.get(&d.template) else {
            continue;
        };
        for p in &t.points {
            let to_canonical = |v: f64| convert(p.quantity, p.unit, v).ok();
            let modulus = crate::collect::decode::modulus_in_unit(p).and_then(to_canonical);
            let limits = (p.min.is_some() || p.max.is_some()).then(|| crate::config::Limits {
                min: p.min.and_then(to_canonical),
                max: p.max.and_then(to_canonical),
            });
            out.push((
                SeriesKey::new(d.asset.clone(), p.quantity),
                SeriesRules { modulus, limits },
            ));
        }
    }
    out
}
