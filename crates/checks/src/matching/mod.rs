//! Identity resolution: deciding which records in a source are about the
//! person a check is for, when names are misspelt, nicknamed or swapped,
//! dates are transposed and identifiers are missing.
//!
//! Two steps, as in every record-linkage system since Fellegi and Sunter
//! (1969):
//!
//! 1. **Blocking** ([`blocking`]): each record is filed under a handful of
//!    keys — phonetic surname with birth year, phonetic surname with birth
//!    month and day, phonetic first name (and its formal form for a
//!    nickname) with the birth date, birth date with first initial, each
//!    identifier — and a query looks up the same keys for its names both
//!    ways round. Only records sharing a key are compared, so a lookup costs
//!    the same however large the source grows.
//! 2. **Comparison** ([`compare`]): each field of query and candidate gets
//!    an agreement level (exact, nickname, one typo apart, phonetically
//!    alike, transposed date, ...), each level a weight `log2(m / u)` from
//!    [`Weights`], and the weights add up to a score. A score at or above the
//!    match threshold is a [`Decision::Match`]; between the thresholds a
//!    [`Decision::PossibleMatch`], for an examiner to review; below, no
//!    match. Every candidate carries the fields that drove its score.
//!
//! [`evaluate`] measures precision, recall and the review rate on a
//! labelled set.

pub mod blocking;
pub mod compare;
pub mod evaluate;
pub mod nicknames;
pub mod phonetic;
pub mod similarity;
pub mod weights;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use blocking::BlockIndex;
pub use compare::{Candidate, Decision, Field, FieldScore, Level};
pub use evaluate::{Evaluation, LabelledQuery, evaluate};
pub use weights::{Weights, WeightsError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Female,
    Male,
}

/// A calendar date (a date of birth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// The date, if it exists in the calendar.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if (year.is_multiple_of(4) && !year.is_multiple_of(100))
                || year.is_multiple_of(400) =>
            {
                29
            }
            2 => 28,
            _ => 0,
        };
        (day >= 1 && day <= days).then_some(Date { year, month, day })
    }

    /// The eight digits `YYYYMMDD`.
    fn digits(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        let mut v = self.year as u32 * 10_000 + self.month as u32 * 100 + self.day as u32;
        for d in out.iter_mut().rev() {
            *d = (v % 10) as u8;
            v /= 10;
        }
        out
    }
}

/// What a query or a record says about a person. Every field may be
/// missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Descriptors {
    pub first: Option<String>,
    pub middle: Option<String>,
    pub last: Option<String>,
    pub sex: Option<Sex>,
    pub dob: Option<Date>,
    /// Social Security number.
    pub ssn: Option<String>,
    /// State identification number from a state's criminal-history
    /// repository.
    pub state_id: Option<String>,
    /// FBI number (Universal Control Number).
    pub fbi: Option<String>,
    /// Other surnames used (maiden or married names, "also known as").
    pub aliases: Vec<String>,
}

/// A name as the matcher uses it: the letters A to Z only, upper case, with
/// accented Latin letters folded to plain ones ([`fold_letter`]) and
/// generational suffixes (JR, SR, II, III, IV) dropped; `None` when nothing
/// is left. `O'Brien` is `OBRIEN`, `Smith Jr.` is `SMITH`, `Nuñez` is
/// `NUNEZ`.
pub fn normalise_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for word in name.split(|c: char| c.is_whitespace() || c == ',') {
        let mut letters = String::with_capacity(word.len());
        for c in word.chars() {
            if c.is_ascii_alphabetic() {
                letters.push(c.to_ascii_uppercase());
            } else if let Some(plain) = fold_letter(c) {
                letters.push_str(plain);
            }
        }
        if !matches!(letters.as_str(), "JR" | "SR" | "II" | "III" | "IV") {
            out.push_str(&letters);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The plain letters, upper case, an accented Latin letter is written with
/// when a name is compared (`é` and `É` are `E`, `ß` is `SS`, `æ` is
/// `AE`); `None` for any other character. Records keyed in without
/// accents, or by systems that could not store them, then meet the same
/// name written with them.
pub fn fold_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => "A",
        'ç' | 'Ç' => "C",
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => "E",
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => "I",
        'ñ' | 'Ñ' => "N",
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' | 'Ø' => "O",
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => "U",
        'ý' | 'ÿ' | 'Ý' | 'Ÿ' => "Y",
        'ß' | 'ẞ' => "SS",
        'æ' | 'Æ' => "AE",
        'œ' | 'Œ' => "OE",
        _ => return None,
    })
}

/// A Social Security number as compared: its nine digits, or `None` when
/// it cannot be a person's number: not nine digits, never issued (area
/// 000 or 666, group 00, serial 0000), or a value well known to be typed
/// in place of a number (one digit nine times, `123-45-6789`,
/// `078-05-1120` from a wallet insert, `219-09-9999` from an
/// advertisement, `987-65-4320` to `987-65-4329`, set aside for
/// advertising). Such a value is shared by many unrelated records: agreeing
/// on it says nothing, so it neither files a record nor scores, as if it
/// were missing.
///
/// Areas 900 to 999 are never issued either but are not refused here:
/// test and synthetic people are given them precisely so that they can
/// never be real, and they must still match each other.
pub fn normalise_ssn(ssn: &str) -> Option<String> {
    let digits = normalise_identifier(ssn)?;
    let b = digits.as_bytes();
    if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (area, group, serial) = (&digits[..3], &digits[3..5], &digits[5..]);
    let never_issued = matches!(area, "000" | "666") || group == "00" || serial == "0000";
    let repeated = b.iter().all(|&d| d == b[0]);
    let placeholder = matches!(digits.as_str(), "123456789" | "078051120" | "219099999")
        || digits.starts_with("98765432");
    (!(never_issued || repeated || placeholder)).then_some(digits)
}

/// An identifier as compared: letters and digits only, upper case.
pub fn normalise_identifier(id: &str) -> Option<String> {
    let out: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!out.is_empty()).then_some(out)
}

/// A name with its keys worked out once.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub text: Box<str>,
    pub nysiis: Box<str>,
    /// Nickname groups (first and middle names).
    pub groups: &'static [u16],
}

impl Name {
    fn new(raw: &Option<String>) -> Option<Name> {
        let text = normalise_name(raw.as_deref()?)?;
        Some(Name {
            nysiis: phonetic::nysiis(&text).into(),
            groups: nicknames::groups(&text),
            text: text.into(),
        })
    }

    fn is_initial(&self) -> bool {
        self.text.len() == 1
    }
}

/// Descriptors normalised for blocking and comparison.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub first: Option<Name>,
    pub middle: Option<Name>,
    pub last: Option<Name>,
    pub sex: Option<Sex>,
    pub dob: Option<Date>,
    pub ssn: Option<Box<str>>,
    pub state_id: Option<Box<str>>,
    pub fbi: Option<Box<str>>,
    /// Other surnames.
    pub aliases: Vec<Name>,
}

impl Prepared {
    pub fn new(d: &Descriptors) -> Prepared {
        let id = |v: &Option<String>| {
            v.as_deref()
                .and_then(normalise_identifier)
                .map(String::into_boxed_str)
        };
        Prepared {
            first: Name::new(&d.first),
            middle: Name::new(&d.middle),
            last: Name::new(&d.last),
            sex: d.sex,
            dob: d.dob,
            ssn: d
                .ssn
                .as_deref()
                .and_then(normalise_ssn)
                .map(String::into_boxed_str),
            state_id: id(&d.state_id),
            fbi: id(&d.fbi),
            aliases: d
                .aliases
                .iter()
                .filter_map(|a| Name::new(&Some(a.clone())))
                .collect(),
        }
    }
}

/// How common each first name and surname is among the records: exact
/// agreement on `SMITH` says less than on `TYMCZAK`.
#[derive(Debug, Default)]
pub(crate) struct Frequencies {
    first: HashMap<Box<str>, u32>,
    last: HashMap<Box<str>, u32>,
    firsts: u64,
    lasts: u64,
}

impl Frequencies {
    fn add(&mut self, p: &Prepared) {
        if let Some(n) = &p.first {
            *self.first.entry(n.text.clone()).or_default() += 1;
            self.firsts += 1;
        }
        if let Some(n) = &p.last {
            *self.last.entry(n.text.clone()).or_default() += 1;
            self.lasts += 1;
        }
    }

    /// The share of records with this first name (0 when none has it).
    pub fn first(&self, name: &str) -> f64 {
        share(self.first.get(name).copied(), self.firsts)
    }

    pub fn last(&self, name: &str) -> f64 {
        share(self.last.get(name).copied(), self.lasts)
    }
}

/// A name's share is smoothed towards a typical name's share as if the
/// source held this many more records with that share: in a small source
/// every name it holds would otherwise look rare (or, alone, universal);
/// in a large one the smoothing fades away.
const PRIOR_RECORDS: f64 = 10_000.0;
const PRIOR_SHARE: f64 = 0.003;

fn share(count: Option<u32>, total: u64) -> f64 {
    (count.unwrap_or(0) as f64 + PRIOR_RECORDS * PRIOR_SHARE) / (total as f64 + PRIOR_RECORDS)
}

/// The records of one source, indexed for identity matching.
#[derive(Debug)]
pub struct Matcher {
    weights: Weights,
    ids: Vec<u64>,
    records: Vec<Prepared>,
    index: BlockIndex,
    frequencies: Frequencies,
}

impl Matcher {
    pub fn new(weights: Weights) -> Matcher {
        Matcher {
            weights,
            ids: Vec::new(),
            records: Vec::new(),
            index: BlockIndex::default(),
            frequencies: Frequencies::default(),
        }
    }

    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn index(&self) -> &BlockIndex {
        &self.index
    }

    /// Adds a record under the source's own id for it.
    pub fn insert(&mut self, record_id: u64, descriptors: &Descriptors) {
        let prepared = Prepared::new(descriptors);
        let position = u32::try_from(self.records.len()).expect("under 4 billion records");
        for key in blocking::record_keys(&prepared) {
            self.index.insert(key, position);
        }
        self.frequencies.add(&prepared);
        self.ids.push(record_id);
        self.records.push(prepared);
    }

    /// Positions of the records that share a blocking key with the query.
    fn candidates(&self, query: &Prepared) -> Vec<u32> {
        let mut found = Vec::new();
        for key in blocking::query_keys(query) {
            found.extend_from_slice(self.index.get(key));
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The records that match or possibly match the query, best first.
    pub fn search(&self, query: &Descriptors) -> Vec<Candidate> {
        let mut out = self.score_candidates(query, false);
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }

    /// Every record blocking put forward, scored, whatever the decision.
    pub fn score_all(&self, query: &Descriptors) -> Vec<Candidate> {
        self.score_candidates(query, true)
    }

    fn score_candidates(&self, query: &Descriptors, keep_non_matches: bool) -> Vec<Candidate> {
        let q = Prepared::new(query);
        self.candidates(&q)
            .into_iter()
            .filter_map(|pos| {
                let scored = compare::score(
                    &q,
                    &self.records[pos as usize],
                    &self.frequencies,
                    &self.weights,
                );
                let decision = self.weights.decide(scored.total, self.records.len());
                (keep_non_matches || decision != Decision::NonMatch)
                    .then(|| scored.into_candidate(self.ids[pos as usize], decision))
            })
            .collect()
    }

    /// Scores one pair without the index, with this source's name
    /// frequencies: the explanation for an examiner of why a record was or
    /// was not taken for the person.
    pub fn compare(&self, query: &Descriptors, record: &Descriptors) -> Candidate {
        let scored = compare::score(
            &Prepared::new(query),
            &Prepared::new(record),
            &self.frequencies,
            &self.weights,
        );
        let decision = self.weights.decide(scored.total, self.records.len());
        scored.into_candidate(0, decision)
    }
}
