//! `heatkpi import`: backfill from CSV (`timestamp,series,value[,quality]`) and Influx line
//! protocol files through the ingest path.
//!
//! A bad line is reported with its file and line number and skipped; the rest is imported.
//! The summary counts imported and rejected readings by reason.

use crate::ingest::line_protocol::{self, LineValue, Precision};
use crate::ingest::pipeline::IngestHandle;
use crate::ingest::{IngestStats, Reading};
use crate::model::{Quality, SeriesKey, TimestampMs};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

/// File format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `timestamp,series,value[,quality]`, timestamps RFC 3339 or epoch ms.
    Csv,
    /// Influx line protocol.
    LineProtocol(Precision),
}

impl Format {
    /// Guess from the file extension: `.csv` is CSV, anything else line protocol (ns).
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::LineProtocol(Precision::Ns),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportSummary {
    /// Lines read (including blank and comment lines).
    pub lines: u64,
    /// Readings parsed and handed to ingest.
    pub parsed: u64,
    /// Readings rejected while parsing, by reason.
    pub parse_rejected: BTreeMap<&'static str, u64>,
    /// The ingest counts (written, duplicates, downgraded...).
    pub ingest: IngestStats,
}

impl ImportSummary {
    /// Readings that did not make it into the store, for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.parse_rejected.values().sum::<u64>() + self.ingest.rejected_total()
    }

    /// A human summary: imported and rejected by reason.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} lines, {} readings parsed, {} imported",
            self.lines, self.parsed, self.ingest.written
        );
        let mut reasons: Vec<String> = self
            .parse_rejected
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        reasons.extend(
            self.ingest
                .rejected
                .iter()
                .map(|(r, n)| format!("{}: {n}", r.label())),
        );
        if reasons.is_empty() {
            s.push_str(", none rejected");
        } else {
            s.push_str(&format!(
                ", {} rejected ({})",
                self.rejected_total(),
                reasons.join(", ")
            ));
        }
        let downgraded: Vec<String> = self
            .ingest
            .downgraded
            .iter()
            .map(|(r, n)| format!("{}: {n}", r.label()))
            .collect();
        if !downgraded.is_empty() {
            s.push_str(&format!(", stored as suspect: {}", downgraded.join(", ")));
        }
        s
    }
}

/// A problem with one line, printed as `file:line: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct LineProblem {
    /// Line number (1-based).
    pub line: u64,
    /// What is wrong and what to write instead.
    pub message: String,
    /// Reason label for the summary.
    pub reason: &'static str,
}

/// Parse one CSV line. `Ok(None)` for blank lines, comments and the header.
pub fn parse_csv_line(tz: Tz, line: &str) -> Result<Option<LineValue>, (&'static str, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with("timestamp,") {
        return Ok(None);
    }
    let mut cols = line.split(',').map(str::trim);
    let (Some(ts), Some(series), Some(value)) = (cols.next(), cols.next(), cols.next()) else {
        return Err((
            "bad_line",
            "expected `timestamp,series,value[,quality]`".to_string(),
        ));
    };
    let quality = match cols.next() {
        None | Some("") => Quality::Good,
        Some(q) => q
            .parse()
            .map_err(|e: crate::model::quantity::UnknownName| ("bad_quality", e.to_string()))?,
    };
    if cols.next().is_some() {
        return Err((
            "bad_line",
            "too many columns; expected `timestamp,series,value[,quality]`".to_string(),
        ));
    }
    let ts: TimestampMs =
        crate::model::time::parse_instant(tz, ts).map_err(|e| ("bad_timestamp", e))?;
    let series: SeriesKey = series
        .parse()
        .map_err(|e: crate::model::SeriesKeyError| ("bad_series", e.to_string()))?;
    let value: f64 = value
        .parse()
        .map_err(|_| ("bad_value", format!("value `{value}` is not a number")))?;
    Ok(Some(LineValue {
        series,
        ts,
        value,
        quality,
    }))
}

/// Import `reader` (named `name` in messages) through `ingest`. `on_problem` is called for
/// every bad line; `on_progress` with the bytes read so far.
pub async fn import(
    reader: impl BufRead,
    format: Format,
    tz: Tz,
    ingest: &IngestHandle,
    mut on_problem: impl FnMut(&LineProblem),
    mut on_progress: impl FnMut(u64),
) -> Result<ImportSummary, std::io::Error> {
    const BATCH: usize = 10_000;
    let mut summary = ImportSummary::default();
    let mut batch: Vec<Reading> = Vec::with_capacity(BATCH);
    let (mut values, mut errors) = (Vec::new(), Vec::new());
    let mut bytes = 0u64;
    let mut line_no = 0u64;
    let mut problem =
        |summary: &mut ImportSummary, line: u64, reason: &'static str, message: String| {
            *summary.parse_rejected.entry(reason).or_default() += 1;
            metrics::counter!("heatkpi_import_rejected_total", "reason" => reason).increment(1);
            on_problem(&LineProblem {
                line,
                message,
                reason,
            });
        };
    for line in reader.lines() {
        let line = line?;
        line_no += 1;
        bytes += line.len() as u64 + 1;
        match format {
            Format::Csv => match parse_csv_line(tz, &line) {
                Ok(Some(v)) => values.push(v),
                Ok(None) => {}
                Err((reason, msg)) => problem(&mut summary, line_no, reason, msg),
            },
            Format::LineProtocol(p) => {
                line_protocol::parse_line(&line, p, None, &mut values, &mut errors);
                for e in errors.drain(..) {
                    let reason = match e {
                        line_protocol::LineError::UnknownField(_) => "unknown_field",
                        line_protocol::LineError::BadValue { .. } => "bad_value",
                        line_protocol::LineError::BadTimestamp(..) => "bad_timestamp",
                        line_protocol::LineError::BadQuality(_) => "bad_quality",
                        _ => "bad_line",
                    };
                    problem(&mut summary, line_no, reason, e.to_string());
                }
            }
        }
        for v in values.drain(..) {
            summary.parsed += 1;
            let unit = v.series.quantity.canonical_unit();
            batch.push(Reading {
                series: v.series,
                ts: v.ts,
                value: v.value,
                unit,
                quality: v.quality,
            });
        }
        if batch.len() >= BATCH {
            send(ingest, &mut batch).await?;
            on_progress(bytes);
        }
    }
    send(ingest, &mut batch).await?;
    ingest
        .flush()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    on_progress(bytes);
    summary.lines = line_no;
    Ok(summary)
}

async fn send(ingest: &IngestHandle, batch: &mut Vec<Reading>) -> Result<(), std::io::Error> {
    if batch.is_empty() {
        return Ok(());
    }
    ingest
        .send(std::mem::replace(batch, Vec::with_capacity(10_000)))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Warsaw;

    #[test]
    fn csv_lines() {
        let v = parse_csv_line(Warsaw, "2026-10-01T00:00:00+02:00,ss-1.supply_temp,80.5")
            .unwrap()
            .unwrap();
        assert_eq!(v.ts, 1_790_805_600_000);
        assert_eq!(v.value, 80.5);
        assert_eq!(v.quality, Quality::Good);
        let v = parse_csv_line(Warsaw, "1790805600000,em-1.so2,12,maintenance")
            .unwrap()
            .unwrap();
        assert_eq!((v.ts, v.quality), (1_790_805_600_000, Quality::Maintenance));
        assert_eq!(
            parse_csv_line(Warsaw, "timestamp,series,value").unwrap(),
            None
        );
        assert_eq!(parse_csv_line(Warsaw, "").unwrap(), None);
        assert_eq!(
            parse_csv_line(Warsaw, "x,ss-1.flow,1").unwrap_err().0,
            "bad_timestamp"
        );
        assert_eq!(
            parse_csv_line(Warsaw, "1,ss-1.flw,1").unwrap_err().0,
            "bad_series"
        );
        assert_eq!(
            parse_csv_line(Warsaw, "1,ss-1.flow,abc").unwrap_err().0,
            "bad_value"
        );
        assert_eq!(
            parse_csv_line(Warsaw, "1,ss-1.flow,1,great").unwrap_err().0,
            "bad_quality"
        );
        assert_eq!(
            parse_csv_line(Warsaw, "1,ss-1.flow").unwrap_err().0,
            "bad_line"
        );
        assert_eq!(
            parse_csv_line(Warsaw, "1,ss-1.flow,1,good,x")
                .unwrap_err()
                .0,
            "bad_line"
        );
    }
}
