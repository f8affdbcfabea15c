//! Scenario tests: offsets across DST, exact intervals of the built-in scenario, errors, and
//! overflow targets.

use super::*;
use chrono_tz::Europe::Warsaw;

fn topo() -> Topology {
    Topology {
        networks: vec!["net".into()],
        branches: vec![(0, "b1".into()), (0, "b2".into()), (0, "b3".into())],
        substations: (1..=24)
            .map(|i| (format!("ss-{i:02}"), (i - 1) % 3))
            .collect(),
        stacks: vec!["em-1".into()],
        devices: (1..=24)
            .map(|i| (format!("ss-{i:02}-hm"), format!("ss-{i:02}")))
            .collect(),
    }
}

#[test]
fn offsets_are_local_wall_clock_across_dst() {
    // 2026-03-29 is the spring-forward day; +30d07:30 from 1 March is 31 March 07:30 CEST.
    let start = time::parse_instant(Warsaw, "2026-03-01").unwrap();
    let t = parse_event_time(Warsaw, start, "+30d07:30").unwrap();
    assert_eq!(
        t,
        time::parse_instant(Warsaw, "2026-03-31T07:30:00+02:00").unwrap()
    );
    assert!(parse_event_time(Warsaw, start, "+4x07:30").is_err());
    assert_eq!(
        parse_event_time(Warsaw, start, "2026-03-02T06:00").unwrap(),
        start + 30 * 3_600_000
    );
}

#[test]
fn default_scenario_resolves_with_exact_intervals() {
    let start = time::parse_instant(Warsaw, "2026-01-01").unwrap();
    let cfg = SimulatorConfig::default();
    let mut sc = Scenario::build(&cfg, &topo(), Warsaw, start, 1).unwrap();
    assert_eq!(sc.events.len(), 13);
    let int = sc.events[0].clone();
    assert_eq!(int.kind, EventKind::Interruption);
    assert_eq!(int.scope, Scope::Branch(1));
    // +4d07:30 in January (UTC+1) is 2026-01-05T06:30Z; 6.5 h later 13:00Z.
    assert_eq!(
        int.start_ms,
        time::parse_instant(Warsaw, "2026-01-05T06:30:00Z").unwrap()
    );
    assert_eq!(int.end_ms, Some(int.start_ms + 6 * 3_600_000 + 1_800_000));
    let mut cond = Conditions::new(&topo());
    assert!(sc.apply(int.start_ms - 60_000, &mut cond));
    assert!(!cond.branch_off[1]);
    assert!(!sc.apply(int.start_ms - 1, &mut cond));
    assert!(sc.apply(int.start_ms, &mut cond));
    assert!(cond.branch_off[1]);
    let planned = sc
        .events
        .iter()
        .find(|e| e.kind == EventKind::PlannedStop)
        .unwrap();
    assert_eq!(planned.scope, Scope::Branch(2));
    assert_eq!(planned.notified_ms, Some(planned.start_ms - 8 * 86_400_000));
}

#[test]
fn bad_targets_are_reported() {
    let start = time::parse_instant(Warsaw, "2026-01-01").unwrap();
    let mut cfg = SimulatorConfig {
        default_scenario: false,
        ..Default::default()
    };
    cfg.events = default_events(&topo(), false, 0, &mut BTreeSet::new());
    cfg.events[0].target = "b9".into();
    let e = Scenario::build(&cfg, &topo(), Warsaw, start, 1).unwrap_err();
    assert!(e.to_string().contains("b9"), "{e}");
    cfg.disable = vec![EventKind::Interruption];
    assert_eq!(
        Scenario::build(&cfg, &topo(), Warsaw, start, 1)
            .unwrap()
            .events
            .len(),
        12
    );
}

#[test]
fn overflows_never_hit_a_meter_touched_before() {
    // Over a year of 24 substations, each month's overflow goes to a meter no reset,
    // replacement, swap or earlier overflow has touched.
    let start = time::parse_instant(Warsaw, "2026-01-01").unwrap();
    let sc = Scenario::build(&SimulatorConfig::default(), &topo(), Warsaw, start, 12).unwrap();
    let mut touched: Vec<(TimestampMs, Scope)> = Vec::new();
    let mut overflows = 0;
    for e in &sc.events {
        match e.kind {
            EventKind::CounterOverflow => {
                overflows += 1;
                assert!(
                    !touched
                        .iter()
                        .any(|(t, s)| *s == e.scope && *t <= e.start_ms),
                    "{} on {} was touched before",
                    e.id,
                    e.target
                );
                touched.push((e.start_ms, e.scope));
            }
            EventKind::MeterReset | EventKind::MeterReplacement | EventKind::SwappedSensors => {
                touched.push((e.start_ms, e.scope))
            }
            _ => {}
        }
    }
    assert_eq!(overflows, 12);
}
