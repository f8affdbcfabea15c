//! `heatkpi query`: raw or aggregated values of one series or a glob of series, for operators.

use crate::model::quantity::Kind;
use crate::model::time::{Every, Window, format_local, windows};
use crate::model::{Point, SeriesKey};
use crate::store::{Aggregate, Store, StoreError};
use chrono_tz::Tz;
use serde::Serialize;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// A JSON array.
    Json,
}

/// One aggregated window of one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggregateRow {
    /// The series.
    pub series: SeriesKey,
    /// The window's aggregates.
    #[serde(flatten)]
    pub agg: Aggregate,
    /// Consumption in the window for counter series (per-segment register differences).
    pub delta: Option<f64>,
}

/// Raw samples of one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawRow {
    /// The series.
    pub series: SeriesKey,
    /// The sample.
    #[serde(flatten)]
    pub point: Point,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// Raw samples.
    Raw(Vec<RawRow>),
    /// Aggregated windows.
    Aggregated(Vec<AggregateRow>),
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Nothing in the store matches the pattern.
    #[error("no series matches `{0}`; list what is stored with `heatkpi query '*' --list`")]
    NoSeries(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Run a query over every series matching `pattern`.
pub fn run(
    store: &dyn Store,
    tz: Tz,
    pattern: &str,
    range: Window,
    every: Option<Every>,
) -> Result<QueryResult, QueryError> {
    let series = store.list_series(pattern)?;
    if series.is_empty() {
        return Err(QueryError::NoSeries(pattern.to_string()));
    }
    match every {
        None => {
            let mut rows = Vec::new();
            for s in series {
                for point in store.read_range(&s, range)? {
                    rows.push(RawRow {
                        series: s.clone(),
                        point,
                    });
                }
            }
            Ok(QueryResult::Raw(rows))
        }
        Some(every) => {
            let ws = windows(tz, range, every);
            let mut rows = Vec::new();
            for s in series {
                let aggs = store.aggregate(&s, &ws)?;
                for (w, agg) in ws.iter().zip(aggs) {
                    let delta = if s.quantity.kind() == Kind::Counter {
                        let d = store.counter_delta(&s, *w, None)?;
                        (d.readings > 0).then_some(d.delta)
                    } else {
                        None
                    };
                    rows.push(AggregateRow {
                        series: s.clone(),
                        agg,
                        delta,
                    });
                }
            }
            Ok(QueryResult::Aggregated(rows))
        }
    }
}

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_default()
}

/// Render a result in `format`, with times in `tz`.
pub fn render(result: &QueryResult, format: OutputFormat, tz: Tz) -> String {
    let (header, rows): (Vec<&str>, Vec<Vec<String>>) = match result {
        QueryResult::Raw(rows) => (
            vec!["series", "time", "value", "quality"],
            rows.iter()
                .map(|r| {
                    vec![
                        r.series.to_string(),
                        format_local(tz, r.point.ts),
                        format!("{}", r.point.value),
                        r.point.quality.to_string(),
                    ]
                })
                .collect(),
        ),
        QueryResult::Aggregated(rows) => (
            vec![
                "series", "start", "count", "valid", "mean", "tw_mean", "min", "max", "last",
                "delta",
            ],
            rows.iter()
                .map(|r| {
                    vec![
                        r.series.to_string(),
                        format_local(tz, r.agg.start),
                        r.agg.count.to_string(),
                        r.agg.valid.to_string(),
                        num(r.agg.mean),
                        num(r.agg.tw_mean),
                        num(r.agg.min),
                        num(r.agg.max),
                        num(r.agg.last.map(|p| p.value)),
                        num(r.delta),
                    ]
                })
                .collect(),
        ),
    };
    match format {
        OutputFormat::Json => {
            let v = match result {
                QueryResult::Raw(r) => serde_json::to_string_pretty(r),
                QueryResult::Aggregated(r) => serde_json::to_string_pretty(r),
            };
            v.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
        }
        OutputFormat::Csv => {
            let mut out = header.join(",") + "\n";
            for r in rows {
                out.push_str(&r.join(","));
                out.push('\n');
            }
            out
        }
        OutputFormat::Table => {
            let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |cells: Vec<String>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
                    + "\n"
            };
            let mut out = line(header.iter().map(|h| h.to_string()).collect());
            for r in rows {
                out.push_str(&line(r));
            }
            out
        }
    }
}
