//! Driver records as typed values. Every constructor parses and refuses what
//! is not a valid value, so a `Driver` in memory is always well formed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A calendar date (proleptic Gregorian), counted in days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

/// Years a [`Date`] may carry: enough for birth dates and expiries.
const YEARS: std::ops::RangeInclusive<i32> = 1850..=2300;

use plaza_kernel::clock::{days_from_civil, days_in_month};

impl Date {
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
        if !shape {
            return Err(Error::invalid("date", "use the form YYYY-MM-DD"));
        }
        let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
        Date::from_ymd(num(0..4) as i32, num(5..7), num(8..10))
            .ok_or_else(|| Error::invalid("date", "no such date"))
    }

    /// The UTC day of an instant in milliseconds since the epoch.
    pub fn from_ms(ms: i64) -> Date {
        Date(ms.div_euclid(86_400_000) as i32)
    }

    /// From a stored day number; refuses numbers outside the supported years.
    pub fn from_days(days: i64) -> Option<Date> {
        let lo = days_from_civil(i64::from(*YEARS.start()), 1, 1);
        let hi = days_from_civil(i64::from(*YEARS.end()), 12, 31);
        (lo..=hi).contains(&days).then_some(Date(days as i32))
    }

    pub fn days(self) -> i64 {
        i64::from(self.0)
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        let (y, m, d) = plaza_kernel::clock::civil_from_days(i64::from(self.0));
        (y as i32, m, d)
    }

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

/// A licence number as the state issues it: 4 to 16 letters and digits,
/// with at least one digit. Spaces and hyphens are ignored; letters are
/// upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LicenceNumber(String);

impl LicenceNumber {
    pub fn parse(raw: &str) -> Result<LicenceNumber, Error> {
        if raw.len() > 64 {
            return Err(Error::invalid("licence_number", "too long"));
        }
        let v: String = raw
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if !(4..=16).contains(&v.len())
            || !v.chars().all(|c| c.is_ascii_alphanumeric())
            || !v.chars().any(|c| c.is_ascii_digit())
        {
            return Err(Error::invalid(
                "licence_number",
                "4 to 16 letters and digits, with at least one digit",
            ));
        }
        Ok(LicenceNumber(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LicenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The class of vehicles a licence covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LicenceClass {
    A,
    B,
    C,
    D,
    M,
    CdlA,
    CdlB,
    CdlC,
}

impl LicenceClass {
    pub const ALL: [LicenceClass; 8] = [
        LicenceClass::A,
        LicenceClass::B,
        LicenceClass::C,
        LicenceClass::D,
        LicenceClass::M,
        LicenceClass::CdlA,
        LicenceClass::CdlB,
        LicenceClass::CdlC,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LicenceClass::A => "A",
            LicenceClass::B => "B",
            LicenceClass::C => "C",
            LicenceClass::D => "D",
            LicenceClass::M => "M",
            LicenceClass::CdlA => "CDL-A",
            LicenceClass::CdlB => "CDL-B",
            LicenceClass::CdlC => "CDL-C",
        }
    }

    pub fn parse(s: &str) -> Result<LicenceClass, Error> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        LicenceClass::ALL
            .into_iter()
            .find(|c| c.as_str().replace('-', "") == norm)
            .ok_or_else(|| {
                Error::invalid(
                    "class",
                    "one of A, B, C, D, M, CDL-A, CDL-B, CDL-C".to_owned(),
                )
            })
    }

    /// Commercial driver's licence classes.
    pub fn is_commercial(self) -> bool {
        matches!(
            self,
            LicenceClass::CdlA | LicenceClass::CdlB | LicenceClass::CdlC
        )
    }
}

impl TryFrom<String> for LicenceClass {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        LicenceClass::parse(&s).map_err(|_| format!("unknown licence class {s:?}"))
    }
}

impl From<LicenceClass> for String {
    fn from(c: LicenceClass) -> String {
        c.as_str().to_owned()
    }
}

/// Where a licence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Status {
    Valid,
    Expired,
    Suspended,
    Revoked,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Valid,
        Status::Expired,
        Status::Suspended,
        Status::Revoked,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Expired => "expired",
            Status::Suspended => "suspended",
            Status::Revoked => "revoked",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Result<Status, Error> {
        Status::ALL
            .into_iter()
            .find(|v| v.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    "one of valid, expired, suspended, revoked, cancelled",
                )
            })
    }
}

impl TryFrom<String> for Status {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Status::parse(&s).map_err(|_| format!("unknown status {s:?}"))
    }
}

impl From<Status> for String {
    fn from(s: Status) -> String {
        s.as_str().to_owned()
    }
}

/// Endorsement or restriction codes printed on the card (e.g. `H`, `B`,
/// `1`): each 1 to 3 upper-case letters or digits, at most 12, no repeats.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Codes(Vec<String>);

impl Codes {
    pub fn parse(field: &'static str, raw: &str) -> Result<Codes, Error> {
        let mut out: Vec<String> = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let code = part.to_ascii_uppercase();
            if code.len() > 3 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(Error::invalid(field, "codes are 1 to 3 letters or digits"));
            }
            if out.contains(&code) {
                return Err(Error::invalid(field, format!("{code} appears twice")));
            }
            out.push(code);
        }
        if out.len() > 12 {
            return Err(Error::invalid(field, "at most 12 codes"));
        }
        Ok(Codes(out))
    }

    pub fn from_list(field: &'static str, codes: &[String]) -> Result<Codes, Error> {
        if codes.iter().any(|c| c.contains(',')) {
            return Err(Error::invalid(field, "codes are 1 to 3 letters or digits"));
        }
        Codes::parse(field, &codes.join(","))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Comma-separated, as stored.
    pub fn joined(&self) -> String {
        self.0.join(",")
    }
}

fn clean_line(field: &'static str, raw: &str, max: usize, required: bool) -> Result<String, Error> {
    let v = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if v.chars().any(char::is_control) || v.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("at most {max} printable characters"),
        ));
    }
    if required && v.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    Ok(v)
}

/// A postal address as printed on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressLines {
    pub line1: String,
    /// Apartment, suite…; empty when there is none.
    pub line2: String,
    pub city: String,
    /// Two-letter state code.
    pub state: String,
    /// Five digits, or ZIP+4 as `12345-6789`.
    pub zip: String,
}

impl AddressLines {
    pub fn parse(
        line1: &str,
        line2: &str,
        city: &str,
        state: &str,
        zip: &str,
    ) -> Result<AddressLines, Error> {
        let state = state.trim().to_ascii_uppercase();
        if state.len() != 2 || !state.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(Error::invalid("address.state", "a two-letter state code"));
        }
        let zip = zip.trim().to_owned();
        let zb = zip.as_bytes();
        let zip_ok = (zb.len() == 5 && zb.iter().all(u8::is_ascii_digit))
            || (zb.len() == 10
                && zb[5] == b'-'
                && zb
                    .iter()
                    .enumerate()
                    .all(|(i, c)| i == 5 || c.is_ascii_digit()));
        if !zip_ok {
            return Err(Error::invalid("address.zip", "12345 or 12345-6789"));
        }
        Ok(AddressLines {
            line1: clean_line("address.line1", line1, 100, true)?,
            line2: clean_line("address.line2", line2, 100, false)?,
            city: clean_line("address.city", city, 60, true)?,
            state,
            zip,
        })
    }

    /// One line per field, as sealed.
    pub(crate) fn to_text(&self) -> String {
        [
            self.line1.as_str(),
            &self.line2,
            &self.city,
            &self.state,
            &self.zip,
        ]
        .join("\n")
    }

    pub(crate) fn from_text(text: &str) -> Result<AddressLines, Error> {
        let parts: Vec<&str> = text.split('\n').collect();
        match parts.as_slice() {
            [l1, l2, city, state, zip] => AddressLines::parse(l1, l2, city, state, zip),
            _ => Err(Error::invalid(
                "address",
                "stored address has the wrong shape",
            )),
        }
    }
}

/// A person's name as printed on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName {
    pub family: String,
    pub given: String,
}

impl PersonName {
    pub fn parse(family: &str, given: &str) -> Result<PersonName, Error> {
        Ok(PersonName {
            family: clean_line("family_name", family, 80, true)?,
            given: clean_line("given_names", given, 80, true)?,
        })
    }

    pub(crate) fn to_text(&self) -> String {
        format!("{}\n{}", self.family, self.given)
    }

    pub(crate) fn from_text(text: &str) -> Result<PersonName, Error> {
        let (family, given) = text
            .split_once('\n')
            .ok_or_else(|| Error::invalid("name", "stored name has the wrong shape"))?;
        PersonName::parse(family, given)
    }
}

/// The personal part of a record: sealed at rest, clear only in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: PersonName,
    pub birth_date: Date,
    pub address: AddressLines,
    pub description: Description,
}

/// Sex as printed on a licence (AAMVA `DBC`: 1, 2 or 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
    NotSpecified,
}

/// The physical description printed on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub sex: Sex,
    /// An AAMVA eye-colour code (`BRO`, `BLU`, …).
    pub eye_colour: String,
    pub height_in: u16,
}

/// The eye colours a licence may show (AAMVA `DAY`).
pub const EYE_COLOURS: &[&str] = &[
    "BLK", "BLU", "BRO", "GRY", "GRN", "HAZ", "MAR", "PNK", "DIC", "UNK",
];

impl Description {
    pub fn parse(sex: Sex, eye_colour: &str, height_in: u16) -> Result<Description, Error> {
        let eye = eye_colour.trim().to_ascii_uppercase();
        if !EYE_COLOURS.contains(&eye.as_str()) {
            return Err(Error::invalid(
                "eye_colour",
                "an AAMVA eye colour code, e.g. BRO",
            ));
        }
        if !(12..=119).contains(&height_in) {
            return Err(Error::invalid("height_in", "12 to 119 inches"));
        }
        Ok(Description {
            sex,
            eye_colour: eye,
            height_in,
        })
    }

    pub(crate) fn to_text(&self) -> String {
        let sex = match self.sex {
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::NotSpecified => 9,
        };
        format!("{sex}|{}|{}", self.eye_colour, self.height_in)
    }

    pub(crate) fn from_text(text: &str) -> Result<Description, Error> {
        let bad = || Error::invalid("description", "stored description has the wrong shape");
        let mut parts = text.split('|');
        let sex = match parts.next().ok_or_else(bad)? {
            "1" => Sex::Male,
            "2" => Sex::Female,
            "9" => Sex::NotSpecified,
            _ => return Err(bad()),
        };
        let eye = parts.next().ok_or_else(bad)?;
        let height = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        Description::parse(sex, eye, height)
    }
}

/// A driver record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Driver {
    pub id: String,
    pub licence_number: LicenceNumber,
    /// The issuing state (`PA`): whose staff may read the record.
    pub jurisdiction: String,
    pub class: LicenceClass,
    pub endorsements: Codes,
    pub restrictions: Codes,
    pub issued_on: Date,
    pub expires_on: Date,
    pub status: Status,
    /// The card is REAL ID compliant.
    pub real_id: bool,
    /// REAL ID identity documents have ever been checked in person.
    pub real_id_documents_seen: bool,
    /// The last renewal was done online.
    pub last_renewal_online: bool,
    /// Last vision test taken in person.
    pub vision_test_on: Option<Date>,
    /// Expiry of the medical examiner's certificate (commercial classes).
    pub medical_certificate_expires_on: Option<Date>,
    /// The citizen's account ([`plaza_kernel::auth::Caller::actor`] form)
    /// once they have claimed the record.
    pub subject: Option<String>,
    pub person: Person,
    pub updated_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_parse_print_and_count() {
        let d = Date::parse("2000-02-29").unwrap();
        assert_eq!(d.to_string(), "2000-02-29");
        assert_eq!(Date::parse("1970-01-01").unwrap().days(), 0);
        assert!(Date::parse("2001-02-29").is_err());
        assert!(Date::parse("2001-13-01").is_err());
        assert!(Date::parse("01-01-2001").is_err());
        assert_eq!(d.add_years(1).to_string(), "2001-02-28");
        assert_eq!(d.years_until(Date::parse("2001-02-28").unwrap()), 0);
        assert_eq!(d.years_until(Date::parse("2001-03-01").unwrap()), 1);
        assert_eq!(d.years_until(Date::parse("2080-02-29").unwrap()), 80);
        assert_eq!(Date::from_ms(86_400_000 * 2 - 1).to_string(), "1970-01-02");
    }

    #[test]
    fn domain_values_refuse_bad_input() {
        assert_eq!(
            LicenceNumber::parse(" 12-345 678 ").unwrap().as_str(),
            "12345678"
        );
        assert!(LicenceNumber::parse("ABCDEFGH").is_err());
        assert!(LicenceNumber::parse("12$45678").is_err());
        assert_eq!(LicenceClass::parse("cdl a").unwrap(), LicenceClass::CdlA);
        assert!(LicenceClass::parse("Z").is_err());
        assert_eq!(Status::parse("Suspended").unwrap(), Status::Suspended);
        assert!(Codes::parse("endorsements", "H,H").is_err());
        assert!(AddressLines::parse("1 Main St", "", "York", "PA", "1740").is_err());
        assert!(AddressLines::parse("1 Main\u{7} St", "", "York", "PA", "17401").is_err());
    }

    proptest! {
        #[test]
        fn date_text_round_trips(days in -40_000i64..120_000) {
            let d = Date::from_days(days).unwrap();
            prop_assert_eq!(Date::parse(&d.to_string()).unwrap(), d);
            prop_assert_eq!(d.add_days(1).days(), days + 1);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = Date::parse(&s);
            let _ = LicenceNumber::parse(&s);
            let _ = LicenceClass::parse(&s);
            let _ = Status::parse(&s);
            let _ = Codes::parse("x", &s);
            let _ = AddressLines::parse(&s, &s, &s, &s, &s);
        }

        #[test]
        fn licence_numbers_normalise_idempotently(s in "[0-9A-Za-z -]{0,20}") {
            if let Ok(n) = LicenceNumber::parse(&s) {
                prop_assert_eq!(LicenceNumber::parse(n.as_str()).unwrap(), n);
            }
        }

        #[test]
        fn sealed_text_forms_round_trip(l1 in "[A-Z0-9 ]{1,30}", city in "[A-Za-z ]{1,20}", zip in "[0-9]{5}") {
            if let Ok(a) = AddressLines::parse(&l1, "", &city, "pa", &zip) {
                prop_assert_eq!(AddressLines::from_text(&a.to_text()).unwrap(), a);
            }
        }
    }
}
