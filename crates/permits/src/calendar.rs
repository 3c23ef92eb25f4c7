//! The statutory calendar: dates, US federal holidays computed by rule,
//! business days, and the NICS timings a licensing officer works to.
//!
//! Federal holidays are computed from the rules of 5 U.S.C. 6103, never
//! listed by hand: fixed dates (New Year's Day, Juneteenth from 2021,
//! Independence Day, Veterans Day, Christmas) and "n-th weekday of the
//! month" dates (Martin Luther King Jr. Day from 1986, Washington's
//! Birthday, Memorial Day, Labor Day, Columbus Day, Thanksgiving). A fixed
//! date on a Saturday is observed the Friday before, on a Sunday the Monday
//! after; so New Year's Day on a Saturday is observed on 31 December of the
//! year before. The rules are those in force since 1971 (the Uniform Monday
//! Holiday Act), with Veterans Day on the fourth Monday of October from
//! 1971 to 1977.
//!
//! A *business day* is a Monday to Friday that is not an observed federal
//! holiday and not a closure the agency adds ([`BusinessCalendar::with_closures`]:
//! state holidays, proclaimed closures). Counting "N business days after
//! day D" never counts D itself.
//!
//! NICS (27 CFR 478.102): when a Delayed check gets no final answer, the
//! transfer may proceed once three business days have elapsed, the day of
//! the check not counted: from the start of the day after the third business
//! day. A check on Thursday with offices closed at the weekend may proceed
//! on Wednesday. A Proceed is good for 30 calendar days: a check on
//! 1 January may be used through 31 January.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// Years a [`Date`] may be built for.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2199;

/// Business days a Delayed NICS check holds a transfer back.
pub const NICS_DELAYED_BUSINESS_DAYS: u32 = 3;
/// Business days a Delayed check holds back a transfer to a person under 21
/// when NICS reports cause for further investigation of a juvenile record
/// (18 U.S.C. 922(t)(1)(C)).
pub const NICS_UNDER_21_BUSINESS_DAYS: u32 = 10;
/// Calendar days, after the day of the check, that a Proceed can be used.
pub const NICS_PROCEED_VALID_DAYS: i64 = 30;

/// A calendar date (proleptic Gregorian), counted in days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    /// Monday is 0, Sunday 6.
    pub fn index(self) -> u32 {
        self as u32
    }

    pub fn is_weekend(self) -> bool {
        matches!(self, Weekday::Saturday | Weekday::Sunday)
    }
}

use plaza_kernel::clock::{days_from_civil, days_in_month};

impl Date {
    /// The date, when it exists and its year is in [`YEARS`].
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Date> {
        if !YEARS.contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Date(days_from_civil(i64::from(y), m, d) as i32))
    }

    /// `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Date, Error> {
        let b = s.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        let bad = || Error::InvalidDate(s.chars().take(40).collect());
        if !shape {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
        Date::from_ymd(num(0..4) as i32, num(5..7), num(8..10)).ok_or_else(bad)
    }

    /// From a day number (days since 1970-01-01), inside [`YEARS`].
    pub fn from_days(days: i64) -> Option<Date> {
        let lo = days_from_civil(i64::from(*YEARS.start()), 1, 1);
        let hi = days_from_civil(i64::from(*YEARS.end()), 12, 31);
        (lo..=hi).contains(&days).then_some(Date(days as i32))
    }

    /// The UTC day of an instant in milliseconds since the epoch (a
    /// [`plaza_kernel::clock::Clock`] reading).
    pub fn from_ms(ms: i64) -> Option<Date> {
        Date::from_days(ms.div_euclid(86_400_000))
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i64 {
        i64::from(self.0)
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        let (y, m, d) = plaza_kernel::clock::civil_from_days(i64::from(self.0));
        (y as i32, m, d)
    }

    pub fn year(self) -> i32 {
        self.ymd().0
    }

    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday.
        Weekday::ALL[(i64::from(self.0) + 3).rem_euclid(7) as usize]
    }

    /// `n` calendar days later (earlier when negative).
    pub fn add_days(self, n: i64) -> Date {
        Date((i64::from(self.0) + n) as i32)
    }

    /// The same day `n` years later (29 February becomes 28 February).
    pub fn add_years(self, n: i32) -> Date {
        let (y, m, d) = self.ymd();
        let y = y + n;
        let d = d.min(days_in_month(y, m));
        Date(days_from_civil(i64::from(y), m, d) as i32)
    }

    /// Whole years from `self` (a birth date) to `on`: the age on that day.
    pub fn years_until(self, on: Date) -> i32 {
        let (y1, m1, d1) = self.ymd();
        let (y2, m2, d2) = on.ymd();
        y2 - y1 - i32::from((m2, d2) < (m1, d1))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The `n`-th (1-based) `weekday` of a month.
fn nth_weekday(y: i32, m: u32, weekday: Weekday, n: u32) -> Date {
    let first = Date(days_from_civil(i64::from(y), m, 1) as i32);
    let offset = (7 + weekday.index() - first.weekday().index()) % 7;
    first.add_days(i64::from(offset + 7 * (n - 1)))
}

/// The last `weekday` of a month.
fn last_weekday(y: i32, m: u32, weekday: Weekday) -> Date {
    let last = Date(days_from_civil(i64::from(y), m, days_in_month(y, m)) as i32);
    let back = (7 + last.weekday().index() - weekday.index()) % 7;
    last.add_days(-i64::from(back))
}

fn fixed(y: i32, m: u32, d: u32) -> Date {
    Date(days_from_civil(i64::from(y), m, d) as i32)
}

/// A legal public holiday of 5 U.S.C. 6103(a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holiday {
    NewYearsDay,
    MartinLutherKingJrDay,
    WashingtonsBirthday,
    MemorialDay,
    Juneteenth,
    IndependenceDay,
    LaborDay,
    ColumbusDay,
    VeteransDay,
    ThanksgivingDay,
    ChristmasDay,
}

impl Holiday {
    pub const ALL: [Holiday; 11] = [
        Holiday::NewYearsDay,
        Holiday::MartinLutherKingJrDay,
        Holiday::WashingtonsBirthday,
        Holiday::MemorialDay,
        Holiday::Juneteenth,
        Holiday::IndependenceDay,
        Holiday::LaborDay,
        Holiday::ColumbusDay,
        Holiday::VeteransDay,
        Holiday::ThanksgivingDay,
        Holiday::ChristmasDay,
    ];

    /// The name in the statute.
    pub fn name(self) -> &'static str {
        match self {
            Holiday::NewYearsDay => "New Year's Day",
            Holiday::MartinLutherKingJrDay => "Birthday of Martin Luther King, Jr.",
            Holiday::WashingtonsBirthday => "Washington's Birthday",
            Holiday::MemorialDay => "Memorial Day",
            Holiday::Juneteenth => "Juneteenth National Independence Day",
            Holiday::IndependenceDay => "Independence Day",
            Holiday::LaborDay => "Labor Day",
            Holiday::ColumbusDay => "Columbus Day",
            Holiday::VeteransDay => "Veterans Day",
            Holiday::ThanksgivingDay => "Thanksgiving Day",
            Holiday::ChristmasDay => "Christmas Day",
        }
    }

    /// The holiday's own date in `year`; `None` in a year before it was a
    /// holiday.
    pub fn date_in(self, year: i32) -> Option<Date> {
        use Weekday::{Monday, Thursday};
        let date = match self {
            Holiday::NewYearsDay => fixed(year, 1, 1),
            Holiday::MartinLutherKingJrDay if year >= 1986 => nth_weekday(year, 1, Monday, 3),
            Holiday::MartinLutherKingJrDay => return None,
            Holiday::WashingtonsBirthday => nth_weekday(year, 2, Monday, 3),
            Holiday::MemorialDay => last_weekday(year, 5, Monday),
            Holiday::Juneteenth if year >= 2021 => fixed(year, 6, 19),
            Holiday::Juneteenth => return None,
            Holiday::IndependenceDay => fixed(year, 7, 4),
            Holiday::LaborDay => nth_weekday(year, 9, Monday, 1),
            Holiday::ColumbusDay => nth_weekday(year, 10, Monday, 2),
            Holiday::VeteransDay if (1971..=1977).contains(&year) => {
                nth_weekday(year, 10, Monday, 4)
            }
            Holiday::VeteransDay => fixed(year, 11, 11),
            Holiday::ThanksgivingDay => nth_weekday(year, 11, Thursday, 4),
            Holiday::ChristmasDay => fixed(year, 12, 25),
        };
        Some(date)
    }
}

/// A holiday of a year and the day it is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservedHoliday {
    pub holiday: Holiday,
    /// The holiday's own date.
    pub date: Date,
    /// The day offices close for it: a Saturday's holiday the Friday
    /// before, a Sunday's the Monday after.
    pub observed: Date,
}

fn observed(date: Date) -> Date {
    match date.weekday() {
        Weekday::Saturday => date.add_days(-1),
        Weekday::Sunday => date.add_days(1),
        _ => date,
    }
}

/// The federal holidays of `year`, in date order. New Year's Day on a
/// Saturday is observed on 31 December of the year before.
pub fn federal_holidays(year: i32) -> Vec<ObservedHoliday> {
    Holiday::ALL
        .iter()
        .filter_map(|&holiday| {
            holiday.date_in(year).map(|date| ObservedHoliday {
                holiday,
                date,
                observed: observed(date),
            })
        })
        .collect()
}

/// The federal holiday observed on `date`, if any.
pub fn federal_holiday_on(date: Date) -> Option<Holiday> {
    let year = date.year();
    // Only New Year's Day is observed outside its own year (on 31 December).
    let next_new_year = (date.ymd().1 == 12)
        .then(|| Holiday::NewYearsDay.date_in(year + 1))
        .flatten()
        .filter(|d| observed(*d) == date)
        .map(|_| Holiday::NewYearsDay);
    next_new_year.or_else(|| {
        Holiday::ALL
            .iter()
            .copied()
            .find(|h| h.date_in(year).is_some_and(|d| observed(d) == date))
    })
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The agency's local time, in which its days begin and end: a standard
/// offset from UTC, and whether United States daylight saving time applies
/// (from 2:00 on the second Sunday of March to 2:00 on the first Sunday of
/// November, 15 U.S.C. 260a). A statutory deadline ends at the agency's
/// midnight, not at UTC's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalTime {
    pub standard_offset_minutes: i32,
    pub us_daylight_saving: bool,
}

impl LocalTime {
    pub const UTC: LocalTime = LocalTime {
        standard_offset_minutes: 0,
        us_daylight_saving: false,
    };

    /// `UTC`, a US zone (`US/Eastern`, `US/Central`, `US/Mountain`,
    /// `US/Arizona`, `US/Pacific`, `US/Alaska`, `US/Hawaii`), or an offset
    /// `±HH:MM`, with ` dst` for US daylight saving time.
    pub fn parse(s: &str) -> Option<LocalTime> {
        let zone = |hours: i32, dst: bool| LocalTime {
            standard_offset_minutes: hours * 60,
            us_daylight_saving: dst,
        };
        Some(match s.trim() {
            "UTC" => LocalTime::UTC,
            "US/Eastern" => zone(-5, true),
            "US/Central" => zone(-6, true),
            "US/Mountain" => zone(-7, true),
            "US/Arizona" => zone(-7, false),
            "US/Pacific" => zone(-8, true),
            "US/Alaska" => zone(-9, true),
            "US/Hawaii" => zone(-10, false),
            other => {
                let (offset, dst) = match other.split_once(' ') {
                    Some((o, "dst")) => (o, true),
                    Some(_) => return None,
                    None => (other, false),
                };
                let sign = match offset.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let (h, m) = offset[1..].split_once(':')?;
                if h.len() != 2 || m.len() != 2 {
                    return None;
                }
                let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
                if h > 14 || m > 59 {
                    return None;
                }
                LocalTime {
                    standard_offset_minutes: sign * (h * 60 + m),
                    us_daylight_saving: dst,
                }
            }
        })
    }

    fn standard_ms(self) -> i64 {
        i64::from(self.standard_offset_minutes) * 60_000
    }

    /// The offset from UTC at the instant `ms`.
    fn offset_ms_at(self, ms: i64) -> i64 {
        let standard = self.standard_ms();
        if !self.us_daylight_saving {
            return standard;
        }
        let Some(year) = Date::from_ms(ms + standard).map(Date::year) else {
            return standard;
        };
        // 2:00 standard time on the second Sunday of March; 2:00 daylight
        // time (1:00 standard) on the first Sunday of November.
        let starts =
            nth_weekday(year, 3, Weekday::Sunday, 2).days() * DAY_MS + 2 * HOUR_MS - standard;
        let ends = nth_weekday(year, 11, Weekday::Sunday, 1).days() * DAY_MS + HOUR_MS - standard;
        if (starts..ends).contains(&ms) {
            standard + HOUR_MS
        } else {
            standard
        }
    }

    /// The local day of the instant `ms`.
    pub fn day_of(self, ms: i64) -> Option<Date> {
        Date::from_ms(ms + self.offset_ms_at(ms))
    }

    /// The instant the local day `d` begins.
    pub fn day_start_ms(self, d: Date) -> i64 {
        let guess = d.days() * DAY_MS - self.standard_ms();
        d.days() * DAY_MS - self.offset_ms_at(guess)
    }
}

/// Which days are business days: Monday to Friday, less observed federal
/// holidays and any closures the agency adds; and when, in the agency's
/// local time, a day begins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessCalendar {
    closures: BTreeSet<Date>,
    local: LocalTime,
}

impl BusinessCalendar {
    /// Weekends and federal holidays only, days in UTC.
    pub fn federal() -> BusinessCalendar {
        BusinessCalendar::default()
    }

    /// Also closed on these days (state holidays, proclaimed closures).
    pub fn with_closures(closures: impl IntoIterator<Item = Date>) -> BusinessCalendar {
        BusinessCalendar {
            closures: closures.into_iter().collect(),
            local: LocalTime::UTC,
        }
    }

    /// With days in the agency's local time.
    pub fn in_local_time(mut self, local: LocalTime) -> BusinessCalendar {
        self.local = local;
        self
    }

    pub fn local_time(&self) -> LocalTime {
        self.local
    }

    /// The agency's day at the instant `ms`.
    pub fn day_of(&self, ms: i64) -> Option<Date> {
        self.local.day_of(ms)
    }

    /// The instant the agency's day `d` begins.
    pub fn day_start_ms(&self, d: Date) -> i64 {
        self.local.day_start_ms(d)
    }

    pub fn is_business_day(&self, date: Date) -> bool {
        !date.weekday().is_weekend()
            && !self.closures.contains(&date)
            && federal_holiday_on(date).is_none()
    }

    /// The `n`-th business day after `start`, `start` itself not counted;
    /// `start` when `n` is 0.
    pub fn add_business_days(&self, start: Date, n: u32) -> Date {
        let mut date = start;
        let mut left = n;
        while left > 0 {
            date = date.add_days(1);
            if self.is_business_day(date) {
                left -= 1;
            }
        }
        date
    }

    /// Business days after `from` up to and including `to` (0 when `to` is
    /// not after `from`).
    pub fn business_days_between(&self, from: Date, to: Date) -> u32 {
        let mut n = 0;
        let mut date = from;
        while date < to {
            date = date.add_days(1);
            if self.is_business_day(date) {
                n += 1;
            }
        }
        n
    }

    /// The first day a transfer may proceed on a Delayed check started on
    /// `checked_on` that got no final answer: the day after the third
    /// business day after the check.
    pub fn nics_delayed_transfer_from(&self, checked_on: Date) -> Date {
        self.add_business_days(checked_on, NICS_DELAYED_BUSINESS_DAYS)
            .add_days(1)
    }

    /// The same for a transferee under 21 whose check NICS reported as
    /// needing further investigation of a possible juvenile record: the day
    /// after the tenth business day.
    pub fn nics_under_21_transfer_from(&self, checked_on: Date) -> Date {
        self.add_business_days(checked_on, NICS_UNDER_21_BUSINESS_DAYS)
            .add_days(1)
    }
}

/// [`BusinessCalendar::is_business_day`] on the federal calendar.
pub fn is_business_day(date: Date) -> bool {
    BusinessCalendar::federal().is_business_day(date)
}

/// [`BusinessCalendar::add_business_days`] on the federal calendar.
pub fn add_business_days(start: Date, n: u32) -> Date {
    BusinessCalendar::federal().add_business_days(start, n)
}

/// [`BusinessCalendar::nics_delayed_transfer_from`] on the federal calendar.
pub fn nics_delayed_transfer_from(checked_on: Date) -> Date {
    BusinessCalendar::federal().nics_delayed_transfer_from(checked_on)
}

/// The last day a NICS Proceed given on `checked_on` may be used for the
/// transfer: 30 calendar days after the day of the check.
pub fn nics_proceed_valid_through(checked_on: Date) -> Date {
    checked_on.add_days(NICS_PROCEED_VALID_DAYS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_agency_day_begins_at_its_own_midnight_with_daylight_saving_time() {
        let central = LocalTime::parse("US/Central").unwrap();
        assert_eq!(LocalTime::parse("-06:00 dst"), Some(central));
        assert_eq!(LocalTime::parse("UTC"), Some(LocalTime::UTC));
        assert_eq!(
            LocalTime::parse("+05:30").map(|l| l.standard_offset_minutes),
            Some(330)
        );
        for bad in ["", "-6", "-06:00 summer", "06:00", "-15:00", "US/Nowhere"] {
            assert_eq!(LocalTime::parse(bad), None, "{bad:?}");
        }
        let at = |s: &str| {
            // `YYYY-MM-DDTHH:MM` UTC.
            let (day, hm) = s.split_once('T').unwrap();
            let (h, m) = hm.split_once(':').unwrap();
            Date::parse(day).unwrap().days() * 86_400_000
                + h.parse::<i64>().unwrap() * 3_600_000
                + m.parse::<i64>().unwrap() * 60_000
        };
        // Winter: UTC-6. 2026-01-15 05:59 UTC is still the 14th in Chicago.
        assert_eq!(
            central.day_of(at("2026-01-15T05:59")),
            Date::parse("2026-01-14").ok()
        );
        assert_eq!(
            central.day_of(at("2026-01-15T06:00")),
            Date::parse("2026-01-15").ok()
        );
        assert_eq!(
            central.day_start_ms(Date::parse("2026-01-15").unwrap()),
            at("2026-01-15T06:00")
        );
        // Summer: UTC-5.
        assert_eq!(
            central.day_start_ms(Date::parse("2026-07-04").unwrap()),
            at("2026-07-04T05:00")
        );
        assert_eq!(
            central.day_of(at("2026-07-04T04:59")),
            Date::parse("2026-07-03").ok()
        );
        // 2026-03-08 (second Sunday of March) begins in standard time, the
        // next day in daylight time; 2026-11-01 begins in daylight time.
        assert_eq!(
            central.day_start_ms(Date::parse("2026-03-08").unwrap()),
            at("2026-03-08T06:00")
        );
        assert_eq!(
            central.day_start_ms(Date::parse("2026-03-09").unwrap()),
            at("2026-03-09T05:00")
        );
        assert_eq!(
            central.day_start_ms(Date::parse("2026-11-01").unwrap()),
            at("2026-11-01T05:00")
        );
        assert_eq!(
            central.day_start_ms(Date::parse("2026-11-02").unwrap()),
            at("2026-11-02T06:00")
        );
        // Arizona keeps standard time.
        let arizona = LocalTime::parse("US/Arizona").unwrap();
        assert_eq!(
            arizona.day_start_ms(Date::parse("2026-07-04").unwrap()),
            at("2026-07-04T07:00")
        );
        // Every day's start is that day, and an instant before it the day before.
        let mut d = Date::parse("2026-01-01").unwrap();
        for _ in 0..400 {
            let start = central.day_start_ms(d);
            assert_eq!(central.day_of(start), Some(d));
            assert_eq!(central.day_of(start - 1), Some(d.add_days(-1)));
            d = d.add_days(1);
        }
    }

    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn dates_parse_print_and_know_their_weekday() {
        assert_eq!(d("1970-01-01").days(), 0);
        assert_eq!(d("1970-01-01").weekday(), Weekday::Thursday);
        assert_eq!(d("2026-11-25").weekday(), Weekday::Wednesday);
        assert_eq!(d("2000-02-29").to_string(), "2000-02-29");
        assert!(Date::parse("2001-02-29").is_err());
        assert!(Date::parse("2026-13-01").is_err());
        assert!(Date::parse("26-01-01").is_err());
        assert!(Date::parse("1899-12-31").is_err());
        assert_eq!(d("2024-02-29").add_years(1), d("2025-02-28"));
        assert_eq!(d("2000-06-15").years_until(d("2021-06-14")), 20);
        assert_eq!(d("2000-06-15").years_until(d("2021-06-15")), 21);
        assert_eq!(Date::from_ms(86_400_000 * 2 - 1), Some(d("1970-01-02")));
    }

    #[test]
    fn nth_and_last_weekdays() {
        assert_eq!(nth_weekday(2026, 11, Weekday::Thursday, 4), d("2026-11-26"));
        assert_eq!(nth_weekday(2026, 9, Weekday::Monday, 1), d("2026-09-07"));
        assert_eq!(last_weekday(2027, 5, Weekday::Monday), d("2027-05-31"));
        assert_eq!(last_weekday(2026, 5, Weekday::Monday), d("2026-05-25"));
    }

    #[test]
    fn holidays_that_did_not_exist_yet_are_absent() {
        assert_eq!(Holiday::Juneteenth.date_in(2020), None);
        assert_eq!(Holiday::Juneteenth.date_in(2021), Some(d("2021-06-19")));
        assert_eq!(Holiday::MartinLutherKingJrDay.date_in(1985), None);
        assert_eq!(Holiday::VeteransDay.date_in(1975), Some(d("1975-10-27")));
        assert!(is_business_day(d("2020-06-19")), "a Friday, before 2021");
        assert!(!is_business_day(d("2021-06-18")), "observed for Saturday");
    }
}
