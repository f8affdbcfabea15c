//! Tests of `kpi::threshold`, with the arithmetic of every expected value.

use super::*;
use crate::kpi::period::Calendar;

fn t(
    asset: Option<&str>,
    class: Option<&str>,
    fail: f64,
    from: Option<&str>,
    to: Option<&str>,
) -> Threshold {
    Threshold {
        kpi: "boiler_efficiency".into(),
        unit: Unit::Percent,
        direction: Direction::Min,
        warn: Some(fail + 3.0),
        fail,
        period: ThresholdPeriod::Month,
        asset: asset.map(str::to_string),
        class: class.map(str::to_string),
        effective_from: from.map(|d| d.parse().unwrap()),
        effective_to: to.map(|d| d.parse().unwrap()),
        source: format!("src {fail}"),
    }
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn classes() -> Vec<String> {
    vec!["boiler:natural_gas".into(), "boiler".into()]
}

fn subject(c: &[String]) -> Subject<'_> {
    Subject {
        kpi: "boiler_efficiency",
        asset: "k1",
        classes: c,
        unit: "%",
    }
}

#[test]
fn asset_beats_class_beats_default_beats_builtin() {
    let c = classes();
    let s = subject(&c);
    let builtin = builtin_thresholds();
    let all = vec![
        t(None, None, 70.0, None, None),
        t(None, Some("boiler"), 72.0, None, None),
        t(None, Some("boiler:natural_gas"), 74.0, None, None),
        t(Some("k1"), None, 76.0, None, None),
        t(Some("k2"), None, 99.0, None, None),
    ];
    let date = d("2026-10-01");
    let pick = |list: &[Threshold]| {
        select(list, &builtin, &s, ThresholdPeriod::Month, date)
            .map(|x| (x.threshold.fail, x.scope))
    };
    assert_eq!(pick(&all), Some((76.0, Scope::Asset)));
    assert_eq!(
        pick(&all[..4 - 1]),
        Some((74.0, Scope::Class("boiler:natural_gas".into())))
    );
    // The more specific class wins even when listed later in the configuration.
    let reordered = vec![all[2].clone(), all[1].clone()];
    assert_eq!(pick(&reordered).unwrap().0, 74.0);
    assert_eq!(pick(&all[..2]), Some((72.0, Scope::Class("boiler".into()))));
    assert_eq!(pick(&all[..1]), Some((70.0, Scope::Default)));
    // Nothing configured: the domain.md §2.5 proposal for non-condensing gas (88 / 85).
    let b = pick(&[]).unwrap();
    assert_eq!(b, (85.0, Scope::BuiltIn));
    // Another asset's threshold never applies; a threshold for another period kind neither.
    assert_eq!(
        select(&all[4..], &[], &s, ThresholdPeriod::Month, date).map(|x| x.threshold.fail),
        None
    );
    assert!(select(&all, &[], &s, ThresholdPeriod::Day, date).is_none());
}

#[test]
fn effective_dates_are_inclusive_and_later_ones_supersede() {
    let c = classes();
    let s = subject(&c);
    let list = vec![
        t(Some("k1"), None, 80.0, None, Some("2026-06-30")),
        t(Some("k1"), None, 85.0, Some("2026-07-01"), None),
        t(
            Some("k1"),
            None,
            90.0,
            Some("2027-01-01"),
            Some("2027-12-31"),
        ),
    ];
    let at = |day: &str| {
        select(&list, &[], &s, ThresholdPeriod::Month, d(day)).map(|x| x.threshold.fail)
    };
    assert_eq!(at("2026-06-30"), Some(80.0)); // last day of the first, inclusive
    assert_eq!(at("2026-07-01"), Some(85.0)); // first day of the second, inclusive
    assert_eq!(at("2027-01-01"), Some(90.0)); // the later effective_from supersedes 85
    assert_eq!(at("2027-12-31"), Some(90.0));
    assert_eq!(at("2028-01-01"), Some(85.0)); // the 90 ended; the open-ended 85 applies again
}

#[test]
fn period_selection_reports_changes_conflicts_and_unit_mismatch() {
    let c = classes();
    let s = subject(&c);
    let cal = Calendar::default();
    let oct = cal.parse("2026-10").unwrap();
    let (first, last) = (d("2026-10-01"), d("2026-10-31"));
    // A threshold that changes on 15 October: the one of 1 October applies, with a note.
    let list = vec![
        t(Some("k1"), None, 80.0, None, Some("2026-10-14")),
        t(Some("k1"), None, 85.0, Some("2026-10-15"), None),
    ];
    let (a, notes) = select_for_period(&list, &[], &s, oct.kind, first, last);
    assert_eq!(a.unwrap().fail, Some(80.0));
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].message.contains("changes inside the period"),
        "{notes:?}"
    );
    // Two tied thresholds for the asset: a conflict.
    let list = vec![
        t(Some("k1"), None, 80.0, None, None),
        t(Some("k1"), None, 81.0, None, None),
    ];
    let (a, notes) = select_for_period(&list, &[], &s, oct.kind, first, last);
    assert_eq!(a.unwrap().scope, "asset k1");
    assert_eq!(
        notes[0].kind,
        crate::kpi::result::IrregularityKind::StandardQuestionable
    );
    // A threshold in mg/Nm3 cannot judge a KPI in %.
    let mut wrong = t(Some("k1"), None, 80.0, None, None);
    wrong.unit = Unit::MgPerNm3;
    let (a, notes) = select_for_period(&[wrong], &[], &s, oct.kind, first, last);
    assert!(a.is_none());
    assert!(notes[0].message.contains("was not applied"));
}

#[test]
fn one_comparator_at_and_just_over_the_limits() {
    // max: at the limit passes, just above fails.
    assert_eq!(
        judge(100.0, None, Some(100.0), Direction::Max),
        Status::Pass
    );
    assert_eq!(
        judge(100.01, None, Some(100.0), Direction::Max),
        Status::Fail
    );
    // min with warn 88 / fail 85: 88 passes, 87.99 warns, 85 warns, 84.99 fails.
    let j = |v| judge(v, Some(88.0), Some(85.0), Direction::Min);
    assert_eq!(j(88.0), Status::Pass);
    assert_eq!(j(87.99), Status::Warn);
    assert_eq!(j(85.0), Status::Warn);
    assert_eq!(j(84.99), Status::Fail);
    // 0.1 + 0.2 = 0.30000000000000004 is "at" 0.3, not above it.
    assert_eq!(
        judge(0.1 + 0.2, None, Some(0.3), Direction::Max),
        Status::Pass
    );
    // A count limit of 0: one day above fails.
    assert_eq!(judge(1.0, None, Some(0.0), Direction::Max), Status::Fail);
    assert_eq!(judge(0.0, None, Some(0.0), Direction::Max), Status::Pass);
}

#[test]
fn conclude_orders_no_data_no_standard_provisional_and_verdicts() {
    let cal = Calendar::default();
    let p = cal.parse("2026-10").unwrap();
    let th = AppliedThreshold {
        warn: Some(88.0),
        fail: Some(85.0),
        unit: "%".into(),
        direction: Direction::Min,
        source: "permit".into(),
        scope: "asset k1".into(),
        effective_from: None,
        effective_to: None,
    };
    let mut r = KpiResult::new("boiler_efficiency", "k1", &p, "%");
    conclude(&mut r, Some(th.clone()), 0.95, true);
    assert_eq!(r.status, Status::NoData);
    r.value = Some(90.0);
    r.completeness = 1.0;
    conclude(&mut r, None, 0.95, true);
    assert_eq!(r.status, Status::NoStandard);
    assert_eq!(
        r.irregularities[0].kind,
        crate::kpi::result::IrregularityKind::NotCovered
    );
    let mut r = KpiResult::new("boiler_efficiency", "k1", &p, "%");
    r.value = Some(84.0);
    r.completeness = 0.9499;
    conclude(&mut r, Some(th.clone()), 0.95, true);
    assert_eq!(r.status, Status::Provisional);
    assert_eq!(r.details["indicative_status"], "fail");
    r.completeness = 0.95;
    r.details = serde_json::json!({});
    conclude(&mut r, Some(th), 0.95, true);
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.irregularities[0]
            .message
            .contains("below the failure limit 85"),
        "{:?}",
        r.irregularities
    );
}
