//! Field-by-field comparison of a query with a candidate record, and the
//! Fellegi–Sunter score.

use super::similarity::one_edit_apart;
use super::{Date, Frequencies, Name, Prepared, Weights, nicknames};

/// A field compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    First,
    Middle,
    Last,
    /// Whether the names were read the right way round or swapped.
    NameOrder,
    Dob,
    Sex,
    Ssn,
    StateId,
    Fbi,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Field::First,
        Field::Middle,
        Field::Last,
        Field::NameOrder,
        Field::Dob,
        Field::Sex,
        Field::Ssn,
        Field::StateId,
        Field::Fbi,
    ];

    /// The field's name in weight files and explanations.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::First => "first",
            Field::Middle => "middle",
            Field::Last => "last",
            Field::NameOrder => "name_order",
            Field::Dob => "dob",
            Field::Sex => "sex",
            Field::Ssn => "ssn",
            Field::StateId => "state_id",
            Field::Fbi => "fbi",
        }
    }

    /// The levels this field can take, other than [`Level::Missing`]
    /// (which always weighs 0: a field absent on either side says nothing).
    pub fn levels(self) -> &'static [Level] {
        use Level::*;
        match self {
            Field::First => &[Exact, Nickname, Typo, Phonetic, Initial, Disagree],
            Field::Middle => &[Exact, Nickname, Typo, Phonetic, Initial, Disagree],
            Field::Last => &[Exact, Alias, Typo, Phonetic, Disagree],
            Field::NameOrder => &[Swapped],
            Field::Dob => &[
                Exact,
                DayMonthSwapped,
                YearDigitsTransposed,
                OneDigit,
                Disagree,
            ],
            Field::Sex => &[Exact, Disagree],
            Field::Ssn | Field::StateId | Field::Fbi => &[Exact, OneDigit, Disagree],
        }
    }
}

/// How well a field agrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Exact,
    /// A surname equal to another surname the other side lists (a maiden
    /// or married name).
    Alias,
    /// First names that stand for each other (`BILL`, `WILLIAM`).
    Nickname,
    /// One typing mistake apart (a letter replaced, dropped, added or two
    /// transposed), in names of four letters or more; for a first name,
    /// also one mistake away from one of the other's nicknames.
    Typo,
    /// Same NYSIIS code.
    Phonetic,
    /// One side only an initial, the same letter.
    Initial,
    /// The first and last names were found in each other's place.
    Swapped,
    /// Day and month in each other's place.
    DayMonthSwapped,
    /// Same day and month, the last two digits of the year transposed.
    YearDigitsTransposed,
    /// One digit (or character) different.
    OneDigit,
    Disagree,
    /// Absent on one side or both.
    Missing,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Exact => "exact",
            Level::Alias => "alias",
            Level::Nickname => "nickname",
            Level::Typo => "typo",
            Level::Phonetic => "phonetic",
            Level::Initial => "initial",
            Level::Swapped => "swapped",
            Level::DayMonthSwapped => "day_month_swapped",
            Level::YearDigitsTransposed => "year_digits_transposed",
            Level::OneDigit => "one_digit",
            Level::Disagree => "disagree",
            Level::Missing => "missing",
        }
    }
}

/// One field's part in a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldScore {
    pub field: Field,
    pub level: Level,
    /// Its weight, `log2(m / u)`, in bits: positive for evidence of the
    /// same person, negative against.
    pub weight: f64,
}

/// What the score says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Match,
    /// Neither clearly the person nor clearly not: an examiner decides.
    PossibleMatch,
    NonMatch,
}

/// A record put forward for a query, with its score and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub record_id: u64,
    pub score: f64,
    pub decision: Decision,
    /// Every field compared, in [`Field::ALL`] order; fields missing on
    /// either side are left out.
    pub fields: Vec<FieldScore>,
}

impl Candidate {
    /// The fields that drove the score, strongest evidence first (either
    /// way).
    pub fn drivers(&self) -> Vec<FieldScore> {
        let mut out = self.fields.clone();
        out.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
        out
    }
}

/// A scored pair before it becomes a [`Candidate`].
pub(crate) struct Scored {
    pub total: f64,
    fields: [(Level, f64); 9],
}

impl Scored {
    pub fn into_candidate(self, record_id: u64, decision: Decision) -> Candidate {
        let fields = Field::ALL
            .iter()
            .zip(self.fields)
            .filter(|(_, (level, _))| *level != Level::Missing)
            .map(|(&field, (level, weight))| FieldScore {
                field,
                level,
                weight,
            })
            .collect();
        Candidate {
            record_id,
            score: self.total,
            decision,
            fields,
        }
    }
}

fn name_level(a: &Name, b: &Name, first: bool) -> Level {
    if a.text == b.text {
        return Level::Exact;
    }
    if a.is_initial() || b.is_initial() {
        return if a.text.as_bytes()[0] == b.text.as_bytes()[0] {
            Level::Initial
        } else {
            Level::Disagree
        };
    }
    if first && a.groups.iter().any(|g| b.groups.contains(g)) {
        return Level::Nickname;
    }
    if a.text.len().max(b.text.len()) >= 4 && one_edit_apart(&a.text, &b.text) {
        return Level::Typo;
    }
    if first
        && (nicknames::mistyped_nickname(&a.text, &b.text)
            || nicknames::mistyped_nickname(&b.text, &a.text))
    {
        return Level::Typo;
    }
    if a.nysiis == b.nysiis {
        return Level::Phonetic;
    }
    Level::Disagree
}

fn dob_level(a: Date, b: Date) -> Level {
    if a == b {
        return Level::Exact;
    }
    if a.year == b.year && a.month == b.day && a.day == b.month {
        return Level::DayMonthSwapped;
    }
    let (ya, yb) = (a.year, b.year);
    if a.month == b.month
        && a.day == b.day
        && ya / 100 == yb / 100
        && ya % 10 == (yb / 10) % 10
        && (ya / 10) % 10 == yb % 10
    {
        return Level::YearDigitsTransposed;
    }
    let (da, db) = (a.digits(), b.digits());
    if da.iter().zip(db).filter(|(x, y)| **x != *y).count() == 1 {
        return Level::OneDigit;
    }
    Level::Disagree
}

fn identifier_level(a: &str, b: &str) -> Level {
    if a == b {
        Level::Exact
    } else if one_edit_apart(a, b) && a.len() == b.len() {
        Level::OneDigit
    } else {
        Level::Disagree
    }
}

fn level_of<T>(a: &Option<T>, b: &Option<T>, f: impl Fn(&T, &T) -> Level) -> Level {
    match (a, b) {
        (Some(a), Some(b)) => f(a, b),
        _ => Level::Missing,
    }
}

/// True when a surname on one side is among the other side's other
/// surnames.
fn alias_match(q_last: &Name, q: &Prepared, r_last: &Name, r: &Prepared) -> bool {
    r.aliases.iter().any(|a| a.text == q_last.text)
        || q.aliases
            .iter()
            .any(|a| a.text == r_last.text || r.aliases.iter().any(|b| b.text == a.text))
}

/// The first-name and surname levels and weights for one reading of the
/// record's names, with the query's names as the reference (frequencies
/// are looked up by the query's values).
fn names(
    (q, r): (&Prepared, &Prepared),
    q_first: Option<&Name>,
    q_last: Option<&Name>,
    r_first: Option<&Name>,
    r_last: Option<&Name>,
    freq: &Frequencies,
    w: &Weights,
) -> [(Level, f64); 2] {
    let first = match (q_first, r_first) {
        (Some(q), Some(r)) => {
            let level = name_level(q, r, true);
            (level, w.weight(Field::First, level, || freq.first(&q.text)))
        }
        _ => (Level::Missing, 0.0),
    };
    let last = match (q_last, r_last) {
        (Some(ql), Some(rl)) => {
            let mut level = name_level(ql, rl, false);
            if matches!(level, Level::Phonetic | Level::Disagree) && alias_match(ql, q, rl, r) {
                level = Level::Alias;
            }
            (level, w.weight(Field::Last, level, || freq.last(&ql.text)))
        }
        _ => (Level::Missing, 0.0),
    };
    [first, last]
}

/// Scores a query against a record.
pub(crate) fn score(q: &Prepared, r: &Prepared, freq: &Frequencies, w: &Weights) -> Scored {
    let straight = names(
        (q, r),
        q.first.as_ref(),
        q.last.as_ref(),
        r.first.as_ref(),
        r.last.as_ref(),
        freq,
        w,
    );
    let mut order = (Level::Missing, 0.0);
    let mut name_pair = straight;
    if q.first.is_some() && q.last.is_some() && r.first.is_some() && r.last.is_some() {
        let swapped = names(
            (q, r),
            q.first.as_ref(),
            q.last.as_ref(),
            r.last.as_ref(),
            r.first.as_ref(),
            freq,
            w,
        );
        let penalty = w.weight(Field::NameOrder, Level::Swapped, || 1.0);
        if swapped[0].1 + swapped[1].1 + penalty > straight[0].1 + straight[1].1 {
            name_pair = swapped;
            order = (Level::Swapped, penalty);
        }
    }
    let middle_level = level_of(&q.middle, &r.middle, |a, b| name_level(a, b, true));
    let middle = (middle_level, w.weight(Field::Middle, middle_level, || 0.0));
    let dob_level = level_of(&q.dob, &r.dob, |a, b| dob_level(*a, *b));
    let sex_level = level_of(&q.sex, &r.sex, |a, b| {
        if a == b {
            Level::Exact
        } else {
            Level::Disagree
        }
    });
    let id = |field: Field, a: &Option<Box<str>>, b: &Option<Box<str>>| {
        let level = level_of(a, b, |a, b| identifier_level(a, b));
        (level, w.weight(field, level, || 0.0))
    };
    let fields = [
        name_pair[0],
        middle,
        name_pair[1],
        order,
        (dob_level, w.weight(Field::Dob, dob_level, || 0.0)),
        (sex_level, w.weight(Field::Sex, sex_level, || 0.0)),
        id(Field::Ssn, &q.ssn, &r.ssn),
        id(Field::StateId, &q.state_id, &r.state_id),
        id(Field::Fbi, &q.fbi, &r.fbi),
    ];
    Scored {
        total: fields.iter().map(|(_, w)| w).sum(),
        fields,
    }
}

/// Whether two first names stand for each other (exposed for callers that
/// explain a decision).
pub fn nickname_match(a: &str, b: &str) -> bool {
    match (super::normalise_name(a), super::normalise_name(b)) {
        (Some(a), Some(b)) => nicknames::are_nicknames(&a, &b),
        _ => false,
    }
}
