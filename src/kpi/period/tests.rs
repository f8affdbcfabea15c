//! Tests of `kpi::period`, with the arithmetic of every expected value.

use super::*;

const H: i64 = HOUR_MS;

fn cal() -> Calendar {
    Calendar::default()
}

fn at(s: &str) -> TimestampMs {
    time::parse_instant(cal().tz, s).unwrap()
}

#[test]
fn dst_days_months_and_years_in_warsaw() {
    let c = cal();
    // 2026-03-29: 02:00 CET → 03:00 CEST, so the day has 23 hours.
    assert_eq!(c.parse("2026-03-29").unwrap().hours(), 23.0);
    // 2026-10-25: 03:00 CEST → 02:00 CET, so the day has 25 hours.
    let autumn = c.parse("2026-10-25").unwrap();
    assert_eq!(autumn.hours(), 25.0);
    assert_eq!(c.hours_in(autumn.window).len(), 25);
    assert_eq!(c.parse("2026-10-24").unwrap().hours(), 24.0);
    // March: 31 × 24 − 1 = 743 h; October: 31 × 24 + 1 = 745 h (design.md §4).
    let march = c.parse("2026-03").unwrap();
    assert_eq!(march.hours(), 743.0);
    assert_eq!(march.start(), at("2026-02-28T23:00:00Z"));
    let oct = c.parse("2026-10").unwrap();
    assert_eq!(oct.hours(), 745.0);
    assert_eq!(oct.start(), at("2026-09-30T22:00:00Z"));
    assert_eq!(oct.end(), at("2026-10-31T23:00:00Z"));
    // A year has 8760 h whatever the DST shifts (−1 in March, +1 in October).
    assert_eq!(c.parse("2026").unwrap().hours(), 8760.0);
    assert_eq!(c.months_in(c.parse("2026").unwrap().window).len(), 12);
}

#[test]
fn the_two_0200_hours_of_the_fall_back_day() {
    let c = cal();
    let first = c.parse("2026-10-25T02:00+02:00").unwrap();
    let second = c.parse("2026-10-25T02:00+01:00").unwrap();
    assert_eq!(first.start(), at("2026-10-25T00:00:00Z"));
    assert_eq!(second.start(), at("2026-10-25T01:00:00Z"));
    assert_eq!(second.label, "2026-10-25T02:00+01:00");
    // Without an offset the first one is taken; `T14` and `T14:00` are the same hour.
    assert_eq!(c.parse("2026-10-25T02").unwrap(), first);
    assert_eq!(
        c.parse("2026-10-25T14").unwrap(),
        c.parse("2026-10-25 14:00").unwrap()
    );
    // 02:30 on the spring-forward day does not exist; 02:30 is not on the hour.
    assert!(matches!(
        c.parse("2026-03-29T02:00"),
        Err(PeriodError::NotAnHour(..))
    ));
    assert!(c.parse("2026-10-25T02:30+02:00").is_err());
    // The hour after 01:00 CET on the spring day is 03:00 CEST, one real hour later.
    let h = c.parse("2026-03-29T01:00").unwrap();
    assert_eq!(c.hour(h.end()).label, "2026-03-29T03:00+02:00");
}

#[test]
fn heating_season_default_and_configured() {
    let c = cal();
    // 2026/27 = 1 Sep 2026 00:00 CEST (2026-08-31T22:00Z) .. 1 Jun 2027 00:00 CEST.
    let s = c.parse("2026/27").unwrap();
    assert_eq!(s.kind, PeriodKind::HeatingSeason);
    assert_eq!(s.start(), at("2026-08-31T22:00:00Z"));
    assert_eq!(s.end(), at("2027-05-31T22:00:00Z"));
    // Days: Sep 30 + Oct 31 + Nov 30 + Dec 31 + Jan 31 + Feb 28 + Mar 31 + Apr 30 + May 31
    // = 273 days = 6552 h; the −1 h of March and +1 h of October cancel.
    assert_eq!(s.hours(), 6552.0);
    assert_eq!(c.parse("2026/2027").unwrap(), s);
    assert_eq!(c.parse("season:2026").unwrap(), s);
    assert!(c.parse("2026/28").is_err());
    // Summer is outside every season; January belongs to the season that began before.
    assert!(
        c.containing(PeriodKind::HeatingSeason, at("2026-07-01"))
            .is_none()
    );
    assert_eq!(
        c.containing(PeriodKind::HeatingSeason, at("2027-01-15"))
            .unwrap(),
        s
    );
    // A season inside one year (1 Oct – 30 Apr would cross; 1 Jan – 30 Apr does not).
    let c2 = Calendar::new(
        c.tz,
        SeasonDates {
            start: (1, 1),
            last: (4, 30),
        },
    );
    let s2 = c2.season(2027).unwrap();
    assert_eq!(s2.label, "season:2027");
    assert_eq!(c2.parse(&s2.label).unwrap(), s2);
}

#[test]
fn year_to_date_and_rolling_12_months() {
    let c = cal();
    let ytd = c.parse("ytd:2026-10").unwrap();
    assert_eq!(ytd.start(), c.parse("2026").unwrap().start());
    assert_eq!(ytd.end(), c.parse("2026-10").unwrap().end());
    // Jan–Oct 2026: 304 days; −1 h in March, +1 h in October → 304 × 24 = 7296 h.
    assert_eq!(ytd.hours(), 7296.0);
    let ytd_day = c.parse("ytd:2026-01-31").unwrap();
    assert_eq!(ytd_day.hours(), 31.0 * 24.0);
    let r12 = c.parse("r12:2026-10").unwrap();
    assert_eq!(r12.start(), c.parse("2025-11").unwrap().start());
    assert_eq!(r12.end(), c.parse("2026-10").unwrap().end());
    assert_eq!(r12.hours(), 8760.0);
    let r12_dec = c.parse("r12:2026-12").unwrap();
    assert_eq!(r12_dec.window, c.parse("2026").unwrap().window);
}

#[test]
fn labels_parse_back_to_the_same_period() {
    let c = cal();
    for label in [
        "2026",
        "2026-10",
        "2026-10-25",
        "2026-10-25T02:00+01:00",
        "2026/27",
        "ytd:2026-10",
        "ytd:2026-10-15",
        "r12:2026-10",
    ] {
        let p = c.parse(label).unwrap();
        assert_eq!(p.label, label);
        assert_eq!(c.parse(&p.label).unwrap(), p);
    }
    let custom = c.parse("2026-10-01..2026-10-15T06:00").unwrap();
    assert_eq!(custom.kind, PeriodKind::Custom);
    assert_eq!(c.parse(&custom.label).unwrap(), custom);
    // 14 days minus... 1 Oct 00:00 to 15 Oct 06:00 = 14 × 24 + 6 = 342 h (no DST change).
    assert_eq!(custom.hours(), 342.0);
}

#[test]
fn bad_labels_say_what_to_write() {
    let c = cal();
    assert!(matches!(
        c.parse("2026-13"),
        Err(PeriodError::NoSuchDate(_))
    ));
    assert!(matches!(
        c.parse("2026-02-30"),
        Err(PeriodError::NoSuchDate(_))
    ));
    assert!(matches!(c.parse("Oct 2026"), Err(PeriodError::Syntax(_))));
    assert!(matches!(
        c.parse("2026-10-02..2026-10-01"),
        Err(PeriodError::EmptyRange(_))
    ));
    let e = c.parse("last month").unwrap_err().to_string();
    assert!(e.contains("2026-10 (month)"), "{e}");
}

#[test]
fn to_date_and_containing() {
    let c = cal();
    let now = at("2026-10-14T13:20");
    let m = c.containing(PeriodKind::Month, now).unwrap().to_date(now);
    assert!(m.is_partial());
    assert_eq!(m.evaluated(), Window::new(at("2026-10-01"), now));
    assert!(!m.is_closed(now));
    assert_eq!(c.containing(PeriodKind::Hour, now).unwrap().hours(), 1.0);
    assert_eq!(
        c.containing(PeriodKind::Day, now).unwrap().label,
        "2026-10-14"
    );
    assert_eq!(
        c.containing(PeriodKind::YearToDate, now).unwrap().label,
        "ytd:2026-10-14"
    );
    // 29 February as a season start clamps to 28 February in a common year.
    let c2 = Calendar::new(
        c.tz,
        SeasonDates {
            start: (2, 29),
            last: (3, 31),
        },
    );
    assert_eq!(
        c2.season(2026).unwrap().start(),
        c.parse("2026-02-28").unwrap().start()
    );
    assert_eq!(
        c.day(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).hours(),
        24.0
    );
    let _ = H;
}
