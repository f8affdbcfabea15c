//! The outbox against an in-memory remote store that can be switched off.

use super::*;
use crate::model::{Quality, Quantity};
use std::sync::atomic::AtomicBool;

/// A remote store that records writes in order and fails while `down`.
#[derive(Default)]
struct Remote {
    down: AtomicBool,
    got: Mutex<Vec<Sample>>,
    /// Samples per `write` call.
    calls: Mutex<Vec<usize>>,
}

impl Store for Remote {
    fn write(&self, samples: &[Sample]) -> Result<WriteReport, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Other("remote down".into()));
        }
        self.got.lock().unwrap().extend_from_slice(samples);
        self.calls.lock().unwrap().push(samples.len());
        Ok(WriteReport {
            written: samples.len(),
            duplicates: 0,
        })
    }
    fn list_series(&self, _: &str) -> Result<Vec<SeriesKey>, StoreError> {
        Ok(vec![])
    }
    fn read_range(&self, _: &SeriesKey, _: Window) -> Result<Vec<Point>, StoreError> {
        Ok(vec![])
    }
    fn aggregate(&self, _: &SeriesKey, _: &[Window]) -> Result<Vec<Aggregate>, StoreError> {
        Ok(vec![])
    }
    fn counter_delta(
        &self,
        _: &SeriesKey,
        _: Window,
        _: Option<f64>,
    ) -> Result<CounterDelta, StoreError> {
        Ok(CounterDelta::default())
    }
    fn last_before(&self, _: &SeriesKey, _: TimestampMs) -> Result<Option<Point>, StoreError> {
        Ok(None)
    }
    fn put_results(&self, _: &[KpiRecord]) -> Result<(), StoreError> {
        Ok(())
    }
    fn results(&self, _: &ResultFilter) -> Result<Vec<KpiRecord>, StoreError> {
        Ok(vec![])
    }
    fn put_events(&self, _: &[EventRecord]) -> Result<(), StoreError> {
        Ok(())
    }
    fn events(&self, _: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        Ok(vec![])
    }
    fn put_state(&self, _: &str, _: &serde_json::Value) -> Result<(), StoreError> {
        Ok(())
    }
    fn state(&self, _: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(None)
    }
    fn apply_retention(&self, _: TimestampMs) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn earliest_change_since(&self, _: u64) -> Result<Option<TimestampMs>, StoreError> {
        Ok(None)
    }
    fn write_seq(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn batch(from: i64, n: i64) -> Vec<Sample> {
    (from..from + n)
        .map(|i| Sample {
            series: SeriesKey::new("ss-1", Quantity::Flow),
            ts: i,
            value: i as f64,
            quality: Quality::Good,
        })
        .collect()
}

fn opts(path: &Path) -> OutboxOptions {
    let mut o = OutboxOptions::new(path.join("outbox.db"));
    o.batch_size = 100;
    o.linger = Duration::from_millis(10);
    o.full_wait = Duration::from_millis(50);
    o
}

#[test]
fn forwards_in_order_after_an_outage_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Arc::new(Remote::default());
    remote.down.store(true, Ordering::SeqCst);
    let ob = Outbox::open(remote.clone(), opts(dir.path())).unwrap();
    for k in 0..10 {
        assert_eq!(ob.write(&batch(k * 30, 30)).unwrap().written, 30);
    }
    assert!(!ob.flush(Duration::from_millis(300)));
    let st = ob.stats();
    assert_eq!(st.depth_points, 300);
    assert!(st.forward_failures > 0 && st.last_error.is_some());
    // A restart (the file is all that survives), then the remote comes back.
    drop(ob);
    let ob = Outbox::open(remote.clone(), opts(dir.path())).unwrap();
    assert_eq!(ob.stats().depth_points, 300);
    ob.write(&batch(300, 50)).unwrap();
    remote.down.store(false, Ordering::SeqCst);
    assert!(ob.flush(Duration::from_secs(20)));
    let got = remote.got.lock().unwrap();
    assert_eq!(
        got.iter().map(|s| s.ts).collect::<Vec<_>>(),
        (0..350).collect::<Vec<_>>(),
        "every sample once, in commit order"
    );
    assert_eq!(ob.stats().depth_bytes, 0);
}

#[test]
fn a_full_outbox_blocks_or_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Arc::new(Remote::default());
    remote.down.store(true, Ordering::SeqCst);
    let one = codec::encode_samples(&batch(0, 100)).len() as u64;
    let mut o = opts(dir.path());
    o.max_bytes = one * 3;
    let ob = Outbox::open(remote.clone(), o.clone()).unwrap();
    for k in 0..3 {
        ob.write(&batch(k * 100, 100)).unwrap();
    }
    let e = ob.write(&batch(300, 100)).unwrap_err();
    assert!(e.to_string().contains("full"), "{e}");
    assert_eq!(ob.stats().dropped_points, 0);
    drop(ob);

    o.when_full = WhenFull::DropOldest;
    let ob = Outbox::open(remote.clone(), o.clone()).unwrap();
    ob.write(&batch(300, 100)).unwrap();
    let st = ob.stats();
    assert_eq!((st.dropped_points, st.depth_points), (100, 300));
    drop(ob);
    // The dropped count is kept across restarts.
    let ob = Outbox::open(remote.clone(), o).unwrap();
    assert_eq!(ob.stats().dropped_points, 100);
    remote.down.store(false, Ordering::SeqCst);
    assert!(ob.flush(Duration::from_secs(20)));
    let got = remote.got.lock().unwrap();
    assert_eq!(
        got.first().map(|s| s.ts),
        Some(100),
        "the oldest batch was dropped"
    );
    assert_eq!(got.len(), 300);
}

fn series_batch(asset: &str, from: i64, n: i64) -> Vec<Sample> {
    (from..from + n)
        .map(|i| Sample {
            series: SeriesKey::new(asset, Quantity::Flow),
            ts: i,
            value: i as f64,
            quality: Quality::Good,
        })
        .collect()
}

#[test]
fn writers_and_forwarding_at_once_keep_each_series_in_order_and_the_counts_exact() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Arc::new(Remote::default());
    let ob = Arc::new(Outbox::open(remote.clone(), opts(dir.path())).unwrap());
    // 4 writers × 50 writes × 37 samples = 7,400 samples while the forwarder runs.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let ob = ob.clone();
            std::thread::spawn(move || {
                for k in 0..50 {
                    ob.write(&series_batch(&format!("ss-{w}"), k * 37, 37))
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert!(ob.flush(Duration::from_secs(30)));
    let st = ob.stats();
    assert_eq!(
        (
            st.entries,
            st.depth_points,
            st.depth_bytes,
            st.forwarded_points
        ),
        (0, 0, 0, 7400)
    );
    let got = remote.got.lock().unwrap();
    for w in 0..4 {
        let asset = format!("ss-{w}");
        let ts: Vec<i64> = got
            .iter()
            .filter(|s| s.series.asset == asset)
            .map(|s| s.ts)
            .collect();
        assert_eq!(ts, (0..50 * 37).collect::<Vec<_>>(), "{asset}");
    }
}

#[test]
fn a_backlog_goes_out_in_runs_of_several_entries() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Arc::new(Remote::default());
    remote.down.store(true, Ordering::SeqCst);
    let ob = Outbox::open(remote.clone(), opts(dir.path())).unwrap();
    // batch_size 100: 10 writes of 100 samples are 10 entries.
    for k in 0..10 {
        ob.write(&batch(k * 100, 100)).unwrap();
    }
    assert_eq!(ob.stats().entries, 10);
    // Restarted with the whole backlog in the file and the remote back.
    drop(ob);
    remote.down.store(false, Ordering::SeqCst);
    let ob = Outbox::open(remote.clone(), opts(dir.path())).unwrap();
    assert!(ob.flush(Duration::from_secs(20)));
    // Runs of up to RUN_BATCHES (4) entries: 400 + 400 + 200 samples.
    let calls = remote.calls.lock().unwrap().clone();
    assert_eq!(calls, vec![400, 400, 200]);
    let got = remote.got.lock().unwrap();
    assert_eq!(
        got.iter().map(|s| s.ts).collect::<Vec<_>>(),
        (0..1000).collect::<Vec<_>>()
    );
}

#[test]
fn a_damaged_entry_is_moved_aside_in_its_turn_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Arc::new(Remote::default());
    remote.down.store(true, Ordering::SeqCst);
    let ob = Outbox::open(remote.clone(), opts(dir.path())).unwrap();
    for k in 0..3 {
        ob.write(&batch(k * 100, 100)).unwrap();
    }
    drop(ob);
    // Damage the middle entry on disk (seq 2).
    let conn = Connection::open(dir.path().join("outbox.db")).unwrap();
    conn.execute("UPDATE outbox SET payload = x'0100' WHERE seq = 2", [])
        .unwrap();
    remote.down.store(false, Ordering::SeqCst);
    let ob = Outbox::open(remote.clone(), opts(dir.path())).unwrap();
    assert!(ob.flush(Duration::from_secs(20)));
    let got = remote.got.lock().unwrap();
    assert_eq!(
        got.iter().map(|s| s.ts).collect::<Vec<_>>(),
        (0..100).chain(200..300).collect::<Vec<_>>()
    );
    let dead: i64 = conn
        .query_row("SELECT count(*) FROM outbox_dead WHERE seq = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(dead, 1);
    let st = ob.stats();
    assert_eq!(
        (st.entries, st.depth_points, st.forwarded_points),
        (0, 0, 200)
    );
}
