//! The InfluxDB backend against a real InfluxDB 1.6.7 (v1 `/write` + InfluxQL): the store
//! contract's behaviours one by one, and quarantine of a point the server refuses while the
//! rest of its batch lands. Skips without `HEATKPI_PEER_INFLUXDB` (tests/peers/influx.sh).

mod influx_support;

use chrono_tz::Europe::Warsaw;
use heatkpi::model::time::{Every, Window, parse_instant, windows};
use heatkpi::model::{Quality, Quantity, Sample, SeriesKey};
use heatkpi::store::{EventFilter, EventRecord, KpiRecord, ResultFilter, Store};
use influx_support::{fresh_store, post_lines, unique_db, v1_options};
use serde_json::json;

fn s(asset: &str, q: Quantity, ts: i64, value: f64, quality: Quality) -> Sample {
    Sample {
        series: SeriesKey::new(asset, q),
        ts,
        value,
        quality,
    }
}

const T0: i64 = 1_767_222_000_000; // 2025-12-31T23:00:00Z = 2026-01-01 00:00 in Warsaw

#[test]
fn first_write_wins_and_duplicates_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let Some(st) = fresh_store(dir.path()) else {
        return;
    };
    let k = Quantity::SupplyTemp;
    let r = st
        .write(&[
            s("ss-1", k, T0, 70.0, Quality::Good),
            s("ss-1", k, T0, 99.0, Quality::Good), // same batch: the first one stays
            s("ss-1", k, T0 + 1000, 71.5, Quality::Suspect),
            s("ss-2", k, T0, 60.0, Quality::Good), // another asset of the same kind
        ])
        .unwrap();
    assert_eq!((r.written, r.duplicates), (3, 1));
    let r = st
        .write(&[
            s("ss-1", k, T0 + 1000, 0.0, Quality::Good), // already stored: not overwritten
            s("ss-1", k, T0 + 2000, 72.0, Quality::Good),
        ])
        .unwrap();
    assert_eq!((r.written, r.duplicates), (1, 1));
    let got = st
        .read_range(&SeriesKey::new("ss-1", k), Window::new(T0, T0 + 2000))
        .unwrap();
    assert_eq!(
        got.iter()
            .map(|p| (p.ts, p.value, p.quality))
            .collect::<Vec<_>>(),
        vec![
            (T0, 70.0, Quality::Good),
            (T0 + 1000, 71.5, Quality::Suspect)
        ],
        "half-open range, first write wins, quality kept"
    );
    let last = st
        .last_before(&SeriesKey::new("ss-1", k), T0 + 1999)
        .unwrap()
        .unwrap();
    assert_eq!((last.ts, last.value), (T0 + 1000, 71.5));
    assert!(
        st.last_before(&SeriesKey::new("ss-1", k), T0 - 1)
            .unwrap()
            .is_none()
    );
    // Another quantity of the same asset is a different series.
    assert!(
        st.read_range(
            &SeriesKey::new("ss-1", Quantity::Flow),
            Window::new(T0, T0 + 10_000)
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn aggregates_over_local_hours_and_counter_deltas() {
    let dir = tempfile::tempdir().unwrap();
    let Some(st) = fresh_store(dir.path()) else {
        return;
    };
    let q = Quantity::ReturnTemp;
    // 00:00 local: good 10 @0 s, suspect 99 @600 s, good 20 @1800 s, good 40 @2400 s;
    // 01:00 local: good 7 @3600 s.
    st.write(&[
        s("b-1", q, T0, 10.0, Quality::Good),
        s("b-1", q, T0 + 600_000, 99.0, Quality::Suspect),
        s("b-1", q, T0 + 1_800_000, 20.0, Quality::Good),
        s("b-1", q, T0 + 2_400_000, 40.0, Quality::Good),
        s("b-1", q, T0 + 3_600_000, 7.0, Quality::Good),
    ])
    .unwrap();
    let day = Window::new(
        parse_instant(Warsaw, "2026-01-01").unwrap(),
        parse_instant(Warsaw, "2026-01-02").unwrap(),
    );
    let hours = windows(Warsaw, day, Every::Hours(1));
    let agg = st.aggregate(&SeriesKey::new("b-1", q), &hours).unwrap();
    assert_eq!(agg.len(), 24);
    let h0 = &agg[0];
    assert_eq!((h0.count, h0.valid), (4, 3));
    // mean (10 + 20 + 40) / 3; tw_mean (10·1800 + 20·600) / 2400 = 30000 / 2400 = 12.5
    assert!((h0.mean.unwrap() - 70.0 / 3.0).abs() < 1e-9);
    assert_eq!(h0.tw_mean, Some(12.5));
    assert_eq!((h0.min, h0.max), (Some(10.0), Some(40.0)));
    assert_eq!(h0.first.unwrap().ts, T0);
    assert_eq!(h0.last.unwrap().ts, T0 + 2_400_000);
    assert_eq!(
        (agg[1].count, agg[1].mean, agg[1].tw_mean),
        (1, Some(7.0), None)
    );
    assert_eq!(agg[2].count, 0);

    // Counter: 100 → 110 → reset to 0.5 → 3.5, an invalid reading ignored: 10 + 3 = 13.
    let e = Quantity::HeatEnergy;
    st.write(&[
        s("m-1", e, T0, 100.0, Quality::Good),
        s("m-1", e, T0 + 1000, 110.0, Quality::Good),
        s("m-1", e, T0 + 1500, 5000.0, Quality::Bad),
        s("m-1", e, T0 + 2000, 0.5, Quality::Good),
        s("m-1", e, T0 + 3000, 3.5, Quality::Good),
    ])
    .unwrap();
    let d = st
        .counter_delta(
            &SeriesKey::new("m-1", e),
            Window::new(T0, T0 + 10_000),
            None,
        )
        .unwrap();
    assert_eq!((d.delta, d.readings, d.resets), (13.0, 4, 1));
}

#[test]
fn series_list_is_exact_per_asset() {
    let dir = tempfile::tempdir().unwrap();
    let Some(st) = fresh_store(dir.path()) else {
        return;
    };
    st.write(&[
        s("ss-1", Quantity::SupplyTemp, T0, 70.0, Quality::Good),
        s("ss-2", Quantity::Flow, T0, 3.0, Quality::Good),
        s("unknown-9", Quantity::Flow, T0, 1.0, Quality::Good),
    ])
    .unwrap();
    let names = |p: &str| -> Vec<String> {
        st.list_series(p)
            .unwrap()
            .iter()
            .map(|k| k.to_string())
            .collect()
    };
    // ss-1 has no flow and ss-2 no supply_temp, though both are substations.
    assert_eq!(
        names("*"),
        ["ss-1.supply_temp", "ss-2.flow", "unknown-9.flow"]
    );
    assert_eq!(names("ss-*.flow"), ["ss-2.flow"]);
    assert_eq!(names("*temp"), ["ss-1.supply_temp"]);
    assert!(names("nothing.*").is_empty());
}

#[test]
fn results_events_state_and_change_log() {
    let dir = tempfile::tempdir().unwrap();
    let Some(st) = fresh_store(dir.path()) else {
        return;
    };
    let rec = |as_of: i64, value: f64| KpiRecord {
        kpi: "availability".into(),
        asset: "ss-1".into(),
        period_start: T0,
        period_end: T0 + 86_400_000,
        as_of,
        body: json!({"value": value, "status": "pass", "completeness": 0.99}),
    };
    st.put_results(&[rec(1, 0.9)]).unwrap();
    st.put_results(&[rec(2, 0.95)]).unwrap();
    st.put_results(&[rec(2, 0.95)]).unwrap(); // the same revision again changes nothing
    let latest = st.results(&ResultFilter::default()).unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].as_of, 2);
    let all = st
        .results(&ResultFilter {
            all_revisions: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.iter().map(|r| r.as_of).collect::<Vec<_>>(), [1, 2]);

    let ev = |id: &str, start: i64, end: Option<i64>| EventRecord {
        id: id.into(),
        kind: "interruption".into(),
        subject: "ss-1".into(),
        start,
        end,
        body: json!({"note": "a \"quoted\" note"}),
    };
    st.put_events(&[ev("e1", T0, None), ev("e2", T0 + 5000, Some(T0 + 6000))])
        .unwrap();
    assert_eq!(
        st.events(&EventFilter {
            open_only: true,
            ..Default::default()
        })
        .unwrap()
        .len(),
        1
    );
    st.put_events(&[ev("e1", T0, Some(T0 + 1000))]).unwrap(); // closes e1
    let evs = st.events(&EventFilter::default()).unwrap();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0], ev("e1", T0, Some(T0 + 1000)));
    let overlapping = st
        .events(&EventFilter {
            overlapping: Some(Window::new(T0 + 2000, T0 + 5500)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        overlapping
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["e2"]
    );

    st.put_state("alert/x", &json!({"phase": "firing"}))
        .unwrap();
    assert_eq!(
        st.state("alert/x").unwrap(),
        Some(json!({"phase": "firing"}))
    );
    assert_eq!(st.state("alert/none").unwrap(), None);

    let seq = st.write_seq().unwrap();
    assert_eq!(st.earliest_change_since(seq).unwrap(), None);
    st.write(&[s("ss-1", Quantity::Flow, T0 - 5000, 1.0, Quality::Good)])
        .unwrap();
    assert_eq!(st.earliest_change_since(seq).unwrap(), Some(T0 - 5000));
    assert!(st.write_seq().unwrap() > seq);
    // A write of nothing new is no change.
    let seq2 = st.write_seq().unwrap();
    st.write(&[s("ss-1", Quantity::Flow, T0 - 5000, 2.0, Quality::Good)])
        .unwrap();
    assert_eq!(st.earliest_change_since(seq2).unwrap(), None);

    assert_eq!(st.apply_retention(T0).unwrap(), 1);
    assert!(
        st.read_range(&SeriesKey::new("ss-1", Quantity::Flow), Window::new(0, T0))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_refused_point_is_quarantined_and_the_rest_of_its_batch_lands() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = influx_support::peer("HEATKPI_PEER_INFLUXDB") else {
        return;
    };
    let db = unique_db("heatkpi_quarantine");
    let st = heatkpi::store::influx::InfluxStore::open(v1_options(&url, &db, dir.path())).unwrap();
    st.ensure_database(&db).unwrap();
    // Someone else wrote `o2` into `substation` as a string in this shard: a float is refused.
    post_lines(
        &url,
        &db,
        &format!("substation,asset=other o2=\"n/a\" {}", T0 * 1_000_000),
    );
    let mut batch: Vec<Sample> = (0..200)
        .map(|i| {
            s(
                "ss-1",
                Quantity::SupplyTemp,
                T0 + i * 1000,
                70.0 + i as f64,
                Quality::Good,
            )
        })
        .collect();
    batch.insert(77, s("ss-1", Quantity::O2, T0 + 77_000, 4.5, Quality::Good));
    let r = st.write(&batch).unwrap();
    assert_eq!((r.written, r.duplicates), (200, 0));
    let q = st.quarantined().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].sample.series.to_string(), "ss-1.o2");
    assert!(
        q[0].reason.contains("field type conflict"),
        "{}",
        q[0].reason
    );
    let got = st
        .read_range(
            &SeriesKey::new("ss-1", Quantity::SupplyTemp),
            Window::new(T0, T0 + 1_000_000),
        )
        .unwrap();
    assert_eq!(got.len(), 200);
}
