//! The evaluator end to end against the simulator's ground truth (domain.md §2, §3): a month of
//! the demo utility's plant written through the ingest path into SQLite, evaluated by the plant
//! engine, and every efficiency and emission figure, the injected SO2 episode's exceedances and
//! the CEMS maintenance's invalid hours compared with the truth file `history` writes.

mod kpi_support;

use chrono::NaiveDate;
use heatkpi::kpi::{KpiResult, PeriodKind, Status};
use heatkpi::model::asset::UnitKind;
use heatkpi::model::time::Window;
use heatkpi::sim::{HourRunTruth, MonthTruth, StackTruth, Truth, demo_settings};
use heatkpi::store::Store;
use heatkpi::store::sqlite::SqliteStore;
use kpi_support::{october_plus_boundary, plant_engine, simulate_plant};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Efficiency tolerance, percentage points. The evaluator reads register differences, the truth
/// holds the physical energies; they differ by the registers' resolution only (boiler heat
/// 0.01 GJ, coal weigher 1 kg = 0.022 GJ, engine kWh and 0.1 Nm³). For the smallest figure of
/// the month (k2: 63 GJ of heat from 84 GJ of coal) that is 0.01/63 + 0.022/84 = 0.04 % of
/// η ≈ 0.03 pp. The meter-class band (±3.4–5 %) is the physical uncertainty, but as a
/// tolerance it would hide any evaluator error; it is checked to contain the truth instead.
const ETA_TOL_PP: f64 = 0.05;
/// Energy tolerance, GJ: a few register steps.
const ENERGY_TOL_GJ: f64 = 0.05;

/// Emission tolerance. The truth normalises every 1-minute value to reference O2 and averages;
/// the evaluator averages the raw values per hour and normalises the hourly means (domain.md
/// §3.4 point 1, then §3.2). The two differ by the within-hour covariance of concentration and
/// O2: up to 0.25 % of C_ref,h in this month (dust, whose spiky values vary most). The
/// difference carries over whole to V_h = C_ref,h − CI × ELV, which for dust is a third of
/// C_ref,h, so the tolerance is 0.5 % of C_ref = V + CI × ELV, not of V.
fn emission_close(got: f64, want: f64, ci_mg_nm3: f64, what: &str) {
    let tol = 5e-3 * (want.abs() + ci_mg_nm3);
    assert!(
        (got - want).abs() <= tol,
        "{what}: evaluator {got} vs truth {want} (tolerance {tol})"
    );
}

fn find<'a>(rs: &'a [KpiResult], kpi: &str, asset: &str) -> &'a KpiResult {
    rs.iter()
        .find(|r| r.kpi == kpi && r.asset == asset)
        .unwrap_or_else(|| panic!("no {kpi} result for {asset}"))
}

#[test]
fn a_simulated_month_evaluates_to_its_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let settings = demo_settings().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("e2e.db")).unwrap());
    let truth_path = dir.path().join("truth.json");
    simulate_plant(
        &settings,
        store.clone(),
        &october_plus_boundary(Some(&truth_path)),
    );
    let truth: Truth = serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();
    let m = truth
        .months
        .iter()
        .find(|m| m.month == "2026-10")
        .expect("October in the truth");
    let engine = plant_engine(&settings);
    let oct = engine.calendar().parse("2026-10").unwrap();
    assert_eq!(
        (oct.start(), oct.end(), m.hours),
        (m.start_ms, m.end_ms, 745)
    );
    let as_of = truth.to_ms;
    let ev = engine
        .evaluate(&settings, &*store, &oct, None, as_of)
        .unwrap();

    efficiency_matches(&settings, m, &ev.results);
    for st in &m.stacks {
        stack_matches(st, &ev.results);
    }
    exceedances_match(&truth, m, &ev.events, &engine);
    for st in &m.stacks {
        invalid_hours_match(&truth, st, &ev.results, &engine, &settings, &*store, as_of);
    }
}

/// Per unit and per source: η against the truth, the band around it, the energies.
fn efficiency_matches(settings: &heatkpi::config::Settings, m: &MonthTruth, rs: &[KpiResult]) {
    for u in &m.units {
        let cfg = settings.units.iter().find(|c| c.id == u.id).unwrap();
        let (kpi, want) = if cfg.kind == UnitKind::Boiler {
            ("boiler_efficiency", u.efficiency)
        } else {
            ("chp_total_efficiency", u.total_efficiency)
        };
        let r = find(rs, kpi, &u.id);
        // No unit had its temperature sensors swapped: no Δθ irregularity (an idle unit's
        // standstill temperatures are not evidence of anything).
        assert!(
            !r.irregularities.iter().any(|i| i.message.contains("Δθ")),
            "{kpi} {}: {:?}",
            u.id,
            r.irregularities
        );
        let Some(want) = want else {
            assert_eq!((r.value, r.status), (None, Status::NoData), "{} idle", u.id);
            assert_eq!(u.operating_hours, 0.0);
            continue;
        };
        let (got, want) = (r.value.expect("a value"), 100.0 * want);
        assert!(
            (got - want).abs() <= ETA_TOL_PP,
            "{kpi} {}: evaluator {got} % vs truth {want} %",
            u.id
        );
        let (lo, hi) = r.uncertainty.expect("an uncertainty band");
        assert!(lo < want && want < hi, "{}: {want} outside {lo}–{hi}", u.id);
        for (detail, truth_gj) in [("heat_gj", u.heat_gj), ("fuel_gj", u.fuel_energy_gj)] {
            let got = r.details[detail].as_f64().unwrap();
            assert!(
                (got - truth_gj).abs() <= ENERGY_TOL_GJ,
                "{} {detail}: {got} vs {truth_gj}",
                u.id
            );
        }
    }
    for s in &m.sources {
        let r = find(rs, "plant_efficiency", &s.id);
        let want = 100.0 * s.plant_efficiency.expect("sources fire all month");
        let got = r.value.expect("a value");
        assert!(
            (got - want).abs() <= ETA_TOL_PP,
            "plant_efficiency {}: evaluator {got} % vs truth {want} %",
            s.id
        );
        let heat_in = r.details["heat_into_network_gj"].as_f64().unwrap();
        assert!((heat_in - s.heat_out_gj).abs() <= ENERGY_TOL_GJ, "{}", s.id);
        if s.electricity_mwh > 0.0 {
            // (E_el × 3.6 + Q_out) / E_chem
            let want = 100.0 * (s.electricity_mwh * 3.6 + s.heat_out_gj) / s.fuel_energy_gj;
            let got = find(rs, "plant_total_efficiency", &s.id).value.unwrap();
            assert!(
                (got - want).abs() <= ETA_TOL_PP,
                "{}: {got} vs {want}",
                s.id
            );
        }
    }
}

/// Per stack and pollutant with an ELV: the validated monthly average, the hour counts, every
/// day's counts and validated average, and the number of days above the daily limit.
fn stack_matches(st: &StackTruth, rs: &[KpiResult]) {
    assert!(!st.validated_monthly_mean_mg_nm3.is_empty(), "{}", st.id);
    for (p, mean) in &st.validated_monthly_mean_mg_nm3 {
        let what = format!("{} {p}", st.id);
        let r = find(rs, &format!("emission_{p}_average"), &st.id);
        // The confidence interval subtracted from C_ref (share of the ELV, the stack's rule).
        let ci = r.details["ci_share"].as_f64().unwrap() * st.limits_mg_nm3[p];
        emission_close(r.value.unwrap(), *mean, ci, &format!("{what} monthly"));
        let h = &r.details["hours"];
        assert_eq!(
            (
                h["operating"].as_u64(),
                h["valid"].as_u64(),
                h["invalid"].as_u64()
            ),
            (
                Some(u64::from(st.operating_hours)),
                Some(u64::from(st.valid_hours)),
                Some(u64::from(st.invalid_hours))
            ),
            "{what}: operating / valid / invalid hours"
        );
        let days = r.details["days"].as_array().unwrap();
        assert_eq!(days.len(), st.days.len(), "{what}: days");
        for (d, t) in days.iter().zip(&st.days) {
            assert_eq!(d["date"], t.date.as_str());
            assert_eq!(
                (
                    d["hours_in_day"].as_u64(),
                    d["operating_hours"].as_u64(),
                    d["invalid_hours"].as_u64(),
                    d["invalid"].as_bool()
                ),
                (
                    Some(u64::from(t.hours)),
                    Some(u64::from(t.operating_hours)),
                    Some(u64::from(t.invalid_hours)),
                    Some(t.invalid_day)
                ),
                "{what} {}",
                t.date
            );
            match (
                d["validated_average"].as_f64(),
                t.validated_mean_mg_nm3.get(p),
            ) {
                (Some(got), Some(want)) => {
                    emission_close(got, *want, ci, &format!("{what} {}", t.date))
                }
                (None, None) => {}
                other => panic!("{what} {}: {other:?}", t.date),
            }
        }
        let above = st
            .exceedance_days
            .iter()
            .filter(|x| &x.pollutant == p)
            .count();
        let r = find(rs, &format!("emission_{p}_days_above_daily_limit"), &st.id);
        assert_eq!(r.value, Some(above as f64), "{what}: days above");
        assert_eq!(
            r.status,
            if above > 0 {
                Status::Fail
            } else {
                Status::Pass
            },
            "{what}"
        );
        let r = find(rs, &format!("emission_{p}_invalid_days"), &st.id);
        assert_eq!(r.value, Some(st.invalid_days.len() as f64), "{what}");
    }
}

/// The truth's injected events of `kind` on `asset`, as windows.
fn injected(truth: &Truth, kind: &str, asset: &str) -> Vec<Window> {
    truth
        .events
        .iter()
        .filter(|e| e.kind == kind && e.assets.iter().any(|a| a == asset))
        .map(|e| Window::new(e.start_ms, e.end_ms.unwrap_or(truth.to_ms)))
        .collect()
}

fn within(w: Window, of: &[Window]) -> bool {
    of.iter().any(|o| o.start <= w.start && w.end <= o.end)
}

/// Daily exceedances: one `emission_daily_exceedance` event per truth exceedance day, on the
/// exact local day, with its validated daily average; hourly runs above the ELV exactly as the
/// truth's, each inside the injected emission episode.
fn exceedances_match(
    truth: &Truth,
    m: &MonthTruth,
    events: &[heatkpi::store::EventRecord],
    engine: &heatkpi::kpi::Engine,
) {
    let cal = engine.calendar();
    let month = Window::new(m.start_ms, m.end_ms);
    assert!(
        !m.kpis.emission_exceedance_days.is_empty(),
        "the scenario's SO2 episode breaks the daily limit"
    );
    let daily: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "emission_daily_exceedance")
        .collect();
    assert_eq!(daily.len(), m.kpis.emission_exceedance_days.len());
    for x in &m.kpis.emission_exceedance_days {
        let day = cal.day(NaiveDate::parse_from_str(&x.date, "%Y-%m-%d").unwrap());
        let subject = format!("{}.{}", x.stack, x.pollutant);
        let e = daily
            .iter()
            .find(|e| e.subject == subject && e.start == day.start())
            .unwrap_or_else(|| panic!("no daily exceedance of {subject} on {}", x.date));
        assert_eq!(
            e.end,
            Some(day.end()),
            "{subject} {}: the whole local day",
            x.date
        );
        // Leaving out the CI term only tightens the tolerance.
        emission_close(
            e.body["average"].as_f64().unwrap(),
            x.validated_daily_mean_mg_nm3,
            0.0,
            &format!("{subject} {} daily", x.date),
        );
        assert_eq!(e.body["limit"].as_f64(), Some(x.daily_limit_mg_nm3));
        let episodes = injected(truth, "emission_episode", &x.stack);
        assert!(
            episodes.iter().any(|w| day.window.contains(w.start)),
            "the exceedance day {} holds an injected episode",
            x.date
        );
    }
    // Hourly runs above the ELV, exact to the hour.
    let got: BTreeSet<(String, i64, i64)> = events
        .iter()
        .filter(|e| e.kind == "emission_exceedance")
        .map(|e| (e.subject.clone(), e.start, e.end.unwrap()))
        .filter(|(_, s, _)| month.contains(*s))
        .collect();
    let want: BTreeSet<(String, i64, i64)> = m
        .stacks
        .iter()
        .flat_map(|st| {
            st.elv_exceedance_runs.iter().map(move |r| {
                let p = r.pollutant.clone().unwrap();
                (format!("{}.{p}", st.id), r.start_ms, r.end_ms)
            })
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want, "runs of validated hours above the ELV");
    for (subject, start, end) in &want {
        let stack = subject.split('.').next().unwrap();
        assert!(
            within(
                Window::new(*start, *end),
                &injected(truth, "emission_episode", stack)
            ),
            "{subject} above the ELV only during the injected episode"
        );
    }
}

/// Invalid operating hours: the month result's days name the days, an hour-by-hour evaluation
/// of those days names the hours; they are exactly the truth's runs, inside the injected CEMS
/// maintenance.
fn invalid_hours_match(
    truth: &Truth,
    st: &StackTruth,
    rs: &[KpiResult],
    engine: &heatkpi::kpi::Engine,
    settings: &heatkpi::config::Settings,
    store: &dyn Store,
    as_of: i64,
) {
    let cal = engine.calendar();
    let p = st.validated_monthly_mean_mg_nm3.keys().next().unwrap();
    let kpi = format!("emission_{p}_average");
    let month = find(rs, &kpi, &st.id);
    let mut hours = Vec::new();
    for d in month.details["days"].as_array().unwrap() {
        if d["invalid_hours"].as_u64() == Some(0) {
            continue;
        }
        let date = NaiveDate::parse_from_str(d["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
        for h in cal.hours_in(cal.day(date).window) {
            let hour = cal.containing(PeriodKind::Hour, h.start).unwrap();
            let ev = engine
                .evaluate(settings, store, &hour, Some(&st.id), as_of)
                .unwrap();
            let class = &find(&ev.results, &kpi, &st.id).details["hour"]["class"];
            hours.push(((h.start, h.end), class == "Invalid"));
        }
    }
    let got = HourRunTruth::runs(cal.tz, hours, None);
    assert_eq!(got, st.invalid_hour_runs, "{}: invalid hours", st.id);
    let maintenance = injected(truth, "cems_maintenance", &st.id);
    for r in &got {
        assert!(
            within(Window::new(r.start_ms, r.end_ms), &maintenance),
            "{}: invalid hours {}–{} only during the injected maintenance",
            st.id,
            r.start,
            r.end
        );
    }
    if st.id == "em-coal" {
        assert!(!got.is_empty(), "the scenario's CEMS maintenance day");
    }
}
