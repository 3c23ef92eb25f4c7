//! AAMVA DL/ID card data: the text a licence's PDF417 barcode carries.
//!
//! [`CardData`] is the typed card (every field checked when it is built);
//! [`CardData::encode`] writes it in the 2020 layout (AAMVA version `10`),
//! and [`parse`] reads payloads of AAMVA versions 1 to 10 from any
//! jurisdiction. The layout differences the parser knows about:
//!
//! - the header is `@` LF RS CR, a five-byte file type (`ANSI ` since 2000;
//!   some early cards say `AAMVA`), the 6-digit issuer id (IIN), the 2-digit
//!   AAMVA version, then — from version 2 on — a 2-digit jurisdiction
//!   version, then the 2-digit number of subfiles. Version 1 has no
//!   jurisdiction version, so its header is 19 bytes rather than 21;
//! - each subfile designator is 10 bytes: type (`DL`, `ID`, `Z?`), 4-digit
//!   offset from the start of the file, 4-digit length;
//! - dates are `CCYYMMDD` in version 1 and on Canadian cards, `MMDDCCYY`
//!   on US cards from version 2 on;
//! - names are one `DAA` element (`FAMILY,FIRST,MIDDLE`) in version 1,
//!   `DCS` + `DCT` (given names) in versions 2 and 3, and `DCS`/`DAC`/`DAD`
//!   from version 4 on.
//!
//! Malformed payloads are refused with a machine-readable reason
//! ([`AamvaError::code`]); nothing here panics on input.

use serde::{Deserialize, Serialize};

/// The AAMVA version Plaza writes (DL/ID Card Design Standard 2020).
pub const VERSION: u8 = 10;
/// Names longer than this are truncated on the card and flagged `T`.
pub const NAME_MAX: usize = 40;

const LF: u8 = b'\n';
const RS: u8 = 0x1e;
const CR: u8 = b'\r';

/// Why a payload or a card field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct AamvaError {
    /// Stable, machine-readable: `aamva.bad_header`, `aamva.bad_designator`,
    /// `aamva.subfile_out_of_range`, `aamva.bad_subfile`,
    /// `aamva.missing_element`, `aamva.bad_element`,
    /// `aamva.unsupported_version`, `aamva.invalid_field`.
    pub code: &'static str,
    pub detail: String,
}

fn err(code: &'static str, detail: impl Into<String>) -> AamvaError {
    AamvaError {
        code,
        detail: detail.into(),
    }
}

fn invalid(field: &str, why: &str) -> AamvaError {
    err("aamva.invalid_field", format!("{field}: {why}"))
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "(u16, u8, u8)", into = "(u16, u8, u8)")]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl TryFrom<(u16, u8, u8)> for Date {
    type Error = AamvaError;
    fn try_from((y, m, d): (u16, u8, u8)) -> Result<Self, AamvaError> {
        Date::new(y, m, d)
    }
}

impl From<Date> for (u16, u8, u8) {
    fn from(d: Date) -> Self {
        (d.year, d.month, d.day)
    }
}

impl Date {
    /// A real date between the years 1900 and 2199.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, AamvaError> {
        if !(1900..=2199).contains(&year) {
            return Err(invalid("date", "year out of range"));
        }
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(invalid("date", "no such day"));
        }
        Ok(Date { year, month, day })
    }
    pub fn year(&self) -> u16 {
        self.year
    }
    pub fn month(&self) -> u8 {
        self.month
    }
    pub fn day(&self) -> u8 {
        self.day
    }
    /// `MMDDCCYY`, the US form.
    pub fn us(&self) -> String {
        format!("{:02}{:02}{:04}", self.month, self.day, self.year)
    }
    /// `CCYYMMDD`, the ISO form (version 1, Canada).
    pub fn iso(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
    /// `MM/DD/CCYY`, for printed documents.
    pub fn display_us(&self) -> String {
        format!("{:02}/{:02}/{:04}", self.month, self.day, self.year)
    }
    fn parse_digits(s: &str, us: bool) -> Option<Date> {
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u16>().ok();
        let (y, m, d) = if us {
            (n(4..8)?, n(0..2)?, n(2..4)?)
        } else {
            (n(0..4)?, n(4..6)?, n(6..8)?)
        };
        Date::new(y, u8::try_from(m).ok()?, u8::try_from(d).ok()?).ok()
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// `DBC`: 1 male, 2 female, 9 not specified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    Male,
    Female,
    NotSpecified,
}

impl Sex {
    fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::NotSpecified => "9",
        }
    }
    fn from_code(s: &str) -> Option<Sex> {
        match s {
            "1" | "M" => Some(Sex::Male),
            "2" | "F" => Some(Sex::Female),
            "9" => Some(Sex::NotSpecified),
            _ => None,
        }
    }
}

/// `DDA`: REAL ID compliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compliance {
    /// `F`: fully compliant (REAL ID).
    Full,
    /// `N`: not compliant.
    NonCompliant,
}

/// The eye colours `DAY` allows.
pub const EYE_COLOURS: &[&str] = &[
    "BLK", "BLU", "BRO", "GRY", "GRN", "HAZ", "MAR", "PNK", "DIC", "UNK",
];

/// A card's fields, as the caller supplies them. [`CardData::new`] checks
/// and normalises them (upper case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFields {
    /// The issuing jurisdiction's 6-digit IIN.
    pub iin: String,
    /// The jurisdiction's own revision of its layout, 0–99.
    pub jurisdiction_version: u8,
    /// `DCA`, up to 6.
    pub class: String,
    /// `DCB`, up to 12 (`NONE` when there are none).
    pub restrictions: String,
    /// `DCD`, up to 5 (`NONE` when there are none).
    pub endorsements: String,
    pub expiry: Date,
    pub issue_date: Date,
    pub birth_date: Date,
    pub family_name: String,
    pub first_name: String,
    /// Middle names, comma-separated; empty for none.
    pub middle_names: String,
    pub sex: Sex,
    /// `DAY`, one of [`EYE_COLOURS`].
    pub eye_colour: String,
    /// Height in inches, 12–119.
    pub height_in: u16,
    pub street_1: String,
    pub street_2: Option<String>,
    pub city: String,
    /// Two-letter state code.
    pub state: String,
    /// 5 or 9 digits; a 5-digit ZIP is stored with the extension `0000`,
    /// as AAMVA writes an unknown ZIP+4 extension.
    pub postal_code: String,
    /// `DAQ`, the licence number, up to 25.
    pub customer_id: String,
    /// `DCF`, the document discriminator, up to 25.
    pub document_discriminator: String,
    pub compliance: Compliance,
    /// `DDB`, the date of the card design revision.
    pub card_revision_date: Date,
    pub organ_donor: bool,
    pub veteran: bool,
    /// `DCK`, the card's inventory control number, up to 25.
    pub inventory_control: String,
}

/// A checked card. Build it with [`CardData::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CardFields", into = "CardFields")]
pub struct CardData(CardFields);

impl TryFrom<CardFields> for CardData {
    type Error = AamvaError;
    fn try_from(f: CardFields) -> Result<Self, AamvaError> {
        CardData::new(f)
    }
}

impl From<CardData> for CardFields {
    fn from(c: CardData) -> Self {
        c.0
    }
}

fn ans_ok(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b" -'.,#/&".contains(&b)
}

fn name_ok(b: u8) -> bool {
    b.is_ascii_uppercase() || b" -'.,".contains(&b)
}

fn check(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
    allowed: fn(u8) -> bool,
) -> Result<String, AamvaError> {
    let v = value.trim().to_ascii_uppercase();
    if v.len() < min {
        return Err(invalid(field, "too short"));
    }
    if v.len() > max {
        return Err(invalid(field, "too long"));
    }
    if !v.bytes().all(allowed) {
        return Err(invalid(field, "characters not allowed"));
    }
    Ok(v)
}

impl CardData {
    /// Checks every field: lengths, allowed characters, dates that make
    /// sense together (born before issue, issued before expiry).
    pub fn new(f: CardFields) -> Result<CardData, AamvaError> {
        let digits = |b: u8| b.is_ascii_digit();
        let letters = |b: u8| b.is_ascii_uppercase();
        let alnum = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
        let iin = check("iin", &f.iin, 6, 6, digits)?;
        if f.jurisdiction_version > 99 {
            return Err(invalid("jurisdiction_version", "0-99"));
        }
        let class = check("class", &f.class, 1, 6, alnum)?;
        let restrictions = check("restrictions", &f.restrictions, 1, 12, ans_ok)?;
        let endorsements = check("endorsements", &f.endorsements, 1, 5, ans_ok)?;
        let family_name = check("family_name", &f.family_name, 1, 125, name_ok)?;
        let first_name = check("first_name", &f.first_name, 1, 125, name_ok)?;
        let mut middle_names = check("middle_names", &f.middle_names, 0, 125, name_ok)?;
        if middle_names == "NONE" {
            middle_names.clear();
        }
        let eye_colour = check("eye_colour", &f.eye_colour, 3, 3, letters)?;
        if !EYE_COLOURS.contains(&eye_colour.as_str()) {
            return Err(invalid("eye_colour", "not an AAMVA eye colour"));
        }
        if !(12..=119).contains(&f.height_in) {
            return Err(invalid("height_in", "12-119 inches"));
        }
        let street_1 = check("street_1", &f.street_1, 1, 35, ans_ok)?;
        let street_2 = match &f.street_2 {
            Some(s) if !s.trim().is_empty() => Some(check("street_2", s, 1, 35, ans_ok)?),
            _ => None,
        };
        let city = check("city", &f.city, 1, 20, ans_ok)?;
        let state = check("state", &f.state, 2, 2, letters)?;
        let postal_code = check("postal_code", &f.postal_code, 5, 9, digits)?;
        let postal_code = match postal_code.len() {
            9 => postal_code,
            // AAMVA: an unknown ZIP+4 extension is written as zeros.
            5 => format!("{postal_code}0000"),
            _ => return Err(invalid("postal_code", "5 or 9 digits")),
        };
        let customer_id = check("customer_id", &f.customer_id, 1, 25, alnum)?;
        let document_discriminator = check(
            "document_discriminator",
            &f.document_discriminator,
            1,
            25,
            alnum,
        )?;
        let inventory_control = check("inventory_control", &f.inventory_control, 1, 25, alnum)?;
        if f.birth_date >= f.issue_date {
            return Err(invalid("birth_date", "must be before the issue date"));
        }
        if f.issue_date >= f.expiry {
            return Err(invalid("expiry", "must be after the issue date"));
        }
        Ok(CardData(CardFields {
            iin,
            class,
            restrictions,
            endorsements,
            family_name,
            first_name,
            middle_names,
            eye_colour,
            street_1,
            street_2,
            city,
            state,
            postal_code,
            customer_id,
            document_discriminator,
            inventory_control,
            ..f
        }))
    }

    pub fn fields(&self) -> &CardFields {
        &self.0
    }

    /// The DL subfile's elements in card order, names truncated to
    /// [`NAME_MAX`] with their truncation flags.
    pub fn elements(&self) -> Vec<(&'static str, String)> {
        let f = &self.0;
        let (family, t_family) = truncate(&f.family_name);
        let (first, t_first) = truncate(&f.first_name);
        let middle = if f.middle_names.is_empty() {
            ("NONE".to_owned(), "N")
        } else {
            truncate(&f.middle_names)
        };
        let mut postal = f.postal_code.clone();
        while postal.len() < 11 {
            postal.push(' ');
        }
        let mut e = vec![
            ("DCA", f.class.clone()),
            ("DCB", f.restrictions.clone()),
            ("DCD", f.endorsements.clone()),
            ("DBA", f.expiry.us()),
            ("DCS", family),
            ("DAC", first),
            ("DAD", middle.0),
            ("DBD", f.issue_date.us()),
            ("DBB", f.birth_date.us()),
            ("DBC", f.sex.code().to_owned()),
            ("DAY", f.eye_colour.clone()),
            ("DAU", format!("{:03} in", f.height_in)),
            ("DAG", f.street_1.clone()),
        ];
        if let Some(s) = &f.street_2 {
            e.push(("DAH", s.clone()));
        }
        e.extend([
            ("DAI", f.city.clone()),
            ("DAJ", f.state.clone()),
            ("DAK", postal),
            ("DAQ", f.customer_id.clone()),
            ("DCF", f.document_discriminator.clone()),
            ("DCG", "USA".to_owned()),
            ("DDE", t_family.to_owned()),
            ("DDF", t_first.to_owned()),
            ("DDG", middle.1.to_owned()),
            ("DCK", f.inventory_control.clone()),
            (
                "DDA",
                match f.compliance {
                    Compliance::Full => "F",
                    Compliance::NonCompliant => "N",
                }
                .to_owned(),
            ),
            ("DDB", f.card_revision_date.us()),
        ]);
        if f.organ_donor {
            e.push(("DDK", "1".to_owned()));
        }
        if f.veteran {
            e.push(("DDL", "1".to_owned()));
        }
        e
    }

    /// The payload, AAMVA version 10, one `DL` subfile.
    pub fn encode(&self) -> Vec<u8> {
        let mut sub = b"DL".to_vec();
        let elements = self.elements();
        for (i, (id, value)) in elements.iter().enumerate() {
            sub.extend_from_slice(id.as_bytes());
            sub.extend_from_slice(value.as_bytes());
            sub.push(if i + 1 == elements.len() { CR } else { LF });
        }
        let mut out = Vec::with_capacity(31 + sub.len());
        out.extend_from_slice(&[b'@', LF, RS, CR]);
        out.extend_from_slice(b"ANSI ");
        out.extend_from_slice(self.0.iin.as_bytes());
        out.extend_from_slice(
            format!("{VERSION:02}{:02}01", self.0.jurisdiction_version).as_bytes(),
        );
        let offset = 21 + 10;
        out.extend_from_slice(format!("DL{offset:04}{:04}", sub.len()).as_bytes());
        out.extend_from_slice(&sub);
        out
    }

    /// The card as a version-10 payload would read back: what
    /// `parse(&card.encode())?.card_data()` gives.
    pub fn as_encoded(&self) -> CardData {
        let mut f = self.0.clone();
        f.family_name = truncate(&f.family_name).0;
        f.first_name = truncate(&f.first_name).0;
        if !f.middle_names.is_empty() {
            f.middle_names = truncate(&f.middle_names).0;
        }
        CardData(f)
    }
}

fn truncate(name: &str) -> (String, &'static str) {
    if name.len() > NAME_MAX {
        (name[..NAME_MAX].trim_end().to_owned(), "T")
    } else {
        (name.to_owned(), "N")
    }
}

/// One subfile of a parsed payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subfile {
    /// `DL`, `ID`, or a jurisdiction's `Z?`.
    pub kind: String,
    /// Element id and value, in payload order.
    pub elements: Vec<(String, String)>,
}

impl Subfile {
    pub fn get(&self, id: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed payload of any AAMVA version 1–10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub version: u8,
    pub iin: String,
    /// Absent in version 1.
    pub jurisdiction_version: Option<u8>,
    pub subfiles: Vec<Subfile>,
}

/// Reads a payload. Requires the header, well-formed designators whose
/// subfiles lie inside the payload, and a `DL` or `ID` subfile with at
/// least the licence number (`DAQ`), birth date (`DBB`) and expiry (`DBA`)
/// readable for its version.
pub fn parse(bytes: &[u8]) -> Result<Parsed, AamvaError> {
    if bytes.len() < 4 || bytes[0] != b'@' || bytes[1] != LF || bytes[2] != RS || bytes[3] != CR {
        return Err(err(
            "aamva.bad_header",
            "missing the @ LF RS CR compliance indicator",
        ));
    }
    let ft = bytes
        .get(4..9)
        .ok_or_else(|| err("aamva.bad_header", "too short"))?;
    if ft != b"ANSI " && ft != b"AAMVA" {
        return Err(err("aamva.bad_header", "file type is not ANSI"));
    }
    let iin =
        digits_at(bytes, 9, 6).ok_or_else(|| err("aamva.bad_header", "IIN is not 6 digits"))?;
    let version = num_at(bytes, 15, 2).ok_or_else(|| err("aamva.bad_header", "bad version"))?;
    if !(1..=10).contains(&version) {
        return Err(err(
            "aamva.unsupported_version",
            format!("AAMVA version {version}"),
        ));
    }
    let (jurisdiction_version, entries_at) = if version == 1 {
        (None, 17)
    } else {
        let jv = num_at(bytes, 17, 2)
            .ok_or_else(|| err("aamva.bad_header", "bad jurisdiction version"))?;
        (Some(jv as u8), 19)
    };
    let entries = num_at(bytes, entries_at, 2)
        .ok_or_else(|| err("aamva.bad_header", "bad number of entries"))?;
    if entries == 0 {
        return Err(err("aamva.bad_header", "no subfiles"));
    }
    let mut subfiles = Vec::with_capacity(entries as usize);
    let first = entries_at + 2;
    for i in 0..entries as usize {
        let at = first + i * 10;
        let d = bytes.get(at..at + 10).ok_or_else(|| {
            err(
                "aamva.bad_designator",
                format!("designator {i} is cut short"),
            )
        })?;
        if !d[..2].iter().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err(
                "aamva.bad_designator",
                format!("designator {i}: bad type"),
            ));
        }
        let kind = String::from_utf8_lossy(&d[..2]).into_owned();
        let offset = num_at(d, 2, 4).ok_or_else(|| {
            err(
                "aamva.bad_designator",
                format!("designator {i}: bad offset"),
            )
        })? as usize;
        let length = num_at(d, 6, 4).ok_or_else(|| {
            err(
                "aamva.bad_designator",
                format!("designator {i}: bad length"),
            )
        })? as usize;
        let end = offset + length;
        if offset < first + entries as usize * 10 || end > bytes.len() || length < 2 {
            return Err(err(
                "aamva.subfile_out_of_range",
                format!(
                    "subfile {kind} at {offset}+{length} in {} bytes",
                    bytes.len()
                ),
            ));
        }
        subfiles.push(parse_subfile(&kind, &bytes[offset..end])?);
    }
    let parsed = Parsed {
        version: version as u8,
        iin,
        jurisdiction_version,
        subfiles,
    };
    let main = parsed
        .main()
        .ok_or_else(|| err("aamva.missing_element", "no DL or ID subfile"))?;
    for id in ["DAQ", "DBB", "DBA"] {
        if main.get(id).is_none_or(|v| v.is_empty()) {
            return Err(err("aamva.missing_element", id));
        }
    }
    for id in ["DBB", "DBA"] {
        parsed.date(id)?;
    }
    Ok(parsed)
}

fn parse_subfile(kind: &str, raw: &[u8]) -> Result<Subfile, AamvaError> {
    if !raw.starts_with(kind.as_bytes()) {
        return Err(err(
            "aamva.bad_subfile",
            format!("subfile {kind} does not begin with its type"),
        ));
    }
    let body = &raw[2..];
    let mut elements = Vec::new();
    for field in body.split(|b| *b == LF || *b == CR) {
        if field.is_empty() {
            continue;
        }
        if field.len() < 3 || !field[..3].iter().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err(
                "aamva.bad_element",
                format!("subfile {kind}: element without a 3-character id"),
            ));
        }
        // Latin-1: every byte is a character.
        let id: String = field[..3].iter().map(|&b| b as char).collect();
        let value: String = field[3..].iter().map(|&b| b as char).collect();
        elements.push((id, value.trim_end().to_owned()));
    }
    Ok(Subfile {
        kind: kind.to_owned(),
        elements,
    })
}

fn digits_at(bytes: &[u8], at: usize, n: usize) -> Option<String> {
    let s = bytes.get(at..at + n)?;
    s.iter()
        .all(|b| b.is_ascii_digit())
        .then(|| s.iter().map(|&b| b as char).collect())
}

fn num_at(bytes: &[u8], at: usize, n: usize) -> Option<u32> {
    digits_at(bytes, at, n)?.parse().ok()
}

impl Parsed {
    /// The `DL` subfile, or else the `ID` one.
    pub fn main(&self) -> Option<&Subfile> {
        self.subfiles
            .iter()
            .find(|s| s.kind == "DL")
            .or_else(|| self.subfiles.iter().find(|s| s.kind == "ID"))
    }

    fn get(&self, id: &str) -> Option<&str> {
        self.main().and_then(|s| s.get(id))
    }

    /// Dates are `CCYYMMDD` in version 1 and on Canadian cards,
    /// `MMDDCCYY` otherwise.
    pub fn date(&self, id: &str) -> Result<Date, AamvaError> {
        let raw = self
            .get(id)
            .ok_or_else(|| err("aamva.missing_element", id.to_owned()))?;
        let canadian = self.get("DCG") == Some("CAN");
        let us = self.version >= 2 && !canadian;
        Date::parse_digits(raw, us)
            .ok_or_else(|| err("aamva.bad_element", format!("{id} is not a date")))
    }

    /// (family, first, middle) names, read the way the version stores them.
    pub fn names(&self) -> Option<(String, String, String)> {
        if let Some(family) = self.get("DCS") {
            let given = self.get("DCT");
            let first = self
                .get("DAC")
                .or(given.map(|g| g.split([',', ' ']).next().unwrap_or("")));
            let middle = self.get("DAD").map(str::to_owned).unwrap_or_else(|| {
                given
                    .and_then(|g| g.split_once([',', ' ']).map(|(_, m)| m.trim().to_owned()))
                    .unwrap_or_default()
            });
            return Some((family.to_owned(), first?.to_owned(), middle));
        }
        let full = self.get("DAA")?;
        let mut parts = full.split(',');
        let family = parts.next()?.trim().to_owned();
        let first = parts.next().unwrap_or("").trim().to_owned();
        let middle = parts.collect::<Vec<_>>().join(",").trim().to_owned();
        Some((family, first, middle))
    }

    /// The card as Plaza's typed [`CardData`], for version-10 `DL` payloads.
    pub fn card_data(&self) -> Result<CardData, AamvaError> {
        let need = |id: &str| {
            self.get(id)
                .map(str::to_owned)
                .ok_or_else(|| err("aamva.missing_element", id.to_owned()))
        };
        let flag = |id: &str| self.get(id) == Some("1");
        let (family_name, first_name, middle) = self
            .names()
            .ok_or_else(|| err("aamva.missing_element", "DCS"))?;
        let height = need("DAU")?;
        let height_in = height
            .trim_end_matches(" IN")
            .trim_end_matches(" in")
            .trim()
            .parse::<u16>()
            .map_err(|_| err("aamva.bad_element", "DAU is not a height in inches"))?;
        CardData::new(CardFields {
            iin: self.iin.clone(),
            jurisdiction_version: self.jurisdiction_version.unwrap_or(0),
            class: need("DCA")?,
            restrictions: need("DCB")?,
            endorsements: need("DCD")?,
            expiry: self.date("DBA")?,
            issue_date: self.date("DBD")?,
            birth_date: self.date("DBB")?,
            family_name,
            first_name,
            middle_names: if middle == "NONE" {
                String::new()
            } else {
                middle
            },
            sex: Sex::from_code(&need("DBC")?).ok_or_else(|| err("aamva.bad_element", "DBC"))?,
            eye_colour: need("DAY")?,
            height_in,
            street_1: need("DAG")?,
            street_2: self.get("DAH").map(str::to_owned),
            city: need("DAI")?,
            state: need("DAJ")?,
            postal_code: need("DAK")?.trim().to_owned(),
            customer_id: need("DAQ")?,
            document_discriminator: need("DCF")?,
            compliance: match self.get("DDA") {
                Some("F") => Compliance::Full,
                _ => Compliance::NonCompliant,
            },
            card_revision_date: self.date("DDB")?,
            organ_donor: flag("DDK"),
            veteran: flag("DDL"),
            inventory_control: need("DCK")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date() -> impl Strategy<Value = Date> {
        (1900u16..2080, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
    }

    fn name(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[A-Z][A-Z' -]{{0,{}}}[A-Z]", max - 2)).unwrap()
    }

    prop_compose! {
        fn card()(
            iin in "[0-9]{6}",
            jv in 0u8..=99,
            class in "[A-Z0-9]{1,6}",
            restrictions in "[A-Z0-9]{1,12}",
            endorsements in "[A-Z]{1,5}",
            birth in date(),
            issue_gap in 1i64..30_000,
            valid_days in 1i64..4000,
            family in name(60),
            first in name(45),
            middle in prop_oneof![Just(String::new()), name(50)],
            sex in prop_oneof![Just(Sex::Male), Just(Sex::Female), Just(Sex::NotSpecified)],
            eye in proptest::sample::select(EYE_COLOURS),
            height in 12u16..=119,
            street_1 in "[0-9]{1,5} [A-Z]{1,20} (ST|AVE|BLVD)",
            street_2 in proptest::option::of("(APT|STE|UNIT) [0-9]{1,4}"),
            city in "[A-Z]{1,12}( [A-Z]{1,6})?",
            state in "[A-Z]{2}",
            postal in prop_oneof!["[0-9]{5}", "[0-9]{9}"],
            customer_id in "[A-Z0-9]{1,25}",
            dd in "[A-Z0-9]{1,25}",
            full in any::<bool>(),
            donor in any::<bool>(),
            veteran in any::<bool>(),
            icn in "[A-Z0-9]{1,25}",
        ) -> Option<CardData> {
            let issue = add_days(birth, issue_gap)?;
            let expiry = add_days(issue, valid_days)?;
            CardData::new(CardFields {
                iin, jurisdiction_version: jv, class, restrictions, endorsements,
                expiry, issue_date: issue, birth_date: birth,
                family_name: family, first_name: first, middle_names: middle, sex,
                eye_colour: eye.to_string(), height_in: height, street_1, street_2, city, state,
                postal_code: postal, customer_id, document_discriminator: dd,
                compliance: if full { Compliance::Full } else { Compliance::NonCompliant },
                card_revision_date: issue, organ_donor: donor, veteran, inventory_control: icn,
            }).ok()
        }
    }

    fn add_days(d: Date, n: i64) -> Option<Date> {
        let days = days_from_civil(d) + n;
        let (y, m, dd) = plaza_kernel::clock::civil_from_days(days);
        Date::new(u16::try_from(y).ok()?, m as u8, dd as u8).ok()
    }

    fn days_from_civil(d: Date) -> i64 {
        let (y, m) = if d.month <= 2 {
            (i64::from(d.year) - 1, i64::from(d.month) + 9)
        } else {
            (i64::from(d.year), i64::from(d.month) - 3)
        };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + i64::from(d.day) - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    }

    proptest! {
        #[test]
        fn encode_then_parse_gives_the_card_back(card in card()) {
            let Some(card) = card else { return Ok(()) };
            let payload = card.encode();
            let parsed = parse(&payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parsed.version, VERSION);
            prop_assert_eq!(parsed.card_data().map_err(|e| TestCaseError::fail(e.to_string()))?, card.as_encoded());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn corrupted_payloads_never_panic(card in card(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let Some(card) = card else { return Ok(()) };
            let mut payload = card.encode();
            let i = at.index(payload.len());
            payload[i] = byte;
            let _ = parse(&payload);
            payload.truncate(cut.index(payload.len()));
            let _ = parse(&payload);
        }
    }

    #[test]
    fn dates_are_checked() {
        assert!(Date::new(2023, 2, 29).is_err());
        assert!(Date::new(2024, 2, 29).is_ok());
        assert!(Date::new(2024, 13, 1).is_err());
        assert_eq!(Date::new(2024, 2, 9).unwrap().us(), "02092024");
    }
}
