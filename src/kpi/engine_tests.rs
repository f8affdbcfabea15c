//! The engine over a store: inputs → formulas → results and events, with hand-computed
//! expectations. Runs on the in-memory store of `testkit`; the same scenarios run on SQLite
//! once it is on main.

use super::engine::Engine;
use super::period::Calendar;
use super::result::{IrregularityKind, KpiResult, Status};
use super::testkit::MemStore;
use crate::config::Settings;
use crate::model::TimestampMs;
use crate::model::time::parse_instant;
use crate::store::{EventFilter, ResultFilter, Store};

const CONFIG: &str = r#"
[site]
timezone = "Europe/Warsaw"

[[source]]
id = "ec"

[[unit]]
id = "k1"
source = "ec"
kind = "boiler"
fuel = "natural_gas"
lhv_gj_per_unit = 0.036
rated_heat_mw = 5.0

[[unit]]
id = "k2"
source = "ec"
kind = "boiler"
fuel = "coal"
lhv_gj_per_unit = 22.0
rated_heat_mw = 5.0

[[unit]]
id = "g1"
source = "ec"
kind = "engine"
fuel = "natural_gas"
lhv_gj_per_unit = 0.036
rated_heat_mw = 1.2
rated_el_mw = 1.0
year_built = 2018

[[stack]]
id = "em-1"
source = "ec"
units = ["k2"]
o2_ref_pct = 6.0
limits_mg_nm3 = { nox = 300.0 }

[kpi.emissions]
raw_interval_s = 900
"#;

fn settings() -> Settings {
    toml::from_str(CONFIG).expect("test configuration")
}

fn cal() -> Calendar {
    Calendar::default()
}

fn at(s: &str) -> TimestampMs {
    parse_instant(cal().tz, s).expect("test time")
}

fn find<'a>(rs: &'a [KpiResult], kpi: &str, asset: &str) -> &'a KpiResult {
    rs.iter()
        .find(|r| r.kpi == kpi && r.asset == asset)
        .unwrap_or_else(|| {
            panic!(
                "no {kpi} for {asset} in {:#?}",
                rs.iter().map(|r| (&r.kpi, &r.asset)).collect::<Vec<_>>()
            )
        })
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b}");
}

/// k1 (gas boiler) and g1 (gas engine) registers at every local hour of October and at
/// 1 November 00:00, skipping the hours in `skip`.
fn write_october_meters(store: &MemStore, skip: &[usize]) {
    let c = cal();
    let oct = c.parse("2026-10").unwrap();
    let mut ts: Vec<TimestampMs> = c.hours_in(oct.window).iter().map(|h| h.start).collect();
    ts.push(oct.end());
    let keep = |i: &usize| !skip.contains(i);
    let series = |per_hour: f64| -> Vec<(TimestampMs, f64)> {
        ts.iter()
            .enumerate()
            .filter(|(i, _)| keep(i))
            .map(|(i, t)| (*t, 1000.0 + per_hour * i as f64))
            .collect()
    };
    // k1: heat 8.1 GJ/h, gas 250 Nm³/h × 0.036 GJ/Nm³ = 9 GJ/h → η = 8.1 / 9 = 90 %.
    store.put("k1.heat_energy", &series(8.1));
    store.put("k1.fuel_volume", &series(250.0));
    // g1: heat 1.0 GJ/h, electricity 0.25 MWh/h = 0.9 GJ/h, gas 60 Nm³/h × 0.036 = 2.16 GJ/h.
    store.put("g1.heat_energy", &series(1.0));
    store.put("g1.electricity", &series(0.25));
    store.put("g1.fuel_volume", &series(60.0));
}

#[test]
fn october_efficiency_of_a_gas_boiler_and_a_gas_engine() {
    let store = MemStore::new();
    write_october_meters(&store, &[]);
    let s = settings();
    let engine = Engine::plant(&s).unwrap();
    let oct = engine.calendar().parse("2026-10").unwrap();
    let rs = engine
        .evaluate(&s, &store, &oct, Some("ec"), at("2026-11-02"))
        .unwrap()
        .results;
    let k1 = find(&rs, "boiler_efficiency", "k1");
    // 745 h × 8.1 GJ = 6034.5 GJ over 745 h × 9 GJ = 6705 GJ → 90 %
    close(k1.value.unwrap(), 90.0, 1e-9);
    close(k1.details["heat_gj"].as_f64().unwrap(), 6034.5, 1e-6);
    assert_eq!(k1.completeness, 1.0);
    // Built-in gas boiler threshold (domain.md §2.5: warn < 88, fail < 85): pass.
    assert_eq!(k1.status, Status::Pass);
    assert_eq!(k1.threshold.as_ref().unwrap().scope, "built-in");
    // Band: class 2 heat meter at Δθ 30 K: 3.44 %; gas 1.0 % and LHV 0.5 %:
    // √(3.44² + 1.0² + 0.5²) = 3.6171 % → 90 × (1 ∓ 0.036171) = 86.7446 … 93.2554
    let (lo, hi) = k1.uncertainty.unwrap();
    close(lo, 86.744_586_662, 1e-6);
    close(hi, 93.255_413_338, 1e-6);
    // Load 6034.5 / (5 MW × 3.6 × 745 h = 13 410) = 0.45: not low-load.
    close(k1.details["load_share"].as_f64().unwrap(), 0.45, 1e-12);
    // g1: η_tot = (0.25 × 3.6 + 1.0) / 2.16 = 1.9 / 2.16 = 87.963 % ≥ 75 % (EED Annex I): pass.
    let tot = find(&rs, "chp_total_efficiency", "g1");
    close(tot.value.unwrap(), 87.962_962_963, 1e-6);
    assert_eq!(tot.status, Status::Pass);
    // PES: CHP_Hη = 1/2.16 = 0.462963, CHP_Eη = 0.9/2.16 = 0.416667; built 2018: Ref_E 53,
    // Ref_H 92 → 0.462963/0.92 + 0.416667/0.53 = 0.503221 + 0.786164 = 1.289385
    // PES = 1 − 1/1.289385 = 22.4436 %. The EED criterion is judged per year, so the month has
    // no standard (and g1 at exactly 1 MWe is not small-scale).
    let pes = find(&rs, "primary_energy_savings", "g1");
    close(pes.value.unwrap(), 22.443_6, 1e-3);
    assert_eq!(pes.status, Status::NoStandard);
    // Plant: no outlet meter → Σ unit heat; k2 has no meters, so the plant input is incomplete.
    let plant = find(&rs, "plant_efficiency", "ec");
    assert_eq!(plant.status, Status::NoData);
    assert!(
        plant.irregularities.iter().any(
            |i| i.kind == IrregularityKind::NotCovered && i.message.contains("no outlet meter")
        )
    );
}

#[test]
fn a_meter_reset_provisional_data_and_an_implausible_value() {
    let c = cal();
    let s = settings();
    let engine = Engine::plant(&s).unwrap();
    let oct = c.parse("2026-10").unwrap();
    // Reset: the k1 heat register restarts at 0.5 GJ on 15 October 12:00 (hour index 348).
    let store = MemStore::new();
    let hours = c.hours_in(oct.window);
    let mut ts: Vec<TimestampMs> = hours.iter().map(|h| h.start).collect();
    ts.push(oct.end());
    let heat: Vec<(TimestampMs, f64)> = ts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                *t,
                if i < 348 {
                    1000.0 + 8.1 * i as f64
                } else {
                    0.5 + 8.1 * (i - 348) as f64
                },
            )
        })
        .collect();
    store.put("k1.heat_energy", &heat);
    store.put(
        "k1.fuel_volume",
        &ts.iter()
            .enumerate()
            .map(|(i, t)| (*t, 250.0 * i as f64))
            .collect::<Vec<_>>(),
    );
    let rs = engine
        .evaluate(&s, &store, &oct, Some("k1"), at("2026-11-02"))
        .unwrap()
        .results;
    let k1 = find(&rs, "boiler_efficiency", "k1");
    // The step across the reset (one hour, 8.1 GJ) is excluded: Q = 744 × 8.1 = 6026.4 GJ;
    // fuel 745 × 9 = 6705 GJ → η = 6026.4 / 6705 = 89.8792 %
    close(k1.value.unwrap(), 89.879_194_631, 1e-6);
    assert!(k1.irregularities.iter().any(|i| i.standard.contains("§8")));

    // 50 hours without readings: completeness (745 − 50)/745 = 0.9329 < 0.95 → provisional.
    let store = MemStore::new();
    let skip: Vec<usize> = (100..150).collect();
    write_october_meters(&store, &skip);
    let rs = engine
        .evaluate(&s, &store, &oct, Some("k1"), at("2026-11-02"))
        .unwrap()
        .results;
    let k1 = find(&rs, "boiler_efficiency", "k1");
    close(k1.completeness, 695.0 / 745.0, 1e-12);
    assert_eq!(k1.status, Status::Provisional);
    assert_eq!(k1.details["indicative_status"], "pass");
    // The energy is still all there (register differences span the gap): 90 %.
    close(k1.value.unwrap(), 90.0, 1e-9);

    // Gas heating value entered as 0.036 but metered heat 9.5 GJ/h: 105.6 % without condensing
    // equipment is a data error → provisional with a "not followed" irregularity.
    let store = MemStore::new();
    store.put(
        "k1.heat_energy",
        &ts.iter()
            .enumerate()
            .map(|(i, t)| (*t, 9.5 * i as f64))
            .collect::<Vec<_>>(),
    );
    store.put(
        "k1.fuel_volume",
        &ts.iter()
            .enumerate()
            .map(|(i, t)| (*t, 250.0 * i as f64))
            .collect::<Vec<_>>(),
    );
    let rs = engine
        .evaluate(&s, &store, &oct, Some("k1"), at("2026-11-02"))
        .unwrap()
        .results;
    let k1 = find(&rs, "boiler_efficiency", "k1");
    close(k1.value.unwrap(), 9.5 / 9.0 * 100.0, 1e-9);
    assert_eq!(k1.status, Status::Provisional);
    assert!(
        k1.irregularities
            .iter()
            .any(|i| i.kind == IrregularityKind::NotFollowed && i.standard.contains("§2.6"))
    );
}

/// k2 load and em-1 CEMS data for October 2026 (15-minute raw values, O2 9 %):
/// - heat power 0 MW from 1 January to 30 September (not operating), 0.5 MW in the first hour
///   of October (10 % of 5 MW rated < 20 %: start-up, excluded), 4 MW afterwards;
/// - NOx 200 mg/Nm³ (C_ref = 200 × 15/12 = 250, validated 250 − 20 % × 300 = 190), except
///   20 Oct 22:00–24:00 at 600 (C_ref 750, validated 690 > 2 × ELV) and all of 21 Oct at 320
///   (C_ref 400, validated 340 > 1.1 × ELV = 330);
/// - on 25 October (25 h) the analyser has no values in hours 5–8: four invalid hours.
fn write_emissions(store: &MemStore) {
    let c = cal();
    let year = c.parse("ytd:2026-10").unwrap();
    let oct = c.parse("2026-10").unwrap();
    let power: Vec<(TimestampMs, f64)> = c
        .hours_in(year.window)
        .iter()
        .map(|h| {
            let mw = if h.start < oct.start() {
                0.0
            } else if h.start == oct.start() {
                0.5
            } else {
                4.0
            };
            (h.start, mw)
        })
        .collect();
    store.put("k2.heat_power", &power);
    let d20 = c.parse("2026-10-20").unwrap();
    let d21 = c.parse("2026-10-21").unwrap();
    let d25 = c.parse("2026-10-25").unwrap();
    let d25_hours = c.hours_in(d25.window);
    let (mut nox, mut o2) = (Vec::new(), Vec::new());
    for h in c.hours_in(oct.window) {
        if d25_hours[5..9].contains(&h) {
            continue;
        }
        let v = if h.start >= d20.start() + 22 * 3_600_000 && h.start < d20.end() {
            600.0
        } else if d21.window.contains(h.start) {
            320.0
        } else {
            200.0
        };
        for q in 0..4 {
            let t = h.start + q * 900_000;
            nox.push((t, v));
            o2.push((t, 9.0));
        }
    }
    store.put("em-1.nox", &nox);
    store.put("em-1.o2", &o2);
}

#[test]
fn october_emissions_against_the_ied_rules() {
    let store = MemStore::new();
    write_emissions(&store);
    let s = settings();
    let engine = Engine::plant(&s).unwrap();
    let c = engine.calendar();
    let oct = c.parse("2026-10").unwrap();
    let ev = engine
        .evaluate(&s, &store, &oct, Some("em-1"), at("2026-11-02"))
        .unwrap();
    let rs = &ev.results;
    let avg = find(rs, "emission_nox_average", "em-1");
    // Valid hours: 745 − 1 start-up − 4 invalid = 740. Sum of validated values:
    // 740 × 190 + 2 × (690 − 190) + 24 × (340 − 190) = 140 600 + 1000 + 3600 = 145 200
    // monthly average = 145 200 / 740 = 196.2162 ≤ 300 → rule (a) passes.
    close(avg.value.unwrap(), 196.216_216_216, 1e-6);
    assert_eq!(avg.status, Status::Pass);
    assert_eq!(avg.details["hours"]["valid"], 740);
    assert_eq!(avg.details["hours"]["startup_shutdown"], 1);
    close(avg.completeness, 740.0 / 744.0, 1e-12);
    assert!(
        avg.irregularities
            .iter()
            .any(|i| i.standard.contains("invalid day"))
    );
    // Rule (b): 21 October at 340 > 330 → one day above the daily limit → fail.
    let days = find(rs, "emission_nox_days_above_daily_limit", "em-1");
    assert_eq!((days.value, days.status), (Some(1.0), Status::Fail));
    // Rule (c), year to date (1 Jan – 31 Oct): 2 of 740 valid hours above 600 = 0.2703 % ≤ 5 %.
    let share = find(rs, "emission_nox_hours_above_hourly_limit", "em-1");
    assert_eq!(share.period.label, "ytd:2026-10");
    close(share.value.unwrap(), 2.0 / 740.0 * 100.0, 1e-9);
    assert_eq!(share.status, Status::Pass);
    // Budget: 7296 h elapsed of 8760; projected valid 740 × 8760/7296 = 888.487 h; 5 % = 44.424 h;
    // 2 used → 42.424 h left.
    close(
        share.details["budget"]["remaining_hours"].as_f64().unwrap(),
        42.424_342,
        1e-5,
    );
    // Invalid days year to date: 25 October only (4 invalid hours > 3); Jan–Sep not operating.
    let inv = find(rs, "emission_nox_invalid_days", "em-1");
    assert_eq!((inv.value, inv.status), (Some(1.0), Status::Pass));
    assert_eq!(inv.details["invalid_days"][0], "2026-10-25");
    // Events: one exceedance run from 20 Oct 22:00 to 22 Oct 00:00 (26 h, peak 690), one daily
    // exceedance on 21 October.
    let runs: Vec<_> = ev
        .events
        .iter()
        .filter(|e| e.kind == "emission_exceedance")
        .collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].id,
        "emission_exceedance:em-1:nox:2026-10-20T20:00:00Z"
    );
    assert_eq!(
        (runs[0].start, runs[0].end),
        (at("2026-10-20T22:00"), Some(at("2026-10-22")))
    );
    assert_eq!(runs[0].body["hours"], 26.0);
    assert_eq!(runs[0].body["peak"], 690.0);
    let daily: Vec<_> = ev
        .events
        .iter()
        .filter(|e| e.kind == "emission_daily_exceedance")
        .collect();
    assert_eq!(daily.len(), 1);
    assert_eq!(daily[0].start, at("2026-10-21"));

    // The whole year 2026 (data end in October; November and December have neither load nor
    // analyser values, so they are unclassified, not invalid): rule (a) 0 months above the
    // ELV, rule (b) 1 day, rule (c) 2/740 hours, 1 invalid day.
    let y = c.parse("2026").unwrap();
    let rs = engine.evaluate(&s, &store, &y, Some("em-1"), at("2027-01-02")).unwrap().results;
    let months = find(&rs, "emission_nox_months_above_elv", "em-1");
    assert_eq!((months.value, months.status), (Some(0.0), Status::Pass));
    close(months.details["months"][0]["average"].as_f64().unwrap(), 196.216_216_216, 1e-6);
    assert_eq!(find(&rs, "emission_nox_days_above_daily_limit", "em-1").value, Some(1.0));
    let share = find(&rs, "emission_nox_hours_above_hourly_limit", "em-1");
    assert_eq!(share.period.label, "2026");
    close(share.value.unwrap(), 2.0 / 740.0 * 100.0, 1e-9);
    assert_eq!(find(&rs, "emission_nox_invalid_days", "em-1").value, Some(1.0));
    let avg = find(&rs, "emission_nox_average", "em-1");
    assert_eq!(avg.status, Status::NoStandard);
    assert_eq!(avg.details["hours"]["unclassified"], 61 * 24);
    assert!(avg.irregularities.iter().any(|i| i.message.contains("whether the plant operated is unknown")));

    // The 25-hour day itself: invalid, so no daily average.
    let d25 = c.parse("2026-10-25").unwrap();
    let rs = engine
        .evaluate(&s, &store, &d25, Some("em-1"), at("2026-11-02"))
        .unwrap()
        .results;
    let day = find(&rs, "emission_nox_average", "em-1");
    assert_eq!((day.value, day.status), (None, Status::NoData));
    assert_eq!(day.details["day"]["hours_in_day"], 25);
    assert_eq!(day.details["day"]["invalid_hours"], 4);
    // 21 October evaluated alone: the run keeps the id it has in the month (look-back).
    let d21 = c.parse("2026-10-21").unwrap();
    let ev21 = engine
        .evaluate(&s, &store, &d21, Some("em-1"), at("2026-11-02"))
        .unwrap();
    let r21 = find(&ev21.results, "emission_nox_average", "em-1");
    close(r21.value.unwrap(), 340.0, 1e-9);
    assert_eq!(r21.status, Status::Fail);
    assert_eq!(
        ev21.events
            .iter()
            .find(|e| e.kind == "emission_exceedance")
            .unwrap()
            .id,
        runs[0].id
    );
}

#[test]
fn results_are_stored_as_revisions_and_late_data_recomputes_closed_periods() {
    let store = MemStore::new();
    let s = settings();
    let engine = Engine::plant(&s).unwrap();
    let c = engine.calendar();
    let oct = c.parse("2026-10").unwrap();
    // First: October with 50 hours of k1 readings missing (provisional).
    write_october_meters(&store, &(100..150).collect::<Vec<_>>());
    let now = at("2026-11-02T06:00");
    engine
        .evaluate_and_store(&s, &store, &oct, Some("k1"), now)
        .unwrap();
    // The first live tick only sets the watermark.
    assert!(engine.recompute_late(&s, &store, now).unwrap().is_empty());
    // The missing hours arrive late (backfill from the meter's logger).
    let hours = c.hours_in(oct.window);
    let late: Vec<(TimestampMs, f64)> = (100..150)
        .map(|i| (hours[i].start, 1000.0 + 8.1 * i as f64))
        .collect();
    store.put("k1.heat_energy", &late);
    store.put(
        "k1.fuel_volume",
        &(100..150)
            .map(|i| (hours[i].start, 1000.0 + 250.0 * i as f64))
            .collect::<Vec<_>>(),
    );
    let later = now + 300_000;
    let redone = engine.recompute_late(&s, &store, later).unwrap();
    // 100 h after 1 Oct 00:00 is 5 Oct 04:00: days 5 Oct … 1 Nov, October and nothing older.
    assert!(redone.iter().any(|p| p.label == "2026-10"));
    assert!(redone.iter().any(|p| p.label == "2026-10-05"));
    assert!(!redone.iter().any(|p| p.label == "2026-10-04"));
    assert!(
        !redone.iter().any(|p| p.label == "2026"),
        "2026 is not closed yet"
    );
    let revs = store
        .results(&ResultFilter {
            kpi: Some("boiler_efficiency".into()),
            asset: Some("k1".into()),
            overlapping: Some(oct.window),
            all_revisions: true,
        })
        .unwrap()
        .into_iter()
        .filter(|r| r.period_start == oct.start() && r.period_end == oct.end())
        .collect::<Vec<_>>();
    assert_eq!(revs.len(), 2, "both revisions are kept");
    let latest = super::record::from_record(&revs[1]).unwrap();
    assert_eq!(latest.status, Status::Pass);
    assert_eq!(latest.as_of, later);
    assert_eq!(
        latest.details["recalculation"]["previous_status"],
        "provisional"
    );
    assert_eq!(latest.details["recalculation"]["previous_as_of"], now);
    // Nothing new written: nothing recomputed.
    assert!(
        engine
            .recompute_late(&s, &store, later + 300_000)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_exceedance_disproved_by_late_load_data_is_withdrawn() {
    let store = MemStore::new();
    let s = settings();
    let engine = Engine::plant(&s).unwrap();
    let c = engine.calendar();
    let day = c.parse("2026-11-03").unwrap();
    let hours = c.hours_in(day.window);
    // No load data yet: hours count as operating. NOx 600 at 9 % O2 in hours 10–11.
    let (mut nox, mut o2) = (Vec::new(), Vec::new());
    for (i, h) in hours.iter().enumerate() {
        for q in 0..4 {
            nox.push((
                h.start + q * 900_000,
                if (10..12).contains(&i) { 600.0 } else { 100.0 },
            ));
            o2.push((h.start + q * 900_000, 9.0));
        }
    }
    store.put("em-1.nox", &nox);
    store.put("em-1.o2", &o2);
    let now = at("2026-11-04T01:00");
    let ev = engine
        .evaluate_and_store(&s, &store, &day, Some("em-1"), now)
        .unwrap();
    let id = ev
        .events
        .iter()
        .find(|e| e.kind == "emission_exceedance")
        .unwrap()
        .id
        .clone();
    // Late load data: the boiler was in start-up (0.5 MW of 5) in hours 10–11.
    store.put(
        "k2.heat_power",
        &hours
            .iter()
            .enumerate()
            .map(|(i, h)| (h.start, if (10..12).contains(&i) { 0.5 } else { 4.0 }))
            .collect::<Vec<_>>(),
    );
    engine
        .evaluate_and_store(&s, &store, &day, Some("em-1"), now + 1)
        .unwrap();
    let stored = store
        .events(&EventFilter {
            kind: Some("emission_exceedance".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, id);
    assert!(
        stored[0].body["withdrawn"]["reason"]
            .as_str()
            .unwrap()
            .contains("recomputed")
    );
}

#[test]
fn live_periods_and_the_table() {
    let s = settings();
    let engine = Engine::plant(&s).unwrap();
    let now = at("2026-10-14T13:20");
    let live = engine.live_periods(now);
    let labels: Vec<&str> = live.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["2026-10-14T13:00+02:00", "2026-10-14", "2026-10"]);
    assert!(
        live.iter()
            .all(|p| p.is_partial() && p.evaluated_end == now)
    );
    let store = MemStore::new();
    write_october_meters(&store, &[]);
    let done = engine.live_tick(&s, &store, now).unwrap();
    assert_eq!(done.len(), 3);
    let stored = store
        .results(&ResultFilter {
            kpi: Some("boiler_efficiency".into()),
            asset: Some("k1".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(stored.len(), 3);
    let month = stored
        .iter()
        .find(|r| r.period_start == at("2026-10-01"))
        .unwrap();
    let m = super::record::from_record(month).unwrap();
    assert_eq!(m.period.evaluated_until, Some(now));
    close(m.value.unwrap(), 90.0, 1e-9);
    let table = super::render::render_table(&[m], engine.calendar().tz);
    assert!(
        table.contains("2026-10 (to 2026-10-14T13:20:00+02:00)"),
        "{table}"
    );
    let json = super::record::to_json(
        &super::engine::evaluate(
            &s,
            &store,
            &engine.calendar().parse("2026-10-13").unwrap(),
            Some("k1"),
        )
        .unwrap(),
        engine.calendar().tz,
    );
    assert_eq!(json[0]["kpi"], "boiler_efficiency");
    assert_eq!(json[0]["period_start"], "2026-10-13T00:00:00+02:00");
    let e = engine
        .evaluate(&s, &store, &live[1], Some("k9"), now)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no asset `k9`") && e.contains("em-1, g1, k1, k2"),
        "{e}"
    );
}

#[test]
fn the_example_configuration_evaluates_and_its_thresholds_apply() {
    let loaded = crate::config::load(std::path::Path::new("config/example.toml"))
        .expect("example configuration");
    let s = loaded.settings;
    let engine = Engine::plant(&s).unwrap();
    let oct = engine.calendar().parse("2026-10").unwrap();
    let store = MemStore::new();
    let rs = engine
        .evaluate(&s, &store, &oct, None, at("2026-11-02"))
        .unwrap()
        .results;
    assert!(!rs.is_empty());
    // Nothing measured: no value anywhere, and never a pass.
    assert!(rs.iter().all(|r| r.value.is_none()
        || r.kpi.ends_with("invalid_days")
        || r.kpi.ends_with("days_above_daily_limit")));
    assert!(
        rs.iter()
            .all(|r| r.status != Status::Pass || r.value.is_some())
    );
    // The pollutant-agnostic `emission_hours_above_hourly_limit` threshold (class stack, warn 3)
    // applies to NOx of em-1 in the year to date.
    let share = find(&rs, "emission_nox_hours_above_hourly_limit", "em-1");
    let t = share.threshold.as_ref().unwrap();
    assert_eq!(
        (t.warn, t.fail, t.scope.as_str()),
        (Some(3.0), Some(5.0), "class stack")
    );
}

#[test]
fn check_config_reports_kpi_problems_with_their_keys() {
    let text = format!(
        "{CONFIG}\nwet_stacks = [\"em-9\"]\nmin_valid_share = 75.0\n\n[[threshold]]\nkpi = \"boiler_efficiency\"\nunit = \"%\"\ndirection = \"min\"\nfail = 88.0\nperiod = \"month\"\nclass = \"boiler:natural_gas:condensing\"\nsource = \"t\"\n"
    );
    let e = crate::config::load_str(&text, "kpi.toml", std::path::Path::new(".")).unwrap_err();
    let all = e.to_string();
    assert!(
        all.contains("kpi.emissions.min_valid_share: 75 is not usable; a share between 0 and 1"),
        "{all}"
    );
    assert!(all.contains("kpi.emissions.wet_stacks[0]"), "{all}");
    // The compound unit class is accepted.
    assert!(!all.contains("threshold[0].class"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_loop_ticks_and_stops_on_shutdown() {
    let store = std::sync::Arc::new(MemStore::new());
    let s = std::sync::Arc::new(settings());
    let engine = std::sync::Arc::new(Engine::plant(&s).unwrap());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let dyn_store: std::sync::Arc<dyn Store> = store.clone();
    let task = tokio::spawn(super::engine::run_live(
        engine.clone(),
        s.clone(),
        dyn_store,
        rx,
    ));
    // The first tick runs at once; it sets the late-data watermark. Wait for it (bounded, so a
    // broken loop fails instead of hanging).
    let mut ticked = false;
    for _ in 0..2000 {
        if store.state("kpi.watermark").unwrap().is_some() {
            ticked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(ticked, "the live loop never ran a tick");
    tx.send(true).unwrap();
    task.await.unwrap().unwrap();
    // Already shut down before the first tick: returns without evaluating.
    let (tx, rx) = tokio::sync::watch::channel(true);
    let fresh = std::sync::Arc::new(MemStore::new());
    let fresh_dyn: std::sync::Arc<dyn Store> = fresh.clone();
    super::engine::run_live(engine, s, fresh_dyn, rx)
        .await
        .unwrap();
    assert!(fresh.state("kpi.watermark").unwrap().is_none());
    drop(tx);
}
