//! KPI results, events and alert state: opaque JSON bodies with the few columns needed to
//! select them.

use crate::model::TimestampMs;
use crate::store::{EventFilter, EventRecord, KpiRecord, ResultFilter};
use rusqlite::types::{Type, Value};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};

fn to_json(v: &serde_json::Value) -> String {
    v.to_string()
}

fn json_column(r: &Row<'_>, i: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, e.into()))
}

/// Add each record as a new revision.
pub(super) fn put_results(conn: &mut Connection, records: &[KpiRecord]) -> rusqlite::Result<()> {
    // IMMEDIATE: take the write lock up front (waiting for another process if needed)
    // rather than fail when upgrading a read transaction.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO kpi_result (kpi, asset, period_start, period_end, as_of, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in records {
            stmt.execute(params![
                r.kpi,
                r.asset,
                r.period_start,
                r.period_end,
                r.as_of,
                to_json(&r.body)
            ])?;
        }
    }
    tx.commit()
}

/// `WHERE` clauses and their parameters, built from optional filters.
#[derive(Default)]
struct Conditions {
    sql: Vec<&'static str>,
    params: Vec<Value>,
}

impl Conditions {
    fn add(&mut self, sql: &'static str, params: impl IntoIterator<Item = Value>) {
        self.sql.push(sql);
        self.params.extend(params);
    }

    fn clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }
}

/// KPI records matching `filter`, ordered by (kpi, asset, period_start, as_of).
pub(super) fn results(
    conn: &mut Connection,
    filter: &ResultFilter,
) -> rusqlite::Result<Vec<KpiRecord>> {
    let mut c = Conditions::default();
    if let Some(kpi) = &filter.kpi {
        c.add("kpi = ?", [Value::Text(kpi.clone())]);
    }
    if let Some(asset) = &filter.asset {
        c.add("asset = ?", [Value::Text(asset.clone())]);
    }
    if let Some(w) = filter.overlapping {
        c.add(
            "period_start < ? AND period_end > ?",
            [Value::Integer(w.end), Value::Integer(w.start)],
        );
    }
    // The latest revision is the highest as_of; among equal as_of the last one stored.
    let inner = format!(
        "SELECT kpi, asset, period_start, period_end, as_of, body, id, \
         ROW_NUMBER() OVER (PARTITION BY kpi, asset, period_start, period_end \
                            ORDER BY as_of DESC, id DESC) AS revision \
         FROM kpi_result {}",
        c.clause()
    );
    let sql = if filter.all_revisions {
        format!("{inner} ORDER BY kpi, asset, period_start, as_of, period_end, id")
    } else {
        format!(
            "SELECT * FROM ({inner}) WHERE revision = 1 \
             ORDER BY kpi, asset, period_start, as_of, period_end, id"
        )
    };
    let mut stmt = conn.prepare(&sql)?;
    stmt.query_map(params_from_iter(c.params), |r| {
        Ok(KpiRecord {
            kpi: r.get(0)?,
            asset: r.get(1)?,
            period_start: r.get(2)?,
            period_end: r.get(3)?,
            as_of: r.get(4)?,
            body: json_column(r, 5)?,
        })
    })?
    .collect()
}

/// Insert or replace events by id.
pub(super) fn put_events(conn: &mut Connection, events: &[EventRecord]) -> rusqlite::Result<()> {
    // IMMEDIATE: take the write lock up front (waiting for another process if needed)
    // rather than fail when upgrading a read transaction.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO event (id, kind, subject, start_ts, end_ts, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, subject = excluded.subject, \
             start_ts = excluded.start_ts, end_ts = excluded.end_ts, body = excluded.body",
        )?;
        for e in events {
            stmt.execute(params![
                e.id,
                e.kind,
                e.subject,
                e.start,
                e.end,
                to_json(&e.body)
            ])?;
        }
    }
    tx.commit()
}

/// Events matching `filter`, ordered by start (then id, for a stable order).
pub(super) fn events(
    conn: &mut Connection,
    filter: &EventFilter,
) -> rusqlite::Result<Vec<EventRecord>> {
    let mut c = Conditions::default();
    if let Some(kind) = &filter.kind {
        c.add("kind = ?", [Value::Text(kind.clone())]);
    }
    if let Some(subject) = &filter.subject {
        c.add("subject = ?", [Value::Text(subject.clone())]);
    }
    if let Some(w) = filter.overlapping {
        // An open event lasts until now, so it overlaps every window after its start.
        c.add(
            "start_ts < ? AND (end_ts IS NULL OR end_ts > ?)",
            [Value::Integer(w.end), Value::Integer(w.start)],
        );
    }
    if filter.open_only {
        c.add("end_ts IS NULL", []);
    }
    let sql = format!(
        "SELECT id, kind, subject, start_ts, end_ts, body FROM event {} ORDER BY start_ts, id",
        c.clause()
    );
    // A few shapes of filter, each asked thousands of times by an evaluation.
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map(params_from_iter(c.params), |r| {
        Ok(EventRecord {
            id: r.get(0)?,
            kind: r.get(1)?,
            subject: r.get(2)?,
            start: r.get(3)?,
            end: r.get::<_, Option<TimestampMs>>(4)?,
            body: json_column(r, 5)?,
        })
    })?
    .collect()
}

/// Store `value` under `key`, replacing what was there.
pub(super) fn put_state(
    conn: &Connection,
    key: &str,
    value: &serde_json::Value,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO state (key, json) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET json = excluded.json",
    )?
    .execute(params![key, to_json(value)])?;
    Ok(())
}

/// The value stored under `key`.
pub(super) fn state(
    conn: &mut Connection,
    key: &str,
) -> rusqlite::Result<Option<serde_json::Value>> {
    conn.prepare_cached("SELECT json FROM state WHERE key = ?1")?
        .query_row([key], |r| json_column(r, 0))
        .optional()
}
