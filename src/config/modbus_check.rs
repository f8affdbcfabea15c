//! Modbus checks: the template files (register maps) and the devices that use them.
//!
//! Template problems are reported against the template file's own path and lines, so the
//! person fixing a register map is sent to the right file.

use super::context::{AssetIndex, Ctx, Want};
use super::doc::{Doc, KeyPath, without_arrays};
use super::hint::{list, suggest};
use super::modbus::{DataType, Device, PointDef, RegisterKind, Template, Transport};
use super::problem::Problem;
use crate::model::quantity::fits;
use crate::model::{Quantity, Unit};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use toml::Spanned;
use toml::de::DeValue;

/// Names of `status_bits` masks the poller acts on (`collect::modbus::point::status_effect`):
/// readings of the device get quality maintenance, calibration or bad while a bit is set.
const STATUS_BITS: &[&str] = &["maintenance", "calibration", "bad", "fault"];

/// Registers in one Modbus table (addresses 0..=65535).
const REGISTERS: u32 = 65_536;

/// The templates directory as read.
pub(crate) struct TemplateSet {
    /// Templates without problems, by name (file stem).
    pub(crate) loaded: BTreeMap<String, Template>,
    /// Every template file found, including those with problems.
    pub(crate) names: BTreeSet<String>,
    /// Why the directory could not be read, if it could not.
    pub(crate) unreadable: Option<String>,
}

/// Read and check every `*.toml` in `dir`; `shown` is the directory as the operator sees it.
pub(crate) fn load_templates(dir: &Path, shown: &Path, problems: &mut Vec<Problem>) -> TemplateSet {
    let mut set = TemplateSet {
        loaded: BTreeMap::new(),
        names: BTreeSet::new(),
        unreadable: None,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            set.unreadable = Some(e.to_string());
            return set;
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    for path in files {
        let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let file_name = path.file_name().map(|f| shown.join(f)).unwrap_or_default();
        let shown_file = file_name.display().to_string();
        set.names.insert(name.clone());
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem {
                    file: shown_file,
                    line: 0,
                    column: 0,
                    key: String::new(),
                    message: format!("cannot read the template: {e}"),
                    hint: "check the file's permissions and that it is UTF-8 text".into(),
                });
                continue;
            }
        };
        if let Some(t) = check_template(&text, &shown_file, problems) {
            set.loaded.insert(name, t);
        }
    }
    set
}

/// Parse and check one template file; the template when it has no problems.
pub(crate) fn check_template(
    text: &str,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Option<Template> {
    let doc = match Doc::parse(text, file) {
        Ok(d) => d,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    let before = problems.len();
    let root = Spanned::new(doc.root.span(), DeValue::Table(doc.root.get_ref().clone()));
    let shell = without_arrays(&root, &["point"]);
    let top = KeyPath::root();
    let template = doc.deserialize::<Template>(&top, &shell, problems);
    let mut points: Vec<(usize, PointDef)> = Vec::new();
    if let Some(DeValue::Array(items)) = doc.root.get_ref().get("point").map(|v| v.get_ref()) {
        for (i, item) in items.iter().enumerate() {
            let path = top.key("point").index(i);
            if let Some(p) = doc.deserialize::<PointDef>(&path, item, problems) {
                points.push((i, p));
            }
        }
    }
    check_points(&doc, &points, problems);
    let mut template = template?;
    template.points = points.into_iter().map(|(_, p)| p).collect();
    (problems.len() == before).then_some(template)
}

/// Registers a point takes.
fn words(p: &PointDef) -> u32 {
    match p.data_type {
        DataType::String => u32::from(p.length.unwrap_or(1).max(1)),
        t => u32::from(t.words()),
    }
}

/// The register table as an operator reads it in a register map.
fn register_name(r: RegisterKind) -> &'static str {
    match r {
        RegisterKind::Coil => "coils",
        RegisterKind::Discrete => "discrete inputs",
        RegisterKind::Input => "input registers",
        RegisterKind::Holding => "holding registers",
    }
}

fn check_points(doc: &Doc<'_>, points: &[(usize, PointDef)], problems: &mut Vec<Problem>) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in points {
        let at = |k: &str| KeyPath::root().key("point").index(*i).key(k);
        let mut report =
            |k: &str, m: String, h: String| problems.push(doc.problem_at(&at(k), m, h));
        if let Some(first) = names.get(p.name.as_str()) {
            let first_name = KeyPath::root().key("point").index(*first).key("name");
            let line = doc.problem_at(&first_name, "", "").line;
            report(
                "name",
                format!("duplicate point name `{}`", p.name),
                format!(
                    "already used by point[{first}] (line {line}); names must be unique in a template"
                ),
            );
        } else {
            names.insert(&p.name, *i);
        }
        if !fits(p.quantity, p.unit) {
            let fitting: Vec<&str> = Unit::ALL
                .iter()
                .filter(|u| fits(p.quantity, **u))
                .map(|u| u.symbol())
                .collect();
            report(
                "unit",
                format!("unit `{}` does not fit quantity `{}`", p.unit, p.quantity),
                format!("units of {}: {}", p.quantity, list(fitting)),
            );
        }
        let single_bits = matches!(p.register, RegisterKind::Coil | RegisterKind::Discrete);
        let table = register_name(p.register);
        match (single_bits, p.data_type, p.bit) {
            (true, DataType::Bit, Some(_)) => report(
                "bit",
                format!("`bit` does not apply to points in {table}"),
                "coils and discrete inputs are single bits already: remove `bit`".into(),
            ),
            (true, DataType::Bit, None) => {}
            (true, t, _) => report(
                "type",
                format!("type `{}` cannot be read from {table}", type_name(t)),
                "coils and discrete inputs hold single bits: write `type = \"bit\"`, or read the value from `input` or `holding` registers".into(),
            ),
            (false, DataType::Bit, None) => report(
                "type",
                format!("a `bit` point in {table} needs the bit index"),
                "add `bit = 0` … `bit = 15` (0 is the least significant bit)".into(),
            ),
            (false, DataType::Bit, Some(b)) if b > 15 => report(
                "bit",
                format!("bit {b} does not exist in a 16-bit register"),
                "write 0 … 15 (0 is the least significant bit)".into(),
            ),
            (false, DataType::Bit, Some(_)) => {}
            (false, t, Some(_)) => report(
                "bit",
                format!("`bit` does not apply to type `{}`", type_name(t)),
                "remove `bit`, or write `type = \"bit\"` to read one bit of the register".into(),
            ),
            (false, _, None) => {}
        }
        match (p.data_type, p.length) {
            (DataType::String, None | Some(0)) => report(
                "type",
                "a string needs its length".into(),
                "add `length = N`, the number of registers (two characters each)".into(),
            ),
            (DataType::String, Some(_)) | (_, None) => {}
            (t, Some(_)) => report(
                "length",
                format!("`length` does not apply to type `{}`", type_name(t)),
                "remove `length`; only strings have one".into(),
            ),
        }
        let end = u32::from(p.address) + words(p);
        if end > REGISTERS {
            report(
                "address",
                format!(
                    "registers {}…{} run past the last address 65535",
                    p.address,
                    end - 1
                ),
                format!("check the address; this point needs {} registers", words(p)),
            );
        }
        if p.scale == 0.0 || !p.scale.is_finite() {
            report(
                "scale",
                format!("scale {} turns every reading into nothing useful", p.scale),
                "write the factor from the register map, e.g. 0.01 for hundredths".into(),
            );
        }
        if let (Some(lo), Some(hi)) = (p.min, p.max)
            && lo > hi
        {
            report(
                "min",
                format!("min {lo} is above max {hi}"),
                "swap them".into(),
            );
        }
        if p.modulus.is_some_and(|m| m.is_nan() || m <= 0.0) {
            report(
                "modulus",
                "modulus must be above 0".into(),
                "write the register range of the counter, e.g. 4294967296 for a u32".into(),
            );
        }
        if !p.status_bits.is_empty() && p.quantity != Quantity::DeviceStatus {
            report(
                "status_bits",
                "`status_bits` only applies to status points".into(),
                "move it to a point with `quantity = \"device_status\"`".into(),
            );
        }
        for name in p.status_bits.keys() {
            if !STATUS_BITS.contains(&name.as_str()) {
                problems.push(doc.problem_at(
                    &at("status_bits").key(name),
                    format!("unknown status `{name}`"),
                    suggest(name, STATUS_BITS.iter().copied(), "statuses", ""),
                ));
            }
        }
    }
    overlaps(doc, points, problems);
}

fn type_name(t: DataType) -> &'static str {
    match t {
        DataType::Bit => "bit",
        DataType::I16 => "i16",
        DataType::U16 => "u16",
        DataType::I32 => "i32",
        DataType::U32 => "u32",
        DataType::I64 => "i64",
        DataType::U64 => "u64",
        DataType::F32 => "f32",
        DataType::F64 => "f64",
        DataType::String => "string",
    }
}

/// Points whose registers overlap in the same table. Bits of one register may share it with
/// each other and with a point reading the whole word (a status word and its flags).
fn overlaps(doc: &Doc<'_>, points: &[(usize, PointDef)], problems: &mut Vec<Problem>) {
    for (n, (i, p)) in points.iter().enumerate() {
        let (a0, a1) = (u32::from(p.address), u32::from(p.address) + words(p));
        let reg_bit = p.data_type == DataType::Bit && p.bit.is_some();
        let clash = points[..n].iter().find(|(_, q)| {
            if q.register != p.register {
                return false;
            }
            let q_bit = q.data_type == DataType::Bit && q.bit.is_some();
            match (reg_bit, q_bit) {
                (true, true) => q.address == p.address && q.bit == p.bit,
                (true, false) | (false, true) => false,
                (false, false) => {
                    let (b0, b1) = (u32::from(q.address), u32::from(q.address) + words(q));
                    a0 < b1 && b0 < a1
                }
            }
        });
        if let Some((j, q)) = clash {
            let other = KeyPath::root().key("point").index(*j).key("address");
            let line = doc.problem_at(&other, "", "").line;
            // "input registers 0…1", "coil 5".
            let regs = |x: &PointDef| {
                let (w, table) = (words(x), register_name(x.register));
                if w == 1 {
                    format!("{} {}", table.trim_end_matches('s'), x.address)
                } else {
                    let last = u32::from(x.address) + w - 1;
                    format!("{table} {}…{last}", x.address)
                }
            };
            problems.push(doc.problem_at(
                &KeyPath::root().key("point").index(*i).key("address"),
                format!(
                    "{} overlap point `{}` ({}, line {line})",
                    regs(p),
                    q.name,
                    regs(q),
                ),
                "each value needs registers of its own; check the address against the register map",
            ));
        }
    }
}

/// Check the devices of `[modbus]`: ids, assets, templates, addresses.
pub(crate) fn check_devices(
    devices: &[Device],
    ctx: &Ctx<'_>,
    index: &AssetIndex,
    templates: &BTreeSet<String>,
    unreadable: Option<&str>,
    problems: &mut Vec<Problem>,
) {
    if !devices.is_empty()
        && let Some(why) = unreadable
    {
        problems.push(ctx.problem(
            &KeyPath::root().key("modbus").key("templates_dir"),
            format!(
                "cannot read the templates directory {}: {why}",
                ctx.templates_dir
            ),
            "create it or set `templates_dir`, relative to the configuration file",
        ));
    }
    for (i, d) in devices.iter().enumerate() {
        let p = ctx.elem(super::structure::DEVICE_SECTION, i);
        index.reference(ctx, &p.key("asset"), &d.asset, Want::Any, problems);
        if !templates.contains(&d.template) && unreadable.is_none() {
            let none = format!("there are no templates in {}", ctx.templates_dir);
            let names = templates.iter().map(String::as_str);
            problems.push(ctx.problem(
                &p.key("template"),
                format!("no template `{}` in {}", d.template, ctx.templates_dir),
                suggest(&d.template, names, "available templates", &none),
            ));
        }
        match d.transport {
            Transport::Tcp | Transport::RtuOverTcp => {
                let port_ok = d
                    .address
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
                if !port_ok {
                    problems.push(ctx.problem(
                        &p.key("address"),
                        format!("`{}` is not `host:port`", d.address),
                        "write e.g. `10.20.0.15:502` (502 is the Modbus TCP port)",
                    ));
                }
            }
            Transport::Rtu => {
                if d.baud.is_none() {
                    problems.push(ctx.problem(
                        &p,
                        "a serial (rtu) device needs the bus speed",
                        "add `baud = 9600` (or the speed set on the device)",
                    ));
                }
            }
        }
        for (k, v) in [
            ("poll_ms", d.poll_ms),
            ("slow_poll_ms", d.slow_poll_ms),
            ("timeout_ms", d.timeout_ms),
        ] {
            if v == 0 {
                problems.push(ctx.problem(
                    &p.key(k),
                    "must be above 0 ms",
                    "write milliseconds, e.g. 10000 for every 10 s",
                ));
            }
        }
        // Modbus limits one read to 125 registers and 2000 bits (Modbus Application Protocol
        // V1.1b3, §6.1–6.4); some devices accept fewer, never more.
        for (k, v, max) in [
            ("max_registers", d.max_registers, 125u16),
            ("max_bits", d.max_bits, 2000u16),
        ] {
            if v == 0 || v > max {
                problems.push(ctx.problem(
                    &p.key(k),
                    format!("{v} is outside 1..={max}"),
                    format!(
                        "write at most {max} (the Modbus limit), or less if the device needs it"
                    ),
                ));
            }
        }
        if d.stale_after_polls == 0 {
            problems.push(ctx.problem(
                &p.key("stale_after_polls"),
                "must be at least 1",
                "write how many failed polls in a row mark the device unreachable, e.g. 3",
            ));
        }
    }
}
