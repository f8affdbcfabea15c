//! The semantic checks: what serde cannot see. References between assets, values that cannot
//! be physically right, regulation tables that are not monotonic, thresholds that contradict
//! themselves. Every check reports and carries on; nothing here stops at the first problem.

use super::context::{AssetIndex, AssetKind, Ctx, Want};
use super::doc::KeyPath;
use super::hint::suggest;
use super::problem::Problem;
use super::structure::RawId;
use super::{MeterKind, Settings};
use crate::model::asset::{Direction, Pollutant};
use crate::model::{Quantity, SeriesKey};

/// Threshold classes besides asset ids: unit kinds, asset kinds and fuels.
const THRESHOLD_CLASSES: &[&str] = &[
    "boiler",
    "chp",
    "engine",
    "source",
    "stack",
    "network",
    "substation",
    "meter",
    "coal",
    "biomass",
    "natural_gas",
    "oil",
];

/// Whether `class` is a threshold class: one of [`THRESHOLD_CLASSES`], `small_scale_chp` (CHP
/// units below 1 MWe), or a unit kind and fuel, optionally condensing, as the evaluator
/// classifies units (`boiler:natural_gas`, `boiler:natural_gas:condensing`).
fn is_threshold_class(class: &str) -> bool {
    const KINDS: &[&str] = &["boiler", "chp", "engine"];
    const FUELS: &[&str] = &["coal", "biomass", "natural_gas", "oil"];
    if THRESHOLD_CLASSES.contains(&class) || class == "small_scale_chp" {
        return true;
    }
    let parts: Vec<&str> = class.split(':').collect();
    match parts.as_slice() {
        [k, f] => KINDS.contains(k) && FUELS.contains(f),
        [k, f, "condensing"] => KINDS.contains(k) && FUELS.contains(f),
        _ => false,
    }
}

/// Accumulates problems for one settings check.
pub(crate) struct Checker<'a> {
    pub(crate) ctx: &'a Ctx<'a>,
    pub(crate) index: AssetIndex,
    pub(crate) problems: &'a mut Vec<Problem>,
}

impl Checker<'_> {
    pub(crate) fn report(
        &mut self,
        path: &KeyPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let p = self.ctx.problem(path, message, hint);
        self.problems.push(p);
    }

    fn refer(&mut self, path: &KeyPath, id: &str, want: Want) {
        self.index
            .reference(self.ctx, path, id, want, self.problems);
    }

    fn refer_all(&mut self, path: &KeyPath, ids: &[String], want: Want) {
        for (i, id) in ids.iter().enumerate() {
            self.refer(&path.index(i), id, want);
        }
    }

    /// `value` must be above 0 (and a number).
    fn positive(&mut self, path: &KeyPath, value: f64, hint: &str) {
        if value.is_nan() || value <= 0.0 || value.is_infinite() {
            self.report(path, format!("must be above 0, not {value}"), hint);
        }
    }

    /// `value` must lie in `lo..=hi`.
    fn within(&mut self, path: &KeyPath, value: f64, lo: f64, hi: f64, hint: &str) {
        if !(lo..=hi).contains(&value) {
            self.report(
                path,
                format!("must be between {lo} and {hi}, not {value}"),
                hint,
            );
        }
    }

    fn meter_class(&mut self, path: &KeyPath, class: u8) {
        if !(1..=3).contains(&class) {
            self.report(
                path,
                format!("meter class {class} does not exist"),
                "write 1, 2 or 3 (the accuracy class on the meter's type plate, MID MI-004)",
            );
        }
    }
}

/// Run every semantic check of the settings (not the Modbus ones, see `modbus_check`).
pub(crate) fn check(
    s: &Settings,
    ids: &[RawId],
    ctx: &Ctx<'_>,
    problems: &mut Vec<Problem>,
) -> AssetIndex {
    let index = AssetIndex::build(s, ids, ctx, problems);
    let mut c = Checker {
        ctx,
        index,
        problems,
    };
    site_and_ingest(&mut c, s);
    plants(&mut c, s);
    stacks(&mut c, s);
    networks(&mut c, s);
    thresholds(&mut c, s);
    kpi(&mut c, s);
    super::influx::check(&mut c, s);
    super::sim_mqtt::check(&mut c, s);
    for (i, m) in s.meters.iter().enumerate() {
        if let Some(class) = m.meter_class {
            c.meter_class(&ctx.elem("meter", i).key("meter_class"), class);
        }
    }
    c.index
}

fn site_and_ingest(c: &mut Checker<'_>, s: &Settings) {
    let root = KeyPath::root();
    if s.site.timezone.parse::<chrono_tz::Tz>().is_err() {
        let zones = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name());
        let hint = match super::hint::closest(&s.site.timezone, zones) {
            Some(z) => format!("did you mean `{z}`?"),
            None => "write an IANA zone name such as `Europe/Warsaw`".to_string(),
        };
        c.report(
            &root.key("site").key("timezone"),
            format!("`{}` is not an IANA time zone", s.site.timezone),
            hint,
        );
    }
    let ingest = root.key("ingest");
    if s.ingest.batch_size == 0 {
        c.report(
            &ingest.key("batch_size"),
            "must be at least 1",
            "10000 suits SQLite",
        );
    }
    if s.ingest.queue_capacity == 0 {
        c.report(
            &ingest.key("queue_capacity"),
            "must be at least 1",
            "100000 holds a few minutes of a mid-size utility",
        );
    }
    for (name, lim) in &s.ingest.limits {
        let path = ingest.key("limits").key(name);
        if name.parse::<Quantity>().is_err() {
            let names = Quantity::ALL.iter().map(|q| q.name());
            c.report(
                &path,
                format!("unknown quantity `{name}`"),
                suggest(name, names, "quantities", ""),
            );
        }
        if let (Some(lo), Some(hi)) = (lim.min, lim.max)
            && lo > hi
        {
            c.report(
                &path.key("min"),
                format!("min {lo} is above max {hi}"),
                "swap them",
            );
        }
    }
}

fn plants(c: &mut Checker<'_>, s: &Settings) {
    let ctx = c.ctx;
    let heat = Want::Kind(AssetKind::Meter(Some(MeterKind::Heat)));
    for (i, src) in s.sources.iter().enumerate() {
        let p = ctx.elem("source", i);
        c.refer_all(&p.key("outlet_meters"), &src.outlet_meters, heat);
        c.refer_all(&p.key("own_use_meters"), &src.own_use_meters, heat);
        if let Some(st) = &src.storage {
            let want = Want::Kind(AssetKind::Meter(Some(MeterKind::Storage)));
            c.refer(&p.key("storage"), st, want);
        }
    }
    for (i, u) in s.units.iter().enumerate() {
        let p = ctx.elem("unit", i);
        c.refer(&p.key("source"), &u.source, Want::Kind(AssetKind::Source));
        match (&u.lhv_gj_per_unit, &u.lhv_series) {
            (None, None) => c.report(
                &p,
                "no heating value: efficiency cannot be computed",
                "add `lhv_gj_per_unit` (from lab analyses or the supplier) or `lhv_series` (a measured `lhv` series)",
            ),
            (Some(_), Some(_)) => c.report(
                &p.key("lhv_series"),
                "both `lhv_gj_per_unit` and `lhv_series` are given",
                "keep the one the efficiency should use",
            ),
            _ => {}
        }
        if let Some(v) = u.lhv_gj_per_unit {
            c.positive(
                &p.key("lhv_gj_per_unit"),
                v,
                "write the heating value in GJ/t (coal about 20–25) or GJ/Nm³ (natural gas about 0.035)",
            );
        }
        if let Some(series) = &u.lhv_series {
            lhv_series(c, &p.key("lhv_series"), series);
        }
        c.positive(
            &p.key("rated_heat_mw"),
            u.rated_heat_mw,
            "write the rated heat output in MW",
        );
        if let Some(el) = u.rated_el_mw {
            c.positive(
                &p.key("rated_el_mw"),
                el,
                "write the rated electrical output in MW, or leave it out for heat-only units",
            );
        }
        c.meter_class(&p.key("meter_class"), u.meter_class);
    }
}

fn lhv_series(c: &mut Checker<'_>, path: &KeyPath, series: &str) {
    match series.parse::<SeriesKey>() {
        Err(e) => c.report(
            path,
            e.to_string(),
            "write `<asset>.lhv`, e.g. `gas-station.lhv`",
        ),
        Ok(k) if k.quantity != Quantity::Lhv => c.report(
            path,
            format!("`{series}` is not a heating-value series"),
            format!("write `{}.lhv`", k.asset),
        ),
        Ok(k) => c.refer(path, &k.asset, Want::Any),
    }
}

fn stacks(c: &mut Checker<'_>, s: &Settings) {
    let ctx = c.ctx;
    for (i, st) in s.stacks.iter().enumerate() {
        let p = ctx.elem("stack", i);
        c.refer(&p.key("source"), &st.source, Want::Kind(AssetKind::Source));
        for (j, u) in st.units.iter().enumerate() {
            let up = p.key("units").index(j);
            c.refer(&up, u, Want::Kind(AssetKind::Unit));
            if let Some(unit) = s.units.iter().find(|x| &x.id == u)
                && unit.source != st.source
                && c.index.kind(&st.source) == Some(AssetKind::Source)
            {
                c.report(
                    &up,
                    format!(
                        "unit `{u}` belongs to source `{}`, not to `{}`",
                        unit.source, st.source
                    ),
                    "a stack vents units of its own source; check `source` of the stack or the unit",
                );
            }
        }
        if !(0.0..21.0).contains(&st.o2_ref_pct) || st.o2_ref_pct >= st.o2_air_pct {
            c.report(
                &p.key("o2_ref_pct"),
                format!(
                    "reference O2 {} % must be at least 0 and below the {} % O2 of air",
                    st.o2_ref_pct,
                    st.o2_air_pct.min(21.0)
                ),
                "write 6 for solid fuels, 3 for gas or oil boilers, 15 for turbines and engines",
            );
        }
        c.within(
            &p.key("o2_air_pct"),
            st.o2_air_pct,
            20.0,
            21.0,
            "write 21 (IED) or 20.9",
        );
        for (pol, v) in &st.limits_mg_nm3 {
            c.positive(
                &p.key("limits_mg_nm3").key(pollutant_name(*pol)),
                *v,
                "write the permit's emission limit in mg/Nm³ at the reference O2",
            );
        }
        for (pol, v) in &st.ci_share {
            c.within(
                &p.key("ci_share").key(pollutant_name(*pol)),
                *v,
                0.0,
                1.0,
                "write a share of the limit (0.2 is 20 %)",
            );
        }
        if st.daily_limit_factor.is_nan() || st.daily_limit_factor < 1.0 {
            c.report(
                &p.key("daily_limit_factor"),
                format!("must be at least 1, not {}", st.daily_limit_factor),
                "write 1.1 (1.5 for plants of coal-fired boilers only below 50 MW)",
            );
        }
        if !(0.0..1.0).contains(&st.min_load_share) {
            c.report(
                &p.key("min_load_share"),
                format!(
                    "must be from 0 up to (not including) 1, not {}",
                    st.min_load_share
                ),
                "write a share of rated output, e.g. 0.2",
            );
        }
    }
}

fn pollutant_name(p: Pollutant) -> &'static str {
    match p {
        Pollutant::So2 => "so2",
        Pollutant::Nox => "nox",
        Pollutant::Dust => "dust",
        Pollutant::Co => "co",
    }
}

fn networks(c: &mut Checker<'_>, s: &Settings) {
    let ctx = c.ctx;
    let heat = Want::Kind(AssetKind::Meter(Some(MeterKind::Heat)));
    for (i, n) in s.networks.iter().enumerate() {
        let p = ctx.elem("network", i);
        c.refer_all(&p.key("sources"), &n.sources, Want::Kind(AssetKind::Source));
        c.refer_all(
            &p.key("purchased_heat_meters"),
            &n.purchased_heat_meters,
            heat,
        );
        c.refer_all(&p.key("transfer_meters"), &n.transfer_meters, heat);
        if let Some(m) = &n.makeup_meter {
            let want = Want::Kind(AssetKind::Meter(Some(MeterKind::MakeupWater)));
            c.refer(&p.key("makeup_meter"), m, want);
        }
        let reg = Want::Kind(AssetKind::Regulation);
        c.refer(&p.key("regulation"), &n.regulation, reg);
        c.refer(
            &p.key("weather"),
            &n.weather,
            Want::Kind(AssetKind::Weather),
        );
        c.positive(
            &p.key("water_volume_m3"),
            n.water_volume_m3,
            "write the network's water volume (zład) in m³",
        );
        c.positive(
            &p.key("length_km"),
            n.length_km,
            "write the trench length in km",
        );
    }
    for (i, ss) in s.substations.iter().enumerate() {
        let p = ctx.elem("substation", i);
        c.refer(
            &p.key("network"),
            &ss.network,
            Want::Kind(AssetKind::Network),
        );
        if let Some(r) = &ss.regulation {
            c.refer(&p.key("regulation"), r, Want::Kind(AssetKind::Regulation));
        }
        c.positive(
            &p.key("ordered_capacity_mw"),
            ss.ordered_capacity_mw,
            "write the ordered capacity (moc zamówiona) in MW",
        );
        c.positive(
            &p.key("heated_area_m2"),
            ss.heated_area_m2,
            "write the heated floor area in m²",
        );
        c.positive(
            &p.key("design_delta_t_k"),
            ss.design_delta_t_k,
            "write the design cooling in K, e.g. 60 for a 130/70 °C network",
        );
        c.meter_class(&p.key("meter_class"), ss.meter_class);
        if let Some(b) = &ss.baseline {
            c.positive(
                &p.key("baseline").key("sh_gj_per_kd"),
                b.sh_gj_per_kd,
                "write the space-heating energy per degree day in GJ/Kd, fitted on earlier seasons",
            );
            if b.dhw_gj_per_day < 0.0 {
                c.report(
                    &p.key("baseline").key("dhw_gj_per_day"),
                    format!("{} is negative", b.dhw_gj_per_day),
                    "write the hot-water base in GJ per day (0 without hot water)",
                );
            }
        }
    }
    for (i, w) in s.weather.iter().enumerate() {
        if let Some(f) = &w.fallback {
            let p = ctx.elem("weather", i).key("fallback");
            if f == &w.id {
                c.report(
                    &p,
                    format!("station `{f}` names itself as its fallback"),
                    "name a second station, or remove `fallback`",
                );
            } else {
                c.refer(&p, f, Want::Kind(AssetKind::Weather));
            }
        }
    }
    for (i, r) in s.regulations.iter().enumerate() {
        if let Some((row, why)) = r.monotonic_error() {
            let p = ctx.elem("regulation", i).key("points");
            let at = if r.points.is_empty() { p } else { p.index(row) };
            c.report(
                &at,
                format!("regulation table row {row}: {why}"),
                "write rows `[outdoor °C, supply °C, return °C]` from the coldest outdoor temperature up",
            );
        }
    }
}

fn thresholds(c: &mut Checker<'_>, s: &Settings) {
    let ctx = c.ctx;
    for (i, t) in s.thresholds.iter().enumerate() {
        let p = ctx.elem("threshold", i);
        if let Some(a) = &t.asset {
            c.refer(&p.key("asset"), a, Want::Any);
        }
        if let Some(class) = &t.class
            && !is_threshold_class(class)
        {
            c.report(
                &p.key("class"),
                format!("unknown asset class `{class}`"),
                suggest(
                    class,
                    THRESHOLD_CLASSES.iter().copied(),
                    "classes",
                    " (or `<kind>:<fuel>` such as `boiler:natural_gas`, with `:condensing` for condensing units, or `small_scale_chp`)",
                ),
            );
        }
        if let Some(w) = t.warn {
            let wrong = match t.direction {
                Direction::Min => w < t.fail,
                Direction::Max => w > t.fail,
            };
            if wrong {
                let (msg, hint) = match t.direction {
                    Direction::Min => (
                        format!("warn {w} is below fail {}", t.fail),
                        "with `direction = \"min\"` the value falls past warn before fail: write warn ≥ fail (e.g. warn = 80, fail = 75)",
                    ),
                    Direction::Max => (
                        format!("warn {w} is above fail {}", t.fail),
                        "with `direction = \"max\"` the value rises past warn before fail: write warn ≤ fail (e.g. warn = 12, fail = 15)",
                    ),
                };
                c.report(&p.key("warn"), msg, hint);
            }
        }
        if let (Some(from), Some(to)) = (t.effective_from, t.effective_to)
            && from > to
        {
            c.report(
                &p.key("effective_from"),
                format!("effective_from {from} is after effective_to {to}"),
                "both days are inclusive; swap them or fix the year",
            );
        }
    }
}

fn kpi(c: &mut Checker<'_>, s: &Settings) {
    let root = KeyPath::root().key("kpi");
    for p in s.kpi.problems() {
        let path = p.key.split('.').fold(root.clone(), |path, k| path.key(k));
        c.report(&path, format!("{} is not usable", p.value), p.expected);
    }
    let e = root.key("emissions");
    let stack = Want::Kind(AssetKind::Stack);
    c.refer_all(&e.key("wet_stacks"), &s.kpi.emissions.wet_stacks, stack);
    for id in s.kpi.emissions.qal2_uncertainty_mg_nm3.keys() {
        c.refer(&e.key("qal2_uncertainty_mg_nm3").key(id), id, stack);
    }
    for (series, m) in &s.kpi.register_moduli {
        let path = root.key("register_moduli").key(series);
        match series.parse::<SeriesKey>() {
            Ok(k) if k.quantity.kind() == crate::model::Kind::Counter => {
                c.positive(&path, *m, "write the register range, e.g. 4294967296 for a u32 register");
            }
            Ok(_) => c.report(
                &path,
                format!("`{series}` is not a counter series"),
                "register moduli apply to counters (heat_energy, volume, fuel_volume, fuel_mass, electricity, makeup_water)",
            ),
            Err(e) => c.report(&path, e.to_string(), "write `<asset>.<quantity>`, e.g. `k1.heat_energy`"),
        }
    }
}
