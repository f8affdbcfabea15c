//! The simulator's history and ground truth: determinism, energy balance, injected events at
//! their exact intervals, and monthly realism (domain.md typical ranges).

use heatkpi::model::counter::delta_of;
use heatkpi::model::time::parse_instant;
use heatkpi::model::{Quality, Quantity, SeriesKey};
use heatkpi::sim::{
    HashSink, HistoryOptions, Reading, ReadingSink, SeriesRules, SinkError, Truth, demo_settings,
    history,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

/// Keeps the readings of some assets, counts the rest.
#[derive(Default)]
struct Keep {
    assets: BTreeSet<String>,
    kept: HashMap<SeriesKey, Vec<Reading>>,
    rules: HashMap<SeriesKey, SeriesRules>,
    total: u64,
}

impl Keep {
    fn of(assets: &[&str]) -> Self {
        Keep {
            assets: assets.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }
    fn series(&self, asset: &str, q: Quantity) -> &[Reading] {
        self.kept
            .get(&SeriesKey::new(asset, q))
            .map_or(&[], |v| v.as_slice())
    }
}

impl ReadingSink for Keep {
    fn set_rules(&mut self, series: &SeriesKey, rules: SeriesRules) {
        self.rules.insert(series.clone(), rules);
    }
    fn push(&mut self, readings: &[Reading]) -> Result<(), SinkError> {
        self.total += readings.len() as u64;
        for r in readings
            .iter()
            .filter(|r| self.assets.contains(&r.series.asset))
        {
            self.kept
                .entry(r.series.clone())
                .or_default()
                .push(r.clone());
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

const WATCHED: &[&str] = &[
    "ss-01", "ss-02", "ss-05", "ss-09", "ss-13", "ss-17", "ss-21", "ss-23", "em-coal",
];

/// January 2026 of the demo utility with the built-in scenario, run once for all tests here.
fn january() -> &'static (Truth, Keep) {
    static RUN: OnceLock<(Truth, Keep)> = OnceLock::new();
    RUN.get_or_init(|| {
        let settings = demo_settings().expect("demo config parses");
        let mut sink = Keep::of(WATCHED);
        let report = history(&settings, &mut sink, &HistoryOptions::month(2026, 1)).unwrap();
        assert_eq!(report.readings, sink.total);
        (report.truth, sink)
    })
}

fn at(s: &str) -> i64 {
    parse_instant(chrono_tz::Europe::Warsaw, s).unwrap()
}

#[test]
fn same_seed_same_history_other_seed_differs() {
    let settings = demo_settings().unwrap();
    let run = |seed| {
        let mut sink = HashSink::default();
        let mut o = HistoryOptions::month(2026, 2);
        o.days = Some(2);
        o.seed = Some(seed);
        let r = history(&settings, &mut sink, &o).unwrap();
        assert_eq!(r.readings, sink.count);
        (sink.hash(), r.truth)
    };
    let (a, ta) = run(7);
    let (b, tb) = run(7);
    let (c, _) = run(8);
    assert_eq!(a, b, "same seed, same history");
    assert_eq!(ta, tb, "same seed, same truth");
    assert_ne!(a, c, "another seed, another history");
}

#[test]
fn energy_balance_closes() {
    let (truth, _) = january();
    let m = &truth.months[0];
    for n in &m.networks {
        // heat in = delivered + losses + ΔQ_stored, to rounding.
        assert!(n.balance_residual_gj.abs() < 1e-6 * n.heat_in_gj, "{n:?}");
        let delivered: f64 = m.substations.iter().map(|s| s.delivered_gj).sum();
        assert!((delivered - n.delivered_gj).abs() < 1e-6 * delivered);
        let produced: f64 = m.sources.iter().map(|s| s.heat_out_gj).sum();
        assert!((produced - n.heat_in_gj).abs() < 1e-6 * produced);
        let closure = produced - delivered - n.losses_gj - n.storage_change_gj;
        assert!(closure.abs() < 0.001 * produced, "closure {closure} GJ");
    }
    for s in &m.sources {
        let units: f64 = m
            .units
            .iter()
            .filter(|u| u.source == s.id)
            .map(|u| u.heat_gj)
            .sum();
        assert!((units - s.heat_produced_gj).abs() < 1e-6 * units);
    }
}

#[test]
fn metered_balance_closes_without_faults() {
    // Without the scenario, the meters' own registers (read back from the written history as a
    // KPI evaluator would, with the declared moduli) balance against the truth's losses.
    let mut settings = demo_settings().unwrap();
    if let Some(s) = settings.simulator.as_mut() {
        s.default_scenario = false;
        s.events.clear();
    }
    let meters: Vec<String> = settings
        .substations
        .iter()
        .map(|s| s.id.clone())
        .chain(["ec-north-out".into(), "chp-south-out".into()])
        .collect();
    let refs: Vec<&str> = meters.iter().map(String::as_str).collect();
    let mut sink = Keep::of(&refs);
    let mut o = HistoryOptions::month(2026, 3);
    o.days = Some(6);
    let r = history(&settings, &mut sink, &o).unwrap();
    let energy = |asset: &str| {
        let key = SeriesKey::new(asset, Quantity::HeatEnergy);
        let rs = &sink.kept[&key];
        let unit = rs[0].unit;
        // Modulus in canonical GJ → the reading's unit.
        let per_gj =
            1.0 / heatkpi::model::quantity::convert(Quantity::HeatEnergy, unit, 1.0).unwrap();
        let modulus = sink.rules[&key].modulus.map(|m| m * per_gj);
        let d = delta_of(rs.iter().map(|r| (r.ts, r.value)), modulus);
        assert_eq!(d.resets + d.replacements, 0);
        heatkpi::model::quantity::convert(Quantity::HeatEnergy, unit, d.delta).unwrap()
    };
    let q_in = energy("ec-north-out") + energy("chp-south-out");
    let q_out: f64 = settings.substations.iter().map(|s| energy(&s.id)).sum();
    let n = &r.truth.months[0].networks[0];
    let closure = q_in - q_out - n.losses_gj - n.storage_change_gj;
    assert!(
        closure.abs() < 0.001 * q_in,
        "metered closure {closure} GJ of {q_in}"
    );
}

#[test]
fn injected_events_have_exact_intervals_in_truth_and_data() {
    let (truth, sink) = january();
    let ev = |kind: &str| {
        truth
            .events
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} in truth"))
    };
    // Offsets from local midnight of 1 January (CET = UTC+1).
    let int = ev("interruption");
    assert_eq!(int.start_ms, at("2026-01-05T07:30"));
    assert_eq!(int.end_ms, Some(at("2026-01-05T14:00")));
    assert_eq!(int.start, "2026-01-05T07:30:00+01:00");
    let b2: Vec<&str> = truth
        .interruptions
        .iter()
        .filter(|i| i.event == int.id)
        .map(|i| i.substation.as_str())
        .collect();
    assert_eq!(b2.len(), 8, "branch b2 holds 8 of the 24 substations");
    assert!(b2.contains(&"ss-02"));
    // In the data: ss-02 has no flow exactly inside the interval, flow right before and after.
    let flow = sink.series("ss-02", Quantity::Flow);
    for r in flow {
        let inside = r.ts >= int.start_ms && r.ts < int.end_ms.unwrap();
        if inside {
            assert_eq!(r.value, 0.0, "flow at {}", r.ts);
        } else if (r.ts - int.start_ms).abs() <= 60_000
            || (r.ts - int.end_ms.unwrap()).abs() <= 60_000
        {
            assert!(r.value > 0.0, "flow at {}", r.ts);
        }
    }
    let planned = ev("planned_stop");
    assert_eq!(planned.start_ms, at("2026-01-18T08:00"));
    assert_eq!(planned.notified_ms, Some(at("2026-01-10T08:00")));

    // Counter overflow: ss-09's energy register wraps exactly at +14d15:00.
    let ov = ev("counter_overflow");
    assert_eq!(ov.start_ms, at("2026-01-15T15:00"));
    let e9 = sink.series("ss-09", Quantity::HeatEnergy);
    let drop = e9.windows(2).find(|w| w[1].value < w[0].value).unwrap();
    assert_eq!(drop[1].ts, ov.start_ms);
    assert!(
        drop[0].value > 4_294_000.0 && drop[1].value < 1.0,
        "{drop:?}"
    );
    assert_eq!(truth.counter_wraps[0].at_ms, ov.start_ms);

    // Meter reset: ss-05's energy reads ~0 from +6d12:00.
    let reset = ev("meter_reset");
    let e5 = sink.series("ss-05", Quantity::HeatEnergy);
    let r5 = e5.iter().find(|r| r.ts == reset.start_ms).unwrap();
    assert!(r5.value < 0.01, "{r5:?}");
    assert!(
        e5.iter()
            .find(|r| r.ts == reset.start_ms - 60_000)
            .unwrap()
            .value
            > 100.0
    );

    // Replacement: no value for the 40 minutes off line, then the new meter at 873.214 MWh.
    let rep = ev("meter_replacement");
    let e13 = sink.series("ss-13", Quantity::HeatEnergy);
    for r in e13
        .iter()
        .filter(|r| r.ts >= rep.start_ms && r.ts < rep.end_ms.unwrap())
    {
        assert!(r.value.is_nan() && r.quality == Quality::Bad);
    }
    let first = e13.iter().find(|r| r.ts == rep.end_ms.unwrap()).unwrap();
    assert!((first.value - 873.214).abs() < 0.002, "{first:?}");

    // Swapped sensors: supply below return on ss-17 only inside the interval.
    let sw = ev("swapped_sensors");
    let (sup, ret) = (
        sink.series("ss-17", Quantity::SupplyTemp),
        sink.series("ss-17", Quantity::ReturnTemp),
    );
    for (s, r) in sup.iter().zip(ret) {
        let inside = s.ts >= sw.start_ms && s.ts < sw.end_ms.unwrap();
        assert_eq!(s.value < r.value, inside, "at {}", s.ts);
    }

    // Stale: every ss-21 value frozen inside the interval.
    let st = ev("stale");
    let t21 = sink.series("ss-21", Quantity::SupplyTemp);
    let frozen: BTreeSet<u64> = t21
        .iter()
        .filter(|r| r.ts >= st.start_ms && r.ts < st.end_ms.unwrap())
        .map(|r| r.value.to_bits())
        .collect();
    assert_eq!(frozen.len(), 1);

    // No response: ss-23 has only bad readings without a value inside the interval.
    let nr = ev("no_response");
    for r in sink.series("ss-23", Quantity::Flow) {
        let inside = r.ts >= nr.start_ms && r.ts < nr.end_ms.unwrap();
        assert_eq!(r.value.is_nan(), inside);
    }

    // CEMS maintenance: 5 hours of maintenance quality on 24 January, an invalid day.
    let cm = ev("cems_maintenance");
    let so2 = sink.series("em-coal", Quantity::So2);
    let maint: Vec<i64> = so2
        .iter()
        .filter(|r| r.quality == Quality::Maintenance)
        .map(|r| r.ts)
        .collect();
    assert_eq!(maint.len(), 5 * 60);
    assert_eq!(
        (maint[0], *maint.last().unwrap() + 60_000),
        (cm.start_ms, cm.end_ms.unwrap())
    );
    let coal = truth.months[0]
        .stacks
        .iter()
        .find(|s| s.id == "em-coal")
        .unwrap();
    assert_eq!(coal.invalid_days, vec!["2026-01-24".to_string()]);
    let kpis = &truth.months[0].kpis;
    assert_eq!(kpis.cems_invalid_hours["em-coal"]["2026-01-24"], 5);

    // The SO2 episode on 13 January breaks the daily limit (150 % of 400 mg/Nm³).
    let days: BTreeMap<&str, &str> = kpis
        .emission_exceedance_days
        .iter()
        .map(|e| (e.date.as_str(), e.pollutant.as_str()))
        .collect();
    assert_eq!(days, BTreeMap::from([("2026-01-13", "so2")]));
}

#[test]
fn january_is_realistic() {
    let (truth, _) = january();
    let m = &truth.months[0];
    assert_eq!(m.hours, 744);
    assert!(
        (-4.0..2.0).contains(&m.weather.mean_outdoor_c),
        "{:?}",
        m.weather
    );
    let n = &m.networks[0];
    // Winter losses of an older network, domain.md §4.5: 8–15 %.
    assert!((8.0..15.0).contains(&n.transmission_loss_pct), "{n:?}");
    let sold = n.delivered_gj / n.heat_in_gj;
    assert!((0.85..0.92).contains(&sold), "sold/produced {sold}");
    // Coal stoker boilers 75–85 % (domain.md §2.5) for a month weighted by energy.
    for u in m
        .units
        .iter()
        .filter(|u| u.fuel_unit == "t" && u.heat_gj > 1000.0)
    {
        let eta = u.efficiency.unwrap();
        assert!((0.75..0.85).contains(&eta), "{} η {eta}", u.id);
    }
    let engine = m.units.iter().find(|u| u.id == "ge1").unwrap();
    assert!((0.75..0.90).contains(&engine.total_efficiency.unwrap()));
    // High-temperature network in January: supply ~80–110 °C, return ~45–65 °C, cooling ≥ 20 K.
    let mean = |f: fn(&heatkpi::sim::SubstationTruth) -> Option<f64>| {
        let v: Vec<f64> = m.substations.iter().filter_map(f).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (sup, ret) = (mean(|s| s.mean_supply_c), mean(|s| s.mean_return_c));
    assert!(
        (80.0..110.0).contains(&sup) && (45.0..65.0).contains(&ret),
        "{sup} {ret}"
    );
    assert!(mean(|s| s.volume_weighted_cooling_k) > 20.0);
    // Every unsupplied GJ belongs to a substation with an interruption or degraded supply.
    let affected: BTreeSet<&str> = m
        .kpis
        .interruptions
        .iter()
        .map(|i| i.substation.as_str())
        .collect();
    assert!(affected.len() >= 8);
}
