//! Turning a person into a record the way clerks, forms and old systems do.

use super::{Date, Person, Record, Rng, names};

/// One kind of damage done to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Noise {
    TypoFirst,
    TypoMiddle,
    TypoLast,
    Nickname,
    /// First and last names in each other's place.
    SwappedNames,
    /// Another surname the person used (maiden or married).
    Alias,
    MiddleInitial,
    MissingMiddle,
    /// Day and month in each other's place.
    DayMonthSwapped,
    /// The last two digits of the year in each other's place.
    YearDigitsTransposed,
    /// One digit of the date mistyped.
    DateDigit,
    MissingDob,
    MissingSex,
    MissingSsn,
    MissingStateId,
    MissingFbi,
    /// One character of an identifier mistyped.
    IdentifierTypo,
    Uppercase,
}

/// How often each kind of noise happens, each a probability per record.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseConfig {
    pub typo_first: f64,
    pub typo_middle: f64,
    pub typo_last: f64,
    /// Use a nickname for the first name (when it has one).
    pub nickname: f64,
    pub swap_names: f64,
    /// For a person who has used another surname (maiden or married): the
    /// record is under that surname.
    pub alias: f64,
    /// For a person who has used another surname: the record lists it as
    /// an other name used ("also known as").
    pub list_alias: f64,
    pub missing_middle: f64,
    /// Keep only the middle initial (when the middle name is kept).
    pub middle_initial: f64,
    /// Swap day and month (only where the result is a date: day ≤ 12).
    pub day_month_swap: f64,
    pub year_digits: f64,
    pub date_digit: f64,
    pub missing_dob: f64,
    pub missing_sex: f64,
    pub missing_ssn: f64,
    pub missing_state_id: f64,
    pub missing_fbi: f64,
    /// Per identifier kept: one character mistyped.
    pub identifier_typo: f64,
    pub uppercase: f64,
    /// Never leave a record with no birth date and no identifier: a source
    /// cannot tie such a record to anyone, and real ones refuse it.
    pub keep_anchor: bool,
}

impl NoiseConfig {
    /// No noise at all: the person as they are.
    pub fn none() -> NoiseConfig {
        NoiseConfig {
            typo_first: 0.0,
            typo_middle: 0.0,
            typo_last: 0.0,
            nickname: 0.0,
            swap_names: 0.0,
            alias: 0.0,
            list_alias: 0.0,
            missing_middle: 0.0,
            middle_initial: 0.0,
            day_month_swap: 0.0,
            year_digits: 0.0,
            date_digit: 0.0,
            missing_dob: 0.0,
            missing_sex: 0.0,
            missing_ssn: 0.0,
            missing_state_id: 0.0,
            missing_fbi: 0.0,
            identifier_typo: 0.0,
            uppercase: 0.0,
            keep_anchor: true,
        }
    }

    /// Records in a criminal-history, mental-health or protection-order
    /// source: keyed in over decades by many hands, often without a Social
    /// Security number.
    pub fn source_records() -> NoiseConfig {
        NoiseConfig {
            typo_first: 0.05,
            typo_middle: 0.03,
            typo_last: 0.05,
            nickname: 0.08,
            swap_names: 0.03,
            alias: 0.12,
            list_alias: 0.3,
            missing_middle: 0.30,
            middle_initial: 0.35,
            day_month_swap: 0.03,
            year_digits: 0.015,
            date_digit: 0.03,
            missing_dob: 0.02,
            missing_sex: 0.02,
            missing_ssn: 0.50,
            missing_state_id: 0.40,
            missing_fbi: 0.50,
            identifier_typo: 0.02,
            uppercase: 0.5,
            keep_anchor: true,
        }
    }

    /// What an applicant writes on a form: the legal name and birth date,
    /// a Social Security number only sometimes (it is optional on a firearm
    /// transaction record), no repository numbers; a rare slip.
    pub fn applicant() -> NoiseConfig {
        NoiseConfig {
            typo_first: 0.005,
            typo_middle: 0.005,
            typo_last: 0.005,
            nickname: 0.02,
            missing_middle: 0.15,
            middle_initial: 0.3,
            list_alias: 0.85,
            date_digit: 0.003,
            missing_ssn: 0.40,
            missing_state_id: 1.0,
            missing_fbi: 1.0,
            ..NoiseConfig::none()
        }
    }
}

/// Keys next to each letter on a QWERTY keyboard.
fn neighbours(c: u8) -> &'static [u8] {
    match c.to_ascii_lowercase() {
        b'q' => b"wa",
        b'w' => b"qeas",
        b'e' => b"wrds",
        b'r' => b"etdf",
        b't' => b"ryfg",
        b'y' => b"tugh",
        b'u' => b"yihj",
        b'i' => b"uojk",
        b'o' => b"ipkl",
        b'p' => b"ol",
        b'a' => b"qwsz",
        b's' => b"awedxz",
        b'd' => b"serfcx",
        b'f' => b"drtgvc",
        b'g' => b"ftyhbv",
        b'h' => b"gyujnb",
        b'j' => b"huikmn",
        b'k' => b"jiolm",
        b'l' => b"kop",
        b'z' => b"asx",
        b'x' => b"zsdc",
        b'c' => b"xdfv",
        b'v' => b"cfgb",
        b'b' => b"vghn",
        b'n' => b"bhjm",
        b'm' => b"njk",
        _ => b"e",
    }
}

/// `word` with one typing mistake: a letter replaced by a neighbouring key,
/// a letter dropped, two letters transposed or a letter doubled. Words of
/// fewer than three letters are left alone.
pub fn typo(rng: &mut Rng, word: &str) -> String {
    let mut b: Vec<u8> = word.bytes().collect();
    let letters: Vec<usize> = (0..b.len())
        .filter(|&i| b[i].is_ascii_alphabetic())
        .collect();
    if letters.len() < 3 || !word.is_ascii() {
        return word.to_owned();
    }
    // The first letter is the one people get right most often.
    let at = letters[1 + rng.below(letters.len() as u64 - 1) as usize];
    match rng.below(4) {
        0 => {
            let c = *rng.pick(neighbours(b[at]));
            b[at] = if b[at].is_ascii_uppercase() {
                c.to_ascii_uppercase()
            } else {
                c
            };
        }
        1 => {
            b.remove(at);
        }
        2 => {
            let (i, j) = if at + 1 < b.len() {
                (at, at + 1)
            } else {
                (at - 1, at)
            };
            if b[i].eq_ignore_ascii_case(&b[j]) {
                b.remove(at);
            } else {
                b.swap(i, j);
            }
        }
        _ => {
            let c = b[at].to_ascii_lowercase();
            b.insert(at + 1, c);
        }
    }
    String::from_utf8(b).expect("ASCII stays ASCII")
}

/// `id` with one character mistyped: a digit replaced or two adjacent
/// digits transposed.
fn identifier_typo(rng: &mut Rng, id: &str) -> String {
    let mut b: Vec<u8> = id.bytes().collect();
    let digits: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
    if digits.len() < 2 {
        return id.to_owned();
    }
    let k = rng.below(digits.len() as u64) as usize;
    let at = digits[k];
    let next = digits.get(k + 1).copied().filter(|&n| n == at + 1);
    match next {
        Some(n) if rng.chance(0.5) && b[at] != b[n] => b.swap(at, n),
        _ => {
            let old = b[at];
            while b[at] == old {
                b[at] = b'0' + rng.below(10) as u8;
            }
        }
    }
    String::from_utf8(b).expect("ASCII stays ASCII")
}

fn mistype_date(rng: &mut Rng, dob: Date) -> Date {
    for _ in 0..20 {
        let (mut y, mut m, mut d) = (dob.year, dob.month, dob.day);
        match rng.below(4) {
            0 => y = y - y % 10 + rng.below(10) as u16,
            1 => y = y - y % 100 + (rng.below(10) as u16) * 10 + y % 10,
            2 => {
                m = if rng.chance(0.5) {
                    m % 10 + 10
                } else {
                    m - m % 10 + rng.below(10) as u8
                }
            }
            _ => d = d - d % 10 + rng.below(10) as u8,
        }
        if let Some(date) = Date::new(y, m, d).filter(|&date| date != dob) {
            return date;
        }
    }
    dob
}

/// A record of `person` with noise drawn from `rng` at the rates of
/// `config`. Its `record_id` is 0: the source numbers its records.
pub fn noisy_record(person: &Person, rng: &mut Rng, config: &NoiseConfig) -> Record {
    let mut noise = Vec::new();
    let mut first = person.first.clone();
    let mut last = person.last.clone();
    let mut middle = person.middle.clone();
    let mut aliases = Vec::new();
    if let Some(alias) = &person.alias_last {
        if rng.chance(config.alias) {
            last = alias.clone();
            noise.push(Noise::Alias);
        }
        if rng.chance(config.list_alias) {
            let other = if last == *alias { &person.last } else { alias };
            aliases.push(other.clone());
        }
    }
    if rng.chance(config.nickname) {
        let nicks = names::nicknames_of(&first);
        if !nicks.is_empty() {
            first = (*rng.pick(nicks)).to_owned();
            noise.push(Noise::Nickname);
        }
    }
    if rng.chance(config.typo_first) {
        first = typo(rng, &first);
        noise.push(Noise::TypoFirst);
    }
    if rng.chance(config.typo_last) {
        last = typo(rng, &last);
        noise.push(Noise::TypoLast);
    }
    if let Some(m) = &middle {
        if rng.chance(config.missing_middle) {
            middle = None;
            noise.push(Noise::MissingMiddle);
        } else if rng.chance(config.middle_initial) {
            middle = Some(m.chars().take(1).collect());
            noise.push(Noise::MiddleInitial);
        } else if rng.chance(config.typo_middle) {
            middle = Some(typo(rng, m));
            noise.push(Noise::TypoMiddle);
        }
    }
    if rng.chance(config.swap_names) {
        std::mem::swap(&mut first, &mut last);
        noise.push(Noise::SwappedNames);
    }

    let mut dob = Some(person.dob);
    if rng.chance(config.missing_dob) {
        dob = None;
        noise.push(Noise::MissingDob);
    } else {
        let d = person.dob;
        if rng.chance(config.day_month_swap) && d.day <= 12 && d.day != d.month {
            dob = Date::new(d.year, d.day, d.month);
            noise.push(Noise::DayMonthSwapped);
        } else if rng.chance(config.year_digits) && d.year % 10 != (d.year / 10) % 10 {
            let y = d.year - d.year % 100 + (d.year % 10) * 10 + (d.year / 10) % 10;
            dob = Date::new(y, d.month, d.day);
            noise.push(Noise::YearDigitsTransposed);
        } else if rng.chance(config.date_digit) {
            dob = Some(mistype_date(rng, d));
            noise.push(Noise::DateDigit);
        }
    }
    let sex = if rng.chance(config.missing_sex) {
        noise.push(Noise::MissingSex);
        None
    } else {
        Some(person.sex)
    };

    let mut identifier = |rng: &mut Rng, id: &str, missing: f64, gone: Noise| {
        if rng.chance(missing) {
            noise.push(gone);
            None
        } else if rng.chance(config.identifier_typo) {
            noise.push(Noise::IdentifierTypo);
            Some(identifier_typo(rng, id))
        } else {
            Some(id.to_owned())
        }
    };
    let ssn = identifier(rng, &person.ssn, config.missing_ssn, Noise::MissingSsn);
    let state_id = identifier(
        rng,
        &person.state_id,
        config.missing_state_id,
        Noise::MissingStateId,
    );
    let fbi = identifier(rng, &person.fbi, config.missing_fbi, Noise::MissingFbi);
    if config.keep_anchor && dob.is_none() && ssn.is_none() && state_id.is_none() && fbi.is_none() {
        dob = Some(person.dob);
        noise.retain(|n| *n != Noise::MissingDob);
    }

    if rng.chance(config.uppercase) {
        for name in [&mut first, &mut last] {
            *name = name.to_ascii_uppercase();
        }
        if let Some(m) = &mut middle {
            *m = m.to_ascii_uppercase();
        }
        noise.push(Noise::Uppercase);
    }
    Record {
        record_id: 0,
        person_id: person.id,
        first: Some(first),
        middle,
        last: Some(last),
        sex,
        dob,
        ssn,
        state_id,
        fbi,
        aliases,
        noise,
    }
}
