//! KPI results as stored (`store::KpiRecord`) and as printed by `heatkpi evaluate --json`.
//!
//! A stored record keeps the key columns (kpi, asset, period start and end, as-of) and the rest
//! of the result in its JSON body, so [`from_record`] gives back the same `KpiResult`.
//!
//! The `--json` shape ([`to_json`]) is an array of objects:
//!
//! ```json
//! {
//!   "kpi": "boiler_efficiency",
//!   "asset": "k1",
//!   "period": "2026-10",
//!   "period_kind": "month",
//!   "period_start": "2026-10-01T00:00:00+02:00",
//!   "period_end": "2026-11-01T00:00:00+01:00",
//!   "evaluated_until": null,
//!   "value": 89.63,
//!   "unit": "%",
//!   "status": "pass",
//!   "completeness": 0.998,
//!   "uncertainty": [86.5, 92.8],
//!   "threshold": {"warn": 88.0, "fail": 85.0, "unit": "%", "direction": "min",
//!                 "source": "…", "scope": "class boiler:natural_gas",
//!                 "effective_from": null, "effective_to": null},
//!   "details": {"standard": "efficient_production", "heat_gj": 700.0, "fuel_gj": 781.0,
//!               "…": "…"},
//!   "irregularities": [{"standard": "…", "kind": "not_followed", "message": "…"}],
//!   "as_of": "2026-11-02T06:00:00+01:00"
//! }
//! ```
//!
//! Times are RFC 3339 in the configured time zone; `status` is one of `pass`, `warn`, `fail`,
//! `provisional`, `no_data`, `no_standard`; `value`, `uncertainty` and `threshold` may be
//! `null`; `completeness` is a share 0–1; `details.standard` names the programme standard
//! (`efficient_production`, `emission_limits`, `transmission_losses`, `rational_use`,
//! `supply_availability`).

use super::result::{KpiResult, PeriodRef};
use crate::model::time::format_local;
use crate::store::KpiRecord;
use chrono_tz::Tz;
use serde_json::{Value, json};

/// A stored record that is not a KPI result.
#[derive(Debug, thiserror::Error)]
#[error("stored KPI record {kpi}/{asset} at {start}: {reason}")]
pub struct RecordError {
    /// KPI name.
    pub kpi: String,
    /// Asset.
    pub asset: String,
    /// Period start.
    pub start: i64,
    /// What is wrong.
    pub reason: String,
}

/// The record to store for a result.
pub fn to_record(r: &KpiResult) -> KpiRecord {
    KpiRecord {
        kpi: r.kpi.clone(),
        asset: r.asset.clone(),
        period_start: r.period.start,
        period_end: r.period.end,
        as_of: r.as_of,
        body: json!({
            "period_kind": r.period.kind,
            "period_label": r.period.label,
            "evaluated_until": r.period.evaluated_until,
            "value": r.value,
            "unit": r.unit,
            "status": r.status,
            "completeness": r.completeness,
            "uncertainty": r.uncertainty,
            "threshold": r.threshold,
            "details": r.details,
            "irregularities": r.irregularities,
        }),
    }
}

/// The result a stored record holds.
pub fn from_record(rec: &KpiRecord) -> Result<KpiResult, RecordError> {
    let err = |reason: String| RecordError {
        kpi: rec.kpi.clone(),
        asset: rec.asset.clone(),
        start: rec.period_start,
        reason,
    };
    let b = &rec.body;
    let field = |k: &str| -> Value { b.get(k).cloned().unwrap_or(Value::Null) };
    let parse = |k: &str| -> Result<Value, RecordError> {
        b.get(k)
            .cloned()
            .ok_or_else(|| err(format!("body has no `{k}`")))
    };
    Ok(KpiResult {
        kpi: rec.kpi.clone(),
        asset: rec.asset.clone(),
        period: PeriodRef {
            kind: serde_json::from_value(parse("period_kind")?).map_err(|e| err(e.to_string()))?,
            start: rec.period_start,
            end: rec.period_end,
            label: serde_json::from_value(parse("period_label")?)
                .map_err(|e| err(e.to_string()))?,
            evaluated_until: serde_json::from_value(field("evaluated_until"))
                .map_err(|e| err(e.to_string()))?,
        },
        value: serde_json::from_value(field("value")).map_err(|e| err(e.to_string()))?,
        unit: serde_json::from_value(parse("unit")?).map_err(|e| err(e.to_string()))?,
        status: serde_json::from_value(parse("status")?).map_err(|e| err(e.to_string()))?,
        completeness: serde_json::from_value(parse("completeness")?)
            .map_err(|e| err(e.to_string()))?,
        uncertainty: serde_json::from_value(field("uncertainty"))
            .map_err(|e| err(e.to_string()))?,
        threshold: serde_json::from_value(field("threshold")).map_err(|e| err(e.to_string()))?,
        details: field("details"),
        as_of: rec.as_of,
        irregularities: serde_json::from_value(
            b.get("irregularities").cloned().unwrap_or(json!([])),
        )
        .map_err(|e| err(e.to_string()))?,
    })
}

/// The `evaluate --json` object of one result (see the module documentation).
pub fn result_json(r: &KpiResult, tz: Tz) -> Value {
    json!({
        "kpi": r.kpi,
        "asset": r.asset,
        "period": r.period.label,
        "period_kind": r.period.kind,
        "period_start": format_local(tz, r.period.start),
        "period_end": format_local(tz, r.period.end),
        "evaluated_until": r.period.evaluated_until.map(|t| format_local(tz, t)),
        "value": r.value,
        "unit": r.unit,
        "status": r.status,
        "completeness": r.completeness,
        "uncertainty": r.uncertainty.map(|(lo, hi)| [lo, hi]),
        "threshold": r.threshold,
        "details": r.details,
        "irregularities": r.irregularities,
        "as_of": format_local(tz, r.as_of),
    })
}

/// The `evaluate --json` array.
pub fn to_json(results: &[KpiResult], tz: Tz) -> Value {
    Value::Array(results.iter().map(|r| result_json(r, tz)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::period::Calendar;
    use crate::kpi::result::{Irregularity, Status};

    #[test]
    fn a_result_survives_the_store_and_prints_as_documented() {
        let cal = Calendar::default();
        let p = cal.parse("2026-10").unwrap();
        let mut r = KpiResult::new("boiler_efficiency", "k1", &p, "%");
        r.value = Some(89.63);
        r.status = Status::Pass;
        r.completeness = 0.998;
        r.uncertainty = Some((86.5, 92.8));
        r.as_of = 1_790_000_000_000;
        r.detail("heat_gj", 700.0);
        r.irregularities.push(Irregularity::not_covered("x", "y"));
        let rec = to_record(&r);
        assert_eq!((rec.period_start, rec.period_end), (p.start(), p.end()));
        assert_eq!(from_record(&rec).unwrap(), r);
        let j = result_json(&r, cal.tz);
        assert_eq!(j["period_start"], "2026-10-01T00:00:00+02:00");
        assert_eq!(j["period_end"], "2026-11-01T00:00:00+01:00");
        assert_eq!(j["status"], "pass");
        assert_eq!(j["uncertainty"], json!([86.5, 92.8]));
        for k in [
            "kpi",
            "asset",
            "value",
            "unit",
            "completeness",
            "threshold",
            "details",
        ] {
            assert!(j.get(k).is_some(), "{k}");
        }
        let mut bad = rec.clone();
        bad.body = json!({"value": 1.0});
        assert!(
            from_record(&bad)
                .unwrap_err()
                .to_string()
                .contains("period_kind")
        );
    }
}
