//! Sample writes: first write wins, duplicates counted, refused points quarantined.
//!
//! InfluxDB lets the last write of a (series, timestamp) win; the store contract says the first
//! one does and duplicates are reported. So before a batch is sent, the timestamps the server
//! already holds for the batch's series in the batch's time range are read (one InfluxQL
//! statement per measurement) and those samples are left out and counted. For live data the
//! range is a few seconds with nothing in it, so the check costs one small query per batch.
//! Two writers writing the same series at the same instant at the same moment could still
//! both pass the check; one asset is collected by one agent, so that does not arise.
//!
//! A batch the server refuses with 400/422/413 is bisected: halves are sent until the single
//! lines at fault are found; those are quarantined with the server's message (counted,
//! logged, kept in the side file) and the rest of the batch lands. Resending a half that the
//! server had already partly stored rewrites identical points, which changes nothing.

use super::InfluxStore;
use super::http::HttpError;
use super::influxql::{ident, literal, row_time};
use super::lp::{marker_line, sample_line};
use super::side::QuarantinedPoint;
use crate::model::{Sample, SeriesKey, TimestampMs};
use crate::store::fasthash::FastBuild;
use crate::store::{StoreError, WriteReport};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Above this many assets in one measurement, the duplicate check reads the whole measurement
/// in the time range rather than listing assets in the statement.
const MAX_LISTED_ASSETS: usize = 200;

impl InfluxStore {
    pub(super) fn write_impl(&self, samples: &[Sample]) -> Result<WriteReport, StoreError> {
        let mut report = WriteReport::default();
        let mut seen: HashSet<(&SeriesKey, TimestampMs), FastBuild> =
            HashSet::with_capacity_and_hasher(samples.len(), FastBuild::default());
        let mut unique: Vec<&Sample> = Vec::with_capacity(samples.len());
        for s in samples {
            if !seen.insert((&s.series, s.ts)) {
                report.duplicates += 1;
            } else if !s.value.is_finite() {
                self.quarantine(s, String::new(), "value is not a finite number".into())?;
            } else {
                unique.push(s);
            }
        }
        for chunk in unique.chunks(self.batch_size) {
            if !self.check_duplicates {
                report.written += self.send(chunk)?;
                continue;
            }
            // Samples after a series' high-water mark cannot be duplicates: only the rest
            // (first touch of a series, late data) is looked up on the server.
            let to_check: Vec<&Sample> = {
                let hwm = self.hwm.lock().unwrap_or_else(|p| p.into_inner());
                chunk
                    .iter()
                    .filter(|s| hwm.get(&s.series).is_none_or(|m| s.ts <= *m))
                    .copied()
                    .collect()
            };
            let (existing, later) = if to_check.is_empty() {
                Default::default()
            } else {
                self.existing(&to_check)?
            };
            let fresh: Vec<&Sample> = chunk
                .iter()
                .filter(|s| {
                    !existing.contains(&(s.series.asset.as_str(), s.series.quantity.name(), s.ts))
                })
                .copied()
                .collect();
            report.duplicates += chunk.len() - fresh.len();
            if !fresh.is_empty() {
                report.written += self.send(&fresh)?;
            }
            let mut hwm = self.hwm.lock().unwrap_or_else(|p| p.into_inner());
            for s in chunk {
                match hwm.get_mut(&s.series) {
                    Some(m) => *m = (*m).max(s.ts),
                    // A series with points after this batch keeps being checked.
                    None if later
                        .contains(&(s.series.asset.as_str(), s.series.quantity.name())) => {}
                    None => {
                        hwm.insert(s.series.clone(), s.ts);
                    }
                }
            }
        }
        if report.duplicates > 0 {
            metrics::counter!("heatkpi_store_duplicates_total").increment(report.duplicates as u64);
        }
        Ok(report)
    }

    /// The (asset, quantity, ts) of `chunk` the server already holds, and the (asset,
    /// quantity) pairs that have points after the chunk's time range.
    #[allow(clippy::type_complexity)]
    fn existing<'a>(
        &self,
        chunk: &[&'a Sample],
    ) -> Result<
        (
            HashSet<(&'a str, &'static str, TimestampMs)>,
            HashSet<(&'a str, &'static str)>,
        ),
        StoreError,
    > {
        struct Group<'a> {
            assets: BTreeSet<&'a str>,
            fields: BTreeSet<&'static str>,
            min: TimestampMs,
            max: TimestampMs,
        }
        let mut groups: BTreeMap<&str, Group<'a>> = BTreeMap::new();
        for s in chunk {
            let g = groups
                .entry(self.measurement_of(&s.series.asset))
                .or_insert_with(|| Group {
                    assets: BTreeSet::new(),
                    fields: BTreeSet::new(),
                    min: s.ts,
                    max: s.ts,
                });
            g.assets.insert(s.series.asset.as_str());
            g.fields.insert(s.series.quantity.name());
            g.min = g.min.min(s.ts);
            g.max = g.max.max(s.ts);
        }
        let mut statements = Vec::new();
        let mut order = Vec::new();
        for (m, g) in &groups {
            let fields: Vec<String> = g.fields.iter().map(|f| ident(f)).collect();
            let assets = if g.assets.len() <= MAX_LISTED_ASSETS {
                let list: Vec<String> = g
                    .assets
                    .iter()
                    .map(|a| format!("{} = {}", ident("asset"), literal(a)))
                    .collect();
                format!("({}) AND ", list.join(" OR "))
            } else {
                String::new()
            };
            statements.push(format!(
                "SELECT {} FROM {} WHERE {assets}time >= {}ms AND time <= {}ms GROUP BY {}",
                fields.join(", "),
                ident(m),
                g.min,
                g.max,
                ident("asset")
            ));
            statements.push(format!(
                "SELECT last(*) FROM {} WHERE {assets}time > {}ms GROUP BY {}",
                ident(m),
                g.max,
                ident("asset")
            ));
            order.push(g);
        }
        // Answers name assets and fields as owned strings; map them back onto the batch's.
        let mut found: HashSet<(&'a str, &'static str, TimestampMs)> = HashSet::new();
        let mut later: HashSet<(&'a str, &'static str)> = HashSet::new();
        self.http
            .query(&statements.join("; "), |stmt, chunk_answer| {
                let Some(g) = order.get(stmt / 2) else { return };
                let Some(asset) = chunk_answer
                    .tags
                    .get("asset")
                    .and_then(|a| g.assets.get(a.as_str()).copied())
                else {
                    return;
                };
                if stmt % 2 == 1 {
                    for f in &g.fields {
                        let has = chunk_answer.col(&format!("last_{f}")).is_some_and(|i| {
                            chunk_answer
                                .values
                                .iter()
                                .any(|row| row.get(i).is_some_and(|v| !v.is_null()))
                        });
                        if has {
                            later.insert((asset, *f));
                        }
                    }
                    return;
                }
                let cols: Vec<(usize, &'static str)> = g
                    .fields
                    .iter()
                    .filter_map(|f| chunk_answer.col(f).map(|i| (i, *f)))
                    .collect();
                for row in &chunk_answer.values {
                    let Some(ts) = row_time(row) else { continue };
                    for &(i, f) in &cols {
                        if row.get(i).is_some_and(|v| !v.is_null()) {
                            found.insert((asset, f, ts));
                        }
                    }
                }
            })?;
        Ok((found, later))
    }

    fn lines(&self, samples: &[&Sample]) -> String {
        // A line is about 90 bytes (`substation,asset=ss-042 supply_temp=71.5,supply_temp_q=0i`
        // and 19 digits of time): room for all of them, so the body is not copied as it grows.
        let mut body = String::with_capacity(samples.len() * 100 + 96);
        for s in samples {
            sample_line(&mut body, self.measurement_of(&s.series.asset), s);
        }
        body
    }

    fn marker(&self, body: &mut String, samples: &[&Sample]) {
        let min = samples.iter().map(|s| s.ts).min().unwrap_or(0);
        let max = samples.iter().map(|s| s.ts).max().unwrap_or(0);
        marker_line(body, &self.writer_id, min, max, samples.len());
    }

    /// Send samples that are not yet stored; returns how many landed.
    fn send(&self, samples: &[&Sample]) -> Result<usize, StoreError> {
        let mut body = self.lines(samples);
        self.marker(&mut body, samples);
        match self.http.write(&body) {
            Ok(()) => Ok(samples.len()),
            Err(HttpError::Rejected(msg) | HttpError::TooLarge(msg)) => {
                tracing::warn!(
                    points = samples.len(),
                    "influx refused a batch, looking for the bad points: {msg}"
                );
                let mut landed = Vec::with_capacity(samples.len());
                self.bisect(samples, &mut landed)?;
                if !landed.is_empty() {
                    let mut m = String::new();
                    self.marker(&mut m, &landed);
                    self.http.write(&m)?;
                }
                Ok(landed.len())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn bisect<'a>(
        &self,
        samples: &[&'a Sample],
        landed: &mut Vec<&'a Sample>,
    ) -> Result<(), StoreError> {
        let body = self.lines(samples);
        match self.http.write(&body) {
            Ok(()) => {
                landed.extend_from_slice(samples);
                Ok(())
            }
            Err(HttpError::Rejected(msg) | HttpError::TooLarge(msg)) => {
                if let [one] = samples {
                    self.quarantine(one, body.trim_end().to_string(), msg)
                } else {
                    let (a, b) = samples.split_at(samples.len() / 2);
                    self.bisect(a, landed)?;
                    self.bisect(b, landed)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn quarantine(&self, s: &Sample, line: String, reason: String) -> Result<(), StoreError> {
        metrics::counter!("heatkpi_influx_quarantined_total").increment(1);
        tracing::error!(
            series = %s.series,
            ts = s.ts,
            value = s.value,
            "point quarantined, the database refused it: {reason}"
        );
        self.side.quarantine(&QuarantinedPoint {
            at: chrono::Utc::now().timestamp_millis(),
            sample: s.clone(),
            line,
            reason,
        })
    }

    pub(super) fn write_seq_impl(&self) -> Result<u64, StoreError> {
        let mut seq = 0u64;
        let q = format!(
            "SELECT last(\"points\") FROM {}",
            ident(super::lp::MARKER_MEASUREMENT)
        );
        self.http.query_ns(&q, |_, chunk| {
            for row in &chunk.values {
                if let Some(t) = row_time(row) {
                    seq = seq.max(u64::try_from(t).unwrap_or(0));
                }
            }
        })?;
        Ok(seq)
    }

    pub(super) fn earliest_change_since_impl(
        &self,
        since: u64,
    ) -> Result<Option<TimestampMs>, StoreError> {
        let since = i64::try_from(since).unwrap_or(i64::MAX);
        let q = format!(
            "SELECT min(\"min_ts\") FROM {} WHERE time > {since}",
            ident(super::lp::MARKER_MEASUREMENT)
        );
        let mut min: Option<TimestampMs> = None;
        self.http.query_ns(&q, |_, chunk| {
            let col = chunk.col("min").unwrap_or(1);
            for row in &chunk.values {
                if let Some(v) = row.get(col).and_then(super::influxql::as_i64) {
                    min = Some(min.map_or(v, |m| m.min(v)));
                }
            }
        })?;
        Ok(min)
    }
}
