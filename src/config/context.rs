//! What the semantic checks need besides the settings: where each key is (file position or
//! environment variable), which file element each kept element came from, and the index of
//! every asset id with its kind.

use super::doc::{Doc, KeyPath};
use super::hint::suggest;
use super::problem::Problem;
use super::structure::{Origins, RawId};
use super::{MeterKind, Settings};
use std::collections::BTreeMap;

/// Where problems are reported.
pub(crate) struct Ctx<'a> {
    /// The configuration file with positions; `None` for settings built in code.
    pub(crate) doc: Option<&'a Doc<'a>>,
    /// File index of every kept element.
    pub(crate) origins: &'a Origins,
    /// Keys set from the environment (`store.path`) and the variable that set them.
    pub(crate) env: &'a BTreeMap<String, String>,
    /// The templates directory as shown to the operator.
    pub(crate) templates_dir: &'a str,
}

impl Ctx<'_> {
    /// The path of the `i`-th kept element of `section` (`unit` or `modbus.device`), with its
    /// index in the file.
    pub(crate) fn elem(&self, section: &'static str, i: usize) -> KeyPath {
        let index = origin(self.origins, section, i);
        let mut p = KeyPath::root();
        for part in section.split('.') {
            p = p.key(part);
        }
        p.index(index)
    }

    /// A problem at `path`.
    pub(crate) fn problem(
        &self,
        path: &KeyPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Problem {
        let key = path.to_string();
        let below = |outer: &str, inner: &str| {
            inner == outer
                || inner
                    .strip_prefix(outer)
                    .is_some_and(|r| r.starts_with('.'))
        };
        // Set by a variable (or inside a table set by one); else, if the file lacks the key,
        // a variable that sets something inside it (`HEATKPI__INGEST__LIMITS__X__MAX`).
        let in_file = self.doc.is_some_and(|d| d.get(path).is_some());
        let var = self.env.iter().find(|(k, _)| below(k, &key)).or_else(|| {
            (!in_file)
                .then(|| self.env.iter().find(|(k, _)| below(&key, k)))
                .flatten()
        });
        if let Some((_, var)) = var {
            return Problem {
                file: format!("environment variable {var}"),
                line: 0,
                column: 0,
                key,
                message: message.into(),
                hint: hint.into(),
            };
        }
        match self.doc {
            Some(doc) => doc.problem_at(path, message, hint),
            None => Problem {
                file: String::new(),
                line: 0,
                column: 0,
                key,
                message: message.into(),
                hint: hint.into(),
            },
        }
    }

    /// `element (line N)` for hints that point at a second place, the line being that of key
    /// `key` in the element; just the element path when there is no file position.
    pub(crate) fn where_is(&self, element: &KeyPath, key: &str) -> String {
        match self.problem(&element.key(key), "", "") {
            p if p.line > 0 => format!("{element} (line {})", p.line),
            _ => element.to_string(),
        }
    }
}

/// File index of the `i`-th kept element of `section`.
fn origin(origins: &Origins, section: &str, i: usize) -> usize {
    origins
        .get(section)
        .and_then(|o| o.get(i).copied())
        .unwrap_or(i)
}

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssetKind {
    /// `[[source]]`.
    Source,
    /// `[[unit]]`.
    Unit,
    /// `[[stack]]`.
    Stack,
    /// `[[network]]`.
    Network,
    /// `[[substation]]`.
    Substation,
    /// `[[weather]]`.
    Weather,
    /// `[[regulation]]`.
    Regulation,
    /// `[[meter]]`; its kind unless the element itself has problems.
    Meter(Option<MeterKind>),
}

impl AssetKind {
    /// The section name.
    pub(crate) fn section(self) -> &'static str {
        match self {
            AssetKind::Source => "source",
            AssetKind::Unit => "unit",
            AssetKind::Stack => "stack",
            AssetKind::Network => "network",
            AssetKind::Substation => "substation",
            AssetKind::Weather => "weather",
            AssetKind::Regulation => "regulation",
            AssetKind::Meter(_) => "meter",
        }
    }

    /// How an operator calls it.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            AssetKind::Source => "source",
            AssetKind::Unit => "unit",
            AssetKind::Stack => "stack",
            AssetKind::Network => "network",
            AssetKind::Substation => "substation",
            AssetKind::Weather => "weather station",
            AssetKind::Regulation => "regulation table",
            AssetKind::Meter(Some(k)) => meter_noun(k),
            AssetKind::Meter(None) => "meter",
        }
    }
}

/// How an operator calls a meter of kind `k`.
pub(crate) fn meter_noun(k: MeterKind) -> &'static str {
    match k {
        MeterKind::Heat => "heat meter",
        MeterKind::MakeupWater => "make-up water meter",
        MeterKind::Fuel => "fuel meter",
        MeterKind::Electricity => "electricity meter",
        MeterKind::Storage => "heat accumulator",
    }
}

/// The kind's name in the file.
pub(crate) fn meter_kind_name(k: MeterKind) -> &'static str {
    match k {
        MeterKind::Heat => "heat",
        MeterKind::MakeupWater => "makeup_water",
        MeterKind::Fuel => "fuel",
        MeterKind::Electricity => "electricity",
        MeterKind::Storage => "storage",
    }
}

/// What a reference must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// An asset of this kind (for meters: of this meter kind).
    Kind(AssetKind),
    /// Any asset.
    Any,
}

/// Every asset id with its kinds and first definition. A duplicated id keeps the kinds of all
/// its definitions: the duplicate is reported once, and a reference that fits any of them is
/// not reported again as a second, derived problem.
pub(crate) struct AssetIndex {
    by_id: BTreeMap<String, (Vec<AssetKind>, KeyPath)>,
}

impl AssetIndex {
    /// Index `ids`; duplicates are reported (at the second and later definitions).
    pub(crate) fn build(
        settings: &Settings,
        ids: &[RawId],
        ctx: &Ctx<'_>,
        problems: &mut Vec<Problem>,
    ) -> Self {
        let meter_kinds: BTreeMap<usize, MeterKind> = settings
            .meters
            .iter()
            .enumerate()
            .map(|(i, m)| (origin(ctx.origins, "meter", i), m.kind))
            .collect();
        let mut by_id: BTreeMap<String, (Vec<AssetKind>, KeyPath)> = BTreeMap::new();
        let mut devices: BTreeMap<&str, KeyPath> = BTreeMap::new();
        for r in ids {
            let path = KeyPath::root();
            let path = if r.section == super::structure::DEVICE_SECTION {
                path.key("modbus").key("device").index(r.index)
            } else {
                path.key(r.section).index(r.index)
            };
            let kind = match r.section {
                "source" => AssetKind::Source,
                "unit" => AssetKind::Unit,
                "stack" => AssetKind::Stack,
                "network" => AssetKind::Network,
                "substation" => AssetKind::Substation,
                "weather" => AssetKind::Weather,
                "regulation" => AssetKind::Regulation,
                "meter" => AssetKind::Meter(meter_kinds.get(&r.index).copied()),
                _ => {
                    if let Some(first) = devices.get(r.id.as_str()) {
                        problems.push(ctx.problem(
                            &path.key("id"),
                            format!("duplicate device id `{}`", r.id),
                            format!(
                                "already used by {}; give each device its own id",
                                ctx.where_is(first, "id")
                            ),
                        ));
                    } else {
                        devices.insert(&r.id, path);
                    }
                    continue;
                }
            };
            if !crate::model::is_valid_asset_id(&r.id) {
                problems.push(ctx.problem(
                    &path.key("id"),
                    format!("id `{}` cannot be used in series keys", r.id),
                    "use only letters, digits, `-` and `_` (e.g. `ss-042`)",
                ));
            }
            match by_id.get_mut(&r.id) {
                Some((kinds, first)) => {
                    problems.push(ctx.problem(
                        &path.key("id"),
                        format!("duplicate id `{}`", r.id),
                        format!(
                            "already used by {}; ids must be unique across all assets",
                            ctx.where_is(first, "id")
                        ),
                    ));
                    kinds.push(kind);
                }
                None => {
                    by_id.insert(r.id.clone(), (vec![kind], path));
                }
            }
        }
        AssetIndex { by_id }
    }

    /// The kind of `id` (of its first definition), if it is defined.
    pub(crate) fn kind(&self, id: &str) -> Option<AssetKind> {
        self.by_id.get(id).and_then(|(k, _)| k.first().copied())
    }

    /// Check that `id` (written at `path`) names what `want` asks for.
    pub(crate) fn reference(
        &self,
        ctx: &Ctx<'_>,
        path: &KeyPath,
        id: &str,
        want: Want,
        problems: &mut Vec<Problem>,
    ) {
        let fits = |k: AssetKind| match (want, k) {
            (Want::Any, _) => true,
            (Want::Kind(AssetKind::Meter(w)), AssetKind::Meter(have)) => {
                w.is_none() || have.is_none() || w == have
            }
            (Want::Kind(w), k) => w == k,
        };
        let candidates: Vec<&str> = self
            .by_id
            .iter()
            .filter(|(_, (kinds, _))| kinds.iter().any(|k| fits(*k)))
            .map(|(id, _)| id.as_str())
            .collect();
        let (noun, section) = match want {
            Want::Any => ("asset", "an asset section"),
            Want::Kind(k) => (k.noun(), k.section()),
        };
        let none = match want {
            Want::Kind(AssetKind::Meter(Some(k))) => format!(
                "define it as a `[[meter]]` with `kind = \"{}\"`",
                meter_kind_name(k)
            ),
            Want::Any => "define the asset first".to_string(),
            Want::Kind(_) => format!("define it as a `[[{section}]]`"),
        };
        let kinds = self.by_id.get(id).map(|(k, _)| k.as_slice());
        if kinds.is_some_and(|k| k.iter().any(|k| fits(*k))) {
            return;
        }
        match self.kind(id) {
            None => problems.push(ctx.problem(
                path,
                format!("there is no {noun} `{id}`"),
                suggest(
                    id,
                    candidates.iter().copied(),
                    &format!("defined {noun}s"),
                    &none,
                ),
            )),
            Some(k) => {
                let hint = if let (AssetKind::Meter(_), Want::Kind(AssetKind::Meter(Some(w)))) =
                    (k, want)
                {
                    let mut h = format!(
                        "set `kind = \"{}\"` on meter `{id}` if that is what it measures",
                        meter_kind_name(w)
                    );
                    if !candidates.is_empty() {
                        let l = super::hint::list(candidates.iter().copied());
                        h.push_str(&format!(", or name one of: {l}"));
                    }
                    h
                } else if candidates.is_empty() {
                    none
                } else {
                    format!("{noun}s: {}", super::hint::list(candidates.iter().copied()))
                };
                problems.push(ctx.problem(
                    path,
                    format!("`{id}` is {}, not {}", article(k.noun()), article(noun)),
                    hint,
                ));
            }
        }
    }
}

/// "a source", "an asset".
pub(crate) fn article(noun: &str) -> String {
    // Only the nouns used here: "an asset", "an electricity meter", but "a unit".
    let vowel = noun.starts_with(['a', 'e', 'i', 'o']);
    format!("{} {noun}", if vowel { "an" } else { "a" })
}
