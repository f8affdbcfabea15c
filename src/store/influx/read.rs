//! Sample reads over InfluxQL: raw ranges, window aggregates, counter deltas, the last sample
//! before an instant, and the series list.
//!
//! Every read names the series' measurement from the asset map given at construction, so the
//! configuration used by the writers (agents) and the reader (`heatkpi run`) must agree on
//! each asset's kind. Points written by other tools without a `<quantity>_q` field are read as
//! good.

use super::InfluxStore;
use super::accumulate::{Windows, spans};
use super::influxql::{as_f64, as_i64, asset_regex, ident, literal, row_time, window};
use super::lp::{KIND_MEASUREMENTS, QUALITY_SUFFIX};
use crate::model::counter::{CounterDelta, delta_of};
use crate::model::time::Window;
use crate::model::{Point, Quality, Quantity, SeriesKey, TimestampMs, glob_match};
use crate::store::{Aggregate, StoreError};
use std::collections::BTreeSet;

/// Statements per request when reading many spans.
const STATEMENTS_PER_REQUEST: usize = 50;

impl InfluxStore {
    fn select(&self, series: &SeriesKey, condition: &str, tail: &str) -> String {
        let q = series.quantity.name();
        format!(
            "SELECT {}, {} FROM {} WHERE {} = {} AND {condition}{tail}",
            ident(q),
            ident(&format!("{q}{QUALITY_SUFFIX}")),
            ident(self.measurement_of(&series.asset)),
            ident("asset"),
            literal(&series.asset),
        )
    }

    /// Every point of `series` inside `spans` (disjoint, sorted), in time order.
    fn scan(
        &self,
        series: &SeriesKey,
        spans: &[Window],
        mut each: impl FnMut(Point),
    ) -> Result<(), StoreError> {
        for group in spans.chunks(STATEMENTS_PER_REQUEST) {
            let q: Vec<String> = group
                .iter()
                .map(|w| self.select(series, &window(*w), ""))
                .collect();
            self.http.query(&q.join("; "), |_, chunk| {
                for row in &chunk.values {
                    if let Some(p) = point_of(row) {
                        each(p);
                    }
                }
            })?;
        }
        Ok(())
    }

    pub(super) fn read_range_impl(
        &self,
        series: &SeriesKey,
        range: Window,
    ) -> Result<Vec<Point>, StoreError> {
        let mut out = Vec::new();
        if range.end > range.start {
            self.scan(series, &[range], |p| out.push(p))?;
        }
        Ok(out)
    }

    pub(super) fn aggregate_impl(
        &self,
        series: &SeriesKey,
        windows: &[Window],
    ) -> Result<Vec<Aggregate>, StoreError> {
        let mut acc = Windows::new(windows);
        self.scan(series, &spans(windows), |p| acc.push(p))?;
        Ok(acc.finish())
    }

    pub(super) fn counter_delta_impl(
        &self,
        series: &SeriesKey,
        range: Window,
        modulus: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        let mut valid = Vec::new();
        if range.end > range.start {
            self.scan(series, &[range], |p| {
                if p.quality.is_valid() {
                    valid.push((p.ts, p.value));
                }
            })?;
        }
        Ok(delta_of(valid, modulus))
    }

    pub(super) fn last_before_impl(
        &self,
        series: &SeriesKey,
        at: TimestampMs,
    ) -> Result<Option<Point>, StoreError> {
        let q = self.select(
            series,
            &format!("time <= {at}ms"),
            " ORDER BY time DESC LIMIT 1",
        );
        let mut found = None;
        self.http.query(&q, |_, chunk| {
            for row in &chunk.values {
                if found.is_none() {
                    found = point_of(row);
                }
            }
        })?;
        Ok(found)
    }

    /// The measurements samples may be in: every asset kind, `asset`, and whatever the map
    /// names.
    fn sample_measurements(&self) -> BTreeSet<String> {
        let mut m: BTreeSet<String> = KIND_MEASUREMENTS.iter().map(|s| s.to_string()).collect();
        m.extend(self.measurements.values().cloned());
        m
    }

    pub(super) fn list_series_impl(&self, pattern: &str) -> Result<Vec<SeriesKey>, StoreError> {
        // `last(*)` per asset answers which (asset, field) pairs hold data at all: SHOW FIELD
        // KEYS is per measurement, so crossing it with SHOW TAG VALUES would invent series for
        // assets of one kind that measure different quantities.
        let filter = asset_regex(pattern)
            .map(|re| format!(" WHERE {} =~ {re}", ident("asset")))
            .unwrap_or_default();
        let statements: Vec<String> = self
            .sample_measurements()
            .iter()
            .map(|m| {
                format!(
                    "SELECT last(*) FROM {}{filter} GROUP BY {}",
                    ident(m),
                    ident("asset")
                )
            })
            .collect();
        let mut out = BTreeSet::new();
        self.http.query(&statements.join("; "), |_, chunk| {
            let Some(asset) = chunk.tags.get("asset") else {
                return;
            };
            for (i, col) in chunk.columns.iter().enumerate() {
                let Some(field) = col.strip_prefix("last_") else {
                    continue;
                };
                if field.ends_with(QUALITY_SUFFIX) {
                    continue;
                }
                let Ok(quantity) = field.parse::<Quantity>() else {
                    continue;
                };
                let has_data = chunk
                    .values
                    .iter()
                    .any(|row| row.get(i).is_some_and(|v| !v.is_null()));
                let key = SeriesKey::new(asset.clone(), quantity);
                if has_data && glob_match(pattern, &key.to_string()) {
                    out.insert(key);
                }
            }
        })?;
        Ok(out.into_iter().collect())
    }
}

/// A row `[time, value, quality]` as a point; `None` when the value is missing.
fn point_of(row: &[serde_json::Value]) -> Option<Point> {
    let ts = row_time(row)?;
    let value = row.get(1).and_then(as_f64)?;
    let quality = row.get(2).and_then(as_i64).map_or(Quality::Good, |c| {
        Quality::from_code(u8::try_from(c).unwrap_or(u8::MAX))
    });
    Some(Point { ts, value, quality })
}
