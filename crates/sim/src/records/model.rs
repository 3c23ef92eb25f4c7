//! What a source holds about a person: the subject's descriptors as the
//! source recorded them (with the noise real records carry), and the content
//! a checks service needs to apply the federal prohibitors, 18 U.S.C.
//! 922(g)(1)-(9) and 922(n), and state rules.

use crate::people::{Date, Sex};

use super::catalogue::RecordKind;

/// A subject as a source recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subject {
    pub first: Option<String>,
    pub middle: Option<String>,
    pub last: Option<String>,
    /// Other surnames the record lists ("also known as").
    pub aliases: Vec<String>,
    pub dob: Option<Date>,
    pub sex: Option<Sex>,
    /// `9AA-GG-SSSS`-shaped.
    pub ssn: Option<String>,
    /// FBI number (Universal Control Number).
    pub fbi: Option<String>,
    /// State identification number.
    pub state_id: Option<String>,
}

/// One record of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Stable across seeds of the same shape: `{source}:{ordinal:010}`.
    pub record_id: String,
    /// The source's own number for the record.
    pub control_number: String,
    /// Whose record it is: for measuring matching only, never sent.
    pub person_id: u64,
    pub subject: Subject,
    pub detail: Detail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffenceClass {
    Felony,
    Misdemeanour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Convicted,
    Acquitted,
    Dismissed,
    /// No final disposition recorded (an open arrest).
    Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarrantType {
    Arrest,
    Bench,
    ProbationViolation,
    ParoleViolation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjudication {
    /// Involuntarily committed to a mental institution.
    Committed,
    /// Adjudicated as a mental defective (incompetent, insanity, ...).
    Adjudicated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrugBasis {
    Conviction,
    MultipleArrests,
    Admission,
    PositiveTest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DischargeType {
    Dishonourable,
    /// A bad-conduct discharge: not a 922(g)(6) prohibitor.
    BadConduct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImmigrationStatus {
    Illegal,
    NonimmigrantVisa,
    LawfulPermanentResident,
    Citizen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Custody {
    Incarcerated,
    Parole,
    Probation,
    Released,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criminal {
    pub offence: String,
    pub class: OffenceClass,
    pub domestic_violence: bool,
    pub arrest_date: Date,
    pub disposition: Disposition,
    pub disposition_date: Option<Date>,
    /// The longest term the offence is punishable by, in months.
    pub sentence_max_months: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub warrant_type: WarrantType,
    /// Originating agency identifier (ORI), nine characters.
    pub issuing_agency: String,
    pub felony: bool,
    pub offence: String,
    pub date: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectionOrder {
    pub issued: Date,
    /// None: no expiry.
    pub expires: Option<Date>,
    pub intimate_partner: bool,
    pub hearing_with_notice: bool,
    pub credible_threat: bool,
    pub court: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentalHealth {
    pub adjudication: Adjudication,
    pub date: Date,
    pub relief_granted: bool,
    pub authority: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrugUse {
    pub basis: DrugBasis,
    pub date: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discharge {
    pub discharge: DischargeType,
    pub branch: String,
    pub date: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renounced {
    pub date: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Immigration {
    pub status: ImmigrationStatus,
    /// Alien registration number, `A` and nine digits.
    pub alien_number: String,
    /// Visa class for a nonimmigrant (`B2`, `H1B`, ...).
    pub visa_class: Option<String>,
    pub as_of: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indictment {
    pub court: String,
    pub charge: String,
    pub felony: bool,
    pub date: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrections {
    pub custody: Custody,
    pub facility: String,
    pub offence: String,
    pub since: Date,
}

/// A record's content, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Criminal(Criminal),
    Wanted(Wanted),
    ProtectionOrder(ProtectionOrder),
    MentalHealth(MentalHealth),
    DrugUse(DrugUse),
    Discharge(Discharge),
    Renounced(Renounced),
    Immigration(Immigration),
    Indictment(Indictment),
    Corrections(Corrections),
}

/// A value of a detail field, for the text formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Code(&'static str),
    Bool(bool),
    Date(Date),
    Number(u32),
    Missing,
}

fn opt_date(d: Option<Date>) -> Value {
    d.map_or(Value::Missing, Value::Date)
}

impl Detail {
    pub fn kind(&self) -> RecordKind {
        match self {
            Detail::Criminal(_) => RecordKind::Criminal,
            Detail::Wanted(_) => RecordKind::Wanted,
            Detail::ProtectionOrder(_) => RecordKind::ProtectionOrder,
            Detail::MentalHealth(_) => RecordKind::MentalHealth,
            Detail::DrugUse(_) => RecordKind::DrugUse,
            Detail::Discharge(_) => RecordKind::Discharge,
            Detail::Renounced(_) => RecordKind::Renounced,
            Detail::Immigration(_) => RecordKind::Immigration,
            Detail::Indictment(_) => RecordKind::Indictment,
            Detail::Corrections(_) => RecordKind::Corrections,
        }
    }

    /// The fields, in order, with snake_case names: JSON keys as they are,
    /// XML element names in PascalCase (see PROTOCOLS.md).
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        use Value::*;
        match self {
            Detail::Criminal(c) => vec![
                ("offence", Text(c.offence.clone())),
                ("offence_class", Code(c.class.as_str())),
                ("domestic_violence", Bool(c.domestic_violence)),
                ("arrest_date", Date(c.arrest_date)),
                ("disposition", Code(c.disposition.as_str())),
                ("disposition_date", opt_date(c.disposition_date)),
                (
                    "sentence_max_months",
                    c.sentence_max_months.map_or(Missing, Number),
                ),
            ],
            Detail::Wanted(w) => vec![
                ("warrant_type", Code(w.warrant_type.as_str())),
                ("issuing_agency", Text(w.issuing_agency.clone())),
                ("felony", Bool(w.felony)),
                ("offence", Text(w.offence.clone())),
                ("date", Date(w.date)),
            ],
            Detail::ProtectionOrder(p) => vec![
                ("issued", Date(p.issued)),
                ("expires", opt_date(p.expires)),
                ("intimate_partner", Bool(p.intimate_partner)),
                ("hearing_with_notice", Bool(p.hearing_with_notice)),
                ("credible_threat", Bool(p.credible_threat)),
                ("court", Text(p.court.clone())),
            ],
            Detail::MentalHealth(m) => vec![
                ("adjudication", Code(m.adjudication.as_str())),
                ("date", Date(m.date)),
                ("relief_granted", Bool(m.relief_granted)),
                ("authority", Text(m.authority.clone())),
            ],
            Detail::DrugUse(d) => vec![("basis", Code(d.basis.as_str())), ("date", Date(d.date))],
            Detail::Discharge(d) => vec![
                ("discharge", Code(d.discharge.as_str())),
                ("branch", Text(d.branch.clone())),
                ("date", Date(d.date)),
            ],
            Detail::Renounced(r) => vec![("date", Date(r.date))],
            Detail::Immigration(i) => vec![
                ("status", Code(i.status.as_str())),
                ("alien_number", Text(i.alien_number.clone())),
                ("visa_class", i.visa_class.clone().map_or(Missing, Text)),
                ("as_of", Date(i.as_of)),
            ],
            Detail::Indictment(i) => vec![
                ("court", Text(i.court.clone())),
                ("charge", Text(i.charge.clone())),
                ("felony", Bool(i.felony)),
                ("date", Date(i.date)),
            ],
            Detail::Corrections(c) => vec![
                ("custody", Code(c.custody.as_str())),
                ("facility", Text(c.facility.clone())),
                ("offence", Text(c.offence.clone())),
                ("since", Date(c.since)),
            ],
        }
    }
}

macro_rules! codes {
    ($t:ident { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$($t::$v),*];
            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),* }
            }
            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some($t::$v),)* _ => None }
            }
            fn to_byte(self) -> u8 {
                $t::ALL.iter().position(|v| *v == self).unwrap_or(0) as u8
            }
            fn from_byte(b: u8) -> Result<$t, Corrupt> {
                $t::ALL.get(b as usize).copied().ok_or(Corrupt)
            }
        }
    };
}

codes!(OffenceClass { Felony => "felony", Misdemeanour => "misdemeanour" });
codes!(Disposition { Convicted => "convicted", Acquitted => "acquitted", Dismissed => "dismissed", Pending => "pending" });
codes!(WarrantType { Arrest => "arrest", Bench => "bench", ProbationViolation => "probation_violation", ParoleViolation => "parole_violation" });
codes!(Adjudication { Committed => "committed", Adjudicated => "adjudicated" });
codes!(DrugBasis { Conviction => "conviction", MultipleArrests => "multiple_arrests", Admission => "admission", PositiveTest => "positive_test" });
codes!(DischargeType { Dishonourable => "dishonourable", BadConduct => "bad_conduct" });
codes!(ImmigrationStatus { Illegal => "illegal", NonimmigrantVisa => "nonimmigrant_visa", LawfulPermanentResident => "lawful_permanent_resident", Citizen => "citizen" });
codes!(Custody { Incarcerated => "incarcerated", Parole => "parole", Probation => "probation", Released => "released" });

/// Stored bytes that do not decode: a damaged or foreign file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

// ---- compact binary encoding, as stored in a source file ----

const NONE_LEN: u8 = 0xFF;
const NO_DATE: i32 = i32::MIN;

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        let b = s.as_bytes();
        let mut n = b.len().min(254);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.u8(n as u8);
        self.0.extend_from_slice(&b[..n]);
    }
    fn opt_str(&mut self, s: &Option<String>) {
        match s {
            Some(s) => self.str(s),
            None => self.u8(NONE_LEN),
        }
    }
    fn date(&mut self, d: Date) {
        self.u32(d.to_days() as i32 as u32);
    }
    fn opt_date(&mut self, d: Option<Date>) {
        self.u32(d.map_or(NO_DATE, |d| d.to_days() as i32) as u32);
    }
    fn bool(&mut self, b: bool) {
        self.u8(b as u8);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Corrupt> {
        if self.0.len() < n {
            return Err(Corrupt);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, Corrupt> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Corrupt> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| Corrupt)?,
        ))
    }
    fn u64(&mut self) -> Result<u64, Corrupt> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| Corrupt)?,
        ))
    }
    fn str(&mut self) -> Result<String, Corrupt> {
        let n = self.u8()?;
        if n == NONE_LEN {
            return Err(Corrupt);
        }
        self.str_of(n)
    }
    fn str_of(&mut self, n: u8) -> Result<String, Corrupt> {
        String::from_utf8(self.take(n as usize)?.to_vec()).map_err(|_| Corrupt)
    }
    fn opt_str(&mut self) -> Result<Option<String>, Corrupt> {
        match self.u8()? {
            NONE_LEN => Ok(None),
            n => self.str_of(n).map(Some),
        }
    }
    fn date(&mut self) -> Result<Date, Corrupt> {
        self.opt_date()?.ok_or(Corrupt)
    }
    fn opt_date(&mut self) -> Result<Option<Date>, Corrupt> {
        let v = self.u32()? as i32;
        Ok((v != NO_DATE).then(|| Date::from_days(v as i64)))
    }
    fn bool(&mut self) -> Result<bool, Corrupt> {
        Ok(self.u8()? != 0)
    }
}

impl SourceRecord {
    /// Appends the record's stored form to `out` (the record id is not
    /// stored: it follows from the source and the ordinal).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        w.u64(self.person_id);
        w.str(&self.control_number);
        let s = &self.subject;
        w.opt_str(&s.first);
        w.opt_str(&s.middle);
        w.opt_str(&s.last);
        w.u8(s.aliases.len().min(16) as u8);
        for a in s.aliases.iter().take(16) {
            w.str(a);
        }
        w.opt_date(s.dob);
        w.u8(match s.sex {
            None => 0,
            Some(Sex::Female) => 1,
            Some(Sex::Male) => 2,
        });
        w.opt_str(&s.ssn);
        w.opt_str(&s.fbi);
        w.opt_str(&s.state_id);
        w.u8(super::catalogue::ALL_KINDS
            .iter()
            .position(|k| *k == self.detail.kind())
            .unwrap_or(0) as u8);
        match &self.detail {
            Detail::Criminal(c) => {
                w.str(&c.offence);
                w.u8(c.class.to_byte());
                w.bool(c.domestic_violence);
                w.date(c.arrest_date);
                w.u8(c.disposition.to_byte());
                w.opt_date(c.disposition_date);
                w.u32(c.sentence_max_months.unwrap_or(u32::MAX));
            }
            Detail::Wanted(x) => {
                w.u8(x.warrant_type.to_byte());
                w.str(&x.issuing_agency);
                w.bool(x.felony);
                w.str(&x.offence);
                w.date(x.date);
            }
            Detail::ProtectionOrder(p) => {
                w.date(p.issued);
                w.opt_date(p.expires);
                w.bool(p.intimate_partner);
                w.bool(p.hearing_with_notice);
                w.bool(p.credible_threat);
                w.str(&p.court);
            }
            Detail::MentalHealth(m) => {
                w.u8(m.adjudication.to_byte());
                w.date(m.date);
                w.bool(m.relief_granted);
                w.str(&m.authority);
            }
            Detail::DrugUse(d) => {
                w.u8(d.basis.to_byte());
                w.date(d.date);
            }
            Detail::Discharge(d) => {
                w.u8(d.discharge.to_byte());
                w.str(&d.branch);
                w.date(d.date);
            }
            Detail::Renounced(r) => w.date(r.date),
            Detail::Immigration(i) => {
                w.u8(i.status.to_byte());
                w.str(&i.alien_number);
                w.opt_str(&i.visa_class);
                w.date(i.as_of);
            }
            Detail::Indictment(i) => {
                w.str(&i.court);
                w.str(&i.charge);
                w.bool(i.felony);
                w.date(i.date);
            }
            Detail::Corrections(c) => {
                w.u8(c.custody.to_byte());
                w.str(&c.facility);
                w.str(&c.offence);
                w.date(c.since);
            }
        }
    }

    /// Reads a record stored by [`SourceRecord::encode`].
    pub fn decode(record_id: String, bytes: &[u8]) -> Result<SourceRecord, Corrupt> {
        let mut r = Reader(bytes);
        let person_id = r.u64()?;
        let control_number = r.str()?;
        let first = r.opt_str()?;
        let middle = r.opt_str()?;
        let last = r.opt_str()?;
        let n = r.u8()?;
        let aliases = (0..n).map(|_| r.str()).collect::<Result<Vec<_>, _>>()?;
        let dob = r.opt_date()?;
        let sex = match r.u8()? {
            0 => None,
            1 => Some(Sex::Female),
            2 => Some(Sex::Male),
            _ => return Err(Corrupt),
        };
        let ssn = r.opt_str()?;
        let fbi = r.opt_str()?;
        let state_id = r.opt_str()?;
        let kind = *super::catalogue::ALL_KINDS
            .get(r.u8()? as usize)
            .ok_or(Corrupt)?;
        let detail = match kind {
            RecordKind::Criminal => Detail::Criminal(Criminal {
                offence: r.str()?,
                class: OffenceClass::from_byte(r.u8()?)?,
                domestic_violence: r.bool()?,
                arrest_date: r.date()?,
                disposition: Disposition::from_byte(r.u8()?)?,
                disposition_date: r.opt_date()?,
                sentence_max_months: Some(r.u32()?).filter(|&m| m != u32::MAX),
            }),
            RecordKind::Wanted => Detail::Wanted(Wanted {
                warrant_type: WarrantType::from_byte(r.u8()?)?,
                issuing_agency: r.str()?,
                felony: r.bool()?,
                offence: r.str()?,
                date: r.date()?,
            }),
            RecordKind::ProtectionOrder => Detail::ProtectionOrder(ProtectionOrder {
                issued: r.date()?,
                expires: r.opt_date()?,
                intimate_partner: r.bool()?,
                hearing_with_notice: r.bool()?,
                credible_threat: r.bool()?,
                court: r.str()?,
            }),
            RecordKind::MentalHealth => Detail::MentalHealth(MentalHealth {
                adjudication: Adjudication::from_byte(r.u8()?)?,
                date: r.date()?,
                relief_granted: r.bool()?,
                authority: r.str()?,
            }),
            RecordKind::DrugUse => Detail::DrugUse(DrugUse {
                basis: DrugBasis::from_byte(r.u8()?)?,
                date: r.date()?,
            }),
            RecordKind::Discharge => Detail::Discharge(Discharge {
                discharge: DischargeType::from_byte(r.u8()?)?,
                branch: r.str()?,
                date: r.date()?,
            }),
            RecordKind::Renounced => Detail::Renounced(Renounced { date: r.date()? }),
            RecordKind::Immigration => Detail::Immigration(Immigration {
                status: ImmigrationStatus::from_byte(r.u8()?)?,
                alien_number: r.str()?,
                visa_class: r.opt_str()?,
                as_of: r.date()?,
            }),
            RecordKind::Indictment => Detail::Indictment(Indictment {
                court: r.str()?,
                charge: r.str()?,
                felony: r.bool()?,
                date: r.date()?,
            }),
            RecordKind::Corrections => Detail::Corrections(Corrections {
                custody: Custody::from_byte(r.u8()?)?,
                facility: r.str()?,
                offence: r.str()?,
                since: r.date()?,
            }),
        };
        if !r.0.is_empty() {
            return Err(Corrupt);
        }
        Ok(SourceRecord {
            record_id,
            control_number,
            person_id,
            subject: Subject {
                first,
                middle,
                last,
                aliases,
                dob,
                sex,
                ssn,
                fbi,
                state_id,
            },
            detail,
        })
    }
}

/// The record id of ordinal `n` of `source`.
pub fn record_id(source: &str, n: u64) -> String {
    format!("{source}:{n:010}")
}
