//! KPI results, events and retention on InfluxDB.
//!
//! Results: every revision goes to the side file (the store's answer to `results`), and the
//! revision is also written to the `kpi_result` measurement, where a newer revision of a period
//! overwrites the older one, so Grafana shows exactly the numbers the reports use.
//!
//! Events live in the `event` measurement: agents on other machines produce them (counter
//! resets, stale devices), and the central evaluator must read them. They are few, so reads
//! fetch the candidates by tag and time and apply the contract's filters here.

use super::InfluxStore;
use super::influxql::{as_i64, ident, literal};
use super::lp::{
    EVENT_MEASUREMENT, KIND_MEASUREMENTS, MARKER_MEASUREMENT, QUALITY_SUFFIX, event_line,
    result_line,
};
use crate::model::TimestampMs;
use crate::store::{EventFilter, EventRecord, KpiRecord, StoreError};
use std::collections::HashMap;

impl InfluxStore {
    pub(super) fn put_results_impl(&self, records: &[KpiRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.side.put_results(records)?;
        // Only the newest revision of each period reaches the mirror, so a batch holding two
        // revisions cannot leave the older one in Grafana.
        let mut newest: HashMap<(&str, &str, TimestampMs), &KpiRecord> = HashMap::new();
        for r in records {
            let e = newest
                .entry((r.kpi.as_str(), r.asset.as_str(), r.period_start))
                .or_insert(r);
            if r.as_of >= e.as_of {
                *e = r;
            }
        }
        let mut body = String::new();
        for r in newest.values() {
            result_line(&mut body, r);
        }
        self.http.write(&body).map_err(Into::into)
    }

    pub(super) fn put_events_impl(&self, events: &[EventRecord]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let rev = chrono::Utc::now().timestamp_millis();
        let mut body = String::new();
        for (i, e) in events.iter().enumerate() {
            // Later events of one batch win over earlier ones with the same id.
            event_line(
                &mut body,
                e,
                rev.saturating_mul(1000).saturating_add(i as i64),
            );
        }
        self.http.write(&body).map_err(Into::into)
    }

    pub(super) fn events_impl(&self, f: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        let mut conds = Vec::new();
        if let Some(k) = &f.kind {
            conds.push(format!("{} = {}", ident("kind"), literal(k)));
        }
        if let Some(s) = &f.subject {
            conds.push(format!("{} = {}", ident("subject"), literal(s)));
        }
        if let Some(w) = f.overlapping {
            conds.push(format!("time < {}ms", w.end));
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let q = format!(
            "SELECT * FROM {}{filter} GROUP BY {}, {}, {}",
            ident(EVENT_MEASUREMENT),
            ident("kind"),
            ident("subject"),
            ident("id")
        );
        // id → (rev, event)
        let mut by_id: HashMap<String, (i64, EventRecord)> = HashMap::new();
        let mut bad = None;
        self.http.query(&q, |_, chunk| {
            let tag = |k: &str| chunk.tags.get(k).cloned().unwrap_or_default();
            let (kind, subject, id) = (tag("kind"), tag("subject"), tag("id"));
            let (Some(c_open), Some(c_end), Some(c_rev), Some(c_body)) = (
                chunk.col("open"),
                chunk.col("end_ms"),
                chunk.col("rev"),
                chunk.col("body"),
            ) else {
                return;
            };
            for row in &chunk.values {
                let Some(start) = super::influxql::row_time(row) else {
                    continue;
                };
                let open = row.get(c_open).and_then(|v| v.as_bool()).unwrap_or(false);
                let end = row.get(c_end).and_then(as_i64);
                let rev = row.get(c_rev).and_then(as_i64).unwrap_or(0);
                let body = match row.get(c_body).and_then(|v| v.as_str()) {
                    Some(text) => match serde_json::from_str(text) {
                        Ok(b) => b,
                        Err(e) => {
                            bad = Some(format!("event {id} body: {e}"));
                            continue;
                        }
                    },
                    None => serde_json::Value::Null,
                };
                let ev = EventRecord {
                    id: id.clone(),
                    kind: kind.clone(),
                    subject: subject.clone(),
                    start,
                    end: if open { None } else { end },
                    body,
                };
                match by_id.get(&id) {
                    Some((r, _)) if *r > rev => {}
                    _ => {
                        by_id.insert(id.clone(), (rev, ev));
                    }
                }
            }
        })?;
        if let Some(b) = bad {
            return Err(StoreError::Data(b));
        }
        let mut out: Vec<EventRecord> = by_id
            .into_values()
            .map(|(_, e)| e)
            .filter(|e| !f.open_only || e.end.is_none())
            .filter(|e| match f.overlapping {
                Some(w) => e.start < w.end && e.end.is_none_or(|end| end > w.start),
                None => true,
            })
            .collect();
        out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    pub(super) fn apply_retention_impl(&self, before: TimestampMs) -> Result<u64, StoreError> {
        // Count what goes first (value fields only, not their quality fields), then delete.
        // InfluxDB 1.x answers DELETE; 2.x and 3.x do not over InfluxQL, where the bucket's or
        // database's retention period does this job and the server's message says so.
        let mut statements = Vec::new();
        for m in KIND_MEASUREMENTS
            .iter()
            .map(|s| s.to_string())
            .chain(self.measurements.values().cloned())
            .collect::<std::collections::BTreeSet<_>>()
        {
            statements.push(format!(
                "SELECT count(*) FROM {} WHERE time < {before}ms",
                ident(&m)
            ));
        }
        let mut deleted = 0u64;
        self.http.query(&statements.join("; "), |_, chunk| {
            for (i, c) in chunk.columns.iter().enumerate() {
                if c.starts_with("count_") && !c.ends_with(QUALITY_SUFFIX) {
                    for row in &chunk.values {
                        deleted += row.get(i).and_then(as_i64).unwrap_or(0).max(0) as u64;
                    }
                }
            }
        })?;
        if deleted == 0 {
            return Ok(0);
        }
        let mut del = Vec::new();
        for m in KIND_MEASUREMENTS
            .iter()
            .map(|s| s.to_string())
            .chain(self.measurements.values().cloned())
            .chain([MARKER_MEASUREMENT.to_string()])
            .collect::<std::collections::BTreeSet<_>>()
        {
            del.push(format!("DELETE FROM {} WHERE time < {before}ms", ident(&m)));
        }
        self.http.execute(&del.join("; "))?;
        Ok(deleted)
    }
}
