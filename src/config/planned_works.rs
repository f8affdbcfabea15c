//! The planned-works register: planned works, force-majeure events, customer-side faults and
//! customer requests to stop supply, a TOML file beside the configuration
//! (`[kpi.availability] planned_works`, domain.md §6.1–§6.2).
//!
//! It is read again at every evaluation, so `heatkpi planned-works add` takes effect in a
//! running `heatkpi run` at the next tick:
//!
//! ```toml
//! [[work]]
//! id = "pw-2026-004"
//! branch = "b3"                          # or `substations = ["ss-03"]`, or `network = "net-city"`
//! start = "2026-01-18T08:00"             # local time, or RFC 3339 with an offset
//! end = "2026-01-18T18:00"
//! notified_at = "2026-01-10T08:00"       # when customers were told
//! reason = "valve replacement on DN200"
//! kind = "works"                         # works | external | customer_side | customer_request
//! ```

use super::doc::{Doc, KeyPath};
use super::problem::Problem;
use crate::model::TimestampMs;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a register entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// Planned works of the utility: a matching interruption is "planned" (with the required
    /// notice) or "planned, late notice".
    Works,
    /// Force majeure, e.g. a power blackout: a matching interruption is "external".
    External,
    /// A fault in the customer's installation: a matching interruption is "customer-side".
    CustomerSide,
    /// The customer asked to stop supply: the window is "not requested", not an interruption.
    CustomerRequest,
}

impl WorkKind {
    /// The name written in the register.
    pub fn name(self) -> &'static str {
        match self {
            WorkKind::Works => "works",
            WorkKind::External => "external",
            WorkKind::CustomerSide => "customer_side",
            WorkKind::CustomerRequest => "customer_request",
        }
    }
}

/// One entry as written in the register file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkEntry {
    /// Stable id, e.g. `pw-2026-004`.
    pub id: String,
    /// Substations concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substations: Vec<String>,
    /// A branch: every substation on it (`b3`, or `net-city/b3` when branch names repeat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// A whole network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Start: local time (`2026-07-06T06:00`) or RFC 3339 with an offset.
    #[serde(deserialize_with = "text::deserialize")]
    pub start: String,
    /// End (exclusive), written as `start`.
    #[serde(deserialize_with = "text::deserialize")]
    pub end: String,
    /// When customers were told (planned works) or when the customer asked (requests).
    #[serde(
        default,
        deserialize_with = "text::deserialize_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub notified_at: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// What it records.
    pub kind: WorkKind,
}

/// A register entry resolved to substations and UTC times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedWork {
    /// Id.
    pub id: String,
    /// Substation ids it covers.
    pub substations: Vec<String>,
    /// Start, UTC ms.
    pub start: TimestampMs,
    /// End (exclusive), UTC ms.
    pub end: TimestampMs,
    /// Notice or request time, UTC ms.
    pub notified_at: Option<TimestampMs>,
    /// Why.
    pub reason: String,
    /// What it records.
    pub kind: WorkKind,
    /// Line of the entry in the register file.
    pub line: usize,
}

impl PlannedWork {
    /// Whether it covers substation `id` and overlaps `[start, end)`.
    pub fn matches(&self, id: &str, start: TimestampMs, end: TimestampMs) -> bool {
        self.start < end && start < self.end && self.substations.iter().any(|s| s == id)
    }
}

/// The register as read: its entries and the problems of the bad ones (skipped).
#[derive(Debug, Clone, Default)]
pub struct Register {
    /// The file read (as shown in problems).
    pub file: String,
    /// Whether the file exists.
    pub exists: bool,
    /// Good entries.
    pub works: Vec<PlannedWork>,
    /// Bad entries, each with file:line.
    pub problems: Vec<Problem>,
}

/// Read the register of `settings` (a missing file is an empty register).
pub fn load_register(settings: &super::Settings) -> Register {
    let path = settings.kpi.availability.register_path();
    read_register(&path, settings)
}

/// Read the register file at `path`.
pub fn read_register(path: &Path, settings: &super::Settings) -> Register {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut r = parse_register(&text, &file, settings);
            r.exists = true;
            r
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Register {
            file,
            ..Default::default()
        },
        Err(e) => Register {
            problems: vec![Problem {
                file: file.clone(),
                line: 0,
                column: 0,
                key: String::new(),
                message: format!("cannot read the planned-works register: {e}"),
                hint: "check the file's permissions".into(),
            }],
            file,
            exists: true,
            works: Vec::new(),
        },
    }
}

/// Parse register text; `file` names it in problems.
pub fn parse_register(text: &str, file: &str, settings: &super::Settings) -> Register {
    let mut reg = Register {
        file: file.to_string(),
        exists: true,
        ..Default::default()
    };
    let doc = match Doc::parse(text, file) {
        Ok(d) => d,
        Err(p) => {
            reg.problems.push(p);
            return reg;
        }
    };
    let tz = settings.timezone();
    for (key, _) in doc.root.get_ref().iter() {
        if key.get_ref() != "work" {
            let p = KeyPath::root().key(key.get_ref());
            reg.problems.push(doc.problem_at(
                &p,
                format!("unknown key `{}`", key.get_ref()),
                "the register holds only `[[work]]` entries",
            ));
        }
    }
    let Some(list) = doc.get(&KeyPath::root().key("work")) else {
        return reg;
    };
    let toml::de::DeValue::Array(items) = list.get_ref() else {
        reg.problems.push(doc.problem_at(
            &KeyPath::root().key("work"),
            "`work` must be an array of tables",
            "write each entry under its own `[[work]]` header",
        ));
        return reg;
    };
    let mut seen = std::collections::BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = KeyPath::root().key("work").index(i);
        let line = doc.problem_at(&path, "", "").line;
        let Some(e) = doc.deserialize::<WorkEntry>(&path, item, &mut reg.problems) else {
            continue;
        };
        let mut bad = |key: &str, msg: String, hint: &str| {
            reg.problems
                .push(doc.problem_at(&path.key(key), msg, hint.to_string()));
        };
        let time = |s: &str| crate::model::time::parse_instant(tz, s);
        let start = time(&e.start)
            .map_err(|m| bad("start", m, "write a local time such as 2026-07-06T06:00"));
        let end =
            time(&e.end).map_err(|m| bad("end", m, "write a local time such as 2026-07-09T06:00"));
        let notified = match e.notified_at.as_deref().map(time).transpose() {
            Ok(n) => Some(n),
            Err(m) => {
                bad(
                    "notified_at",
                    m,
                    "write when customers were told, e.g. 2026-06-20T10:00",
                );
                None
            }
        };
        let subs = resolve_scope(&e, settings).map_err(|m| {
            bad(
                "substations",
                m,
                "name configured substations, a branch (`b3` or `net-city/b3`) or a network",
            )
        });
        if !seen.insert(e.id.clone()) {
            bad(
                "id",
                format!("id `{}` is used twice", e.id),
                "give every entry its own id",
            );
            continue;
        }
        let (Ok(start), Ok(end), Some(notified_at), Ok(substations)) = (start, end, notified, subs)
        else {
            continue;
        };
        if end <= start {
            bad(
                "end",
                "end is not after start".into(),
                "the end is exclusive; swap the times or fix the date",
            );
            continue;
        }
        if e.kind == WorkKind::Works && notified_at.is_none() {
            bad(
                "notified_at",
                "planned works need the time customers were told".into(),
                "add notified_at; without it the 7-day notice cannot be checked",
            );
            continue;
        }
        reg.works.push(PlannedWork {
            id: e.id,
            substations,
            start,
            end,
            notified_at,
            reason: e.reason,
            kind: e.kind,
            line,
        });
    }
    reg
}

/// The substations an entry covers.
fn resolve_scope(e: &WorkEntry, s: &super::Settings) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for id in &e.substations {
        if !s.substations.iter().any(|x| &x.id == id) {
            return Err(format!("no substation `{id}` is configured"));
        }
        out.push(id.clone());
    }
    if let Some(b) = &e.branch {
        let (net, name) = match b.split_once('/') {
            Some((n, b)) => (Some(n), b),
            None => (None, b.as_str()),
        };
        let on: Vec<String> = s
            .substations
            .iter()
            .filter(|x| x.branch.as_deref() == Some(name) && net.is_none_or(|n| x.network == n))
            .map(|x| x.id.clone())
            .collect();
        if on.is_empty() {
            return Err(format!("no substation is on branch `{b}`"));
        }
        out.extend(on);
    }
    if let Some(n) = &e.network {
        if !s.networks.iter().any(|x| &x.id == n) {
            return Err(format!("no network `{n}` is configured"));
        }
        out.extend(
            s.substations
                .iter()
                .filter(|x| &x.network == n)
                .map(|x| x.id.clone()),
        );
    }
    if out.is_empty() {
        return Err("the entry names no substation, branch or network".into());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Times in the register: a TOML date-time (which the toml deserializer hands over as a
/// one-entry map) or a string.
mod text {
    use serde::Deserializer;
    use serde::de::{self, MapAccess, Visitor};
    use std::fmt;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        d.deserialize_any(V)
    }

    pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(V).map(Some)
    }

    struct V;

    impl<'de> Visitor<'de> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a time such as 2026-07-06T06:00")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
            Ok(s.to_string())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
            let Some((_, text)) = map.next_entry::<String, String>()? else {
                return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
            };
            Ok(text)
        }
    }
}

/// Append `entry` to the register file at `path` (created if missing), after checking that
/// the file with it still parses without problems.
pub fn append_entry(
    path: &Path,
    entry: &WorkEntry,
    settings: &super::Settings,
) -> Result<PlannedWork, Vec<Problem>> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut t = toml::Table::new();
    t.insert(
        "work".into(),
        toml::Value::Array(vec![
            toml::Value::try_from(entry).unwrap_or(toml::Value::Table(Default::default())),
        ]),
    );
    let piece = toml::to_string(&t).unwrap_or_default();
    let mut text = old.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&piece);
    let file = path.display().to_string();
    let reg = parse_register(&text, &file, settings);
    let before = parse_register(&old, &file, settings).problems.len();
    if reg.problems.len() > before || reg.works.iter().all(|w| w.id != entry.id) {
        let mut p: Vec<Problem> = reg.problems.into_iter().skip(before).collect();
        if p.is_empty() {
            p.push(Problem {
                file,
                line: 0,
                column: 0,
                key: "work".into(),
                message: format!("entry `{}` was not accepted", entry.id),
                hint: "check the fields given".into(),
            });
        }
        return Err(p);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(path, text).map_err(|e| {
        vec![Problem {
            file: file.clone(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot write the register: {e}"),
            hint: "check the directory's permissions".into(),
        }]
    })?;
    Ok(reg
        .works
        .into_iter()
        .find(|w| w.id == entry.id)
        .expect("checked above"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> super::super::Settings {
        toml::from_str(
            r#"
            [[network]]
            id = "n"
            water_volume_m3 = 1.0
            length_km = 1.0
            regulation = "c"
            weather = "w"
            [[substation]]
            id = "ss-1"
            network = "n"
            branch = "b1"
            ordered_capacity_mw = 0.5
            heated_area_m2 = 1000
            design_delta_t_k = 50
            [[substation]]
            id = "ss-2"
            network = "n"
            branch = "b2"
            ordered_capacity_mw = 0.5
            heated_area_m2 = 1000
            design_delta_t_k = 50
            "#,
        )
        .unwrap()
    }

    #[test]
    fn register_entries_resolve_and_bad_ones_are_reported_with_their_line() {
        let text = r#"[[work]]
id = "pw-1"
branch = "b1"
start = 2026-01-18T08:00:00+01:00
end = "2026-01-18T18:00"
notified_at = "2026-01-10T08:00"
kind = "works"

[[work]]
id = "pw-2"
substations = ["ss-9"]
start = "2026-01-18T08:00"
end = "2026-01-18T07:00"
kind = "works"

[[work]]
id = "pw-3"
network = "n"
start = "2026-01-20"
end = "2026-01-19"
kind = "external"
"#;
        let r = parse_register(text, "pw.toml", &settings());
        assert_eq!(r.works.len(), 1);
        let w = &r.works[0];
        assert_eq!(w.substations, vec!["ss-1"]);
        assert_eq!(w.line, 1);
        // 08:00 CET = 07:00 UTC on 18 January 2026.
        assert_eq!(
            crate::model::time::utc(w.start).to_rfc3339(),
            "2026-01-18T07:00:00+00:00"
        );
        let msgs: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].starts_with("pw.toml:11:"), "{msgs:?}");
        assert!(msgs[0].contains("no substation `ss-9`"), "{msgs:?}");
        assert!(msgs[1].starts_with("pw.toml:20:"), "{msgs:?}");
        assert!(msgs[1].contains("end is not after start"), "{msgs:?}");
    }

    #[test]
    fn appended_entries_parse_back_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw.toml");
        let s = settings();
        let entry = WorkEntry {
            id: "pw-9".into(),
            substations: vec!["ss-2".into()],
            branch: None,
            network: None,
            start: "2026-07-06T06:00".into(),
            end: "2026-07-09T06:00".into(),
            notified_at: Some("2026-06-20T10:00".into()),
            reason: "summer maintenance".into(),
            kind: WorkKind::Works,
        };
        let w = append_entry(&path, &entry, &s).unwrap();
        assert_eq!(w.end - w.start, 72 * 3_600_000);
        let mut again = entry.clone();
        again.id = "pw-10".into();
        append_entry(&path, &again, &s).unwrap();
        assert_eq!(read_register(&path, &s).works.len(), 2);
        let mut dup = entry;
        dup.branch = Some("b7".into());
        dup.id = "pw-11".into();
        let e = append_entry(&path, &dup, &s).unwrap_err();
        assert!(e[0].message.contains("branch `b7`"), "{e:?}");
        assert_eq!(read_register(&path, &s).works.len(), 2);
    }
}
