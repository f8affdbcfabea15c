//! Store benchmark: write throughput, bytes per point on disk and hourly aggregates of the
//! SQLite store, next to a bare `WITHOUT ROWID` table written with plain batched INSERTs.
//!
//! ```text
//! cargo bench --bench store                          # both modes, full size
//! cargo bench --bench store -- write --series 100 --steps 1000
//! cargo bench --bench store -- aggregate --series 100 --month-steps 44640
//! ```
//! Sizes also come from the environment: `STORE_BENCH_SERIES`, `STORE_BENCH_STEPS`,
//! `STORE_BENCH_MONTH_STEPS`, `STORE_BENCH_BATCH`, `STORE_BENCH_DIR` (default: a temp dir).
//!
//! Targets (README): ≥ 1,000,000 points/s, ≤ 32 bytes/point including rollups, hourly
//! aggregate of a month ≤ 5 ms for one series and ≤ 1 s for 1,000 series.

use chrono_tz::Europe::Warsaw;
use heatkpi::model::time::{Every, Window, local_midnight, windows};
use heatkpi::model::{Quality, Quantity, Sample, SeriesKey};
use heatkpi::store::Store;
use heatkpi::store::sqlite::SqliteStore;
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MINUTE_MS: i64 = 60_000;

struct Opts {
    modes: Vec<String>,
    series: usize,
    steps: usize,
    month_steps: usize,
    batch: usize,
    dir: Option<PathBuf>,
    baseline: bool,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn opts() -> Opts {
    let mut o = Opts {
        modes: Vec::new(),
        series: env_or("STORE_BENCH_SERIES", 1_000),
        steps: env_or("STORE_BENCH_STEPS", 10_000),
        // 31 days of one-minute samples: all of January.
        month_steps: env_or("STORE_BENCH_MONTH_STEPS", 44_640),
        batch: env_or("STORE_BENCH_BATCH", 10_000),
        dir: std::env::var_os("STORE_BENCH_DIR").map(PathBuf::from),
        baseline: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--series" => o.series = num("--series"),
            "--steps" => o.steps = num("--steps"),
            "--month-steps" => o.month_steps = num("--month-steps"),
            "--batch" => o.batch = num("--batch"),
            "--dir" => o.dir = args.next().map(PathBuf::from),
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--no-baseline" => o.baseline = false,
            "write" | "aggregate" | "ingest" => o.modes.push(a),
            other => panic!("unknown argument {other}; see the header of benches/store.rs"),
        }
    }
    if o.modes.is_empty() {
        o.modes = vec!["write".into(), "aggregate".into()];
    }
    o
}

fn main() {
    let o = opts();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = o.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("bench dir");
    println!(
        "store bench: {} series, batches of {}, files in {}",
        o.series,
        o.batch,
        dir.display()
    );
    for mode in &o.modes {
        match mode.as_str() {
            "write" => bench_write(&o, &dir),
            "aggregate" => bench_aggregate(&o, &dir),
            "ingest" => bench_ingest(&o, &dir),
            _ => unreachable!(),
        }
    }
}

/// The same points as `write`, but as readings through the whole ingest path (unit check,
/// plausibility, counter checks, batching) and its two-thread pipeline into a fresh store, as
/// a collector or `heatkpi import` hands them over. Wall time includes the final flush.
fn bench_ingest(o: &Opts, dir: &Path) {
    use heatkpi::config::IngestConfig;
    use heatkpi::ingest::{Ingest, Reading, pipeline};
    use std::sync::Arc;
    let db = dir.join("ingest.db");
    let _ = std::fs::remove_file(&db);
    let store = Arc::new(SqliteStore::open(&db).expect("open store"));
    let cfg = IngestConfig {
        batch_size: o.batch,
        ..Default::default()
    };
    let ingest = Ingest::new(store.clone(), &cfg).with_clock(|| i64::MAX / 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys = keys(o.series);
    let start = 1_767_225_600_000; // 2026-01-01T00:00Z
    let t0 = Instant::now();
    let points = rt.block_on(async {
        let (handle, pipe) = pipeline::spawn(ingest, &cfg).expect("pipeline");
        let mut points = 0;
        for b in batches(&keys, start, o.steps, o.batch) {
            points += b.len();
            let readings: Vec<Reading> = b
                .into_iter()
                .map(|s| Reading {
                    unit: s.series.quantity.canonical_unit(),
                    series: s.series,
                    ts: s.ts,
                    value: s.value,
                    quality: s.quality,
                })
                .collect();
            handle.send(readings).await.expect("send");
        }
        handle.flush().await.expect("flush");
        drop(handle);
        let stats = tokio::task::spawn_blocking(move || pipe.shutdown())
            .await
            .expect("join")
            .expect("shutdown");
        assert_eq!(stats.written as usize, points);
        points
    });
    store.flush().expect("head flush");
    let wall = t0.elapsed().as_secs_f64();
    store.checkpoint().expect("checkpoint");
    let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "ingest path: {points} points through Ingest + pipeline into SQLite in {wall:.2} s = {:.0} points/s; {:.1} bytes/point on disk",
        points as f64 / wall,
        bytes as f64 / points as f64
    );
}

fn keys(n: usize) -> Vec<SeriesKey> {
    (0..n)
        .map(|i| {
            let q = if i.is_multiple_of(4) {
                Quantity::HeatEnergy
            } else {
                Quantity::SupplyTemp
            };
            SeriesKey::new(format!("ss-{i:04}"), q)
        })
        .collect()
}

/// A plausible reading: temperatures with two decimals, energy registers rising by a
/// fraction of a GJ per minute; one sample in a thousand suspect.
fn value(series: usize, step: usize) -> (f64, Quality) {
    let x = (series * 7919 + step * 104_729) % 1_000;
    let v = if series.is_multiple_of(4) {
        (series as f64) * 1000.0 + step as f64 * 0.137 + (x as f64) * 1e-4
    } else {
        ((70.0 + 8.0 * ((step as f64) / 300.0 + series as f64).sin()) * 100.0).round() / 100.0
            + (x as f64) / 1000.0
    };
    let q = if x == 0 {
        Quality::Suspect
    } else {
        Quality::Good
    };
    (v, q)
}

/// Samples in time order, `batch` at a time, as live polling of every series would produce.
fn batches(
    keys: &[SeriesKey],
    start: i64,
    steps: usize,
    batch: usize,
) -> impl Iterator<Item = Vec<Sample>> + '_ {
    let total = keys.len() * steps;
    (0..total.div_ceil(batch)).map(move |b| {
        (b * batch..((b + 1) * batch).min(total))
            .map(|i| {
                let (step, s) = (i / keys.len(), i % keys.len());
                let (value, quality) = value(s, step);
                Sample {
                    series: keys[s].clone(),
                    ts: start + step as i64 * MINUTE_MS,
                    value,
                    quality,
                }
            })
            .collect()
    })
}

fn file_bytes(db: &Path) -> u64 {
    let mut total = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        if suffix != "-shm" {
            total += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

/// CPU time of this thread and time it spent runnable but waiting for a CPU, from
/// `/proc/thread-self/schedstat` (Linux). On a machine shared with other jobs, wall time
/// includes the wait; CPU time does not.
fn thread_times() -> Option<(Duration, Duration)> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<u64>().ok());
    Some((
        Duration::from_nanos(it.next()??),
        Duration::from_nanos(it.next()??),
    ))
}

/// Wall, CPU and run-queue wait of the writing thread over a run.
#[derive(Default, Clone, Copy)]
struct Spent {
    wall: Duration,
    cpu: Duration,
    queued: Duration,
}

impl Spent {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (t, before) = (Instant::now(), thread_times());
        let out = f();
        self.wall += t.elapsed();
        if let (Some(b), Some(a)) = (before, thread_times()) {
            self.cpu += a.0 - b.0;
            self.queued += a.1 - b.1;
        }
        out
    }

    fn line(&self, what: &str, points: usize) -> String {
        let w = self.wall.as_secs_f64();
        let c = self.cpu.as_secs_f64();
        format!(
            "  {what}: {w:.2} s wall = {:.0} points/s; writer thread CPU {c:.2} s = {:.0} points/s \
             (waited {:.2} s for a CPU)",
            points as f64 / w,
            points as f64 / c,
            self.queued.as_secs_f64()
        )
    }
}

/// Write through `SqliteStore::write`, then move what is left in the head into the main
/// table (`SqliteStore::flush`), so every point has paid its whole way into the main table
/// and the rollups. Prints the time of both and returns the points.
fn fill_store(
    store: &SqliteStore,
    keys: &[SeriesKey],
    start: i64,
    steps: usize,
    batch: usize,
) -> usize {
    let mut spent = Spent::default();
    let mut points = 0;
    for b in batches(keys, start, steps, batch) {
        let r = spent.time(|| store.write(&b).expect("write"));
        assert_eq!(r.written, b.len());
        points += b.len();
    }
    println!("{}", spent.line("SqliteStore::write calls", points));
    let head = head_samples(store.path());
    spent.time(|| store.flush().expect("flush"));
    println!(
        "{}",
        spent.line(
            &format!("the same plus the final flush of {head} head samples"),
            points
        )
    );
    points
}

fn open_baseline(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("baseline open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS sample (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, \
         value REAL NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID",
    )
    .expect("baseline table");
    conn
}

/// The bare table: one prepared single-row INSERT, one transaction per batch.
/// In which order the baseline table is filled.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// Every series at one timestamp, then the next timestamp: live polling.
    Time,
    /// All of one series, then the next: a bulk load, the fastest way to fill the table.
    Series,
}

fn fill_baseline(
    conn: &mut Connection,
    n_series: usize,
    start: i64,
    steps: usize,
    batch: usize,
    order: Order,
) -> (usize, Spent) {
    let total = n_series * steps;
    let mut spent = Spent::default();
    let mut i = 0;
    while i < total {
        let end = (i + batch).min(total);
        let rows: Vec<(i64, i64, f64)> = (i..end)
            .map(|k| {
                let (step, s) = match order {
                    Order::Time => (k / n_series, k % n_series),
                    Order::Series => (k % steps, k / steps),
                };
                (
                    s as i64 + 1,
                    start + step as i64 * MINUTE_MS,
                    value(s, step).0,
                )
            })
            .collect();
        spent.time(|| {
            let tx = conn.transaction().expect("tx");
            {
                let mut stmt = tx
                    .prepare_cached("INSERT INTO sample (series_id, ts, value) VALUES (?1, ?2, ?3)")
                    .expect("prepare");
                for (s, ts, v) in rows {
                    stmt.execute(params![s, ts, v]).expect("insert");
                }
            }
            tx.commit().expect("commit");
        });
        i = end;
    }
    (total, spent)
}

fn checkpoint(conn: &Connection) {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
}

fn table_bytes(conn: &Connection) -> Vec<(String, u64)> {
    let mut stmt = conn
        .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        .expect("dbstat");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
        .expect("dbstat")
        .collect::<Result<_, _>>()
        .expect("dbstat rows")
}

fn report_size(label: &str, db: &Path, points: usize) {
    let bytes = file_bytes(db);
    let conn = Connection::open(db).expect("open for dbstat");
    let pragma = |name: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .expect("pragma")
    };
    let free = (pragma("freelist_count") * pragma("page_size")) as u64;
    println!(
        "  {label}: {:.1} MiB on disk (database + WAL), {:.2} bytes/point; \
         without the {:.1} MiB of free pages the last head left for the next ones: {:.2}",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / points as f64,
        free as f64 / (1 << 20) as f64,
        (bytes - free.min(bytes)) as f64 / points as f64
    );
    for (name, b) in table_bytes(&conn).into_iter().take(4) {
        println!(
            "    {name:<28} {:>8.1} MiB  {:>6.2} B/pt",
            b as f64 / (1 << 20) as f64,
            b as f64 / points as f64
        );
    }
}

fn start_ms() -> i64 {
    local_midnight(
        Warsaw,
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
    )
}

fn bench_write(o: &Opts, dir: &Path) {
    let keys = keys(o.series);
    println!(
        "\n[write] {} series × {} one-minute steps = {} points, time order, batches of {}",
        o.series,
        o.steps,
        o.series * o.steps,
        o.batch
    );
    let db = dir.join("write-store.sqlite");
    remove_db(&db);
    let store = SqliteStore::open(&db).expect("open store");
    let points = fill_store(&store, &keys, start_ms(), o.steps, o.batch);
    store.checkpoint().expect("checkpoint");
    drop(store);
    report_size("SqliteStore", &db, points);
    if !o.baseline {
        return;
    }

    let base = dir.join("write-baseline.sqlite");
    remove_db(&base);
    let mut conn = open_baseline(&base);
    let (points, spent) = fill_baseline(
        &mut conn,
        o.series,
        start_ms(),
        o.steps,
        o.batch,
        Order::Time,
    );
    checkpoint(&conn);
    println!(
        "{}",
        spent.line("baseline (bare WITHOUT ROWID, single-row INSERT)", points)
    );
    drop(conn);
    report_size("baseline", &base, points);
}

fn bench_aggregate(o: &Opts, dir: &Path) {
    let keys = keys(o.series);
    let start = start_ms();
    let month = Window::new(start, start + o.month_steps as i64 * MINUTE_MS);
    let hours = windows(Warsaw, month, Every::Hours(1));
    println!(
        "\n[aggregate] {} series × {} one-minute steps ({:.1} days), {} hourly windows",
        o.series,
        o.month_steps,
        o.month_steps as f64 / 1440.0,
        hours.len()
    );
    let db = dir.join("month-store.sqlite");
    remove_db(&db);
    // Reads first with the head as a backfill leaves it (the last samples of every series
    // still in the head), then after moving it: the steady state of a quiet store.
    let store = SqliteStore::open(&db).expect("open store");
    let mut spent = Spent::default();
    let mut points = 0;
    for b in batches(&keys, start, o.month_steps, o.batch) {
        spent.time(|| store.write(&b).expect("write"));
        points += b.len();
    }
    println!("{}", spent.line("fill through SqliteStore::write", points));
    let head = head_samples(&db);
    let one = store_reads(
        &store,
        &keys,
        month,
        &format!("head holding {head} samples"),
    );
    store.flush().expect("flush");
    store.checkpoint().expect("checkpoint");
    report_size("SqliteStore after flush", &db, points);
    store_reads(&store, &keys, month, "after SqliteStore::flush");
    drop(store);
    if !o.baseline {
        return;
    }

    let base = dir.join("month-baseline.sqlite");
    remove_db(&base);
    let mut conn = open_baseline(&base);
    let (points, spent) = fill_baseline(
        &mut conn,
        o.series,
        start,
        o.month_steps,
        1_000_000,
        Order::Series,
    );
    checkpoint(&conn);
    println!(
        "{}",
        spent.line("baseline bulk load in series order", points)
    );
    report_size("baseline", &base, points);
    let sql = "SELECT ts / 3600000, COUNT(*), AVG(value), MIN(value), MAX(value) FROM sample \
               WHERE series_id = ?1 AND ts >= ?2 AND ts < ?3 GROUP BY ts / 3600000";
    let run = |conn: &Connection, sid: i64| -> usize {
        let mut stmt = conn.prepare_cached(sql).expect("prepare");
        let rows = stmt
            .query_map(params![sid, month.start, month.end], |r| r.get::<_, i64>(0))
            .expect("query");
        rows.count()
    };
    let one_b = median_ms(15, || {
        run(&conn, 2);
    });
    println!("  baseline GROUP BY hour, 1 series: {one_b:.2} ms (median of 15)");
    let t = Instant::now();
    for s in 0..o.series {
        run(&conn, s as i64 + 1);
    }
    println!(
        "  baseline GROUP BY hour, {} series: {:.3} s",
        o.series,
        t.elapsed().as_secs_f64()
    );
    println!("  ratio baseline / store, 1 series: {:.1}×", one_b / one);
}

/// Samples in the head of the store file (see src/store/sqlite/head.rs: 25 bytes a sample).
fn head_samples(db: &Path) -> i64 {
    Connection::open(db)
        .and_then(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(length(samples)), 0) / 25 FROM sample_head",
                [],
                |r| r.get(0),
            )
        })
        .unwrap_or(-1)
}

/// Time the reads the evaluator makes over a month; returns the one-series hourly figure.
fn store_reads(store: &SqliteStore, keys: &[SeriesKey], month: Window, label: &str) -> f64 {
    println!("  reads, {label}:");
    let hours = windows(Warsaw, month, Every::Hours(1));
    let one = median_ms(15, || {
        let a = store.aggregate(&keys[1], &hours).expect("aggregate");
        assert_eq!(a.len(), hours.len());
    });
    println!("    aggregate, 1 series, hourly over the month: {one:.2} ms (median of 15)");
    let mut spent = Spent::default();
    let windows_done: usize = spent.time(|| {
        keys.iter()
            .map(|k| store.aggregate(k, &hours).expect("aggregate").len())
            .sum()
    });
    println!(
        "    aggregate, {} series, hourly over the month: {:.3} s wall, {:.3} s CPU \
         (waited {:.3} s for a CPU; {windows_done} windows)",
        keys.len(),
        spent.wall.as_secs_f64(),
        spent.cpu.as_secs_f64(),
        spent.queued.as_secs_f64()
    );
    let days = windows(Warsaw, month, Every::Day);
    let daily = median_ms(15, || {
        store.aggregate(&keys[1], &days).expect("aggregate");
    });
    println!("    aggregate, 1 series, daily over the month: {daily:.2} ms");
    let quarter = windows(Warsaw, month, Every::Minutes(15));
    let q = median_ms(5, || {
        store.aggregate(&keys[1], &quarter).expect("aggregate");
    });
    println!("    aggregate, 1 series, 15-minute windows over the month (raw rows): {q:.2} ms");
    let cd = median_ms(15, || {
        store.counter_delta(&keys[0], month, None).expect("counter");
    });
    println!("    counter_delta, 1 series, the month: {cd:.2} ms");
    let last = median_ms(15, || {
        store.last_before(&keys[1], month.end).expect("last");
    });
    println!("    last_before, 1 series: {last:.3} ms");
    one
}

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}
