//! The structural pass: every top-level section and every `[[array]]` element of the file is
//! deserialized on its own, so one bad element does not hide the problems of the others.
//! What deserializes is assembled into a (possibly partial) [`Settings`] for the semantic
//! checks; every `id` written in the file is collected, including ids of elements that failed,
//! so a reference to them is not reported as dangling.

use super::doc::{Doc, KeyPath, str_field, without_arrays};
use super::hint::suggest;
use super::kpi::KpiConfig;
use super::modbus::{Device, ModbusConfig};
use super::problem::Problem;
use super::sim::SimulatorConfig;
use super::{IngestConfig, Settings, Site, StoreConfig};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use toml::Spanned;
use toml::de::DeValue;

/// Top-level keys of the configuration file (the serde names of [`Settings`]' fields).
pub(crate) const SECTIONS: &[&str] = &[
    "site",
    "store",
    "ingest",
    "source",
    "unit",
    "stack",
    "network",
    "substation",
    "weather",
    "regulation",
    "threshold",
    "meter",
    "modbus",
    "mqtt",
    "kpi",
    "simulator",
];

/// Sections whose elements carry an asset id (one namespace across all of them).
pub(crate) const ASSET_SECTIONS: &[&str] = &[
    "source",
    "unit",
    "stack",
    "network",
    "substation",
    "weather",
    "regulation",
    "meter",
];

/// Array sections: `modbus.device` and the asset and threshold arrays.
pub(crate) const DEVICE_SECTION: &str = "modbus.device";

/// An id as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawId {
    /// The id.
    pub(crate) id: String,
    /// The section (`source`, …, or `modbus.device`).
    pub(crate) section: &'static str,
    /// Index of the element in that section of the file.
    pub(crate) index: usize,
    /// Byte offset of the id in the file (0 for settings built in code), so that of two
    /// equal ids the later one in the file is reported.
    pub(crate) offset: usize,
}

/// Where each deserialized element came from: `origins[section][i]` is the file index of the
/// `i`-th element kept in [`Settings`].
pub(crate) type Origins = BTreeMap<&'static str, Vec<usize>>;

/// The result of the structural pass.
pub(crate) struct Structure {
    /// Settings assembled from everything that deserialized.
    pub(crate) settings: Settings,
    /// File indices of the kept elements.
    pub(crate) origins: Origins,
    /// Every asset and device id in the file.
    pub(crate) ids: Vec<RawId>,
}

/// Deserialize each element of the array at `path`.
fn elements<T: DeserializeOwned>(
    doc: &Doc<'_>,
    path: &KeyPath,
    value: &Spanned<DeValue<'_>>,
    problems: &mut Vec<Problem>,
) -> (Vec<T>, Vec<usize>) {
    let name = path.to_string();
    let DeValue::Array(items) = value.get_ref() else {
        problems.push(doc.problem(
            Some(value.span()),
            path,
            format!("`{name}` is a list"),
            format!("write each entry as its own `[[{name}]]` table"),
        ));
        return (Vec::new(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut origin = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = path.index(i);
        if !matches!(item.get_ref(), DeValue::Table(_)) {
            problems.push(doc.problem(
                Some(item.span()),
                &p,
                "expected a table",
                format!("write each entry as its own `[[{name}]]` table"),
            ));
            continue;
        }
        if let Some(t) = doc.deserialize::<T>(&p, item, problems) {
            kept.push(t);
            origin.push(i);
        }
    }
    (kept, origin)
}

/// Every `id` string of the elements of an array value.
fn raw_ids(value: &DeValue<'_>, section: &'static str, out: &mut Vec<RawId>) {
    if let DeValue::Array(items) = value {
        for (index, item) in items.iter().enumerate() {
            if let Some((id, span)) = str_field(item.get_ref(), "id") {
                out.push(RawId {
                    id: id.to_string(),
                    section,
                    index,
                    offset: span.start,
                });
            }
        }
    }
}

/// Run the structural pass over the configuration file.
pub(crate) fn check(doc: &Doc<'_>, problems: &mut Vec<Problem>) -> Structure {
    let mut s = Settings::default();
    let mut origins = Origins::new();
    let mut ids = Vec::new();
    let root = KeyPath::root();
    for (key, value) in doc.root.get_ref().iter() {
        let name = key.get_ref().as_ref();
        let path = root.key(name);
        macro_rules! table {
            ($field:expr, $ty:ty) => {
                if let Some(v) = doc.deserialize::<$ty>(&path, value, problems) {
                    $field = v;
                }
            };
        }
        macro_rules! array {
            ($field:expr, $section:literal) => {{
                let (v, o) = elements(doc, &path, value, problems);
                $field = v;
                origins.insert($section, o);
                if ASSET_SECTIONS.contains(&$section) {
                    raw_ids(value.get_ref(), $section, &mut ids);
                }
            }};
        }
        match name {
            "site" => table!(s.site, Site),
            "store" => table!(s.store, StoreConfig),
            "ingest" => table!(s.ingest, IngestConfig),
            "kpi" => table!(s.kpi, KpiConfig),
            "simulator" => {
                s.simulator = doc.deserialize::<SimulatorConfig>(&path, value, problems);
            }
            "modbus" => {
                let shell = without_arrays(value, &["device"]);
                if let Some(m) = doc.deserialize::<ModbusConfig>(&path, &shell, problems) {
                    s.modbus.templates_dir = m.templates_dir;
                }
                if let DeValue::Table(t) = value.get_ref()
                    && let Some(devices) = t.get("device")
                {
                    let (v, o) = elements::<Device>(doc, &path.key("device"), devices, problems);
                    s.modbus.devices = v;
                    origins.insert(DEVICE_SECTION, o);
                    raw_ids(devices.get_ref(), DEVICE_SECTION, &mut ids);
                }
            }
            "mqtt" => table!(s.mqtt, super::mqtt::MqttConfig),
            "source" => array!(s.sources, "source"),
            "unit" => array!(s.units, "unit"),
            "stack" => array!(s.stacks, "stack"),
            "network" => array!(s.networks, "network"),
            "substation" => array!(s.substations, "substation"),
            "weather" => array!(s.weather, "weather"),
            "regulation" => array!(s.regulations, "regulation"),
            "threshold" => array!(s.thresholds, "threshold"),
            "meter" => array!(s.meters, "meter"),
            _ => problems.push(doc.problem(
                Some(key.span()),
                &path,
                format!("unknown section `{name}`"),
                suggest(name, SECTIONS.iter().copied(), "accepted sections", ""),
            )),
        }
    }
    ids.sort_by_key(|r| r.offset);
    Structure {
        settings: s,
        origins,
        ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_match_the_settings_struct() {
        // serde lists the accepted keys of `Settings` when it meets an unknown one.
        let e = toml::from_str::<Settings>("zzz = 1").unwrap_err();
        let msg = e.message();
        let listed: Vec<&str> = msg.split('`').skip(3).step_by(2).collect();
        assert_eq!(listed, SECTIONS, "{msg}");
    }

    #[test]
    fn bad_elements_do_not_hide_good_ones() {
        let text = r#"
[[weather]]
id = "wx-1"

[[weather]]
id = "wx-2"
name = 5

[[weather]]
id = "wx-3"
nmae = "only a typo: kept, so its references are still checked"

[sitee]
name = "x"
"#;
        let doc = Doc::parse(text, "t.toml").unwrap();
        let mut problems = Vec::new();
        let st = check(&doc, &mut problems);
        let ids: Vec<&str> = st.settings.weather.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["wx-1", "wx-3"]);
        assert_eq!(st.origins["weather"], [0, 2]);
        assert_eq!(st.ids.len(), 3);
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "t.toml:13:2: sitee: unknown section `sitee`; did you mean `site`?",
                "t.toml:7:8: weather[1].name: invalid type: integer `5`; expected a string",
                "t.toml:11:1: weather[2].nmae: unknown key `nmae`; did you mean `name`?",
            ]
        );
    }
}
