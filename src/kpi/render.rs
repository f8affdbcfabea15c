//! The text table of `heatkpi evaluate --period …` (the CLI prints what this returns; `--json`
//! uses `record::to_json`).
//!
//! One row per result: KPI, asset, period, value, unit, status, completeness, uncertainty band
//! and the threshold (with where it came from), then every irregularity numbered below the
//! table with Imai's question it answers, so an operator can explain each one.

use super::result::{IrregularityKind, KpiResult};
use super::threshold::round_for_text;
use crate::model::asset::Direction;
use crate::model::time::format_local;
use chrono_tz::Tz;
use std::fmt::Write;

fn value_text(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e12 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn threshold_text(r: &KpiResult) -> String {
    let Some(t) = &r.threshold else {
        return "no standard set".into();
    };
    let op = match t.direction {
        Direction::Min => "<",
        Direction::Max => ">",
    };
    let mut parts = Vec::new();
    if let Some(w) = t.warn {
        parts.push(format!("warn {op} {}", round_for_text(w)));
    }
    if let Some(f) = t.fail {
        parts.push(format!("fail {op} {}", round_for_text(f)));
    }
    format!("{} ({})", parts.join(", "), t.scope)
}

fn kind_text(k: IrregularityKind) -> &'static str {
    match k {
        IrregularityKind::NotCovered => "no standard covered it",
        IrregularityKind::NotFollowed => "standard not followed",
        IrregularityKind::StandardQuestionable => "standard may be wrong",
    }
}

/// The table for `results` with times in `tz`.
pub fn render_table(results: &[KpiResult], tz: Tz) -> String {
    let header = [
        "KPI",
        "ASSET",
        "PERIOD",
        "VALUE",
        "UNIT",
        "STATUS",
        "COMPL.",
        "BAND",
        "THRESHOLD",
        "NOTES",
    ];
    let mut rows: Vec<[String; 10]> = Vec::new();
    let mut notes = Vec::new();
    for r in results {
        let first_note = notes.len() + 1;
        for i in &r.irregularities {
            notes.push(format!(
                "[{}] {} {} {}: {} — {} ({})",
                notes.len() + 1,
                r.kpi,
                r.asset,
                r.period.label,
                kind_text(i.kind),
                i.message,
                i.standard
            ));
        }
        let refs = match r.irregularities.len() {
            0 => String::new(),
            1 => format!("[{first_note}]"),
            n => format!("[{first_note}–{}]", first_note + n - 1),
        };
        let period = match r.period.evaluated_until {
            Some(t) => format!("{} (to {})", r.period.label, format_local(tz, t)),
            None => r.period.label.clone(),
        };
        rows.push([
            r.kpi.clone(),
            r.asset.clone(),
            period,
            value_text(r.value),
            r.unit.clone(),
            r.status.name().to_string(),
            format!("{:.1} %", r.completeness * 100.0),
            r.uncertainty
                .map(|(lo, hi)| format!("{lo:.2} – {hi:.2}"))
                .unwrap_or_default(),
            threshold_text(r),
            refs,
        ]);
    }
    let mut width = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            // Numbers right-aligned, text left-aligned.
            let pad = w.saturating_sub(c.chars().count());
            if i == 3 || i == 6 {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            }
            s.push_str("  ");
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(&mut out, &header.map(String::from));
    for row in &rows {
        line(&mut out, row);
    }
    if results.is_empty() {
        out.push_str("(no results: no configured asset matches)\n");
    }
    if let Some(as_of) = results.iter().map(|r| r.as_of).max() {
        let _ = writeln!(out, "\nas of {}", format_local(tz, as_of));
    }
    if !notes.is_empty() {
        out.push_str("\nIrregularities:\n");
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::period::Calendar;
    use crate::kpi::result::{AppliedThreshold, Irregularity, Status};

    #[test]
    fn table_rows_thresholds_and_numbered_irregularities() {
        let cal = Calendar::default();
        let p = cal.parse("2026-10").unwrap();
        let mut a = KpiResult::new("boiler_efficiency", "k1", &p, "%");
        a.value = Some(89.628_681);
        a.status = Status::Pass;
        a.completeness = 0.998;
        a.uncertainty = Some((86.5, 92.8));
        a.threshold = Some(AppliedThreshold {
            warn: Some(88.0),
            fail: Some(85.0),
            unit: "%".into(),
            direction: Direction::Min,
            source: "domain".into(),
            scope: "class boiler:natural_gas".into(),
            effective_from: None,
            effective_to: None,
        });
        let mut b = KpiResult::new("emission_nox_days_above_daily_limit", "em-1", &p, "d");
        b.value = Some(2.0);
        b.status = Status::Fail;
        b.irregularities
            .push(Irregularity::not_followed("IED", "two days above 110 %"));
        b.irregularities.push(Irregularity::not_covered("x", "y"));
        let t = render_table(&[a, b], cal.tz);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("KPI"));
        assert!(
            lines[1].contains("89.63") && lines[1].contains("pass") && lines[1].contains("99.8 %")
        );
        assert!(
            lines[1].contains("warn < 88, fail < 85 (class boiler:natural_gas)"),
            "{t}"
        );
        assert!(
            lines[2].contains("no standard set") && lines[2].contains("[1–2]"),
            "{t}"
        );
        assert!(t.contains("[1] emission_nox_days_above_daily_limit em-1 2026-10: standard not followed — two days above 110 % (IED)"), "{t}");
        assert!(render_table(&[], cal.tz).contains("no results"));
    }
}
