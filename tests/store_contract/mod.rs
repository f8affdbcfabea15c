//! The store contract: what every `Store` backend must do, as functions over `&dyn Store`.
//!
//! A backend's integration test does `mod store_contract;` and runs each function on a fresh,
//! empty store (see `tests/store_sqlite.rs`), or calls [`run_all`] with a factory. Expected
//! values are worked out by hand in the comments; `H` is one hour and `M` one minute in ms.

#![allow(dead_code)] // Each backend's test file uses what applies to it.

use chrono_tz::Europe::Warsaw;
use heatkpi::model::counter::delta_of;
use heatkpi::model::time::{Every, Window, local_midnight, parse_instant, windows};
use heatkpi::model::{Point, Quality, Sample, SeriesKey, TimestampMs};
use heatkpi::store::{
    Aggregate, EventFilter, EventRecord, KpiRecord, ResultFilter, Store, WriteReport,
};
use serde_json::json;

/// One minute in ms.
pub const M: i64 = 60_000;
/// One hour in ms.
pub const H: i64 = 3_600_000;

/// One contract check.
pub type Check = fn(&dyn Store);

/// Every contract check, by name.
pub const ALL: &[(&str, Check)] = &[
    ("dedup_and_write_report", dedup_and_write_report),
    ("out_of_order_and_late_writes", out_of_order_and_late_writes),
    ("aggregates_on_dst_days", aggregates_on_dst_days),
    (
        "aggregates_across_partial_hours",
        aggregates_across_partial_hours,
    ),
    ("quality_handling", quality_handling),
    (
        "counter_delta_with_overflow_reset_replacement",
        counter_delta_with_overflow_reset_replacement,
    ),
    ("list_series_globbing", list_series_globbing),
    ("result_revisions", result_revisions),
    (
        "events_upsert_and_open_events",
        events_upsert_and_open_events,
    ),
    ("state_round_trip", state_round_trip),
    (
        "retention_keeps_hourly_aggregates",
        retention_keeps_hourly_aggregates,
    ),
    ("watermark", watermark),
    ("unknown_series", unknown_series),
];

/// Run every check, each on a fresh store from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Store>) {
    for (name, check) in ALL {
        eprintln!("store contract: {name}");
        check(make().as_ref());
    }
}

/// A series key from `asset.quantity`.
pub fn key(s: &str) -> SeriesKey {
    s.parse().expect("series key")
}

/// A sample of any quality.
pub fn sample(series: &SeriesKey, ts: TimestampMs, value: f64, quality: Quality) -> Sample {
    Sample {
        series: series.clone(),
        ts,
        value,
        quality,
    }
}

/// A good-quality sample.
pub fn good(series: &SeriesKey, ts: TimestampMs, value: f64) -> Sample {
    sample(series, ts, value, Quality::Good)
}

/// 2026-01-05T00:00:00Z, a Monday, on a whole hour.
pub fn t0() -> TimestampMs {
    parse_instant(Warsaw, "2026-01-05T00:00:00Z").expect("t0")
}

fn report(written: usize, duplicates: usize) -> WriteReport {
    WriteReport {
        written,
        duplicates,
    }
}

/// Samples stored once per (series, ts); duplicates are counted, the first value is kept.
pub fn dedup_and_write_report(store: &dyn Store) {
    let s = key("ss-001.supply_temp");
    let t = t0();
    let first = [
        good(&s, t, 70.0),
        good(&s, t + M, 71.0),
        good(&s, t + 2 * M, 72.0),
    ];
    assert_eq!(store.write(&first).unwrap(), report(3, 0));
    // The same three again with other values, plus one new one.
    let again = [
        good(&s, t, 1.0),
        good(&s, t + M, 1.0),
        good(&s, t + 2 * M, 1.0),
        good(&s, t + 3 * M, 73.0),
    ];
    assert_eq!(store.write(&again).unwrap(), report(1, 3));
    // A key twice in one batch: the first is stored.
    let twice = [good(&s, t + 4 * M, 74.0), good(&s, t + 4 * M, 99.0)];
    assert_eq!(store.write(&twice).unwrap(), report(1, 1));
    assert_eq!(store.write(&[]).unwrap(), report(0, 0));
    let values: Vec<f64> = store
        .read_range(&s, Window::new(t, t + H))
        .unwrap()
        .iter()
        .map(|p| p.value)
        .collect();
    assert_eq!(values, vec![70.0, 71.0, 72.0, 73.0, 74.0]);
    // Duplicates leave the hour's aggregate alone: 5 samples, mean (70+…+74)/5 = 72.
    let a = store.aggregate(&s, &[Window::new(t, t + H)]).unwrap()[0];
    assert_eq!((a.count, a.valid, a.mean), (5, 5, Some(72.0)));
}

/// Samples in any order, and late ones into hours already aggregated, read back in order
/// and aggregate as if written in order.
pub fn out_of_order_and_late_writes(store: &dyn Store) {
    let s = key("ss-002.flow");
    let t = t0();
    // Hour 0 at minutes 0, 20, 40 with values 1, 2, 3, written backwards.
    store
        .write(&[
            good(&s, t + 40 * M, 3.0),
            good(&s, t + 20 * M, 2.0),
            good(&s, t, 1.0),
        ])
        .unwrap();
    // Hour 1 at minute 0: value 4.
    store.write(&[good(&s, t + H, 4.0)]).unwrap();
    let hours = [Window::new(t, t + H), Window::new(t + H, t + 2 * H)];
    let before = store.aggregate(&s, &hours).unwrap();
    // tw_mean of hour 0: (1·20 + 2·20) / 40 = 1.5.
    assert_eq!(before[0].tw_mean, Some(1.5));
    // Late: minute 10 (value 5) and minute 50 (value 6) of hour 0, after hour 1 exists.
    store
        .write(&[good(&s, t + 50 * M, 6.0), good(&s, t + 10 * M, 5.0)])
        .unwrap();
    let pts = store.read_range(&s, Window::new(t, t + 2 * H)).unwrap();
    let ts: Vec<i64> = pts.iter().map(|p| (p.ts - t) / M).collect();
    assert_eq!(ts, vec![0, 10, 20, 40, 50, 60]);
    let a = store.aggregate(&s, &hours).unwrap();
    // Hour 0: values 1,5,2,3,6 at minutes 0,10,20,40,50: mean 17/5 = 3.4, min 1, max 6,
    // integral 1·10 + 5·10 + 2·20 + 3·10 = 130 value·min over 50 min: tw_mean 2.6.
    assert_eq!(a[0].count, 5);
    assert_eq!(a[0].mean, Some(3.4));
    assert_eq!((a[0].min, a[0].max), (Some(1.0), Some(6.0)));
    assert_eq!(a[0].tw_mean, Some(2.6));
    assert_eq!(a[0].last.map(|p| p.value), Some(6.0));
    assert_eq!(a[1].count, 1);
    // Both hours: + 6·10 to minute 60; 190 / 60 min.
    let both = store.aggregate(&s, &[Window::new(t, t + 2 * H)]).unwrap()[0];
    assert_eq!(both.tw_mean, Some(190.0 / 60.0));
    assert_eq!(both.count, 6);
}

/// Hourly and daily windows over the 23-hour and 25-hour days of Europe/Warsaw.
pub fn aggregates_on_dst_days(store: &dyn Store) {
    let s = key("weather-1.outdoor_temp");
    let day = |y, m, d| {
        let start = local_midnight(Warsaw, chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
        let next = local_midnight(
            Warsaw,
            chrono::NaiveDate::from_ymd_opt(y, m, d + 1).unwrap(),
        );
        Window::new(start, next)
    };
    let spring = day(2026, 3, 29);
    let autumn = day(2026, 10, 25);
    assert_eq!(spring.len_ms(), 23 * H);
    assert_eq!(autumn.len_ms(), 25 * H);
    // Every 15 minutes the value is the number of whole hours since local midnight.
    let mut batch = Vec::new();
    for d in [spring, autumn] {
        let mut ts = d.start;
        while ts < d.end {
            batch.push(good(&s, ts, ((ts - d.start) / H) as f64));
            ts += 15 * M;
        }
    }
    store.write(&batch).unwrap();

    let daily = windows(Warsaw, Window::new(spring.start, autumn.end), Every::Day);
    assert_eq!(daily.len(), 211);
    let a = store.aggregate(&s, &daily).unwrap();
    let (sp, au) = (a[0], a[210]);
    assert_eq!((sp.start, sp.end), (spring.start, spring.end));
    // 23-hour day: 92 samples; values 0..22 four times: Σ = 4·253 = 1012, mean 1012/92 = 11.
    assert_eq!((sp.count, sp.valid), (92, 92));
    assert_eq!(sp.mean, Some(11.0));
    // Every sample but the last is held 15 min: (1012 − 22)·15 over 91·15 min → 990/91.
    assert_close(sp.tw_mean, 990.0 / 91.0);
    assert_eq!((sp.min, sp.max), (Some(0.0), Some(22.0)));
    assert_eq!(sp.first.map(|p| p.ts), Some(spring.start));
    assert_eq!(sp.last.map(|p| p.ts), Some(spring.end - 15 * M));
    // 25-hour day: 100 samples, Σ = 4·300 = 1200, mean 12; tw (1200 − 24)/99 = 1176/99.
    assert_eq!(au.count, 100);
    assert_eq!(au.mean, Some(12.0));
    assert_close(au.tw_mean, 1176.0 / 99.0);
    assert_eq!(au.max, Some(24.0));
    // Days between have no data.
    assert_eq!(a[1], Aggregate::empty(daily[1]));

    let hourly = windows(Warsaw, autumn, Every::Hours(1));
    assert_eq!(hourly.len(), 25);
    let a = store.aggregate(&s, &hourly).unwrap();
    for (k, h) in a.iter().enumerate() {
        // Hour k: four samples of value k, 15 min apart: mean and tw_mean k, 45 min spread.
        assert_eq!((h.count, h.valid), (4, 4), "hour {k}");
        assert_eq!(h.mean, Some(k as f64));
        assert_eq!(h.tw_mean, Some(k as f64));
        assert_eq!(h.first.map(|p| p.ts), Some(h.start));
        assert_eq!(h.last.map(|p| p.ts), Some(h.start + 45 * M));
    }
    // The hours add up to the day.
    assert_eq!(a.iter().map(|h| h.count).sum::<u64>(), au.count);
    // 15-minute windows hold one sample each: no time-weighted mean.
    let quarter = windows(
        Warsaw,
        Window::new(autumn.start, autumn.start + H),
        Every::Minutes(15),
    );
    let q = store.aggregate(&s, &quarter).unwrap();
    assert_eq!(q.len(), 4);
    assert!(
        q.iter()
            .all(|a| a.count == 1 && a.tw_mean.is_none() && a.mean == Some(0.0))
    );
}

/// A window that starts and ends inside hours.
pub fn aggregates_across_partial_hours(store: &dyn Store) {
    let s = key("ss-003.return_temp");
    let t = t0();
    // Value = hour index, every 15 minutes over three hours.
    let batch: Vec<Sample> = (0..12)
        .map(|i| good(&s, t + i * 15 * M, (i / 4) as f64))
        .collect();
    store.write(&batch).unwrap();
    // [0:30, 2:30): samples 0:30, 0:45 (0), 1:00…1:45 (1), 2:00, 2:15 (2): 8 samples,
    // mean (0+0+4·1+2+2)/8 = 1, integral (0+0+1+1+1+1+2)·15 min over 7·15 min: tw 6/7.
    let w = Window::new(t + 30 * M, t + 2 * H + 30 * M);
    let a = store.aggregate(&s, &[w]).unwrap()[0];
    assert_eq!((a.count, a.valid), (8, 8));
    assert_eq!(a.mean, Some(1.0));
    assert_close(a.tw_mean, 6.0 / 7.0);
    assert_eq!(a.first.map(|p| p.ts), Some(t + 30 * M));
    assert_eq!(a.last.map(|p| p.ts), Some(t + 2 * H + 15 * M));
    // Inside one hour: [1:10, 1:50): 1:15, 1:30, 1:45.
    let inner = store
        .aggregate(&s, &[Window::new(t + H + 10 * M, t + H + 50 * M)])
        .unwrap()[0];
    assert_eq!((inner.count, inner.tw_mean), (3, Some(1.0)));
}

/// Suspect and bad samples count in `count` but not in means, extremes, first or last.
pub fn quality_handling(store: &dyn Store) {
    let s = key("stack-1.so2");
    let t = t0();
    store
        .write(&[
            good(&s, t, 10.0),
            sample(&s, t + 15 * M, 1000.0, Quality::Suspect),
            good(&s, t + 30 * M, 20.0),
            sample(&s, t + 45 * M, -5.0, Quality::Bad),
        ])
        .unwrap();
    let a = store.aggregate(&s, &[Window::new(t, t + H)]).unwrap()[0];
    // Valid: 10 @0 and 20 @30. mean 15; 10 held for 30 min over 30 min → tw_mean 10.
    assert_eq!((a.count, a.valid), (4, 2));
    assert_eq!(a.mean, Some(15.0));
    assert_eq!(a.tw_mean, Some(10.0));
    assert_eq!((a.min, a.max), (Some(10.0), Some(20.0)));
    assert_eq!(a.first.map(|p| (p.ts, p.value)), Some((t, 10.0)));
    assert_eq!(a.last.map(|p| (p.ts, p.value)), Some((t + 30 * M, 20.0)));
    // Raw reads keep every quality.
    let q: Vec<Quality> = store
        .read_range(&s, Window::new(t, t + H))
        .unwrap()
        .iter()
        .map(|p| p.quality)
        .collect();
    assert_eq!(
        q,
        vec![Quality::Good, Quality::Suspect, Quality::Good, Quality::Bad]
    );
    // last_before takes any quality, at or before the instant.
    let lb = store.last_before(&s, t + 45 * M).unwrap();
    assert_eq!(
        lb,
        Some(Point {
            ts: t + 45 * M,
            value: -5.0,
            quality: Quality::Bad
        })
    );
    assert_eq!(
        store.last_before(&s, t + 44 * M).unwrap().map(|p| p.value),
        Some(20.0)
    );
    assert_eq!(store.last_before(&s, t - 1).unwrap(), None);
    // A window with only invalid samples.
    let bad = store
        .aggregate(&s, &[Window::new(t + 40 * M, t + 50 * M)])
        .unwrap()[0];
    assert_eq!(
        (bad.count, bad.valid, bad.mean, bad.first),
        (1, 0, None, None)
    );
}

/// Counter consumption with an overflow (modulus 2³²), a reset and a replacement.
pub fn counter_delta_with_overflow_reset_replacement(store: &dyn Store) {
    let s = key("src-1.heat_energy");
    let m = 4_294_967_296.0;
    let t = t0();
    // Readings every 15 minutes over four hours.
    let readings = [
        // hour 0: +400 ×3 = 1200
        4_294_966_000.0,
        4_294_966_400.0,
        4_294_966_800.0,
        4_294_967_200.0,
        // hour 1: overflow 4_294_967_200 → 100: 100 + 2³² − 4_294_967_200 = 196; then +1200
        100.0,
        500.0,
        900.0,
        1300.0,
        // hour 2: +400 (boundary), +400, reset 2100 → 5 (≤ 1 % of 2100), +400
        1700.0,
        2100.0,
        5.0,
        405.0,
        // hour 3: +400 (boundary), +400, replacement 1205 → 900 (> 1 %, 1205 < 2³¹), +400
        805.0,
        1205.0,
        900.0,
        1300.0,
    ];
    let mut batch: Vec<Sample> = readings
        .iter()
        .enumerate()
        .map(|(i, v)| good(&s, t + i as i64 * 15 * M, *v))
        .collect();
    // A suspect reading at 1:50 that would look like a replacement if it were used.
    batch.push(sample(&s, t + H + 50 * M, 123.0, Quality::Suspect));
    store.write(&batch).unwrap();

    let whole = Window::new(t, t + 4 * H);
    let d = store.counter_delta(&s, whole, Some(m)).unwrap();
    // 1200 + 196 + 1200 + 400 + 800 + 400 + 800 = 4996
    assert_eq!(d.delta, 4996.0);
    assert_eq!((d.overflows, d.resets, d.replacements), (1, 1, 1));
    assert_eq!(d.readings, 16);
    assert_eq!((d.first_ts, d.last_ts), (Some(t), Some(t + 3 * H + 45 * M)));
    assert_eq!(d, delta_of(valid_readings(store, &s, whole), Some(m)));

    // Without the modulus the wrap is a reset: 4996 − 196 = 4800, two resets.
    let d = store.counter_delta(&s, whole, None).unwrap();
    assert_eq!(d.delta, 4800.0);
    assert_eq!((d.overflows, d.resets, d.replacements), (0, 2, 1));

    // [0:20, 3:40): from 4_294_966_800 (0:30) to 900 (3:30):
    // 400 + 196 + 1200 + 400 + 800 + 400 + 400 = 3796 over 13 readings.
    let part = Window::new(t + 20 * M, t + 3 * H + 40 * M);
    let d = store.counter_delta(&s, part, Some(m)).unwrap();
    assert_eq!(d.delta, 3796.0);
    assert_eq!(d.readings, 13);
    assert_eq!((d.overflows, d.resets, d.replacements), (1, 1, 1));
    assert_eq!(d, delta_of(valid_readings(store, &s, part), Some(m)));
}

/// Valid readings of `series` in `range` from a raw read.
pub fn valid_readings(store: &dyn Store, series: &SeriesKey, range: Window) -> Vec<(i64, f64)> {
    store
        .read_range(series, range)
        .unwrap()
        .into_iter()
        .filter(|p| p.quality.is_valid())
        .map(|p| (p.ts, p.value))
        .collect()
}

/// Globs with `*` and `?` over `asset.quantity`, sorted.
pub fn list_series_globbing(store: &dyn Store) {
    let t = t0();
    let keys = [
        "ss-002.supply_temp",
        "ss-001.supply_temp",
        "ss-002.return_temp",
        "boiler-1.heat_power",
    ];
    let batch: Vec<Sample> = keys.iter().map(|k| good(&key(k), t, 1.0)).collect();
    store.write(&batch).unwrap();
    let names = |p: &str| -> Vec<String> {
        store
            .list_series(p)
            .unwrap()
            .iter()
            .map(|k| k.to_string())
            .collect()
    };
    assert_eq!(
        names("ss-*.supply_temp"),
        vec!["ss-001.supply_temp", "ss-002.supply_temp"]
    );
    assert_eq!(names("ss-00?.return_temp"), vec!["ss-002.return_temp"]);
    assert_eq!(names("*").len(), 4);
    let mut sorted: Vec<SeriesKey> = keys.iter().map(|k| key(k)).collect();
    sorted.sort();
    assert_eq!(store.list_series("*").unwrap(), sorted);
    assert!(names("nothing*").is_empty());
}

fn kpi(kpi: &str, asset: &str, start: i64, end: i64, as_of: i64, value: f64) -> KpiRecord {
    KpiRecord {
        kpi: kpi.into(),
        asset: asset.into(),
        period_start: start,
        period_end: end,
        as_of,
        body: json!({ "value": value }),
    }
}

/// Every computation is a revision; the latest per (kpi, asset, period) is the result.
pub fn result_revisions(store: &dyn Store) {
    let t = t0();
    let day = 24 * H;
    store
        .put_results(&[
            kpi("boiler_efficiency", "src-1", t, t + day, t + day + H, 0.87),
            kpi("boiler_efficiency", "src-2", t, t + day, t + day + H, 0.91),
            kpi("transmission_loss", "net-1", t, t + day, t + day + H, 0.12),
        ])
        .unwrap();
    // Late data: src-1 recomputed.
    store
        .put_results(&[kpi(
            "boiler_efficiency",
            "src-1",
            t,
            t + day,
            t + day + 2 * H,
            0.88,
        )])
        .unwrap();
    // Next day.
    store
        .put_results(&[kpi(
            "boiler_efficiency",
            "src-1",
            t + day,
            t + 2 * day,
            t + 2 * day + H,
            0.9,
        )])
        .unwrap();

    let latest = store.results(&ResultFilter::default()).unwrap();
    let summary: Vec<(String, String, i64, f64)> = latest
        .iter()
        .map(|r| {
            (
                r.kpi.clone(),
                r.asset.clone(),
                r.period_start,
                r.body["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("boiler_efficiency".into(), "src-1".into(), t, 0.88),
            ("boiler_efficiency".into(), "src-1".into(), t + day, 0.9),
            ("boiler_efficiency".into(), "src-2".into(), t, 0.91),
            ("transmission_loss".into(), "net-1".into(), t, 0.12),
        ]
    );
    let all = store
        .results(&ResultFilter {
            kpi: Some("boiler_efficiency".into()),
            asset: Some("src-1".into()),
            all_revisions: true,
            ..ResultFilter::default()
        })
        .unwrap();
    let as_of: Vec<i64> = all.iter().map(|r| r.as_of - t).collect();
    assert_eq!(as_of, vec![day + H, day + 2 * H, 2 * day + H]);
    // Periods overlapping the second day only.
    let second = store
        .results(&ResultFilter {
            overlapping: Some(Window::new(t + day, t + day + H)),
            ..ResultFilter::default()
        })
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].period_start, t + day);
}

fn event(id: &str, kind: &str, subject: &str, start: i64, end: Option<i64>) -> EventRecord {
    EventRecord {
        id: id.into(),
        kind: kind.into(),
        subject: subject.into(),
        start,
        end,
        body: json!({ "note": id }),
    }
}

/// Events are replaced by id; an open event overlaps every window after its start.
pub fn events_upsert_and_open_events(store: &dyn Store) {
    let t = t0();
    store
        .put_events(&[
            event("int-1", "interruption", "ss-001", t + 2 * H, None),
            event("gap-1", "data_gap", "ss-001.flow", t, Some(t + H)),
            event(
                "int-0",
                "interruption",
                "ss-002",
                t + H,
                Some(t + H + 30 * M),
            ),
        ])
        .unwrap();
    let ids = |f: &EventFilter| -> Vec<String> {
        store.events(f).unwrap().into_iter().map(|e| e.id).collect()
    };
    assert_eq!(
        ids(&EventFilter::default()),
        vec!["gap-1", "int-0", "int-1"]
    );
    // A window a day later still meets the open interruption.
    let later = EventFilter {
        overlapping: Some(Window::new(t + 24 * H, t + 25 * H)),
        ..EventFilter::default()
    };
    assert_eq!(ids(&later), vec!["int-1"]);
    // A window before the open event started, inside the gap.
    let early = EventFilter {
        overlapping: Some(Window::new(t + 10 * M, t + 20 * M)),
        ..EventFilter::default()
    };
    assert_eq!(ids(&early), vec!["gap-1"]);
    // End is exclusive: a window starting where the gap ends does not meet it.
    let after_gap = EventFilter {
        overlapping: Some(Window::new(t + H, t + H + M)),
        ..EventFilter::default()
    };
    assert_eq!(ids(&after_gap), vec!["int-0"]);
    let open = EventFilter {
        open_only: true,
        ..EventFilter::default()
    };
    assert_eq!(ids(&open), vec!["int-1"]);
    let kind = EventFilter {
        kind: Some("interruption".into()),
        subject: Some("ss-002".into()),
        ..EventFilter::default()
    };
    assert_eq!(ids(&kind), vec!["int-0"]);

    // The interruption ends: same id, now closed.
    let mut closed = event(
        "int-1",
        "interruption",
        "ss-001",
        t + 2 * H,
        Some(t + 5 * H),
    );
    closed.body = json!({ "note": "restored" });
    store.put_events(&[closed.clone()]).unwrap();
    assert!(ids(&open).is_empty());
    assert!(ids(&later).is_empty());
    let all = store.events(&EventFilter::default()).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], closed);
}

/// Alert state by key, replaced on write.
pub fn state_round_trip(store: &dyn Store) {
    assert_eq!(store.state("alerts").unwrap(), None);
    let v1 = json!({ "firing": ["so2-limit"], "acked": [] });
    store.put_state("alerts", &v1).unwrap();
    assert_eq!(store.state("alerts").unwrap(), Some(v1));
    let v2 = json!({ "firing": [], "acked": ["so2-limit"], "n": 2.5 });
    store.put_state("alerts", &v2).unwrap();
    store.put_state("other", &json!(null)).unwrap();
    assert_eq!(store.state("alerts").unwrap(), Some(v2));
    assert_eq!(store.state("other").unwrap(), Some(json!(null)));
}

/// Retention deletes raw samples; hourly, daily and counter reads over whole hours still
/// answer from the rollups.
pub fn retention_keeps_hourly_aggregates(store: &dyn Store) {
    let s = key("ss-004.heat_energy");
    let t = t0();
    // A counter rising by 2 every 15 minutes over three hours: 0, 2, …, 22.
    let batch: Vec<Sample> = (0..12)
        .map(|i| good(&s, t + i * 15 * M, 2.0 * i as f64))
        .collect();
    store.write(&batch).unwrap();
    let hours = [
        Window::new(t, t + H),
        Window::new(t + H, t + 2 * H),
        Window::new(t + 2 * H, t + 3 * H),
        Window::new(t, t + 3 * H),
    ];
    let before = store.aggregate(&s, &hours).unwrap();
    let delta_before = store
        .counter_delta(&s, Window::new(t, t + 3 * H), None)
        .unwrap();
    assert_eq!(delta_before.delta, 22.0);

    // Raw samples of the first two hours go: 8 of them.
    assert_eq!(store.apply_retention(t + 2 * H).unwrap(), 8);
    let raw = store.read_range(&s, Window::new(t, t + 3 * H)).unwrap();
    assert_eq!(raw.len(), 4);
    assert_eq!(raw[0].ts, t + 2 * H);
    assert_eq!(store.aggregate(&s, &hours).unwrap(), before);
    // The whole three hours: 12 samples, mean (0+2+…+22)/12 = 132/12 = 11.
    assert_eq!(before[3].count, 12);
    assert_eq!(before[3].mean, Some(11.0));
    assert_eq!(
        store
            .counter_delta(&s, Window::new(t, t + 3 * H), None)
            .unwrap(),
        delta_before
    );
    // Repeating it deletes nothing more.
    assert_eq!(store.apply_retention(t + 2 * H).unwrap(), 0);
}

/// `earliest_change_since` reports the earliest sample time written after a write sequence
/// number, so the evaluator knows which closed periods to recompute.
pub fn watermark(store: &dyn Store) {
    let s = key("ss-005.flow");
    let t = t0();
    let s0 = store.write_seq().unwrap();
    assert_eq!(store.earliest_change_since(s0).unwrap(), None);
    store
        .write(&[good(&s, t + 2 * H, 1.0), good(&s, t + 3 * H, 1.0)])
        .unwrap();
    let s1 = store.write_seq().unwrap();
    assert!(s1 > s0);
    assert_eq!(store.earliest_change_since(s0).unwrap(), Some(t + 2 * H));
    assert_eq!(store.earliest_change_since(s1).unwrap(), None);
    // Late data an hour earlier.
    store.write(&[good(&s, t + H, 2.0)]).unwrap();
    let s2 = store.write_seq().unwrap();
    assert!(s2 > s1);
    assert_eq!(store.earliest_change_since(s1).unwrap(), Some(t + H));
    assert_eq!(store.earliest_change_since(s0).unwrap(), Some(t + H));
    // Only duplicates: nothing changed.
    store.write(&[good(&s, t + H, 2.0)]).unwrap();
    assert_eq!(store.earliest_change_since(s2).unwrap(), None);
}

/// A series never written reads as empty.
pub fn unknown_series(store: &dyn Store) {
    let s = key("nowhere.flow");
    let t = t0();
    let w = Window::new(t, t + H);
    assert!(store.read_range(&s, w).unwrap().is_empty());
    assert_eq!(
        store.aggregate(&s, &[w]).unwrap(),
        vec![Aggregate::empty(w)]
    );
    assert_eq!(
        store.counter_delta(&s, w, None).unwrap(),
        Default::default()
    );
    assert_eq!(store.last_before(&s, t).unwrap(), None);
    assert!(store.list_series("*").unwrap().is_empty());
}

/// `actual` is within 1e-12 (relative) of `expected`: for results that are a division or a
/// sum of quarter-hour products, where the last bit depends on the order of additions.
pub fn assert_close(actual: Option<f64>, expected: f64) {
    let a = actual.expect("a value");
    assert!(
        (a - expected).abs() <= 1e-12 * expected.abs().max(1.0),
        "{a} != {expected}"
    );
}
