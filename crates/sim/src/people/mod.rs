//! Synthetic people, and the records that criminal-history, mental-health
//! and protection-order sources would hold about them, with the noise real
//! records carry: typos, nicknames, swapped first and last names,
//! transposed dates, missing fields and aliases.
//!
//! Everything is a pure function of a seed and an index, so a population
//! of ten million records can be streamed with constant memory and
//! regenerated identically anywhere. The generator keeps its own small
//! PRNG ([`Rng`], splitmix64) rather than `rand`'s, so that the same seed
//! gives the same people whatever `rand` version the workspace moves to.
//!
//! Identity matching is measured on a [`labelled`] set: people in families
//! of look-alikes (twins, siblings, a father and son of the same name,
//! namesakes), some with records in a source, and queries for people who
//! are and are not there. Each record keeps the id of the person it was made
//! from, for evaluation only.

pub mod labelled;
pub mod names;
mod noise;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

pub use labelled::{Kinship, LabelledConfig, LabelledSet, Query};
pub use noise::{Noise, NoiseConfig, noisy_record, typo};

/// A small, fast, seedable generator (splitmix64). Not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// A generator for item `index` of an independent `stream` under `seed`:
    /// item 7 gets the same numbers whether or not items 0 to 6 were made.
    pub fn for_item(seed: u64, stream: u64, index: u64) -> Rng {
        let mut mix = Rng::new(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        let base = mix.next_u64();
        let mut rng = Rng(base ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB));
        rng.next_u64();
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Female,
    Male,
}

impl Sex {
    pub fn other(self) -> Sex {
        match self {
            Sex::Female => Sex::Male,
            Sex::Male => Sex::Female,
        }
    }
}

/// A calendar date (date of birth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// The date, if it exists in the calendar.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month))
            .then_some(Date { year, month, day })
    }

    /// Days since 1970-01-01 (negative before).
    pub fn to_days(self) -> i64 {
        let y = self.year as i64 - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = self.month as i64;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + self.day as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        Date { year, month, day }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// Earliest and latest birth dates of generated adults.
const BORN_FROM: Date = Date {
    year: 1940,
    month: 1,
    day: 1,
};
const BORN_UNTIL: Date = Date {
    year: 2005,
    month: 12,
    day: 31,
};

/// A person as they really are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: u64,
    pub first: String,
    pub middle: Option<String>,
    pub last: String,
    /// Another surname the person has used (maiden or married name).
    pub alias_last: Option<String>,
    pub sex: Sex,
    pub dob: Date,
    /// Social Security number, `9AA-GG-SSSS`: area numbers from 900 are
    /// never issued, so no generated number is anyone's.
    pub ssn: String,
    /// State identification number given by a state's criminal-history
    /// repository, `PA12345678`.
    pub state_id: String,
    /// FBI number (Universal Control Number), six digits, two letters, a
    /// digit: `482913KA7`.
    pub fbi: String,
}

/// What one source holds about one person: the person's fields as
/// recorded, with noise. `person_id` says whose record it is and is only
/// for measuring a matcher; a matcher never reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub record_id: u64,
    pub person_id: u64,
    pub first: Option<String>,
    pub middle: Option<String>,
    pub last: Option<String>,
    pub sex: Option<Sex>,
    pub dob: Option<Date>,
    pub ssn: Option<String>,
    pub state_id: Option<String>,
    pub fbi: Option<String>,
    /// Other surnames the record lists for the person (maiden or married
    /// names, "also known as").
    pub aliases: Vec<String>,
    /// The noise that was applied, for diagnosing a matcher's misses.
    pub noise: Vec<Noise>,
}

/// Cumulative weights of a rank-ordered list: rank `r` weighs `1 / (r + 8)`.
fn cumulative(len: usize) -> Vec<f64> {
    let mut total = 0.0;
    (0..len)
        .map(|r| {
            total += 1.0 / (r as f64 + 8.0);
            total
        })
        .collect()
}

fn pick_ranked(rng: &mut Rng, list: &'static [&'static str], cum: &[f64]) -> &'static str {
    let x = rng.unit() * cum[cum.len() - 1];
    let i = cum.partition_point(|&c| c <= x).min(list.len() - 1);
    list[i]
}

/// A first name for `sex`, drawn by frequency.
pub fn first_name(rng: &mut Rng, sex: Sex) -> &'static str {
    static MALE: OnceLock<Vec<f64>> = OnceLock::new();
    static FEMALE: OnceLock<Vec<f64>> = OnceLock::new();
    match sex {
        Sex::Male => pick_ranked(
            rng,
            names::MALE_FIRST,
            MALE.get_or_init(|| cumulative(names::MALE_FIRST.len())),
        ),
        Sex::Female => pick_ranked(
            rng,
            names::FEMALE_FIRST,
            FEMALE.get_or_init(|| cumulative(names::FEMALE_FIRST.len())),
        ),
    }
}

/// A surname, drawn by frequency.
pub fn surname(rng: &mut Rng) -> &'static str {
    static CUM: OnceLock<Vec<f64>> = OnceLock::new();
    pick_ranked(
        rng,
        names::SURNAMES,
        CUM.get_or_init(|| cumulative(names::SURNAMES.len())),
    )
}

/// A first name for `sex` other than `not`.
fn other_first(rng: &mut Rng, sex: Sex, not: &str) -> String {
    loop {
        let name = first_name(rng, sex);
        if !name.eq_ignore_ascii_case(not) {
            return name.to_owned();
        }
    }
}

fn other_surname(rng: &mut Rng, not: &str) -> String {
    loop {
        let name = surname(rng);
        if !name.eq_ignore_ascii_case(not) {
            return name.to_owned();
        }
    }
}

fn middle_name(rng: &mut Rng, sex: Sex, first: &str) -> Option<String> {
    rng.chance(0.9).then(|| other_first(rng, sex, first))
}

fn birth_date(rng: &mut Rng) -> Date {
    Date::from_days(rng.between(BORN_FROM.to_days(), BORN_UNTIL.to_days()))
}

/// A birth date `years` (give or take a few months) from `dob`, kept within
/// the generated range.
fn birth_date_near(rng: &mut Rng, dob: Date, years: i64) -> Date {
    let days = dob.to_days() + years * 365 + rng.between(-150, 150);
    Date::from_days(days.clamp(BORN_FROM.to_days(), BORN_UNTIL.to_days()))
}

fn ssn(rng: &mut Rng) -> String {
    format!(
        "{}-{:02}-{:04}",
        rng.between(900, 999),
        rng.between(1, 99),
        rng.between(1, 9999)
    )
}

/// The serial number `step` after `ssn` (twins' numbers are often issued
/// one after the other).
fn next_ssn(ssn: &str, step: u64) -> String {
    let serial: u64 = ssn[7..].parse().unwrap_or(0);
    format!("{}{:04}", &ssn[..7], (serial + step - 1) % 9999 + 1)
}

fn state_id(rng: &mut Rng) -> String {
    format!(
        "{}{:08}",
        rng.pick(names::STATES),
        rng.between(0, 99_999_999)
    )
}

fn fbi_number(rng: &mut Rng) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRTUVWXY";
    format!(
        "{:06}{}{}{}",
        rng.between(0, 999_999),
        *rng.pick(LETTERS) as char,
        *rng.pick(LETTERS) as char,
        rng.between(0, 9)
    )
}

fn alias_surname(rng: &mut Rng, sex: Sex, last: &str) -> Option<String> {
    let p = match sex {
        Sex::Female => 0.35,
        Sex::Male => 0.03,
    };
    rng.chance(p).then(|| other_surname(rng, last))
}

const STREAM_PERSON: u64 = 1;
const STREAM_LOOKALIKE: u64 = 2;

/// Person `i` of the population generated from `seed`.
pub fn generate_person(seed: u64, i: u64) -> Person {
    let mut rng = Rng::for_item(seed, STREAM_PERSON, i);
    let sex = if rng.chance(0.5) {
        Sex::Female
    } else {
        Sex::Male
    };
    let first = first_name(&mut rng, sex).to_owned();
    let middle = middle_name(&mut rng, sex, &first);
    let last = surname(&mut rng).to_owned();
    let alias_last = alias_surname(&mut rng, sex, &last);
    Person {
        id: i,
        middle,
        alias_last,
        sex,
        dob: birth_date(&mut rng),
        ssn: ssn(&mut rng),
        state_id: state_id(&mut rng),
        fbi: fbi_number(&mut rng),
        first,
        last,
    }
}

/// A different person, with id `id`, who looks like `base` in the way
/// `kinship` says: the people a matcher must not confuse.
pub fn lookalike(seed: u64, base: &Person, kinship: Kinship, id: u64) -> Person {
    let mut rng = Rng::for_item(seed, STREAM_LOOKALIKE, id);
    let fresh_sex = if rng.chance(0.5) {
        Sex::Female
    } else {
        Sex::Male
    };
    let (sex, first, last, dob) = match kinship {
        Kinship::Twin => {
            let sex = fresh_sex;
            (
                sex,
                other_first(&mut rng, sex, &base.first),
                base.last.clone(),
                base.dob,
            )
        }
        Kinship::Sibling => {
            let years = rng.between(1, 8) * if rng.chance(0.5) { 1 } else { -1 };
            let sex = fresh_sex;
            let first = other_first(&mut rng, sex, &base.first);
            (
                sex,
                first,
                base.last.clone(),
                birth_date_near(&mut rng, base.dob, years),
            )
        }
        Kinship::Cousin => {
            let years = rng.between(-2, 2);
            let first = other_first(&mut rng, base.sex, &base.first);
            (
                base.sex,
                first,
                base.last.clone(),
                birth_date_near(&mut rng, base.dob, years),
            )
        }
        Kinship::Spouse => {
            let sex = base.sex.other();
            let years = rng.between(-5, 5);
            let first = other_first(&mut rng, sex, &base.first);
            (
                sex,
                first,
                base.last.clone(),
                birth_date_near(&mut rng, base.dob, years),
            )
        }
        Kinship::ParentChild => {
            let years = rng.between(20, 38);
            let years = if base.dob.year >= 1975 { -years } else { years };
            let dob = birth_date_near(&mut rng, base.dob, years);
            (base.sex, base.first.clone(), base.last.clone(), dob)
        }
        Kinship::Namesake => {
            let dob = birth_date(&mut rng);
            (base.sex, base.first.clone(), base.last.clone(), dob)
        }
        Kinship::NamesakeCloseDob => {
            let mut dob = base.dob;
            while dob == base.dob {
                dob = Date::from_days(base.dob.to_days() + rng.between(-45, 45));
            }
            (base.sex, base.first.clone(), base.last.clone(), dob)
        }
    };
    let middle = match kinship {
        Kinship::ParentChild if rng.chance(0.5) => base.middle.clone(),
        _ => middle_name(&mut rng, sex, &first),
    };
    let ssn = match kinship {
        Kinship::Twin => next_ssn(&base.ssn, id.abs_diff(base.id).max(1)),
        _ => ssn(&mut rng),
    };
    let alias_last = match kinship {
        Kinship::Spouse if sex == Sex::Female => Some(other_surname(&mut rng, &last)),
        _ => alias_surname(&mut rng, sex, &last),
    };
    Person {
        id,
        first,
        middle,
        last,
        alias_last,
        sex,
        dob,
        ssn,
        state_id: state_id(&mut rng),
        fbi: fbi_number(&mut rng),
    }
}
