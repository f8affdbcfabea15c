//! The KPI result vocabulary (design.md §3): a value for a (KPI, asset, period) with its
//! status, completeness, uncertainty, applied threshold, details and irregularities.
//!
//! Pure data: this file imports only `model` and the period type, so the formula files can
//! return irregularities without depending on the store. Conversion to and from the store's
//! `KpiRecord` and the `evaluate --json` shape are in `record.rs`.

use super::period::PeriodKind;
use crate::model::TimestampMs;
use crate::model::asset::Direction;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The verdict on a KPI value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Within the threshold.
    Pass,
    /// Beyond the warning limit, within the failure limit.
    Warn,
    /// Beyond the failure limit.
    Fail,
    /// An input is below the completeness rule (domain.md §0.4) or failed a plausibility
    /// check, so the value is not judged; `details.indicative_status` says what it would be.
    Provisional,
    /// No value: no usable input in the period.
    NoData,
    /// A value, but no threshold applies: "no standard set", never a pass.
    NoStandard,
}

impl Status {
    /// The name used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Provisional => "provisional",
            Status::NoData => "no_data",
            Status::NoStandard => "no_standard",
        }
    }

    /// How much attention it needs: fail 5, warn 4, provisional 3, no data 2, no standard 1,
    /// pass 0. Used to summarise several results (the worst wins).
    pub fn severity(self) -> u8 {
        match self {
            Status::Fail => 5,
            Status::Warn => 4,
            Status::Provisional => 3,
            Status::NoData => 2,
            Status::NoStandard => 1,
            Status::Pass => 0,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which of Masaaki Imai's three questions an irregularity answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IrregularityKind {
    /// No standard covered the situation (no threshold, no reference value, unknown state).
    NotCovered,
    /// A standard exists and was not followed (a limit exceeded, a data rule broken).
    NotFollowed,
    /// The standard itself may be wrong (conflicting thresholds, a limit changed inside the
    /// period, a configuration that contradicts the data).
    StandardQuestionable,
}

/// Something an operator or auditor must be able to explain about a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Irregularity {
    /// The standard or rule concerned, e.g. `IED Annex V Part 4 (b)` or `domain.md §2.6`.
    pub standard: String,
    /// Which question it answers.
    pub kind: IrregularityKind,
    /// What happened, in the operator's words, with the numbers.
    pub message: String,
}

impl Irregularity {
    /// No standard covered it.
    pub fn not_covered(standard: impl Into<String>, message: impl Into<String>) -> Self {
        Irregularity {
            standard: standard.into(),
            kind: IrregularityKind::NotCovered,
            message: message.into(),
        }
    }
    /// The standard was not followed.
    pub fn not_followed(standard: impl Into<String>, message: impl Into<String>) -> Self {
        Irregularity {
            standard: standard.into(),
            kind: IrregularityKind::NotFollowed,
            message: message.into(),
        }
    }
    /// The standard itself may be wrong.
    pub fn questionable(standard: impl Into<String>, message: impl Into<String>) -> Self {
        Irregularity {
            standard: standard.into(),
            kind: IrregularityKind::StandardQuestionable,
            message: message.into(),
        }
    }
}

/// The threshold a value was judged against, as recorded with the result (domain.md §7.5:
/// value, unit, effective date and source).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedThreshold {
    /// Warning limit.
    pub warn: Option<f64>,
    /// Failure limit.
    pub fail: Option<f64>,
    /// Unit of the limits (the KPI's unit).
    pub unit: String,
    /// `min`: the value must stay at or above; `max`: at or below.
    pub direction: Direction,
    /// Where the limits come from (permit, regulation article, contract, internal target).
    pub source: String,
    /// Which threshold matched: `asset <id>`, `class <name>`, `default`, `built-in`, `permit`.
    pub scope: String,
    /// First day it applies, if limited.
    pub effective_from: Option<chrono::NaiveDate>,
    /// Last day it applies, if limited.
    pub effective_to: Option<chrono::NaiveDate>,
}

/// The period of a result as recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodRef {
    /// What kind of period.
    pub kind: PeriodKind,
    /// Start (inclusive, UTC ms).
    pub start: TimestampMs,
    /// End of the whole period (exclusive, UTC ms).
    pub end: TimestampMs,
    /// The label (`2026-10`).
    pub label: String,
    /// End of the evaluated part when the period is evaluated to date (live results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_until: Option<TimestampMs>,
}

impl From<&super::period::Period> for PeriodRef {
    fn from(p: &super::period::Period) -> Self {
        PeriodRef {
            kind: p.kind,
            start: p.start(),
            end: p.end(),
            label: p.label.clone(),
            evaluated_until: p.is_partial().then_some(p.evaluated_end),
        }
    }
}

/// One computed KPI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiResult {
    /// KPI name, e.g. `boiler_efficiency`, `emission_nox_average`.
    pub kpi: String,
    /// Asset id.
    pub asset: String,
    /// The period.
    pub period: PeriodRef,
    /// The value, in `unit`; `None` when there is no data.
    pub value: Option<f64>,
    /// Unit of the value (`%`, `mg/Nm3`, `d`, `h`).
    pub unit: String,
    /// The verdict.
    pub status: Status,
    /// The lowest completeness of the inputs (0–1).
    pub completeness: f64,
    /// Uncertainty band `(low, high)` in `unit`, where one is propagated.
    pub uncertainty: Option<(f64, f64)>,
    /// The threshold the value was judged against.
    pub threshold: Option<AppliedThreshold>,
    /// Everything an auditor needs to recompute the value: inputs, parameters, sub-results.
    pub details: serde_json::Value,
    /// When it was computed (UTC ms).
    pub as_of: TimestampMs,
    /// Everything to explain about it.
    pub irregularities: Vec<Irregularity>,
}

impl KpiResult {
    /// A result with no value yet: status `no_data`, completeness 0, empty details.
    pub fn new(
        kpi: impl Into<String>,
        asset: impl Into<String>,
        period: &super::period::Period,
        unit: impl Into<String>,
    ) -> Self {
        KpiResult {
            kpi: kpi.into(),
            asset: asset.into(),
            period: PeriodRef::from(period),
            value: None,
            unit: unit.into(),
            status: Status::NoData,
            completeness: 0.0,
            uncertainty: None,
            threshold: None,
            details: serde_json::json!({}),
            as_of: 0,
            irregularities: Vec::new(),
        }
    }

    /// Add a key to `details` (which is always an object).
    pub fn detail(&mut self, key: &str, value: impl Serialize) {
        if !self.details.is_object() {
            self.details = serde_json::json!({});
        }
        if let (Some(map), Ok(v)) = (self.details.as_object_mut(), serde_json::to_value(value)) {
            map.insert(key.to_string(), v);
        }
    }
}
