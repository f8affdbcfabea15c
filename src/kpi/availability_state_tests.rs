use super::*;

const MIN: i64 = 60_000;

fn rules() -> StateRules {
    StateRules {
        tolerance: 0.10,
        dp_min_bar: 0.2,
        zero_flow_m3h: 0.02,
        min_supply_abs_c: 40.0,
        swapped_margin_k: 1.0,
    }
}

fn cx(table: Option<f64>) -> ReadingContext {
    ReadingContext {
        table_supply_c: table,
        dp_measured: true,
        not_requested: false,
        register_window: false,
    }
}

fn reading(supply: f64, ret: f64, flow: f64, dp: f64) -> Reading {
    Reading {
        ts: 0,
        supply_c: Some(supply),
        return_c: Some(ret),
        flow_m3h: Some(flow),
        dp_bar: Some(dp),
    }
}

#[test]
fn classification_at_the_tolerance_edges() {
    let r = rules();
    // Table 90 °C at the outdoor temperature, tolerance 10 %: limit 90 × (1 − 0.10) = 81 °C.
    assert!((r.supply_limit_c(90.0) - 81.0).abs() < 1e-12);
    let c = cx(Some(90.0));
    // Exactly at the limit: supplied.
    assert_eq!(
        r.classify(&reading(81.0, 50.0, 3.0, 1.5), &c),
        (SupplyState::Supplied, Reason::Normal)
    );
    // 0.01 K below it with flow: degraded.
    assert_eq!(
        r.classify(&reading(80.99, 50.0, 3.0, 1.5), &c),
        (SupplyState::Degraded, Reason::LowTemperature)
    );
    // Below it without flow but with pressure: no demand, the sensor cools; supplied.
    assert_eq!(
        r.classify(&reading(60.0, 50.0, 0.0, 1.5), &c),
        (SupplyState::Supplied, Reason::NoDemand)
    );
    // Δp exactly at 0.2 bar is pressure; just below it, with no flow, not supplied.
    assert_eq!(
        r.classify(&reading(85.0, 50.0, 0.0, 0.2), &c).0,
        SupplyState::Supplied
    );
    assert_eq!(
        r.classify(&reading(85.0, 50.0, 0.0, 0.199), &c),
        (SupplyState::NotSupplied, Reason::NoPressure)
    );
    // Flow exactly at the zero-flow limit (0.02 m³/h) counts as no flow.
    assert_eq!(
        r.classify(&reading(85.0, 50.0, 0.02, 0.01), &c).0,
        SupplyState::NotSupplied
    );
    // Return 1 K above supply is within the sensor tolerance; 1.01 K above is a sensor fault.
    assert_eq!(
        r.classify(&reading(82.0, 83.0, 3.0, 1.5), &c).0,
        SupplyState::Supplied
    );
    assert_eq!(
        r.classify(&reading(82.0, 83.01, 3.0, 1.5), &c),
        (SupplyState::Unknown, Reason::SwappedSensors)
    );
}

#[test]
fn without_dp_flow_alone_is_never_enough() {
    let r = rules();
    let c = ReadingContext {
        dp_measured: false,
        ..cx(Some(90.0))
    };
    // No flow at 45 °C: above the 40 °C absolute minimum, so it may be no demand: supplied.
    assert_eq!(
        r.classify(&reading(45.0, 40.0, 0.0, f64::NAN), &c),
        (SupplyState::Supplied, Reason::NoDemand)
    );
    // No flow at 39.9 °C: rule (a), not supplied.
    assert_eq!(
        r.classify(&reading(39.9, 35.0, 0.0, f64::NAN), &c),
        (SupplyState::NotSupplied, Reason::ColdAndNoFlow)
    );
    // During a planned stop in the register, no flow is the stop itself, even while the
    // stagnant water is still warm (97 °C).
    let during = ReadingContext {
        register_window: true,
        ..c
    };
    assert_eq!(
        r.classify(&reading(97.0, 60.0, 0.0, f64::NAN), &during),
        (SupplyState::NotSupplied, Reason::NoFlowInRegisterWindow)
    );
    // With flow it is supplied whatever the register says.
    assert_eq!(
        r.classify(&reading(97.0, 60.0, 3.0, f64::NAN), &during).0,
        SupplyState::Supplied
    );
}

#[test]
fn missing_outdoor_temperature_is_unknown_not_an_interruption() {
    let r = rules();
    // Δp gone and no flow would be "not supplied", but without the table the state is unknown.
    assert_eq!(
        r.classify(&reading(30.0, 30.0, 0.0, 0.0), &cx(None)),
        (SupplyState::Unknown, Reason::NoOutdoorTemperature)
    );
    let missing = Reading {
        supply_c: None,
        ..reading(0.0, 0.0, 0.0, 0.0)
    };
    assert_eq!(
        r.classify(&missing, &cx(Some(90.0))),
        (SupplyState::Unknown, Reason::NoReading)
    );
    let not_due = ReadingContext {
        not_requested: true,
        ..cx(None)
    };
    assert_eq!(
        r.classify(&reading(30.0, 30.0, 0.0, 0.0), &not_due).0,
        SupplyState::NotRequested
    );
}

#[test]
fn a_stale_meter_is_found_from_its_second_identical_reading() {
    // Readings 0..8 at one per minute; 2..7 identical (six readings), with min_run 5.
    let mut rs: Vec<Reading> = (0..8)
        .map(|i| Reading {
            ts: i * MIN,
            ..reading(80.0 + i as f64, 50.0, 3.0, 1.5)
        })
        .collect();
    for r in rs.iter_mut().take(8).skip(2) {
        let ts = r.ts;
        *r = Reading {
            ts,
            ..reading(82.0, 50.0, 3.0, 1.5)
        };
    }
    rs[7].supply_c = Some(99.0);
    // 2..6 are identical (five readings): 3, 4, 5, 6 are stale; 2 is the last real one.
    let f = stale_flags(&rs, 5, 0.02);
    assert_eq!(f, [false, false, false, true, true, true, true, false]);
    // A run of four is not enough with min_run 5.
    assert!(stale_flags(&rs[..6], 5, 0.02).iter().all(|x| !x));
    // Without flow, sensors at room temperature read the same value: not a frozen meter.
    for r in &mut rs {
        r.flow_m3h = Some(0.0);
    }
    assert!(stale_flags(&rs, 5, 0.02).iter().all(|x| !x));
}

#[test]
fn spans_persistence_and_gaps() {
    use SupplyState as S;
    let n = |ts: i64, s| (ts * MIN, s, Reason::Normal);
    // Supplied 0–10, not supplied 10–25 (15 min), supplied 25–30, not supplied 30–70 (40 min),
    // then a 10-minute gap in the readings (70 → 80) with max_gap 5 min, supplied 80–90.
    let mut states = Vec::new();
    for m in 0..90 {
        let s = match m {
            10..25 | 30..70 => S::NotSupplied,
            70..80 => continue,
            _ => S::Supplied,
        };
        states.push(n(m, s));
    }
    let mut t = spans_of_readings(&states, 0, 90 * MIN, 5 * MIN);
    // The last not-supplied reading (69) stands for 5 minutes (max gap): 30–74, unknown 74–80.
    let got: Vec<(i64, i64, S)> = t
        .spans
        .iter()
        .map(|s| (s.start / MIN, s.end / MIN, s.state))
        .collect();
    assert_eq!(
        got,
        [
            (0, 10, S::Supplied),
            (10, 25, S::NotSupplied),
            (25, 30, S::Supplied),
            (30, 74, S::NotSupplied),
            (74, 80, S::Unknown),
            (80, 90, S::Supplied),
        ]
    );
    // Persistence 30 min: the 15-minute run is a disturbance; the 44-minute one stays.
    t.apply_persistence(30 * MIN);
    assert_eq!(t.spans[1].state, S::Disturbance);
    assert_eq!(t.spans[3].state, S::NotSupplied);
    assert_eq!(t.ms_in(S::NotSupplied, 0, 90 * MIN), 44 * MIN);
    assert_eq!(t.ms_in(S::Unknown, 0, 90 * MIN), 6 * MIN);
    assert_eq!(t.state_at(74 * MIN), Some(S::Unknown));
    assert_eq!(t.state_at(73 * MIN + 59_999), Some(S::NotSupplied));
}

#[test]
fn onset_finds_where_the_steep_change_began() {
    // Supply 86.17, 86.15 (flat), then 83.41, 81.18, 79.35 after the plant lowered it at
    // minute 2; the limit 81 °C is first crossed at minute 4 (79.35). Steps back from minute
    // 4: −1.83, −2.23 (≥ 0.5 K) then −2.74 from minute 1 to 2, then −0.02: the change began
    // with the reading at minute 2.
    let p = [
        (0, 86.17),
        (MIN, 86.15),
        (2 * MIN, 83.41),
        (3 * MIN, 81.18),
        (4 * MIN, 79.35),
    ];
    assert_eq!(onset(&p, 4 * MIN, true, 0.5), 2 * MIN);
    // Rising at the end of an episode: 70.26, 70.26, 72.98, 75.18 → began at minute 2.
    let q = [(0, 70.26), (MIN, 70.26), (2 * MIN, 72.98), (3 * MIN, 75.18)];
    assert_eq!(onset(&q, 3 * MIN, false, 0.5), 2 * MIN);
    // The approach slowed below 0.5 K per reading before the crossing (79.7 → 80.35 → 81.1):
    // the steep stretch before it still marks the start of the rise.
    let slow = [
        (0, 68.55),
        (MIN, 68.55),
        (2 * MIN, 71.26),
        (3 * MIN, 73.47),
        (4 * MIN, 79.7),
        (5 * MIN, 80.35),
        (6 * MIN, 81.1),
    ];
    assert_eq!(onset(&slow, 6 * MIN, false, 0.5), 2 * MIN);
    // A crossing not among the points stays where it is.
    assert_eq!(onset(&q, 9 * MIN, false, 0.5), 9 * MIN);
}
