//! The SQLite store: the store contract in three head settings, plus what only SQLite has
//! (rollups against raw recomputation, the head, concurrent readers, several handles on one
//! file, schema versions).

mod store_contract;

use heatkpi::model::counter::delta_of;
use heatkpi::model::time::{Every, Window, windows};
use heatkpi::model::{Point, Quality, Sample, SeriesKey};
use heatkpi::store::sqlite::{SqliteOptions, SqliteStore};
use heatkpi::store::{Aggregate, Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use store_contract::{self as contract, H, M, good, key, sample, t0};
use tempfile::TempDir;

fn open(options: SqliteOptions) -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(dir.path().join("heatkpi.sqlite"), options).unwrap();
    (dir, store)
}

/// New samples stay in the head (the default thresholds are far away).
fn head_only() -> SqliteOptions {
    SqliteOptions::default()
}

/// Every write moves the head into the main table: late data takes the main-table path.
fn main_only() -> SqliteOptions {
    SqliteOptions {
        head_flush_rows: 0,
        ..SqliteOptions::default()
    }
}

/// The head moves every few samples: reads join both tables at arbitrary points.
fn mixed() -> SqliteOptions {
    SqliteOptions {
        head_flush_rows: 5,
        ..SqliteOptions::default()
    }
}

macro_rules! contract_tests {
    ($module:ident, $options:expr, [$($check:ident),* $(,)?]) => {
        mod $module {
            $(
                #[test]
                fn $check() {
                    let (_dir, store) = super::open($options);
                    super::contract::$check(&store);
                }
            )*

            #[test]
            fn covers_the_whole_contract() {
                let here = [$(stringify!($check)),*];
                let all: Vec<&str> = super::contract::ALL.iter().map(|(n, _)| *n).collect();
                assert_eq!(here.to_vec(), all);
            }
        }
    };
}

macro_rules! contract_in_every_mode {
    ($($check:ident),* $(,)?) => {
        contract_tests!(contract_head, super::head_only(), [$($check),*]);
        contract_tests!(contract_main, super::main_only(), [$($check),*]);
        contract_tests!(contract_mixed, super::mixed(), [$($check),*]);
    };
}

contract_in_every_mode!(
    dedup_and_write_report,
    out_of_order_and_late_writes,
    aggregates_on_dst_days,
    aggregates_across_partial_hours,
    quality_handling,
    counter_delta_with_overflow_reset_replacement,
    list_series_globbing,
    result_revisions,
    events_upsert_and_open_events,
    state_round_trip,
    retention_keeps_hourly_aggregates,
    watermark,
    unknown_series,
);

#[test]
fn run_all_with_a_factory() {
    let dirs = std::sync::Mutex::new(Vec::new());
    contract::run_all(&|| {
        let (dir, store) = open(mixed());
        dirs.lock().unwrap().push(dir);
        Box::new(store) as Box<dyn Store>
    });
}

/// SplitMix64: reproducible pseudo-random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn quality(&mut self) -> Quality {
        if self.chance(85) {
            Quality::Good
        } else {
            Quality::ALL[1 + self.below(5) as usize]
        }
    }
}

/// The store's expected content: first sample per key wins.
#[derive(Default)]
struct Model(BTreeMap<i64, (f64, Quality)>);

impl Model {
    fn add(&mut self, s: &Sample) {
        self.0.entry(s.ts).or_insert((s.value, s.quality));
    }
    fn points(&self, w: Window) -> Vec<Point> {
        if w.end <= w.start {
            return Vec::new();
        }
        self.0
            .range(w.start..w.end)
            .map(|(ts, (value, quality))| Point {
                ts: *ts,
                value: *value,
                quality: *quality,
            })
            .collect()
    }
    /// The aggregate of `w` straight from the definitions in `Aggregate`'s docs.
    fn aggregate(&self, w: Window) -> Aggregate {
        let pts = self.points(w);
        let valid: Vec<&Point> = pts.iter().filter(|p| p.quality.is_valid()).collect();
        let mut a = Aggregate::empty(w);
        a.count = pts.len() as u64;
        a.valid = valid.len() as u64;
        if valid.is_empty() {
            return a;
        }
        let sum: f64 = valid.iter().map(|p| p.value).sum();
        a.mean = Some(sum / valid.len() as f64);
        a.min = valid.iter().map(|p| p.value).reduce(f64::min);
        a.max = valid.iter().map(|p| p.value).reduce(f64::max);
        a.first = Some(*valid[0]);
        a.last = Some(*valid[valid.len() - 1]);
        if valid.len() >= 2 {
            let integral: f64 = valid
                .windows(2)
                .map(|p| p[0].value * (p[1].ts - p[0].ts) as f64)
                .sum();
            let span = (valid[valid.len() - 1].ts - valid[0].ts) as f64;
            a.tw_mean = Some(integral / span);
        }
        a
    }
    fn valid_readings(&self, w: Window) -> Vec<(i64, f64)> {
        self.points(w)
            .into_iter()
            .filter(|p| p.quality.is_valid())
            .map(|p| (p.ts, p.value))
            .collect()
    }
}

/// Write `samples` in shuffled batches of random size, re-sending some of them.
fn write_shuffled(store: &dyn Store, rng: &mut Rng, mut samples: Vec<Sample>, model: &mut Model) {
    for i in (1..samples.len()).rev() {
        samples.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut at = 0;
    while at < samples.len() {
        let n = (1 + rng.below(300) as usize).min(samples.len() - at);
        let mut batch = samples[at..at + n].to_vec();
        if rng.chance(30) {
            // Re-send a few samples of earlier batches (with other values: ignored).
            for _ in 0..rng.below(5) {
                let mut again = samples[rng.below(at as u64 + n as u64) as usize].clone();
                again.value += 1.0;
                batch.push(again);
            }
        }
        // The model sees the batch in order, so the first occurrence wins there too.
        let before = model.0.len();
        for s in &batch {
            model.add(s);
        }
        let r = store.write(&batch).unwrap();
        assert_eq!(r.written, model.0.len() - before);
        assert_eq!(r.written + r.duplicates, batch.len());
        at += n;
    }
}

/// Windows of every kind over `range`: whole hours, local days, quarter hours, ragged ones.
fn all_windows(rng: &mut Rng, range: Window) -> Vec<Window> {
    let tz = chrono_tz::Europe::Warsaw;
    let mut ws = windows(tz, range, Every::Hours(1));
    ws.extend(windows(tz, range, Every::Day));
    ws.extend(windows(tz, range, Every::Minutes(15)));
    ws.push(range);
    for _ in 0..200 {
        let a = rng.range(range.start - H, range.end + H);
        let len = if rng.chance(50) {
            rng.range(0, 3 * H)
        } else {
            rng.range(0, 40 * H)
        };
        ws.push(Window::new(a, a + len));
    }
    ws
}

/// Samples whose every partial sum is exact in f64 (eighths, bounded), so rollups and the
/// model must agree to the last bit.
fn dyadic_samples(rng: &mut Rng, series: &SeriesKey, start: i64, n: usize) -> Vec<Sample> {
    (0..n)
        .map(|_| {
            // Whole seconds over three days: collisions make duplicates.
            let ts = start + rng.range(0, 3 * 24 * 3600) * 1000;
            let value = (rng.range(-1000, 1000) as f64) / 8.0;
            sample(series, ts, value, rng.quality())
        })
        .collect()
}

#[test]
fn rollups_equal_raw_recomputation_on_random_data() {
    for (seed, options) in [
        (1, head_only()),
        (2, main_only()),
        (3, mixed()),
        (4, mixed()),
    ] {
        let mut rng = Rng(seed);
        let (_dir, store) = open(options.clone());
        let s = key("ss-100.supply_temp");
        let mut model = Model::default();
        let samples = dyadic_samples(&mut rng, &s, t0(), 3000);
        write_shuffled(&store, &mut rng, samples, &mut model);
        let range = Window::new(t0(), t0() + 3 * 24 * H);
        assert_eq!(store.read_range(&s, range).unwrap(), model.points(range));
        let ws = all_windows(&mut rng, range);
        let got = store.aggregate(&s, &ws).unwrap();
        for (w, a) in ws.iter().zip(&got) {
            assert_eq!(
                *a,
                model.aggregate(*w),
                "seed {seed}, {options:?}, window {w:?}"
            );
        }
    }
}

#[test]
fn many_series_share_the_head_without_mixing() {
    // 70 series: more than the head's series groups, so groups hold several series.
    for options in [head_only(), mixed()] {
        let mut rng = Rng(5);
        let (_dir, store) = open(options);
        let keys: Vec<SeriesKey> = (0..70).map(|i| key(&format!("ss-{i:03}.flow"))).collect();
        let mut models: Vec<Model> = (0..70).map(|_| Model::default()).collect();
        let mut all = Vec::new();
        for k in &keys {
            all.extend(dyadic_samples(&mut rng, k, t0(), 60));
        }
        for i in (1..all.len()).rev() {
            all.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for batch in all.chunks(500) {
            for x in batch {
                let i = keys.iter().position(|k| *k == x.series).unwrap();
                models[i].add(x);
            }
            store.write(batch).unwrap();
        }
        let range = Window::new(t0(), t0() + 3 * 24 * H);
        let ws = windows(chrono_tz::Europe::Warsaw, range, Every::Hours(6));
        for (k, m) in keys.iter().zip(&models) {
            assert_eq!(store.read_range(k, range).unwrap(), m.points(range));
            let got = store.aggregate(k, &ws).unwrap();
            for (w, a) in ws.iter().zip(&got) {
                assert_eq!(*a, m.aggregate(*w), "{k} {w:?}");
            }
            let last = store.last_before(k, range.end).unwrap();
            assert_eq!(last, m.points(range).last().copied());
        }
    }
}

#[test]
fn rollups_match_raw_recomputation_for_arbitrary_values() {
    let mut rng = Rng(7);
    let (_dir, store) = open(mixed());
    let s = key("ss-101.flow");
    let mut model = Model::default();
    let mut samples = dyadic_samples(&mut rng, &s, t0(), 2000);
    for x in &mut samples {
        x.value = x.value * std::f64::consts::PI + 1.0 / 3.0;
    }
    write_shuffled(&store, &mut rng, samples, &mut model);
    let range = Window::new(t0(), t0() + 3 * 24 * H);
    let ws = all_windows(&mut rng, range);
    let got = store.aggregate(&s, &ws).unwrap();
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        (a, b) => a == b,
    };
    for (w, a) in ws.iter().zip(&got) {
        let m = model.aggregate(*w);
        // Sums differ only in the order of additions.
        assert_eq!(
            (a.count, a.valid, a.min, a.max, a.first, a.last),
            (m.count, m.valid, m.min, m.max, m.first, m.last)
        );
        assert!(close(a.mean, m.mean), "{w:?}: {:?} vs {:?}", a.mean, m.mean);
        assert!(
            close(a.tw_mean, m.tw_mean),
            "{w:?}: {:?} vs {:?}",
            a.tw_mean,
            m.tw_mean
        );
    }
}

/// A counter register with increments, wraps at 2³², resets, replacements and invalid
/// readings, in eighths so that every sum is exact.
fn counter_samples(rng: &mut Rng, series: &SeriesKey, start: i64) -> Vec<Sample> {
    let m = 4_294_967_296.0;
    let mut out = Vec::new();
    let mut ts = start;
    let mut v = m - 20_000.0;
    for _ in 0..2500 {
        ts += rng.range(1, 12) * M;
        match rng.below(200) {
            0 => v = rng.below(8) as f64 / 8.0,        // reset
            1 => v = rng.range(1_000, 100_000) as f64, // replacement
            2 => v = m - rng.range(1, 400) as f64,     // a meter near its wrap
            _ => v += rng.below(400) as f64 / 8.0,
        }
        if v >= m {
            v -= m;
        }
        if rng.chance(8) {
            out.push(sample(
                series,
                ts,
                rng.range(0, 1 << 20) as f64,
                Quality::Suspect,
            ));
        } else {
            out.push(good(series, ts, v));
        }
    }
    out
}

#[test]
fn counter_delta_equals_delta_of_raw_readings_on_random_data() {
    for (seed, options) in [(11, head_only()), (12, main_only()), (13, mixed())] {
        let mut rng = Rng(seed);
        let (_dir, store) = open(options);
        let s = key("src-100.heat_energy");
        let mut model = Model::default();
        let samples = counter_samples(&mut rng, &s, t0());
        let last = samples.iter().map(|x| x.ts).max().unwrap();
        write_shuffled(&store, &mut rng, samples, &mut model);
        let mut ranges = vec![Window::new(t0(), last + 1)];
        ranges.extend(windows(
            chrono_tz::Europe::Warsaw,
            Window::new(t0(), last),
            Every::Hours(6),
        ));
        for _ in 0..100 {
            let a = rng.range(t0() - H, last);
            ranges.push(Window::new(a, a + rng.range(0, 48 * H)));
        }
        let (mut overflows, mut resets, mut replacements) = (0, 0, 0);
        for r in ranges {
            for modulus in [Some(4_294_967_296.0), None] {
                let got = store.counter_delta(&s, r, modulus).unwrap();
                let want = delta_of(model.valid_readings(r), modulus);
                assert_eq!(got, want, "seed {seed}, range {r:?}, modulus {modulus:?}");
                overflows += got.overflows;
                resets += got.resets;
                replacements += got.replacements;
            }
        }
        // The data did exercise every kind of decrease.
        assert!(overflows > 0 && resets > 0 && replacements > 0);
    }
}

#[test]
fn readers_are_not_blocked_by_an_open_write_transaction() {
    let (dir, store) = open(main_only());
    let s = key("ss-200.flow");
    let t = t0();
    store
        .write(&[good(&s, t, 1.0), good(&s, t + M, 2.0)])
        .unwrap();
    // Another connection takes the write lock and keeps it, with an uncommitted row.
    let other = rusqlite::Connection::open(dir.path().join("heatkpi.sqlite")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
        .execute(
            "INSERT INTO sample (series_id, ts, value) SELECT id, ?1, 3.0 FROM series",
            [t + 2 * M],
        )
        .unwrap();
    // Every read answers at once from the last committed state.
    let w = Window::new(t, t + H);
    assert_eq!(store.read_range(&s, w).unwrap().len(), 2);
    assert_eq!(store.aggregate(&s, &[w]).unwrap()[0].count, 2);
    assert_eq!(
        store.last_before(&s, t + H).unwrap().map(|p| p.value),
        Some(2.0)
    );
    other.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn a_reader_thread_sees_whole_batches_while_the_writer_writes() {
    let (_dir, store) = open(SqliteOptions {
        head_flush_rows: 50_000,
        ..SqliteOptions::default()
    });
    let store = Arc::new(store);
    let series: Vec<SeriesKey> = (0..100).map(|i| key(&format!("ss-{i:03}.flow"))).collect();
    let done = Arc::new(AtomicBool::new(false));
    let batches = 30;
    let per_batch = 200; // timestamps per series per batch: 20,000 samples a batch
    let reader = {
        let (store, done, s) = (store.clone(), done.clone(), series[37].clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            let w = Window::new(t0(), t0() + 1000 * H);
            loop {
                let finished = done.load(Ordering::Acquire);
                let pts = store.read_range(&s, w).unwrap();
                // A write is one transaction: a reader sees all of it or none of it.
                assert_eq!(pts.len() % per_batch, 0, "saw {} samples", pts.len());
                let a = store.aggregate(&s, &[w]).unwrap()[0];
                assert_eq!(a.count % per_batch as u64, 0);
                assert!(a.count >= pts.len() as u64);
                reads += 1;
                if finished {
                    return reads;
                }
            }
        })
    };
    for b in 0..batches {
        let mut batch = Vec::new();
        for step in 0..per_batch {
            let ts = t0() + ((b * per_batch + step) as i64) * M;
            for s in &series {
                batch.push(good(s, ts, step as f64));
            }
        }
        assert_eq!(store.write(&batch).unwrap().written, batch.len());
    }
    done.store(true, Ordering::Release);
    let reads = reader.join().unwrap();
    assert!(reads >= 1);
    let all = store
        .read_range(&series[37], Window::new(t0(), t0() + 1000 * H))
        .unwrap();
    assert_eq!(all.len(), batches * per_batch);
}

#[test]
fn reopening_keeps_the_head_and_the_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heatkpi.sqlite");
    let s = key("ss-300.supply_temp");
    let mut rng = Rng(21);
    let mut model = Model::default();
    let samples = dyadic_samples(&mut rng, &s, t0(), 1500);
    let (first, second) = samples.split_at(700);
    {
        let store = SqliteStore::open_with(&path, mixed()).unwrap();
        write_shuffled(&store, &mut rng, first.to_vec(), &mut model);
        // A last batch stays in the head when the store is closed.
        let store = SqliteStore::open(&path).unwrap();
        write_shuffled(&store, &mut rng, second[..50].to_vec(), &mut model);
    }
    let store = SqliteStore::open_with(&path, mixed()).unwrap();
    write_shuffled(&store, &mut rng, second[50..].to_vec(), &mut model);
    let range = Window::new(t0(), t0() + 3 * 24 * H);
    let ws = all_windows(&mut rng, range);
    let got = store.aggregate(&s, &ws).unwrap();
    for (w, a) in ws.iter().zip(&got) {
        assert_eq!(*a, model.aggregate(*w), "window {w:?}");
    }
    store.flush().unwrap();
    assert_eq!(store.read_range(&s, range).unwrap(), model.points(range));
}

#[test]
fn two_handles_on_one_file_keep_rollups_exact() {
    // Each handle caches the latest rollups; a write through one must not leave the other
    // merging into a stale copy.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heatkpi.sqlite");
    let a = SqliteStore::open_with(&path, main_only()).unwrap();
    let b = SqliteStore::open_with(&path, mixed()).unwrap();
    let s = key("ss-400.flow");
    let mut rng = Rng(31);
    let mut model = Model::default();
    let samples = dyadic_samples(&mut rng, &s, t0(), 2000);
    for (i, chunk) in samples.chunks(97).enumerate() {
        let store: &dyn Store = if i % 2 == 0 { &a } else { &b };
        write_shuffled(store, &mut rng, chunk.to_vec(), &mut model);
    }
    let range = Window::new(t0(), t0() + 3 * 24 * H);
    let ws = all_windows(&mut rng, range);
    for store in [&a, &b] {
        let got = store.aggregate(&s, &ws).unwrap();
        for (w, x) in ws.iter().zip(&got) {
            assert_eq!(*x, model.aggregate(*w), "window {w:?}");
        }
    }
}

#[test]
fn readers_decoded_head_follows_writes_and_moves_of_another_handle() {
    // `b` only reads, so its decoded copy of the head is brought up to date batch by batch
    // while `a` writes shuffled (late) samples and moves its head every few hundred: after
    // every write `b` answers as the model, never missing a late sample nor counting a moved
    // one twice.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heatkpi.sqlite");
    let a = SqliteStore::open_with(
        &path,
        SqliteOptions {
            head_flush_rows: 400,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    let b = SqliteStore::open_with(&path, head_only()).unwrap();
    let s = key("ss-402.flow");
    let other = key("ss-403.flow");
    let mut rng = Rng(37);
    let mut model = Model::default();
    let range = Window::new(t0(), t0() + 3 * 24 * H);
    let ws = all_windows(&mut rng, range);
    let samples = dyadic_samples(&mut rng, &s, t0(), 1500);
    for chunk in samples.chunks(120) {
        // Another series shares the head batches.
        a.write(&dyadic_samples(&mut rng, &other, t0(), 25))
            .unwrap();
        write_shuffled(&a, &mut rng, chunk.to_vec(), &mut model);
        let got = b.aggregate(&s, &ws).unwrap();
        for (w, x) in ws.iter().zip(&got) {
            assert_eq!(*x, model.aggregate(*w), "window {w:?}");
        }
        let raw = b.read_range(&s, range).unwrap();
        assert_eq!(raw.len(), model.aggregate(range).count as usize);
        assert!(raw.windows(2).all(|p| p[0].ts < p[1].ts), "time order");
    }
}

#[test]
fn a_write_through_another_handle_is_not_overwritten_by_a_stale_cache() {
    let dir = tempfile::tempdir().unwrap();
    let s = key("ss-401.flow");
    let t = t0();
    let pairs = [
        (main_only(), main_only()),
        (head_only(), main_only()),
        (mixed(), head_only()),
    ];
    for (i, (a_opts, b_opts)) in pairs.into_iter().enumerate() {
        let path = dir.path().join(format!("heatkpi-{i}.sqlite"));
        let a = SqliteStore::open_with(&path, a_opts).unwrap();
        let b = SqliteStore::open_with(&path, b_opts).unwrap();
        // Live polling through two handles (say, two processes) into the same hour.
        a.write(&[good(&s, t, 1.0), good(&s, t + 10 * M, 2.0)])
            .unwrap();
        b.write(&[good(&s, t + 20 * M, 3.0)]).unwrap();
        a.write(&[good(&s, t + 30 * M, 4.0)]).unwrap();
        b.write(&[good(&s, t + 40 * M, 5.0)]).unwrap();
        a.flush().unwrap();
        for store in [&a, &b] {
            let x = store.aggregate(&s, &[Window::new(t, t + H)]).unwrap()[0];
            // 1..5 at minutes 0..40: mean 3, integral (1+2+3+4)·10 = 100 over 40 min.
            assert_eq!((x.count, x.mean), (5, Some(3.0)));
            assert_eq!(x.tw_mean, Some(2.5));
            assert_eq!(
                store.read_range(&s, Window::new(t, t + H)).unwrap().len(),
                5
            );
        }
    }
}

#[test]
fn late_samples_before_the_retention_horizon_keep_counts_and_sums() {
    let (_dir, store) = open(head_only());
    let s = key("ss-500.flow");
    let t = t0();
    let batch: Vec<Sample> = (0..12)
        .map(|i| good(&s, t + i * 15 * M, i as f64))
        .collect();
    store.write(&batch).unwrap();
    store.apply_retention(t + 2 * H).unwrap();
    // A late sample at 0:50 (between 0:45 and 1:00) and a duplicate of nothing stored any
    // more: both are kept, the hour's counts and sums include them.
    let r = store.write(&[good(&s, t + 50 * M, 100.0)]).unwrap();
    assert_eq!(r.written, 1);
    let a = store.aggregate(&s, &[Window::new(t, t + H)]).unwrap()[0];
    // 0 + 1 + 2 + 3 + 100 over 5 samples.
    assert_eq!((a.count, a.valid, a.mean), (5, 5, Some(106.0 / 5.0)));
    assert_eq!(
        (a.max, a.last.map(|p| p.ts)),
        (Some(100.0), Some(t + 50 * M))
    );
    // Hours after the horizon are untouched and exact.
    let later = store
        .aggregate(&s, &[Window::new(t + 2 * H, t + 3 * H)])
        .unwrap()[0];
    assert_eq!((later.count, later.mean), (4, Some(9.5)));
}

#[test]
fn a_newer_schema_is_refused_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::Data(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("future.sqlite") && msg.contains("99"), "{msg}");
}

#[test]
fn a_version_1_store_gets_the_event_subject_index_and_keeps_its_events() {
    use heatkpi::store::{EventFilter, EventRecord};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    let event = EventRecord {
        id: "interruption:ss-1:2026-01-05T07:30:00Z".into(),
        kind: "interruption".into(),
        subject: "ss-1".into(),
        start: t0(),
        end: None,
        body: serde_json::json!({"class": "unplanned"}),
    };
    store.put_events(std::slice::from_ref(&event)).unwrap();
    drop(store);
    // The layout of version 1: no index by subject.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP INDEX event_subject; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    let got = store
        .events(&EventFilter {
            subject: Some("ss-1".into()),
            open_only: true,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(got, vec![event]);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let index: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'event_subject'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((version, index), (2, 1));
}

#[test]
fn sqlite_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("x.sqlite");
    let err = SqliteStore::open(&path).err().expect("cannot open");
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn flush_moves_the_head_without_changing_answers() {
    let (_dir, store) = open(head_only());
    let s = key("ss-600.return_temp");
    let mut rng = Rng(41);
    let mut model = Model::default();
    let samples = dyadic_samples(&mut rng, &s, t0(), 1000);
    write_shuffled(&store, &mut rng, samples, &mut model);
    let range = Window::new(t0(), t0() + 3 * 24 * H);
    let ws = all_windows(&mut rng, range);
    let before = store.aggregate(&s, &ws).unwrap();
    store.flush().unwrap();
    store.checkpoint().unwrap();
    assert_eq!(store.aggregate(&s, &ws).unwrap(), before);
    assert_eq!(
        store.last_before(&s, range.end).unwrap(),
        model.points(range).last().copied()
    );
}
