//! Federal holidays by rule, business days and the NICS timings, against
//! known dates and as properties.

use plaza_permits::TypeSet;
use plaza_permits::calendar::{
    self, BusinessCalendar, Date, Holiday, Weekday, federal_holiday_on, federal_holidays,
    is_business_day, nics_delayed_transfer_from, nics_proceed_valid_through,
};
use plaza_permits::types::{RenewalWindow, Validity};
use proptest::prelude::*;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn observed(year: i32) -> Vec<String> {
    federal_holidays(year)
        .iter()
        .map(|h| h.observed.to_string())
        .collect()
}

#[test]
fn the_federal_holidays_of_2025_to_2027_as_observed() {
    assert_eq!(
        observed(2025),
        [
            "2025-01-01",
            "2025-01-20",
            "2025-02-17",
            "2025-05-26",
            "2025-06-19",
            "2025-07-04",
            "2025-09-01",
            "2025-10-13",
            "2025-11-11",
            "2025-11-27",
            "2025-12-25",
        ]
    );
    // Independence Day 2026 is a Saturday: observed Friday 3 July.
    assert_eq!(
        observed(2026),
        [
            "2026-01-01",
            "2026-01-19",
            "2026-02-16",
            "2026-05-25",
            "2026-06-19",
            "2026-07-03",
            "2026-09-07",
            "2026-10-12",
            "2026-11-11",
            "2026-11-26",
            "2026-12-25",
        ]
    );
    // Juneteenth (Saturday) on Friday 18 June, Independence Day (Sunday) on
    // Monday 5 July, Christmas (Saturday) on Friday 24 December.
    assert_eq!(
        observed(2027),
        [
            "2027-01-01",
            "2027-01-18",
            "2027-02-15",
            "2027-05-31",
            "2027-06-18",
            "2027-07-05",
            "2027-09-06",
            "2027-10-11",
            "2027-11-11",
            "2027-11-25",
            "2027-12-24",
        ]
    );
    let h = &federal_holidays(2026)[5];
    assert_eq!(
        (h.holiday, h.date, h.observed),
        (Holiday::IndependenceDay, d("2026-07-04"), d("2026-07-03"))
    );
}

#[test]
fn new_years_day_on_a_saturday_is_observed_the_year_before() {
    // 1 January 2028 is a Saturday.
    assert_eq!(d("2028-01-01").weekday(), Weekday::Saturday);
    assert_eq!(federal_holidays(2028)[0].observed, d("2027-12-31"));
    assert_eq!(
        federal_holiday_on(d("2027-12-31")),
        Some(Holiday::NewYearsDay)
    );
    assert!(!is_business_day(d("2027-12-31")));
    assert_eq!(
        federal_holiday_on(d("2027-12-24")),
        Some(Holiday::ChristmasDay)
    );
    assert_eq!(federal_holiday_on(d("2027-12-30")), None);
    // And 2022 began on a Saturday too: observed on Friday 31 December 2021.
    assert_eq!(
        federal_holiday_on(d("2021-12-31")),
        Some(Holiday::NewYearsDay)
    );
}

#[test]
fn business_days() {
    assert!(is_business_day(d("2026-11-25")), "a Wednesday");
    assert!(!is_business_day(d("2026-11-26")), "Thanksgiving");
    assert!(!is_business_day(d("2026-11-28")), "a Saturday");
    assert!(
        !is_business_day(d("2026-07-03")),
        "Independence Day observed"
    );
    assert_eq!(
        calendar::add_business_days(d("2026-11-25"), 0),
        d("2026-11-25")
    );
    assert_eq!(
        calendar::add_business_days(d("2026-11-25"), 1),
        d("2026-11-27")
    );
    assert_eq!(
        calendar::add_business_days(d("2026-12-24"), 1),
        d("2026-12-28")
    );
    assert_eq!(
        calendar::add_business_days(d("2027-07-02"), 1),
        d("2027-07-06")
    );
    let cal = BusinessCalendar::federal();
    assert_eq!(
        cal.business_days_between(d("2026-11-25"), d("2026-12-01")),
        3
    );
    assert_eq!(
        cal.business_days_between(d("2026-12-01"), d("2026-11-25")),
        0
    );
}

#[test]
fn nics_delayed_may_proceed_after_three_business_days_the_day_of_the_check_not_counted() {
    // The regulation's own example: a check on Thursday, offices closed at
    // the weekend, may proceed on the following Wednesday.
    assert_eq!(nics_delayed_transfer_from(d("2026-12-03")), d("2026-12-09"));
    // Wednesday before Thanksgiving: Thursday is a holiday; Friday, Monday
    // and Tuesday count; the transfer may proceed on Wednesday 2 December.
    assert_eq!(nics_delayed_transfer_from(d("2026-11-25")), d("2026-12-02"));
    // Over Christmas: 23, 24 and 28 December count.
    assert_eq!(nics_delayed_transfer_from(d("2026-12-22")), d("2026-12-29"));
    // A check on Friday 2 July 2027: Monday 5 July is Independence Day
    // observed; 6, 7 and 8 July count.
    assert_eq!(nics_delayed_transfer_from(d("2027-07-02")), d("2027-07-09"));
    // A check on a Saturday or on a holiday itself.
    assert_eq!(nics_delayed_transfer_from(d("2026-03-07")), d("2026-03-12"));
    assert_eq!(nics_delayed_transfer_from(d("2026-01-19")), d("2026-01-23"));
    // The third business day may be a Friday: the transfer may proceed on
    // the Saturday.
    assert_eq!(nics_delayed_transfer_from(d("2026-03-10")), d("2026-03-14"));
}

#[test]
fn state_closures_count_as_non_business_days_when_the_agency_adds_them() {
    // The day after Thanksgiving, a state holiday in many states.
    let cal = BusinessCalendar::with_closures([d("2026-11-27")]);
    assert!(!cal.is_business_day(d("2026-11-27")));
    assert_eq!(
        cal.nics_delayed_transfer_from(d("2026-11-25")),
        d("2026-12-03")
    );
    assert_eq!(nics_delayed_transfer_from(d("2026-11-25")), d("2026-12-02"));
}

#[test]
fn under_21_checks_may_be_held_ten_business_days() {
    // The regulation's example shape: a check on Thursday the 10th may
    // proceed on Friday the 25th when ten business days pass.
    let cal = BusinessCalendar::federal();
    assert_eq!(
        cal.nics_under_21_transfer_from(d("2026-09-10")),
        d("2026-09-25")
    );
}

#[test]
fn a_proceed_is_valid_for_30_calendar_days() {
    assert_eq!(nics_proceed_valid_through(d("2026-01-01")), d("2026-01-31"));
    assert_eq!(nics_proceed_valid_through(d("2026-12-15")), d("2027-01-14"));
    assert_eq!(nics_proceed_valid_through(d("2028-02-15")), d("2028-03-16"));
}

#[test]
fn decision_deadlines_and_expiry_of_shipped_types() {
    let set = TypeSet::shipped();
    let cal = BusinessCalendar::federal();
    let received = d("2026-11-25");
    // Calendar days: 30 days after receipt.
    let foid = set.get("il-foid").unwrap();
    assert_eq!(foid.decision_deadline.due(received, &cal), d("2026-12-25"));
    // Business days: Thanksgiving and the weekend skipped.
    let mi = set.get("mi-license-to-purchase").unwrap();
    assert_eq!(mi.decision_deadline.due(received, &cal), d("2026-12-03"));
    // Validity.
    assert_eq!(
        Validity::Years(6).expires_on(d("2024-02-29")),
        d("2030-02-28")
    );
    assert_eq!(
        set.get("hi-pta-handgun")
            .unwrap()
            .validity
            .expires_on(d("2026-05-01")),
        d("2026-05-11")
    );
    let window = RenewalWindow {
        opens_days_before_expiry: 90,
        grace_days_after: 30,
    };
    let expiry = d("2026-06-30");
    assert!(!window.is_open(expiry, d("2026-03-31")));
    assert!(window.is_open(expiry, d("2026-04-01")));
    assert!(window.is_open(expiry, d("2026-07-30")));
    assert!(!window.is_open(expiry, d("2026-07-31")));
}

fn any_date() -> impl Strategy<Value = Date> {
    // 1971 to 2150.
    (365i64..65_000).prop_map(|n| Date::from_days(n).unwrap())
}

proptest! {
    #[test]
    fn dates_round_trip_through_text(date in any_date()) {
        prop_assert_eq!(Date::parse(&date.to_string()).unwrap(), date);
        let (y, m, dd) = date.ymd();
        prop_assert_eq!(Date::from_ymd(y, m, dd), Some(date));
    }

    #[test]
    fn adding_business_days_lands_on_a_business_day_and_counts_exactly(
        start in any_date(),
        n in 1u32..40,
    ) {
        let cal = BusinessCalendar::federal();
        let end = cal.add_business_days(start, n);
        prop_assert!(cal.is_business_day(end));
        prop_assert!(!end.weekday().is_weekend());
        prop_assert!(federal_holiday_on(end).is_none());
        prop_assert_eq!(cal.business_days_between(start, end), n);
        prop_assert!(end > start);
        // At most two weekend days a week and a few holidays in between.
        prop_assert!(end.days() - start.days() <= i64::from(n) * 2 + 6);
    }

    #[test]
    fn adding_business_days_is_monotonic(
        start in any_date(),
        gap in 0i64..20,
        n in 0u32..30,
        more in 0u32..10,
    ) {
        let later = start.add_days(gap);
        prop_assert!(calendar::add_business_days(start, n) <= calendar::add_business_days(later, n));
        prop_assert!(calendar::add_business_days(start, n) <= calendar::add_business_days(start, n + more));
    }

    #[test]
    fn a_delayed_transfer_waits_three_business_days_and_no_more(checked_on in any_date()) {
        let cal = BusinessCalendar::federal();
        let from = nics_delayed_transfer_from(checked_on);
        // Exactly three business days lie after the check and before it.
        prop_assert_eq!(cal.business_days_between(checked_on, from.add_days(-1)), 3);
        prop_assert!(cal.is_business_day(from.add_days(-1)));
        prop_assert!(from.days() - checked_on.days() >= 4);
    }

    #[test]
    fn every_year_has_its_holidays_on_distinct_weekdays(year in 2021i32..2150) {
        let hs = federal_holidays(year);
        prop_assert_eq!(hs.len(), 11);
        let mut seen = std::collections::HashSet::new();
        for h in &hs {
            prop_assert!(!h.observed.weekday().is_weekend());
            prop_assert!((h.observed.days() - h.date.days()).abs() <= 1);
            prop_assert_eq!(federal_holiday_on(h.observed), Some(h.holiday));
            prop_assert!(seen.insert(h.observed));
        }
        prop_assert_eq!(hs[9].date.weekday(), Weekday::Thursday);
        for h in [&hs[1], &hs[2], &hs[3], &hs[6], &hs[7]] {
            prop_assert_eq!(h.date.weekday(), Weekday::Monday);
        }
    }
}
