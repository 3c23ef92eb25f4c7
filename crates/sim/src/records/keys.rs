//! Blocking keys and the source-side match test.
//!
//! A record is indexed under a handful of 32-bit keys: phonetic surname and
//! full birth date; canonical first name (nicknames folded to the formal
//! name) and birth date; phonetic surname, phonetic first name and birth
//! year; the same with month and day instead of the year; each identifier
//! exactly; and, for a record with no birth date, phonetic surname and
//! first name. Aliases are indexed like surnames. A query probes the same
//! keys for its names both ways round (swapped names), for every formal
//! name its first name may stand for, and for its aliases, so a lookup
//! reads a few small buckets however large the source grows. Candidates
//! then pass the match test a real source applies before it answers: an
//! identifier that agrees, or a name that agrees allowing for typos,
//! nicknames and swaps, with a birth date that agrees allowing for one
//! slip.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::people::{Date, names};

use super::model::Subject;

/// How a hit was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchedOn {
    /// An identifier (SSN, FBI number, state id) agrees.
    Identifier,
    /// Name and date of birth agree.
    NameAndDob,
    /// The name agrees; one side has no date of birth.
    NameOnly,
}

impl MatchedOn {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedOn::Identifier => "identifier",
            MatchedOn::NameAndDob => "name_and_dob",
            MatchedOn::NameOnly => "name_only",
        }
    }

    /// One letter, for the fixed-width protocol.
    pub fn letter(self) -> char {
        match self {
            MatchedOn::Identifier => 'I',
            MatchedOn::NameAndDob => 'D',
            MatchedOn::NameOnly => 'N',
        }
    }
}

/// A name in upper case, letters only.
pub fn norm_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// An identifier in upper case, letters and digits only.
pub fn norm_id(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// American Soundex of a normalised name (`""` for an empty one).
pub fn soundex(name: &str) -> String {
    fn code(c: u8) -> u8 {
        match c {
            b'B' | b'F' | b'P' | b'V' => b'1',
            b'C' | b'G' | b'J' | b'K' | b'Q' | b'S' | b'X' | b'Z' => b'2',
            b'D' | b'T' => b'3',
            b'L' => b'4',
            b'M' | b'N' => b'5',
            b'R' => b'6',
            b'H' | b'W' => b'-',
            _ => b'0',
        }
    }
    let b = name.as_bytes();
    let Some(&first) = b.first() else {
        return String::new();
    };
    let mut out = vec![first];
    let mut last = code(first);
    for &c in &b[1..] {
        let k = code(c);
        match k {
            b'-' => continue,
            b'0' => last = b'0',
            _ if k != last => {
                out.push(k);
                last = k;
                if out.len() == 4 {
                    break;
                }
            }
            _ => {}
        }
    }
    out.resize(4, b'0');
    String::from_utf8(out).unwrap_or_default()
}

struct Nicknames {
    /// Normalised nickname → formal names it may stand for, in list order.
    formals: HashMap<String, Vec<String>>,
    /// Normalised formal name → its nicknames.
    nicks: HashMap<String, Vec<String>>,
}

fn nicknames() -> &'static Nicknames {
    static N: OnceLock<Nicknames> = OnceLock::new();
    N.get_or_init(|| {
        let mut formals: HashMap<String, Vec<String>> = HashMap::new();
        let mut nicks: HashMap<String, Vec<String>> = HashMap::new();
        for (formal, list) in names::NICKNAMES {
            let f = norm_name(formal);
            for n in *list {
                let n = norm_name(n);
                formals.entry(n.clone()).or_default().push(f.clone());
                nicks.entry(f.clone()).or_default().push(n);
            }
        }
        Nicknames { formals, nicks }
    })
}

/// The one name a record's first name is indexed under: a formal name as
/// it is, a nickname as the first formal name it is listed for.
pub fn canonical_first(name: &str) -> String {
    let n = nicknames();
    if n.nicks.contains_key(name) {
        return name.to_owned();
    }
    n.formals
        .get(name)
        .and_then(|f| f.first().cloned())
        .unwrap_or_else(|| name.to_owned())
}

/// Every canonical first name a query's first name may meet in a record.
pub fn canonical_set(name: &str) -> Vec<String> {
    let n = nicknames();
    let mut expanded = vec![name.to_owned()];
    if let Some(f) = n.formals.get(name) {
        expanded.extend(f.iter().cloned());
    }
    if let Some(k) = n.nicks.get(name) {
        expanded.extend(k.iter().cloned());
    }
    let mut out: Vec<String> = expanded.iter().map(|e| canonical_first(e)).collect();
    out.sort();
    out.dedup();
    out
}

fn key(tag: u8, parts: &[&[u8]]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(tag);
    for p in parts {
        for &b in *p {
            eat(b);
        }
        eat(0xFF);
    }
    (h ^ (h >> 32)) as u32
}

fn ymd(d: Date) -> [u8; 4] {
    let y = d.year.to_le_bytes();
    [y[0], y[1], d.month, d.day]
}

fn k_last_dob(sx_last: &str, dob: Date) -> u32 {
    key(1, &[sx_last.as_bytes(), &ymd(dob)])
}
fn k_first_dob(canon_first: &str, dob: Date) -> u32 {
    key(2, &[canon_first.as_bytes(), &ymd(dob)])
}
fn k_names_year(sx_last: &str, sx_first: &str, year: u16) -> u32 {
    key(
        3,
        &[sx_last.as_bytes(), sx_first.as_bytes(), &year.to_le_bytes()],
    )
}
fn k_names_month_day(sx_last: &str, sx_first: &str, dob: Date) -> u32 {
    key(
        4,
        &[
            sx_last.as_bytes(),
            sx_first.as_bytes(),
            &[dob.month, dob.day],
        ],
    )
}
fn k_names(sx_last: &str, sx_first: &str) -> u32 {
    key(5, &[sx_last.as_bytes(), sx_first.as_bytes()])
}
fn k_ssn(v: &str) -> u32 {
    key(6, &[v.as_bytes()])
}
fn k_fbi(v: &str) -> u32 {
    key(7, &[v.as_bytes()])
}
fn k_state_id(v: &str) -> u32 {
    key(8, &[v.as_bytes()])
}

fn ids(s: &Subject, out: &mut Vec<u32>) {
    let ids = [
        (&s.ssn, k_ssn as fn(&str) -> u32),
        (&s.fbi, k_fbi),
        (&s.state_id, k_state_id),
    ];
    for (v, k) in ids {
        if let Some(v) = v.as_deref().map(norm_id).filter(|v| !v.is_empty()) {
            out.push(k(&v));
        }
    }
}

fn surnames(s: &Subject) -> Vec<String> {
    let mut v: Vec<String> = s
        .last
        .iter()
        .chain(s.aliases.iter())
        .map(|n| norm_name(n))
        .filter(|n| !n.is_empty())
        .collect();
    v.dedup();
    v
}

/// The keys a record is indexed under (deduplicated).
pub fn record_keys(s: &Subject, out: &mut Vec<u32>) {
    out.clear();
    let first = s.first.as_deref().map(norm_name).unwrap_or_default();
    let fc = canonical_first(&first);
    let sx_first = soundex(&fc);
    for last in surnames(s) {
        let sx_last = soundex(&last);
        match s.dob {
            Some(dob) => {
                out.push(k_last_dob(&sx_last, dob));
                out.push(k_names_year(&sx_last, &sx_first, dob.year));
                out.push(k_names_month_day(&sx_last, &sx_first, dob));
            }
            None => out.push(k_names(&sx_last, &sx_first)),
        }
    }
    if let (Some(dob), false) = (s.dob, fc.is_empty()) {
        out.push(k_first_dob(&fc, dob));
    }
    ids(s, out);
    out.sort_unstable();
    out.dedup();
}

/// The keys a query probes (deduplicated).
pub fn query_keys(q: &Subject) -> Vec<u32> {
    let mut out = Vec::new();
    let first = q.first.as_deref().map(norm_name).unwrap_or_default();
    let last = q.last.as_deref().map(norm_name).unwrap_or_default();
    let mut orientations = vec![(first.clone(), surnames(q))];
    if !first.is_empty() && !last.is_empty() {
        orientations.push((last.clone(), vec![first.clone()]));
    }
    for (given, lasts) in orientations {
        let canon = canonical_set(&given);
        if let Some(dob) = q.dob {
            for fc in canon.iter().filter(|c| !c.is_empty()) {
                out.push(k_first_dob(fc, dob));
            }
        }
        for l in &lasts {
            let sx_last = soundex(l);
            if let Some(dob) = q.dob {
                out.push(k_last_dob(&sx_last, dob));
            }
            for fc in &canon {
                let sx_first = soundex(fc);
                if let Some(dob) = q.dob {
                    out.push(k_names_year(&sx_last, &sx_first, dob.year));
                    out.push(k_names_month_day(&sx_last, &sx_first, dob));
                }
                out.push(k_names(&sx_last, &sx_first));
            }
        }
    }
    ids(q, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

/// Optimal-string-alignment distance, capped at `cap + 1`.
fn edit_distance(a: &str, b: &str, cap: usize) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()].min(cap + 1)
}

fn surname_agrees(q: &str, r: &str) -> bool {
    !q.is_empty()
        && !r.is_empty()
        && (q == r
            || soundex(q) == soundex(r)
            || (q.len().max(r.len()) >= 4 && edit_distance(q, r, 1) <= 1))
}

fn first_agrees(q: &str, r: &str) -> bool {
    if q.is_empty() || r.is_empty() {
        return false;
    }
    q == r
        || canonical_set(q).contains(&canonical_first(r))
        || soundex(q) == soundex(r)
        || (q.len().max(r.len()) >= 4 && edit_distance(q, r, 1) <= 1)
}

fn names_agree(q: &Subject, r: &Subject) -> bool {
    let qf = q.first.as_deref().map(norm_name).unwrap_or_default();
    let ql = q.last.as_deref().map(norm_name).unwrap_or_default();
    let rf = r.first.as_deref().map(norm_name).unwrap_or_default();
    let q_lasts = surnames(q);
    let r_lasts = surnames(r);
    let straight = first_agrees(&qf, &rf)
        && q_lasts
            .iter()
            .any(|a| r_lasts.iter().any(|b| surname_agrees(a, b)));
    let rl = r.last.as_deref().map(norm_name).unwrap_or_default();
    let swapped = surname_agrees(&ql, &rf) && first_agrees(&qf, &rl);
    straight || swapped
}

/// Whether two birth dates agree, allowing for one slip: a mistyped digit,
/// day and month swapped, the year's last two digits transposed.
pub fn dates_agree(a: Date, b: Date) -> bool {
    if a == b {
        return true;
    }
    if a.year == b.year && a.month == b.day && a.day == b.month {
        return true;
    }
    let (ya, yb) = (a.year % 100, b.year % 100);
    if a.month == b.month
        && a.day == b.day
        && a.year / 100 == b.year / 100
        && ya % 10 == yb / 10
        && ya / 10 == yb % 10
    {
        return true;
    }
    let da = format!("{:04}{:02}{:02}", a.year, a.month, a.day);
    let db = format!("{:04}{:02}{:02}", b.year, b.month, b.day);
    da.bytes().zip(db.bytes()).filter(|(x, y)| x != y).count() <= 1
}

fn id_agrees(q: &Option<String>, r: &Option<String>) -> bool {
    match (q, r) {
        (Some(q), Some(r)) => {
            let q = norm_id(q);
            !q.is_empty() && q == norm_id(r)
        }
        _ => false,
    }
}

/// Whether a source would answer record `r` to query `q`, and how.
pub fn assess(q: &Subject, r: &Subject) -> Option<MatchedOn> {
    if id_agrees(&q.ssn, &r.ssn) || id_agrees(&q.fbi, &r.fbi) || id_agrees(&q.state_id, &r.state_id)
    {
        return Some(MatchedOn::Identifier);
    }
    if let (Some(a), Some(b)) = (q.sex, r.sex)
        && a != b
    {
        return None;
    }
    if !names_agree(q, r) {
        return None;
    }
    match (q.dob, r.dob) {
        (Some(a), Some(b)) => dates_agree(a, b).then_some(MatchedOn::NameAndDob),
        _ => Some(MatchedOn::NameOnly),
    }
}

/// Whether a query says enough to search on: a surname and a birth date,
/// or an identifier.
pub fn searchable(q: &Subject) -> bool {
    let has = |v: &Option<String>| v.as_deref().is_some_and(|v| !norm_id(v).is_empty());
    let named = q.last.as_deref().is_some_and(|l| !norm_name(l).is_empty())
        && q.first.as_deref().is_some_and(|f| !norm_name(f).is_empty());
    (named && q.dob.is_some()) || has(&q.ssn) || has(&q.fbi) || has(&q.state_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: u16, m: u8, dd: u8) -> Date {
        Date::new(y, m, dd).unwrap()
    }

    #[test]
    fn soundex_of_known_names() {
        assert_eq!(soundex("ROBERT"), "R163");
        assert_eq!(soundex("RUPERT"), "R163");
        assert_eq!(soundex("ASHCRAFT"), "A261");
        assert_eq!(soundex("TYMCZAK"), "T522");
        assert_eq!(soundex("PFISTER"), "P236");
        assert_eq!(soundex("LEE"), "L000");
        assert_eq!(soundex(""), "");
    }

    #[test]
    fn nicknames_fold_both_ways() {
        assert_eq!(canonical_first("BILL"), "WILLIAM");
        assert!(canonical_set("BILL").contains(&"WILLIAM".to_owned()));
        assert!(canonical_set("ALBERT").contains(&canonical_first("AL")));
        assert!(canonical_set("AL").contains(&canonical_first("ALBERT")));
    }

    #[test]
    fn dates_agree_with_one_slip_only() {
        let a = d(1971, 3, 14);
        assert!(dates_agree(a, a));
        assert!(dates_agree(d(1971, 3, 4), d(1971, 4, 3)));
        assert!(dates_agree(a, d(1917, 3, 14)));
        assert!(dates_agree(a, d(1971, 3, 16)));
        assert!(!dates_agree(a, d(1972, 3, 15)));
        assert!(!dates_agree(a, d(1985, 7, 2)));
    }

    fn subject(first: &str, last: &str, dob: Date) -> Subject {
        Subject {
            first: Some(first.into()),
            last: Some(last.into()),
            dob: Some(dob),
            ..Subject::default()
        }
    }

    #[test]
    fn a_noisy_query_meets_the_record_on_a_key_and_passes() {
        let dob = d(1968, 11, 2);
        let record = subject("WILLIAM", "HARRINGTON", dob);
        let mut keys = Vec::new();
        record_keys(&record, &mut keys);
        for q in [
            subject("Bill", "Harrington", dob),
            subject("William", "Harringtn", dob),
            subject("Bill", "Harrigton", dob),
            subject("Harrington", "William", dob),
            subject("William", "Harrington", d(1968, 2, 11)),
            subject("William", "Harrington", d(1986, 11, 2)),
        ] {
            let qk = query_keys(&q);
            assert!(qk.iter().any(|k| keys.contains(k)), "{q:?} shares a key");
            assert!(assess(&q, &record).is_some(), "{q:?} matches");
        }
        for q in [
            subject("Margaret", "Harrington", dob),
            subject("William", "Harrington", d(1975, 6, 30)),
            subject("William", "Okafor", dob),
        ] {
            assert_eq!(assess(&q, &record), None, "{q:?}");
        }
        let mut q = subject("Nobody", "Else", d(1990, 1, 1));
        q.ssn = Some("900-11-2222".into());
        let mut r = record.clone();
        r.ssn = Some("900112222".into());
        assert_eq!(assess(&q, &r), Some(MatchedOn::Identifier));
    }
}
