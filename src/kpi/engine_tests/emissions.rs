//! KPI 2 through the engine: the IED rules over days, months and the year; events.

use super::*;

/// k2 load and em-1 CEMS data for October 2026 (15-minute raw values, O2 9 %):
/// - heat power 0 MW from 1 January to 30 September (not operating), 0.5 MW in the first hour
///   of October (10 % of 5 MW rated < 20 %: start-up, excluded), 4 MW afterwards;
/// - NOx 200 mg/Nm³ (C_ref = 200 × 15/12 = 250, validated 250 − 20 % × 300 = 190), except
///   20 Oct 22:00–24:00 at 600 (C_ref 750, validated 690 > 2 × ELV) and all of 21 Oct at 320
///   (C_ref 400, validated 340 > 1.1 × ELV = 330);
/// - on 25 October (25 h) the analyser has no values in hours 5–8: four invalid hours.
fn write_emissions(store: &dyn Store) {
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
    put(store, "k2.heat_power", &power);
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
    put(store, "em-1.nox", &nox);
    put(store, "em-1.o2", &o2);
}

#[test]
fn october_emissions_against_the_ied_rules() {
    for_each_store(|new_store| {
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
        write_emissions(store);
        let s = settings();
        let engine = Engine::plant(&s).unwrap();
        let c = engine.calendar();
        let oct = c.parse("2026-10").unwrap();
        let ev = engine
            .evaluate(&s, store, &oct, Some("em-1"), at("2026-11-02"))
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
        let rs = engine
            .evaluate(&s, store, &y, Some("em-1"), at("2027-01-02"))
            .unwrap()
            .results;
        let months = find(&rs, "emission_nox_months_above_elv", "em-1");
        assert_eq!((months.value, months.status), (Some(0.0), Status::Pass));
        close(
            months.details["months"][0]["average"].as_f64().unwrap(),
            196.216_216_216,
            1e-6,
        );
        assert_eq!(
            find(&rs, "emission_nox_days_above_daily_limit", "em-1").value,
            Some(1.0)
        );
        let share = find(&rs, "emission_nox_hours_above_hourly_limit", "em-1");
        assert_eq!(share.period.label, "2026");
        close(share.value.unwrap(), 2.0 / 740.0 * 100.0, 1e-9);
        assert_eq!(
            find(&rs, "emission_nox_invalid_days", "em-1").value,
            Some(1.0)
        );
        let avg = find(&rs, "emission_nox_average", "em-1");
        assert_eq!(avg.status, Status::NoStandard);
        assert_eq!(avg.details["hours"]["unclassified"], 61 * 24);
        assert!(
            avg.irregularities
                .iter()
                .any(|i| i.message.contains("whether the plant operated is unknown"))
        );

        // The 25-hour day itself: invalid, so no daily average.
        let d25 = c.parse("2026-10-25").unwrap();
        let rs = engine
            .evaluate(&s, store, &d25, Some("em-1"), at("2026-11-02"))
            .unwrap()
            .results;
        let day = find(&rs, "emission_nox_average", "em-1");
        assert_eq!((day.value, day.status), (None, Status::NoData));
        assert_eq!(day.details["day"]["hours_in_day"], 25);
        assert_eq!(day.details["day"]["invalid_hours"], 4);
        // 21 October evaluated alone: the run keeps the id it has in the month (look-back).
        let d21 = c.parse("2026-10-21").unwrap();
        let ev21 = engine
            .evaluate(&s, store, &d21, Some("em-1"), at("2026-11-02"))
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
    });
}

#[test]
fn an_exceedance_disproved_by_late_load_data_is_withdrawn() {
    for_each_store(|new_store| {
        let store_box = new_store();
        let store: &dyn Store = store_box.as_ref();
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
        put(store, "em-1.nox", &nox);
        put(store, "em-1.o2", &o2);
        let now = at("2026-11-04T01:00");
        let ev = engine
            .evaluate_and_store(&s, store, &day, Some("em-1"), now)
            .unwrap();
        let id = ev
            .events
            .iter()
            .find(|e| e.kind == "emission_exceedance")
            .unwrap()
            .id
            .clone();
        // Late load data: the boiler was in start-up (0.5 MW of 5) in hours 10–11.
        put(
            store,
            "k2.heat_power",
            &hours
                .iter()
                .enumerate()
                .map(|(i, h)| (h.start, if (10..12).contains(&i) { 0.5 } else { 4.0 }))
                .collect::<Vec<_>>(),
        );
        engine
            .evaluate_and_store(&s, store, &day, Some("em-1"), now + 1)
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
    });
}
