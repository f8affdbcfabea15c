//! Loading: the configuration file, `HEATKPI__SECTION__KEY` environment overrides merged in by
//! the `config` crate, and the Modbus templates beside the file; every problem of all three in
//! one run.
//!
//! The `config` crate merges but reports only the first error and no line numbers, so the file
//! is first checked on its own with spans (`structure`, then `semantic` and `modbus_check`), and
//! the merge is only trusted once the file itself is sound.

use super::context::Ctx;
use super::doc::Doc;
use super::hint::classify;
use super::modbus::Template;
use super::modbus_check::{check_devices, load_templates};
use super::problem::{ConfigErrors, Problem};
use super::structure::{self, DEVICE_SECTION, Origins, RawId};
use super::{Settings, semantic};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Prefix of environment overrides: `HEATKPI__STORE__PATH=/var/lib/heatkpi/heatkpi.db` sets
/// `path` in `[store]`.
pub const ENV_PREFIX: &str = "HEATKPI";

/// Separator between prefix, section and key in environment overrides.
pub const ENV_SEPARATOR: &str = "__";

/// A configuration that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The settings, with environment overrides applied.
    pub settings: Settings,
    /// The configuration file (for [`load_str`], the name given for messages).
    pub path: PathBuf,
    /// Its directory; relative paths in the settings are relative to it.
    pub dir: PathBuf,
    /// Modbus templates by name (file stem in `modbus.templates_dir`).
    pub templates: BTreeMap<String, Template>,
}

impl Loaded {
    /// `relative` (a path from the settings) resolved against the configuration directory;
    /// absolute paths are returned as they are.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// Number of assets: sources, units, stacks, networks, substations, weather stations and
    /// meters (regulation tables and thresholds are not assets).
    pub fn asset_count(&self) -> usize {
        let s = &self.settings;
        s.sources.len()
            + s.units.len()
            + s.stacks.len()
            + s.networks.len()
            + s.substations.len()
            + s.weather.len()
            + s.meters.len()
    }
}

fn env_source() -> config::Environment {
    config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
}

/// The overrides in the environment: dotted key (`store.path`, as `config` lower-cases it) →
/// value.
fn env_overrides() -> Result<BTreeMap<String, config::Value>, config::ConfigError> {
    use config::Source;
    Ok(env_source().collect()?.into_iter().collect())
}

/// The variable name an operator would write for `key`.
fn env_var_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{ENV_SEPARATOR}{}",
        key.to_uppercase().replace('.', ENV_SEPARATOR)
    )
}

/// The message inside a `config` error, without its "for key … in …" decoration.
fn config_message(e: &config::ConfigError) -> String {
    match e {
        config::ConfigError::At { error, .. } => config_message(error),
        config::ConfigError::Type {
            unexpected,
            expected,
            ..
        } => format!("invalid type: {unexpected}, expected {expected}"),
        config::ConfigError::Message(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The file merged with the environment by the `config` crate.
fn merge(
    text: &str,
    overrides: Option<(&str, config::Value)>,
) -> Result<Settings, config::ConfigError> {
    let file = config::File::from_str(text, config::FileFormat::Toml);
    let builder = config::Config::builder().add_source(file);
    let builder = match overrides {
        None => builder.add_source(env_source()),
        Some((key, value)) => builder.set_override(key, value)?,
    };
    builder.build()?.try_deserialize()
}

/// Merge the environment into the (sound) file; on failure, find which variables are bad.
fn merge_env(
    text: &str,
    file: &str,
    env: &BTreeMap<String, config::Value>,
    problems: &mut Vec<Problem>,
) -> Option<Settings> {
    let err = match merge(text, None) {
        Ok(s) => return Some(s),
        Err(e) => e,
    };
    let before = problems.len();
    for (key, value) in env {
        if let Err(e) = merge(text, Some((key, value.clone()))) {
            let (_, message, hint) = classify(&config_message(&e));
            problems.push(Problem {
                file: format!("environment variable {}", env_var_name(key)),
                line: 0,
                column: 0,
                key: key.clone(),
                message,
                hint,
            });
        }
    }
    if problems.len() == before {
        // No single variable is to blame (or there are none): say what the loader said.
        let (_, message, hint) = classify(&config_message(&err));
        let message = if env.is_empty() {
            format!("the configuration could not be loaded: {message}")
        } else {
            format!("the configuration could not be merged with the environment: {message}")
        };
        problems.push(Problem {
            file: file.to_string(),
            line: 0,
            column: 0,
            key: String::new(),
            message,
            hint,
        });
    }
    None
}

/// Load and check the configuration file at `path`, its environment overrides and templates.
pub fn load(path: &Path) -> Result<Loaded, ConfigErrors> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        problems: vec![Problem {
            file: shown.clone(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the configuration file: {e}"),
            hint: "check the path and the file's permissions".into(),
        }],
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut loaded = load_str(&text, &shown, dir)?;
    loaded.path = path.to_path_buf();
    Ok(loaded)
}

/// Load and check configuration `text`. `file` names it in problems (and its directory part
/// names the templates directory in problems); `dir` is where relative paths, including the
/// templates directory, are read from. Environment overrides apply as in [`load`].
pub fn load_str(text: &str, file: &str, dir: &Path) -> Result<Loaded, ConfigErrors> {
    let doc = Doc::parse(text, file).map_err(|p| ConfigErrors { problems: vec![p] })?;
    let mut problems = Vec::new();
    let st = structure::check(&doc, &mut problems);
    let env = match env_overrides() {
        Ok(env) => env,
        Err(e) => {
            problems.push(Problem {
                file: "environment".into(),
                line: 0,
                column: 0,
                key: String::new(),
                message: config_message(&e),
                hint: format!("fix or unset the {ENV_PREFIX}{ENV_SEPARATOR}… variables"),
            });
            BTreeMap::new()
        }
    };
    // Environment overrides are merged only into a file that is sound on its own, so a
    // problem is never blamed on the wrong one of the two.
    let merged = if problems.is_empty() {
        merge_env(text, file, &env, &mut problems)
    } else {
        None
    };
    let env_keys: BTreeMap<String, String> = match &merged {
        Some(_) => env.keys().map(|k| (k.clone(), env_var_name(k))).collect(),
        None => BTreeMap::new(),
    };
    let mut settings = merged.unwrap_or(st.settings);
    settings.kpi.availability.config_dir =
        super::kpi_availability::ConfigDir(Some(dir.to_path_buf()));

    let tdir = &settings.modbus.templates_dir;
    let shown_dir = Path::new(file).parent().unwrap_or(Path::new("")).join(tdir);
    let templates = load_templates(&dir.join(tdir), &shown_dir, &mut problems);
    let shown_dir = shown_dir.display().to_string();
    let ctx = Ctx {
        doc: Some(&doc),
        origins: &st.origins,
        env: &env_keys,
        templates_dir: &shown_dir,
    };
    run_checks(
        &settings,
        &st.ids,
        &ctx,
        &templates.names,
        templates.unreadable.as_deref(),
        &mut problems,
    );
    sort(&mut problems, file);
    if !problems.is_empty() {
        return Err(ConfigErrors { problems });
    }
    Ok(Loaded {
        settings,
        path: PathBuf::from(file),
        dir: dir.to_path_buf(),
        templates: templates.loaded,
    })
}

fn run_checks(
    settings: &Settings,
    ids: &[RawId],
    ctx: &Ctx<'_>,
    templates: &BTreeSet<String>,
    unreadable: Option<&str>,
    problems: &mut Vec<Problem>,
) {
    let index = semantic::check(settings, ids, ctx, problems);
    let devices = &settings.modbus.devices;
    check_devices(devices, ctx, &index, templates, unreadable, problems);
}

/// Problems of the main file first, then the environment, then template files; each in line
/// order.
fn sort(problems: &mut Vec<Problem>, main: &str) {
    problems.sort_by(|a, b| {
        let rank = |p: &Problem| {
            if p.file == main {
                0
            } else if p.line == 0 && p.file.starts_with("environment") {
                1
            } else {
                2
            }
        };
        (rank(a), &a.file, a.line, a.column).cmp(&(rank(b), &b.file, b.line, b.column))
    });
    problems.dedup();
}

/// Check settings built in code (no file positions): references, values, regulation tables,
/// thresholds, devices against `templates`. Templates themselves are checked when read from
/// their files.
pub fn validate(settings: &Settings, templates: &BTreeMap<String, Template>) -> Vec<Problem> {
    let mut ids = Vec::new();
    let s = settings;
    let sections: [(&'static str, Vec<&str>); 9] = [
        ("source", s.sources.iter().map(|x| x.id.as_str()).collect()),
        ("unit", s.units.iter().map(|x| x.id.as_str()).collect()),
        ("stack", s.stacks.iter().map(|x| x.id.as_str()).collect()),
        (
            "network",
            s.networks.iter().map(|x| x.id.as_str()).collect(),
        ),
        (
            "substation",
            s.substations.iter().map(|x| x.id.as_str()).collect(),
        ),
        ("weather", s.weather.iter().map(|x| x.id.as_str()).collect()),
        (
            "regulation",
            s.regulations.iter().map(|x| x.id.as_str()).collect(),
        ),
        ("meter", s.meters.iter().map(|x| x.id.as_str()).collect()),
        (
            DEVICE_SECTION,
            s.modbus.devices.iter().map(|x| x.id.as_str()).collect(),
        ),
    ];
    for (section, list) in sections {
        for (index, id) in list.into_iter().enumerate() {
            ids.push(RawId {
                id: id.to_string(),
                section,
                index,
                offset: 0,
            });
        }
    }
    let origins = Origins::new();
    let env = BTreeMap::new();
    let names: BTreeSet<String> = templates.keys().cloned().collect();
    let ctx = Ctx {
        doc: None,
        origins: &origins,
        env: &env,
        templates_dir: &s.modbus.templates_dir,
    };
    let mut problems = Vec::new();
    run_checks(s, &ids, &ctx, &names, None, &mut problems);
    problems
}

/// `heatkpi check-config FILE`: every problem, or `None` problems and the loaded configuration.
/// The configuration is `Some` exactly when there are no problems.
pub fn check_file(path: &Path) -> (Vec<Problem>, Option<Loaded>) {
    match load(path) {
        Ok(l) => (Vec::new(), Some(l)),
        Err(e) => (e.problems, None),
    }
}

/// `1 device`, `5 devices`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// What `check-config` prints: every problem then `N problems in FILE`, or
/// `FILE: OK (n assets, n devices, n templates)`.
pub fn render(file: &str, problems: &[Problem], loaded: Option<&Loaded>) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str(&p.to_string());
        out.push('\n');
    }
    match (problems.len(), loaded) {
        (0, Some(l)) => out.push_str(&format!(
            "{file}: OK ({}, {}, {})\n",
            count(l.asset_count(), "asset"),
            count(l.settings.modbus.devices.len(), "device"),
            count(l.templates.len(), "template"),
        )),
        (1, _) => out.push_str(&format!("1 problem in {file}\n")),
        (n, _) => out.push_str(&format!("{n} problems in {file}\n")),
    }
    out
}
