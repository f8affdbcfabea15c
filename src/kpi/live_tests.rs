//! The live loop's cadence (which evaluators run at which tick, with hand-set clocks) and live
//! availability events through it.

use super::*;
use crate::kpi::period::PeriodKind;
use crate::kpi::testkit::MemStore;
use crate::store::EventFilter;
use std::sync::Mutex;

const MIN: i64 = 60_000;

/// Records every evaluation as (evaluator, period label, whether the period is closed) and
/// returns one result per period, valued with the as-of minute.
struct Probe {
    name: &'static str,
    log: Log,
}

impl Evaluator for Probe {
    fn name(&self) -> &'static str {
        self.name
    }
    fn evaluate(&self, ctx: &EvalContext<'_>, period: &Period) -> Result<Evaluation, EngineError> {
        self.log
            .lock()
            .unwrap()
            .push((self.name, period.label.clone(), !period.is_partial()));
        let mut r = KpiResult::new(format!("{}_probe", self.name), "x", period, "min");
        r.value = Some((ctx.as_of / MIN) as f64);
        Ok(Evaluation {
            results: vec![r],
            ..Default::default()
        })
    }
}

/// (evaluator, period label, closed) of every evaluation.
type Log = Arc<Mutex<Vec<(&'static str, String, bool)>>>;

/// `standards` every `general_s` with the probe `efficiency`, `availability` every `avail_s`
/// with the probe `availability`.
fn probe_loop(s: &Settings, general_s: u64, avail_s: u64) -> (LiveLoop, Log) {
    let log: Log = Arc::default();
    let probe = |name| -> Vec<Box<dyn Evaluator>> {
        vec![Box::new(Probe {
            name,
            log: log.clone(),
        })]
    };
    let m = BTreeMap::new();
    let live = LiveLoop::new(vec![
        LiveGroup::new("standards", general_s, probe("efficiency"), s, &m).unwrap(),
        LiveGroup::new("availability", avail_s, probe("availability"), s, &m).unwrap(),
    ]);
    (live, log)
}

/// Live evaluations of `name` logged since the log was last drained: the period labels.
fn drain(log: &Log) -> Vec<(&'static str, String, bool)> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn ran(entries: &[(&'static str, String, bool)], name: &str, closed: bool) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.0 == name && e.2 == closed)
        .map(|e| e.1.clone())
        .collect()
}

fn at(s: &Settings, local: &str) -> TimestampMs {
    let tz = crate::kpi::engine::calendar_for(s).unwrap().tz;
    crate::model::time::parse_instant(tz, local).unwrap()
}

#[test]
fn each_evaluator_runs_once_per_its_cadence() {
    let s = settings();
    let (mut live, log) = probe_loop(&s, 300, 60);
    assert_eq!(live.tick_ms(), 60_000);
    let store = MemStore::new();
    let t0 = at(&s, "2026-01-12T10:00:10");
    let hour_day_month = ["2026-01-12T10:00+01:00", "2026-01-12", "2026-01"];
    // Ticks every minute for ten minutes: availability at each, the other standards at the
    // first and then every fifth; each runs the three live periods once.
    for k in 0..=10 {
        let t = live.tick(&s, &store, t0 + k * MIN).unwrap();
        let entries = drain(&log);
        assert_eq!(
            ran(&entries, "availability", false),
            hour_day_month,
            "tick {k}"
        );
        let general = if k % 5 == 0 {
            hour_day_month.to_vec()
        } else {
            vec![]
        };
        assert_eq!(ran(&entries, "efficiency", false), general, "tick {k}");
        let groups = if k % 5 == 0 {
            vec!["standards", "availability"]
        } else {
            vec!["availability"]
        };
        assert_eq!(t.groups, groups, "tick {k}");
        assert!(t.failed.is_empty());
    }
    // A tick a little early (the timer fired 2 s before the fifth minute) still runs the
    // standards: half a tick of slack.
    let t = live.tick(&s, &store, t0 + 15 * MIN - 2_000).unwrap();
    assert_eq!(t.groups, ["standards", "availability"]);
    drain(&log);
    // Twenty seconds later nothing is due and nothing runs.
    let t = live.tick(&s, &store, t0 + 15 * MIN + 18_000).unwrap();
    assert!(t.groups.is_empty() && drain(&log).is_empty());
}

#[test]
fn the_loop_ticks_at_the_greatest_common_divisor_of_the_cadences() {
    let s = settings();
    let (mut live, log) = probe_loop(&s, 45, 60);
    assert_eq!(live.tick_ms(), 15_000);
    let store = MemStore::new();
    let t0 = at(&s, "2026-01-12T10:00");
    let mut runs = (0, 0);
    for k in 0..=12 {
        let t = live.tick(&s, &store, t0 + k * 15_000).unwrap();
        runs.0 += usize::from(t.groups.contains(&"standards"));
        runs.1 += usize::from(t.groups.contains(&"availability"));
    }
    // 0 … 180 s: standards at 0, 45, 90, 135, 180 s; availability at 0, 60, 120, 180 s.
    assert_eq!(runs, (5, 4));
    drain(&log);
}

#[test]
fn closed_periods_are_stored_once_by_the_first_group_with_every_evaluator() {
    let s = settings();
    let (mut live, log) = probe_loop(&s, 300, 60);
    let store = MemStore::new();
    let t0 = at(&s, "2026-01-12T10:50:30");
    live.tick(&s, &store, t0).unwrap();
    drain(&log);
    // Ticks every minute to 11:05:30. The 10:00 hour closes at 11:00; the availability-only
    // ticks after it store nothing; the standards' tick at 11:00:30 stores it with every
    // group's evaluators, once.
    let mut closed = Vec::new();
    for k in 1..=15 {
        let t = live.tick(&s, &store, t0 + k * MIN).unwrap();
        if !t.closed.is_empty() {
            closed.push((
                k,
                t.closed.iter().map(|p| p.label.clone()).collect::<Vec<_>>(),
            ));
        }
    }
    assert_eq!(closed, [(10, vec!["2026-01-12T10:00+01:00".to_string()])]);
    let entries = drain(&log);
    for name in ["efficiency", "availability"] {
        assert_eq!(
            ran(&entries, name, true),
            ["2026-01-12T10:00+01:00"],
            "{name}"
        );
    }
}

#[test]
fn the_snapshot_keeps_each_groups_last_results() {
    let s = settings();
    let (mut live, _log) = probe_loop(&s, 300, 60);
    let store = MemStore::new();
    let t0 = at(&s, "2026-01-12T10:00");
    live.tick(&s, &store, t0).unwrap();
    live.tick(&s, &store, t0 + 2 * MIN).unwrap();
    let snap = crate::kpi::live_snapshot(&store).unwrap().unwrap();
    let month = |kpi: &str| {
        snap.iter()
            .find(|r| r.kpi == kpi && r.period.kind == PeriodKind::Month)
            .and_then(|r| r.value)
            .unwrap()
    };
    // The probes value a result with its as-of minute: availability's is from 10:02, the
    // other standards' still from 10:00.
    assert_eq!(month("availability_probe") - month("efficiency_probe"), 2.0);
    assert_eq!(snap.len(), 6);
}

#[test]
fn the_standards_loop_runs_every_standard_in_exactly_one_group() {
    let mut s = settings();
    s.kpi.live.every_s = 240;
    s.kpi.availability.live_every_s = 30;
    let live = LiveLoop::standards(&s, &BTreeMap::new()).unwrap();
    let groups: Vec<(&str, i64, Vec<&str>)> = live
        .groups()
        .iter()
        .map(|g| (g.name(), g.every_ms(), g.evaluators().to_vec()))
        .collect();
    assert_eq!(
        groups,
        [
            (
                "standards",
                240_000,
                vec!["efficiency", "emissions", "losses", "usage"]
            ),
            ("availability", 30_000, vec!["availability"]),
        ]
    );
    assert_eq!(live.tick_ms(), 30_000);
}

fn settings() -> Settings {
    toml::from_str(
        r#"
        [[network]]
        id = "n"
        water_volume_m3 = 1.0
        length_km = 1.0
        regulation = "c"
        weather = "wx"
        [[weather]]
        id = "wx"
        [[regulation]]
        id = "c"
        points = [[-20.0, 130.0, 70.0], [20.0, 70.0, 40.0]]
        [[substation]]
        id = "ss-1"
        network = "n"
        branch = "b1"
        ordered_capacity_mw = 0.5
        heated_area_m2 = 1000
        design_delta_t_k = 50
        customers = 40
        "#,
    )
    .unwrap()
}

/// Readings of minute `m` (from 10:00): supplied, except minutes 30–79 without pressure.
fn write_minute(store: &MemStore, t0: TimestampMs, m: i64) {
    let ts = t0 + m * MIN;
    let out = (30..80).contains(&m);
    let wiggle = (m % 7) as f64 * 0.01;
    store.put("wx.outdoor_temp", &[(ts, 0.0 + wiggle)]);
    let (f, r, q, dp) = if out {
        (
            98.0 - (m - 29) as f64 * 0.7,
            55.0 - wiggle,
            0.0,
            0.01 + wiggle,
        )
    } else {
        (98.0 + wiggle, 60.0 + wiggle, 3.0 + wiggle, 1.5 + wiggle)
    };
    store.put("ss-1.supply_temp", &[(ts, f)]);
    store.put("ss-1.return_temp", &[(ts, r)]);
    store.put("ss-1.flow", &[(ts, q)]);
    store.put("ss-1.diff_pressure", &[(ts, dp)]);
}

fn interruptions(store: &MemStore) -> Vec<crate::store::EventRecord> {
    store
        .events(&EventFilter {
            kind: Some("interruption".into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .filter(|e| e.body.get("withdrawn").is_none())
        .collect()
}

/// The standards' loop with readings every minute and a tick 30 s after each: the
/// availability group (every 60 s) opens the interruption at the first tick after its first
/// reading without supply, confirms it after the persistence time and closes it when supply
/// returns; the other standards run every fifth minute.
#[test]
fn an_interruption_opens_within_two_readings_and_closes_when_supply_returns() {
    let s = settings();
    let store = MemStore::new();
    let mut live = LiveLoop::standards(&s, &BTreeMap::new()).unwrap();
    let t0 = at(&s, "2026-01-12T10:00");
    let mut standards_runs = 0;
    let mut seen = Vec::new();
    for m in 0..=85 {
        write_minute(&store, t0, m);
        let t = live.tick(&s, &store, t0 + m * MIN + 30_000).unwrap();
        assert!(t.failed.is_empty(), "{:?}", t.failed);
        assert!(t.groups.contains(&"availability"), "minute {m}");
        standards_runs += usize::from(t.groups.contains(&"standards"));
        let ev = interruptions(&store);
        assert!(ev.len() <= 1, "{ev:#?}");
        let Some(e) = ev.first() else {
            assert!(m < 30, "nothing open at minute {m}");
            continue;
        };
        // The same event from the first tick after 10:30 on, one and a half readings after
        // the first one without pressure, with the evidence of domain.md §6.5.
        assert_eq!(e.start, t0 + 30 * MIN, "minute {m}");
        assert_eq!(e.body["evidence"]["reason"], "no_pressure");
        let stage = e.body["stage"].as_str().unwrap().to_string();
        if seen.last() != Some(&(stage.clone(), e.end)) {
            seen.push((stage, e.end));
        }
        if m == 30 {
            assert_eq!((e.body["stage"].as_str(), e.end), (Some("suspected"), None));
        }
    }
    // Suspected, then confirmed past the 30-minute persistence (across the hour), then
    // closed at 11:20 when supply returned.
    assert_eq!(
        seen,
        [
            ("suspected".to_string(), None),
            ("confirmed".to_string(), None),
            ("confirmed".to_string(), Some(t0 + 80 * MIN)),
        ]
    );
    let e = &interruptions(&store)[0];
    assert_eq!(e.body["state"], "closed");
    assert_eq!(e.body["class"], "unplanned");
    assert_eq!(e.body["customers"], 40);
    // 86 minutes at one tick per minute: the other standards ran at 10:00:30 and every five
    // minutes after, 18 times.
    assert_eq!(standards_runs, 18);
}
