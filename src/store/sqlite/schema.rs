//! The on-disk layout and connection settings.
//!
//! Raw samples live in a `WITHOUT ROWID` table keyed by (series id, ts), so a series' samples
//! are stored together in time order and a range read is one b-tree walk; the key is the
//! only index. Good quality, the overwhelming majority, is stored as NULL, which costs no
//! bytes in the record body. Hourly rollups are keyed the same way. New samples wait in a
//! head of packed batches before they move into `sample` (see `head`).

use rusqlite::Connection;

/// The layout version in `PRAGMA user_version`. Bump it with a migration in [`create`].
pub(super) const SCHEMA_VERSION: i64 = 2;

/// The layout. `STRICT` so a bug binding the wrong type fails instead of storing text.
const DDL: &str = r#"
CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
) STRICT;

-- quality is NULL for good samples: one byte of record header and none in the body (as for
-- the integer 0); any other quality code costs one body byte more.
CREATE TABLE sample (
    series_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    value REAL,
    quality INTEGER,
    PRIMARY KEY (series_id, ts)
) STRICT, WITHOUT ROWID;

-- Recent samples, packed: per write one row for each group of series (series id modulo
-- the number of groups), moved into `sample` in bulk (see head.rs). A reader of one series
-- loads only its group's rows.
CREATE TABLE sample_head (
    id INTEGER PRIMARY KEY,
    grp INTEGER NOT NULL,
    min_ts INTEGER NOT NULL,
    max_ts INTEGER NOT NULL,
    samples BLOB NOT NULL
) STRICT;
CREATE INDEX sample_head_grp ON sample_head (grp, max_ts);

-- One row per (series, UTC hour) with any sample in `sample` (head samples are rolled up
-- when they move). Value columns are NULL when valid = 0.
-- first/last, integral, rise and decreases cover valid samples inside the hour only; the
-- steps between hours are added when rows are combined.
CREATE TABLE rollup_hour (
    series_id INTEGER NOT NULL,
    hour_start_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    valid INTEGER NOT NULL,
    sum REAL,
    min REAL,
    max REAL,
    first_ts INTEGER,
    first_v REAL,
    last_ts INTEGER,
    last_v REAL,
    integral REAL,
    rise REAL,
    decreases INTEGER NOT NULL,
    PRIMARY KEY (series_id, hour_start_ms)
) STRICT, WITHOUT ROWID;

-- One row per write that stored something: the evaluator's watermark for late data.
CREATE TABLE write_log (
    seq INTEGER PRIMARY KEY,
    min_ts INTEGER NOT NULL,
    max_ts INTEGER NOT NULL
) STRICT;

CREATE TABLE kpi_result (
    id INTEGER PRIMARY KEY,
    kpi TEXT NOT NULL,
    asset TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    as_of INTEGER NOT NULL,
    body TEXT NOT NULL
) STRICT;
CREATE INDEX kpi_result_period ON kpi_result (kpi, asset, period_start, period_end, as_of);

CREATE TABLE event (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    start_ts INTEGER NOT NULL,
    end_ts INTEGER,
    body TEXT NOT NULL
) STRICT;
CREATE INDEX event_start ON event (start_ts);

CREATE TABLE state (
    key TEXT PRIMARY KEY,
    json TEXT NOT NULL
) STRICT;

-- Store-wide facts, e.g. `retention_before` (raw rows before it are deleted).
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
"#;

/// Version 2: events by subject, so an evaluator's look-up of one asset's events (thousands per
/// evaluation of a large network) does not scan every stored event.
const EVENT_SUBJECT_DDL: &str = r#"
CREATE INDEX IF NOT EXISTS event_subject ON event (subject, kind, start_ts);
"#;

/// The `meta` key holding the retention horizon.
pub(super) const RETENTION_KEY: &str = "retention_before";

/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// Settings of the single writing connection.
pub(super) fn configure_writer(
    conn: &Connection,
    durable: bool,
    cache_mib: u32,
) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    // Must precede the first table and WAL mode; ignored on an existing file. Measured with
    // benches/store.rs (1,000 series): 16 KiB pages cost 15–25 % less writer CPU than 4 KiB
    // pages (fewer splits, a shallower tree) for about the same file size.
    conn.pragma_update(None, "page_size", 16_384)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL waits for the disk at every commit (one fsync per ingest batch); NORMAL in WAL mode
    // loses at most the last transactions on power loss, never consistency.
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
    // Moving the head appends to the last leaf of every series at once (1,000 series = 1,000
    // hot leaves plus their rollup leaves); the default 2 MiB cache would evict them. 64 MiB
    // by default (SqliteOptions); a negative cache_size is in KiB.
    conn.pragma_update(None, "cache_size", -(i64::from(cache_mib.max(1)) * 1024))?;
    // Checkpoints run on their own thread (see checkpoint.rs); give the WAL file back after.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Settings of a read-only connection.
pub(super) fn configure_reader(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// Why the schema could not be used.
pub(super) enum SchemaError {
    /// SQLite failed.
    Sqlite(rusqlite::Error),
    /// The file was written by a newer heatkpi.
    Newer(i64),
}

impl From<rusqlite::Error> for SchemaError {
    fn from(e: rusqlite::Error) -> Self {
        SchemaError::Sqlite(e)
    }
}

/// Create the layout in a new file, or check the version of an existing one.
pub(super) fn create(conn: &mut Connection) -> Result<(), SchemaError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    match version {
        0 => {
            tx.execute_batch(DDL)?;
            tx.execute_batch(EVENT_SUBJECT_DDL)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        1 => {
            tx.execute_batch(EVENT_SUBJECT_DDL)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        SCHEMA_VERSION => {}
        newer => return Err(SchemaError::Newer(newer)),
    }
    tx.commit()?;
    Ok(())
}
