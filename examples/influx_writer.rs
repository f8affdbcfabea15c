//! A killable writer process for the outage test (tests/influx_outage.rs): writes a numbered
//! stream through the durable outbox into InfluxDB at a steady rate, until `heatkpi agent`
//! exists to play this part.
//!
//! usage: influx_writer URL DATABASE DIR SERIES POINTS_PER_SERIES RATE_PER_S [BAD_INDEX]
//!
//! Series `m-<i>.flow` (i < SERIES, measurement `meter`); point n of every series has
//! timestamp T0 + n s and value n. `DIR/progress` holds the next n to write and is updated
//! after each acknowledged write, so a restarted writer goes on from there (re-sending at most
//! the batch it was killed in: the outbox and the store's duplicate check absorb that). At
//! BAD_INDEX one extra sample `m-0.o2` is written, which the test has made the server refuse.
//! When everything is written the outbox is flushed and the process prints `done` and exits.

use heatkpi::model::{Quality, Quantity, Sample, SeriesKey};
use heatkpi::store::Store;
use heatkpi::store::influx::{InfluxApi, InfluxOptions, InfluxStore};
use heatkpi::store::outbox::{Outbox, OutboxOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

fn arg(args: &[String], i: usize, what: &str) -> Result<String, String> {
    args.get(i)
        .cloned()
        .ok_or_else(|| format!("missing {what}"))
}

fn num(args: &[String], i: usize, what: &str) -> Result<i64, String> {
    arg(args, i, what)?
        .parse()
        .map_err(|e| format!("{what}: {e}"))
}

fn save_progress(dir: &Path, next: i64) -> std::io::Result<()> {
    let tmp = dir.join("progress.tmp");
    std::fs::write(&tmp, next.to_string())?;
    std::fs::rename(tmp, dir.join("progress"))
}

fn main() -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, 1, "URL")?;
    let db = arg(&args, 2, "DATABASE")?;
    let dir = PathBuf::from(arg(&args, 3, "DIR")?);
    let series = num(&args, 4, "SERIES")?;
    let total = num(&args, 5, "POINTS_PER_SERIES")?;
    let rate = num(&args, 6, "RATE_PER_S")?.max(1);
    let bad = args.get(7).and_then(|s| s.parse::<i64>().ok());

    let measurements: HashMap<String, String> = (0..series)
        .map(|i| (format!("m-{i}"), "meter".to_string()))
        .collect();
    let mut o = InfluxOptions::new(&url, InfluxApi::V1, &db, dir.join("side.db"));
    o.measurements = measurements;
    o.timeout = Duration::from_secs(2);
    let influx: Arc<dyn Store> = Arc::new(InfluxStore::open(o).map_err(|e| e.to_string())?);
    let mut oo = OutboxOptions::new(dir.join("outbox.db"));
    oo.linger = Duration::from_millis(200);
    let outbox = Outbox::open(influx, oo).map_err(|e| e.to_string())?;

    let mut next: i64 = std::fs::read_to_string(dir.join("progress"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    eprintln!("writer: starting at {next} of {total}");
    // One step writes point n of every series; steps per second = rate / series.
    let step = Duration::from_secs_f64(series as f64 / rate as f64);
    let start = Instant::now();
    let first = next;
    while next < total {
        let mut batch: Vec<Sample> = (0..series)
            .map(|i| Sample {
                series: SeriesKey::new(format!("m-{i}"), Quantity::Flow),
                ts: T0 + next * 1000,
                value: next as f64,
                quality: Quality::Good,
            })
            .collect();
        if bad == Some(next) {
            batch.insert(
                batch.len() / 2,
                Sample {
                    series: SeriesKey::new("m-0", Quantity::O2),
                    ts: T0 + next * 1000,
                    value: 1.0,
                    quality: Quality::Good,
                },
            );
        }
        // Like the ingest pipeline: keep the batch and retry until the store takes it.
        while let Err(e) = outbox.write(&batch) {
            eprintln!("writer: write failed, retrying: {e}");
            std::thread::sleep(Duration::from_millis(200));
        }
        next += 1;
        save_progress(&dir, next).map_err(|e| format!("progress: {e}"))?;
        let due = start + step.mul_f64((next - first) as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    eprintln!("writer: all written, flushing");
    while !outbox.flush(Duration::from_secs(5)) {
        eprintln!("writer: still queued: {:?}", outbox.stats());
    }
    println!("done {:?}", outbox.stats());
    Ok(())
}
