//! Threshold selection and the one comparator of the program.
//!
//! Selection (domain.md §1: thresholds are configuration per participant and per asset): for a
//! (KPI, asset, period kind, date) the threshold of the asset beats one of its classes, which
//! beats a default (neither asset nor class), which beats the built-in proposals of domain.md
//! §2.5. Classes are listed most specific first (`boiler:natural_gas:condensing` before
//! `boiler`). Effective dates are local dates, both inclusive. Within one level a threshold
//! with a later `effective_from` supersedes an earlier one; two that remain tied are a
//! conflict, reported as "the standard itself may be wrong".
//!
//! Judgement: [`judge`] is the only place a value is compared with a limit. A value exactly at
//! a limit passes ("no validated monthly average > ELV", "< 80 % warn"); differences below one
//! part in 10⁹ of the limit are floating-point noise and do not cross it.
//!
//! Imports only `model` and the result vocabulary.

use super::period::PeriodKind;
use super::result::{AppliedThreshold, Irregularity, KpiResult, Status};
use crate::model::Unit;
use crate::model::asset::{Direction, Threshold, ThresholdPeriod};
use chrono::NaiveDate;

/// Relative tolerance of the comparator (see the module documentation).
pub const REL_TOLERANCE: f64 = 1e-9;

/// Whether `value` is beyond `limit` in `direction`: above it for `max`, below it for `min`.
/// A value at the limit is not beyond it.
pub fn beyond(value: f64, limit: f64, direction: Direction) -> bool {
    let tol = REL_TOLERANCE * limit.abs().max(1.0);
    match direction {
        Direction::Max => value > limit + tol,
        Direction::Min => value < limit - tol,
    }
}

/// Pass, warn or fail for `value` against optional warning and failure limits.
pub fn judge(value: f64, warn: Option<f64>, fail: Option<f64>, direction: Direction) -> Status {
    if fail.is_some_and(|f| beyond(value, f, direction)) {
        Status::Fail
    } else if warn.is_some_and(|w| beyond(value, w, direction)) {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// Which level of the precedence matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A threshold for this asset.
    Asset,
    /// A threshold for one of the asset's classes.
    Class(String),
    /// A configured default (neither asset nor class).
    Default,
    /// A built-in proposal (domain.md §2.5).
    BuiltIn,
}

impl Scope {
    fn describe(&self, asset: &str) -> String {
        match self {
            Scope::Asset => format!("asset {asset}"),
            Scope::Class(c) => format!("class {c}"),
            Scope::Default => "default".into(),
            Scope::BuiltIn => "built-in".into(),
        }
    }
}

/// What a threshold is looked up for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// KPI name.
    pub kpi: &'a str,
    /// Asset id.
    pub asset: &'a str,
    /// The asset's classes, most specific first.
    pub classes: &'a [String],
    /// The KPI's unit (a threshold in another unit cannot judge it).
    pub unit: &'a str,
}

/// The threshold that applies, with how it was found.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    /// The threshold.
    pub threshold: &'a Threshold,
    /// The precedence level it came from.
    pub scope: Scope,
    /// Other thresholds at the same level and effective date (a configuration conflict).
    pub conflicts: Vec<&'a Threshold>,
}

fn effective(t: &Threshold, date: NaiveDate) -> bool {
    t.effective_from.is_none_or(|f| f <= date) && t.effective_to.is_none_or(|to| date <= to)
}

fn pick<'a>(cands: Vec<&'a Threshold>, scope: Scope) -> Option<Selection<'a>> {
    let best = cands.iter().map(|t| t.effective_from).max()?;
    let mut tied = cands.into_iter().filter(|t| t.effective_from == best);
    let threshold = tied.next()?;
    Some(Selection {
        threshold,
        scope,
        conflicts: tied.collect(),
    })
}

fn select_in<'a>(
    list: &'a [Threshold],
    s: &Subject<'_>,
    period: ThresholdPeriod,
    date: NaiveDate,
    builtin: bool,
) -> Option<Selection<'a>> {
    let base: Vec<&Threshold> = list
        .iter()
        .filter(|t| t.kpi == s.kpi && t.period == period && effective(t, date))
        .collect();
    let at = |f: &dyn Fn(&Threshold) -> bool| -> Vec<&'a Threshold> {
        base.iter().copied().filter(|t| f(t)).collect()
    };
    let level = |scope: Scope| if builtin { Scope::BuiltIn } else { scope };
    if let Some(sel) = pick(
        at(&|t| t.asset.as_deref() == Some(s.asset)),
        level(Scope::Asset),
    ) {
        return Some(sel);
    }
    for class in s.classes {
        if let Some(sel) = pick(
            at(&|t| t.asset.is_none() && t.class.as_deref() == Some(class.as_str())),
            level(Scope::Class(class.clone())),
        ) {
            return Some(sel);
        }
    }
    pick(
        at(&|t| t.asset.is_none() && t.class.is_none()),
        level(Scope::Default),
    )
}

/// The threshold for `subject` judging a period of `period` kind on local `date`.
pub fn select<'a>(
    configured: &'a [Threshold],
    builtin: &'a [Threshold],
    subject: &Subject<'_>,
    period: ThresholdPeriod,
    date: NaiveDate,
) -> Option<Selection<'a>> {
    select_in(configured, subject, period, date, false)
        .or_else(|| select_in(builtin, subject, period, date, true))
}

/// The threshold for a period from `first_day` to `last_day` (local dates, inclusive): the one
/// effective on the first day. If another one applies on the last day, or the selection is a
/// conflict, or its unit cannot judge the KPI, an irregularity says so.
pub fn select_for_period<'a>(
    configured: &'a [Threshold],
    builtin: &'a [Threshold],
    subject: &Subject<'_>,
    kind: PeriodKind,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> (Option<AppliedThreshold>, Vec<Irregularity>) {
    let mut notes = Vec::new();
    let Some(tp) = kind.threshold_period() else {
        return (None, notes);
    };
    let Some(sel) = select(configured, builtin, subject, tp, first_day) else {
        return (None, notes);
    };
    if !sel.conflicts.is_empty() {
        notes.push(Irregularity::questionable(
            "threshold configuration",
            format!(
                "{} thresholds for {} at the same level ({}) and effective date; the first one ({}) was used",
                sel.conflicts.len() + 1,
                subject.kpi,
                sel.scope.describe(subject.asset),
                sel.threshold.source
            ),
        ));
    }
    if let Some(later) = select(configured, builtin, subject, tp, last_day)
        && later.threshold != sel.threshold
    {
        notes.push(Irregularity::questionable(
            "threshold configuration",
            format!(
                "the threshold for {} changes inside the period (from {}: {}); the one in force on {first_day} was used",
                subject.kpi,
                later
                    .threshold
                    .effective_from
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                later.threshold.source
            ),
        ));
    }
    let t = sel.threshold;
    if t.unit.symbol() != subject.unit {
        notes.push(Irregularity::questionable(
            "threshold configuration",
            format!(
                "the threshold for {} ({}) is in {} but the KPI is in {}; it was not applied",
                subject.kpi,
                t.source,
                t.unit.symbol(),
                subject.unit
            ),
        ));
        return (None, notes);
    }
    (
        Some(AppliedThreshold {
            warn: t.warn,
            fail: Some(t.fail),
            unit: t.unit.symbol().to_string(),
            direction: t.direction,
            source: t.source.clone(),
            scope: sel.scope.describe(subject.asset),
            effective_from: t.effective_from,
            effective_to: t.effective_to,
        }),
        notes,
    )
}

/// Set the status of `result` from its value, completeness and threshold:
///
/// 1. no value → `no_data`;
/// 2. no threshold → `no_standard` ("no standard set", never a pass), with a "not covered"
///    irregularity;
/// 3. completeness below `completeness_min`, or `plausible == false` → `provisional`, with the
///    status it would have in `details.indicative_status`;
/// 4. otherwise pass / warn / fail by [`judge`]; a warn or fail adds a "not followed"
///    irregularity naming the limit and its source.
pub fn conclude(
    result: &mut KpiResult,
    threshold: Option<AppliedThreshold>,
    completeness_min: f64,
    plausible: bool,
) {
    result.threshold = threshold;
    let Some(value) = result.value else {
        result.status = Status::NoData;
        return;
    };
    let Some(t) = result.threshold.clone() else {
        result.status = Status::NoStandard;
        result.irregularities.push(Irregularity::not_covered(
            "thresholds",
            format!(
                "no threshold is configured for {} of {} over a {:?} period: no standard set",
                result.kpi, result.asset, result.period.kind
            ),
        ));
        return;
    };
    let verdict = judge(value, t.warn, t.fail, t.direction);
    if result.completeness + 1e-12 < completeness_min || !plausible {
        result.status = Status::Provisional;
        result.detail("indicative_status", verdict);
        return;
    }
    result.status = verdict;
    let (limit, level) = match verdict {
        Status::Fail => (t.fail, "failure"),
        Status::Warn => (t.warn, "warning"),
        _ => return,
    };
    let word = match t.direction {
        Direction::Max => "above",
        Direction::Min => "below",
    };
    result.irregularities.push(Irregularity::not_followed(
        t.source.clone(),
        format!(
            "{} {} = {} {} is {word} the {level} limit {} {} ({})",
            result.asset,
            result.kpi,
            round_for_text(value),
            result.unit,
            limit.map(round_for_text).unwrap_or_default(),
            t.unit,
            t.scope
        ),
    ));
}

/// A number as operators read it: four significant decimals at most.
pub fn round_for_text(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn builtin(
    kpi: &str,
    class: Option<&str>,
    warn: Option<f64>,
    fail: f64,
    src: &str,
) -> [Threshold; 4] {
    [
        ThresholdPeriod::Month,
        ThresholdPeriod::HeatingSeason,
        ThresholdPeriod::Year,
        ThresholdPeriod::Rolling12m,
    ]
    .map(|period| Threshold {
        kpi: kpi.into(),
        unit: Unit::Percent,
        direction: Direction::Min,
        warn,
        fail,
        period,
        asset: None,
        class: class.map(str::to_string),
        effective_from: None,
        effective_to: None,
        source: src.into(),
    })
}

/// The proposals of domain.md §2.5 as thresholds of the lowest precedence. Coal boilers get the
/// stoker (WR) values, the common Polish district-heating boiler; a fluidised-bed or
/// pulverised-coal unit needs its own threshold (85 / 80). The CHP overall efficiency limit is
/// the EED Annex I 75 %; CCGT and extraction-condensing units need 80 % configured. PES is
/// judged per year (EED Annex II: ≥ 10 %, or > 0 for units below 1 MWe, class
/// `small_scale_chp`).
pub fn builtin_thresholds() -> Vec<Threshold> {
    const P: &str = "domain.md §2.5 proposed default [P]";
    let mut out: Vec<Threshold> = [
        builtin(
            "boiler_efficiency",
            Some("boiler:coal"),
            Some(80.0),
            75.0,
            P,
        ),
        builtin(
            "boiler_efficiency",
            Some("boiler:biomass"),
            Some(80.0),
            75.0,
            P,
        ),
        builtin(
            "boiler_efficiency",
            Some("boiler:natural_gas"),
            Some(88.0),
            85.0,
            P,
        ),
        builtin(
            "boiler_efficiency",
            Some("boiler:natural_gas:condensing"),
            Some(92.0),
            88.0,
            P,
        ),
        builtin(
            "chp_total_efficiency",
            None,
            None,
            75.0,
            "EED 2012/27/EU Annex I overall efficiency 75 %",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.extend(network_builtins());
    for (class, fail, src) in [
        (None, 10.0, "EED 2012/27/EU Annex II: PES ≥ 10 % (≥ 1 MWe)"),
        (
            Some("small_scale_chp"),
            0.0,
            "EED 2012/27/EU Annex II: PES > 0 (< 1 MWe)",
        ),
    ] {
        for period in [ThresholdPeriod::Year, ThresholdPeriod::Rolling12m] {
            out.push(Threshold {
                kpi: "primary_energy_savings".into(),
                unit: Unit::Percent,
                direction: Direction::Min,
                warn: None,
                fail,
                period,
                asset: None,
                class: class.map(str::to_string),
                effective_from: None,
                effective_to: None,
                source: src.into(),
            });
        }
    }
    out.extend(availability_thresholds());
    out
}

/// The proposals of domain.md §6.4 (availability) as thresholds of the lowest precedence:
/// unplanned SAIDI in the heating season ≤ 0.8 h per customer (warn above 0.5 h), ASAI in the
/// heating season ≥ 99.9 %, a single unplanned interruption critical above 12 h and escalated
/// above 24 h, a planned stop ≤ 14 days, and degraded supply above 24 h per substation in a
/// month a warning. The degraded-hours rule has no failure level in §6.4; a whole month
/// degraded (744 h) is taken as the failure level so the warning is what shows.
pub fn availability_thresholds() -> Vec<Threshold> {
    use ThresholdPeriod as P;
    const S: &str = "domain.md §6.4 proposed default [P]";
    let t = |kpi: &str, unit: Unit, dir, warn, fail, period, class: &str, src: &str| Threshold {
        kpi: kpi.into(),
        unit,
        direction: dir,
        warn,
        fail,
        period,
        asset: None,
        class: Some(class.into()),
        effective_from: None,
        effective_to: None,
        source: src.into(),
    };
    let mut out = Vec::new();
    for p in [P::Month, P::Day] {
        out.push(t(
            "saidi_unplanned_season_to_date",
            Unit::Hour,
            Direction::Max,
            Some(0.5),
            0.8,
            p,
            "network",
            "domain.md §6.4 after Vantaa Energy [27]: unplanned SAIDI ≤ 0.8 h per customer in the heating season, warn above 0.5 h to date",
        ));
    }
    for p in [P::HeatingSeason, P::Year, P::Rolling12m] {
        out.push(t(
            "saidi_unplanned_heating_season",
            Unit::Hour,
            Direction::Max,
            Some(0.5),
            0.8,
            p,
            "network",
            "domain.md §6.4 after Vantaa Energy [27]: unplanned SAIDI ≤ 0.8 h per customer in the heating season, warn above 0.5 h",
        ));
        for class in ["network", "substation"] {
            out.push(t(
                "asai_heating_season",
                Unit::Percent,
                Direction::Min,
                None,
                99.9,
                p,
                class,
                "domain.md §6.4: ASAI ≥ 99.9 % in the heating season [P]",
            ));
        }
    }
    for p in [
        P::Hour,
        P::Day,
        P::Month,
        P::HeatingSeason,
        P::Year,
        P::Rolling12m,
    ] {
        out.push(t(
            "longest_unplanned_interruption",
            Unit::Hour,
            Direction::Max,
            Some(12.0),
            24.0,
            p,
            "substation",
            "domain.md §6.4: a single unplanned interruption is critical above 12 h, escalated above 24 h [P]",
        ));
        out.push(t(
            "heating_request_delay",
            Unit::Hour,
            Direction::Max,
            None,
            12.0,
            p,
            "substation",
            "domain.md §6.1/§6.4: start or stop of space heating on customer request ≤ 12 h [24]",
        ));
        out.push(t(
            "planned_stop_days",
            Unit::Day,
            Direction::Max,
            None,
            14.0,
            p,
            "substation",
            "domain.md §6.1/§6.4: planned summer interruption ≤ 14 days [24]",
        ));
    }
    out.push(t(
        "degraded_hours",
        Unit::Hour,
        Direction::Max,
        Some(24.0),
        744.0,
        P::Month,
        "substation",
        S,
    ));
    out
}

/// The network-side proposals as thresholds of the lowest precedence (all "at most", in %):
/// - `transmission_loss`: warn above 12 %, fail above 15 % (domain.md §4.5), for the heating
///   season, the year and rolling 12 months only: monthly L is reported, never judged (§4.4);
/// - `normalised_consumption`: warn above 110 %, fail above 120 % of the baseline, per
///   heating season (§5.5; the monthly view is reported);
/// - `capacity_utilisation`: fail above 100 % of the ordered capacity, for every period
///   (§5.5: a contractual matter).
fn network_builtins() -> Vec<Threshold> {
    let max = |kpi: &str, warn: Option<f64>, fail: f64, period, src: &str| Threshold {
        kpi: kpi.into(),
        unit: Unit::Percent,
        direction: Direction::Max,
        warn,
        fail,
        period,
        asset: None,
        class: None,
        effective_from: None,
        effective_to: None,
        source: src.into(),
    };
    let loss = "domain.md §4.5 proposed default [P]: annual L ≤ 12 % good, > 15 % fail";
    let mut out: Vec<Threshold> = [
        ThresholdPeriod::HeatingSeason,
        ThresholdPeriod::Year,
        ThresholdPeriod::Rolling12m,
    ]
    .into_iter()
    .map(|p| max("transmission_loss", Some(12.0), 15.0, p, loss))
    .collect();
    out.push(max(
        "normalised_consumption",
        Some(110.0),
        120.0,
        ThresholdPeriod::HeatingSeason,
        "domain.md §5.5 proposed default [P]: > 110 % of the 3-season baseline warn, > 120 % fail",
    ));
    for p in [
        ThresholdPeriod::Day,
        ThresholdPeriod::Month,
        ThresholdPeriod::HeatingSeason,
        ThresholdPeriod::Year,
        ThresholdPeriod::Rolling12m,
    ] {
        out.push(max(
            "capacity_utilisation",
            None,
            100.0,
            p,
            "domain.md §5.5: P_max,1h above the ordered capacity (contractual matter)",
        ));
    }
    out
}

#[cfg(test)]
mod tests;
