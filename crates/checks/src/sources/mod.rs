//! The record sources a check consults, each behind an adapter for its
//! wire format: JSON over HTTP ([`json`]), NIEM-style XML over HTTP
//! ([`niem`], with its own small strict XML reader in [`xml`]) and
//! fixed-width lines over TCP ([`fixed`]). Every adapter answers the same
//! [`Source`] trait with the same [`SourceRecord`]s, and fails with a
//! [`SourceError`] that says whether the source timed out, was unavailable,
//! refused the request or answered something unreadable.
//!
//! A [`Registry`] is built from a source catalogue (as served at
//! `GET /records/v1/catalogue`): id, record kind, format and address.

pub mod fixed;
pub mod json;
pub mod niem;
pub mod xml;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::matching::{Date, Descriptors, Sex};

/// The person a check is for, as the applicant described themselves.
pub type Subject = Descriptors;

/// The shape of a record's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Criminal,
    Wanted,
    ProtectionOrder,
    MentalHealth,
    DrugUse,
    Discharge,
    Renounced,
    Immigration,
    Indictment,
    Corrections,
}

impl RecordKind {
    pub const ALL: [RecordKind; 10] = [
        RecordKind::Criminal,
        RecordKind::Wanted,
        RecordKind::ProtectionOrder,
        RecordKind::MentalHealth,
        RecordKind::DrugUse,
        RecordKind::Discharge,
        RecordKind::Renounced,
        RecordKind::Immigration,
        RecordKind::Indictment,
        RecordKind::Corrections,
    ];

    /// The name on the wire (`protection_order`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Criminal => "criminal",
            RecordKind::Wanted => "wanted",
            RecordKind::ProtectionOrder => "protection_order",
            RecordKind::MentalHealth => "mental_health",
            RecordKind::DrugUse => "drug_use",
            RecordKind::Discharge => "discharge",
            RecordKind::Renounced => "renounced",
            RecordKind::Immigration => "immigration",
            RecordKind::Indictment => "indictment",
            RecordKind::Corrections => "corrections",
        }
    }

    pub fn parse(s: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a source says it found a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedOn {
    Identifier,
    NameAndDob,
    NameOnly,
}

impl MatchedOn {
    pub fn parse(s: &str) -> Option<MatchedOn> {
        match s {
            "identifier" => Some(MatchedOn::Identifier),
            "name_and_dob" => Some(MatchedOn::NameAndDob),
            "name_only" => Some(MatchedOn::NameOnly),
            _ => None,
        }
    }
}

/// A calendar day as `YYYY-MM-DD` (so that days compare as text).
pub type Day = String;

/// `YYYY-MM-DD` if it is a real day.
pub fn parse_day(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    Date::new(num(0..4)?, num(5..7)? as u8, num(8..10)? as u8)
}

/// A day as written on the wire and in results.
pub fn day(d: Date) -> Day {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

/// A criminal-history entry: an arrest and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criminal {
    pub offence: Option<String>,
    /// `felony` or `misdemeanour`.
    pub offence_class: Option<String>,
    pub domestic_violence: Option<bool>,
    pub arrest_date: Option<Day>,
    /// `convicted`, `acquitted`, `dismissed`, `pending`; `None` when the
    /// record has none.
    pub disposition: Option<String>,
    pub disposition_date: Option<Day>,
    /// The longest term the offence is punishable by, in months.
    pub sentence_max_months: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wanted {
    /// `arrest`, `bench`, `probation_violation`, `parole_violation`.
    pub warrant_type: Option<String>,
    pub issuing_agency: Option<String>,
    pub felony: Option<bool>,
    pub offence: Option<String>,
    pub date: Option<Day>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtectionOrder {
    pub issued: Option<Day>,
    /// `None`: the order does not expire.
    pub expires: Option<Day>,
    pub intimate_partner: Option<bool>,
    pub hearing_with_notice: Option<bool>,
    pub credible_threat: Option<bool>,
    pub court: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MentalHealth {
    /// `committed` or `adjudicated`.
    pub adjudication: Option<String>,
    pub date: Option<Day>,
    pub relief_granted: Option<bool>,
    pub authority: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrugUse {
    /// `conviction`, `multiple_arrests`, `admission`, `positive_test`.
    pub basis: Option<String>,
    pub date: Option<Day>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discharge {
    /// `dishonourable` or `bad_conduct`.
    pub discharge: Option<String>,
    pub branch: Option<String>,
    pub date: Option<Day>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Renounced {
    pub date: Option<Day>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Immigration {
    /// `illegal`, `nonimmigrant_visa`, `lawful_permanent_resident`,
    /// `citizen`.
    pub status: Option<String>,
    pub alien_number: Option<String>,
    pub visa_class: Option<String>,
    pub as_of: Option<Day>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indictment {
    pub court: Option<String>,
    pub charge: Option<String>,
    pub felony: Option<bool>,
    pub date: Option<Day>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Corrections {
    /// `incarcerated`, `parole`, `probation`, `released`.
    pub custody: Option<String>,
    pub facility: Option<String>,
    pub offence: Option<String>,
    pub since: Option<Day>,
}

/// What a record says, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
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

impl Content {
    pub fn kind(&self) -> RecordKind {
        match self {
            Content::Criminal(_) => RecordKind::Criminal,
            Content::Wanted(_) => RecordKind::Wanted,
            Content::ProtectionOrder(_) => RecordKind::ProtectionOrder,
            Content::MentalHealth(_) => RecordKind::MentalHealth,
            Content::DrugUse(_) => RecordKind::DrugUse,
            Content::Discharge(_) => RecordKind::Discharge,
            Content::Renounced(_) => RecordKind::Renounced,
            Content::Immigration(_) => RecordKind::Immigration,
            Content::Indictment(_) => RecordKind::Indictment,
            Content::Corrections(_) => RecordKind::Corrections,
        }
    }
}

/// One record a source returned.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// `source:ordinal`, unique across sources.
    pub record_id: String,
    pub control_number: String,
    pub matched_on: MatchedOn,
    /// Who the record is about, as the source has it.
    pub subject: Descriptors,
    pub content: Content,
}

/// Why a source gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("no answer in time")]
    Timeout,
    /// Connection refused or closed, an outage, a 5xx or its fixed-width
    /// status.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The source refused this request (a 4xx or its fixed-width status).
    #[error("refused the request ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl SourceError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Timeout => "checks.source_timeout",
            SourceError::Unavailable(_) => "checks.source_unavailable",
            SourceError::Refused { .. } => "checks.source_refused",
            SourceError::Malformed(_) => "checks.source_malformed",
        }
    }

    pub(crate) fn malformed(what: impl Into<String>) -> SourceError {
        SourceError::Malformed(what.into())
    }

    /// An error answer's code (the same codes in every format): the
    /// source's own failures are "unavailable", the rest refusals.
    pub(crate) fn from_code(code: &str, message: &str) -> SourceError {
        match code {
            "source_error" | "source_down" | "internal" => {
                SourceError::Unavailable(format!("{code}: {message}"))
            }
            _ => SourceError::Refused {
                code: code.to_owned(),
                message: message.to_owned(),
            },
        }
    }
}

/// A record source, reached through its adapter.
pub trait Source: Send + Sync {
    fn id(&self) -> &str;

    /// The records the source holds for `subject` (at most its limit, best
    /// first), asked under transaction number `ntn`.
    fn search<'a>(
        &'a self,
        subject: &'a Subject,
        ntn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SourceRecord>, SourceError>>;
}

/// Most other surnames sent in a request (the sources refuse more).
pub const MAX_ALIASES: usize = 8;

/// How a source is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WireFormat {
    Json,
    NiemXml,
    FixedWidth,
}

impl WireFormat {
    pub fn parse(s: &str) -> Option<WireFormat> {
        match s {
            "json" => Some(WireFormat::Json),
            "niem-xml" => Some(WireFormat::NiemXml),
            "fixed-width" => Some(WireFormat::FixedWidth),
            _ => None,
        }
    }
}

/// One source's adapter configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceConfig {
    pub id: String,
    pub kind: RecordKind,
    pub format: WireFormat,
    /// The search URL (HTTP formats) or `host:port` (fixed-width).
    pub address: String,
    /// Records the source holds, when known: larger sources need a higher
    /// score before a record is taken for the applicant.
    pub records: u64,
}

/// A catalogue that cannot be used, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the source catalogue is refused: {}", reasons.join("; "))]
pub struct CatalogueError {
    pub reasons: Vec<String>,
}

/// Adapter configurations from a catalogue document (as served at
/// `GET /records/v1/catalogue`), HTTP paths resolved against `base`. The
/// whole catalogue is refused, with every reason, if any entry is bad.
pub fn configs_from_catalogue(
    base: &str,
    catalogue: &serde_json::Value,
) -> Result<Vec<SourceConfig>, CatalogueError> {
    let mut reasons = Vec::new();
    let mut out = Vec::new();
    let fixed = catalogue["fixed_width_address"].as_str();
    let Some(sources) = catalogue["sources"].as_array() else {
        return Err(CatalogueError {
            reasons: vec!["no `sources` list".into()],
        });
    };
    let base = base.trim_end_matches('/');
    for (i, s) in sources.iter().enumerate() {
        let Some(id) = s["id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.len() <= 16)
        else {
            reasons.push(format!("source {i}: no id of 1 to 16 characters"));
            continue;
        };
        if out.iter().any(|c: &SourceConfig| c.id == id) {
            reasons.push(format!("{id}: listed twice"));
            continue;
        }
        let kind = s["kind"].as_str().and_then(RecordKind::parse);
        let format = s["format"].as_str().and_then(WireFormat::parse);
        let (Some(kind), Some(format)) = (kind, format) else {
            reasons.push(format!("{id}: unknown kind or format"));
            continue;
        };
        let address = match format {
            WireFormat::FixedWidth => match fixed {
                Some(a) => a.to_owned(),
                None => {
                    reasons.push(format!("{id}: fixed-width, but no fixed_width_address"));
                    continue;
                }
            },
            _ => match s["path"].as_str().filter(|p| p.starts_with('/')) {
                Some(p) => format!("{base}{p}"),
                None => {
                    reasons.push(format!("{id}: no path"));
                    continue;
                }
            },
        };
        out.push(SourceConfig {
            id: id.to_owned(),
            kind,
            format,
            address,
            records: s["records"].as_u64().unwrap_or(0),
        });
    }
    if out.is_empty() && reasons.is_empty() {
        reasons.push("no sources".into());
    }
    if reasons.is_empty() {
        Ok(out)
    } else {
        Err(CatalogueError { reasons })
    }
}

/// The sources of a check, each with its configuration.
#[derive(Clone)]
pub struct Registry {
    pub(crate) entries: Vec<(SourceConfig, Arc<dyn Source>)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(c, _)| &c.id))
            .finish()
    }
}

impl Registry {
    /// Adapters for the configurations, sharing one HTTP client.
    pub fn new(configs: Vec<SourceConfig>) -> Registry {
        Registry::with_fixed_pool(configs, fixed::DEFAULT_POOL)
    }

    /// As [`Registry::new`], fixed-width sources keeping at most
    /// `fixed_pool` idle connections each (0: one connection per request).
    pub fn with_fixed_pool(configs: Vec<SourceConfig>, fixed_pool: usize) -> Registry {
        plaza_kernel::install_crypto_provider();
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        let entries = configs
            .into_iter()
            .map(|c| {
                let source: Arc<dyn Source> = match c.format {
                    WireFormat::Json => {
                        Arc::new(json::JsonSource::new(&c.id, &c.address, http.clone()))
                    }
                    WireFormat::NiemXml => {
                        Arc::new(niem::NiemSource::new(&c.id, &c.address, http.clone()))
                    }
                    WireFormat::FixedWidth => {
                        Arc::new(fixed::FixedSource::with_pool(&c.id, &c.address, fixed_pool))
                    }
                };
                (c, source)
            })
            .collect();
        Registry { entries }
    }

    /// Any sources (tests, other transports).
    pub fn from_sources(entries: Vec<(SourceConfig, Arc<dyn Source>)>) -> Registry {
        Registry { entries }
    }

    /// Reads the catalogue at `{base}/records/v1/catalogue` and builds the
    /// registry from it.
    pub async fn fetch(base: &str) -> Result<Registry, CatalogueError> {
        Ok(Registry::new(fetch_catalogue(base).await?))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn configs(&self) -> impl Iterator<Item = &SourceConfig> {
        self.entries.iter().map(|(c, _)| c)
    }
}

/// The adapter configurations of the catalogue at
/// `{base}/records/v1/catalogue`.
pub async fn fetch_catalogue(base: &str) -> Result<Vec<SourceConfig>, CatalogueError> {
    let url = format!("{}/records/v1/catalogue", base.trim_end_matches('/'));
    let refuse = |why: String| CatalogueError { reasons: vec![why] };
    plaza_kernel::install_crypto_provider();
    let answer = reqwest::get(&url)
        .await
        .map_err(|e| refuse(format!("GET {url}: {e}")))?;
    if !answer.status().is_success() {
        return Err(refuse(format!("GET {url}: HTTP {}", answer.status())));
    }
    let doc: serde_json::Value = answer
        .json()
        .await
        .map_err(|e| refuse(format!("GET {url}: not JSON: {e}")))?;
    configs_from_catalogue(base, &doc)
}

/// `M` / `F`.
pub(crate) fn sex_code(s: Sex) -> &'static str {
    match s {
        Sex::Male => "M",
        Sex::Female => "F",
    }
}

pub(crate) fn parse_sex(s: &str) -> Option<Sex> {
    match s {
        "M" => Some(Sex::Male),
        "F" => Some(Sex::Female),
        _ => None,
    }
}

/// A content value as read off the wire, before typing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Null,
    Text(String),
    Bool(bool),
    Number(u64),
}

/// A record's content fields by their snake_case name, typed on reading:
/// a value of the wrong type or outside its list makes the answer
/// malformed.
#[derive(Debug, Default)]
pub(crate) struct RawFields(pub std::collections::HashMap<String, Raw>);

impl RawFields {
    fn get(&self, k: &str) -> Option<&Raw> {
        self.0.get(k).filter(|r| **r != Raw::Null)
    }

    fn bad(k: &str) -> SourceError {
        SourceError::malformed(format!("content field {k} has a bad value"))
    }

    fn text(&self, k: &str) -> Result<Option<String>, SourceError> {
        match self.get(k) {
            None => Ok(None),
            Some(Raw::Text(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Self::bad(k)),
        }
    }

    fn one_of(&self, k: &str, allowed: &[&str]) -> Result<Option<String>, SourceError> {
        match self.text(k)? {
            Some(s) if !allowed.contains(&s.as_str()) => Err(Self::bad(k)),
            v => Ok(v),
        }
    }

    fn flag(&self, k: &str) -> Result<Option<bool>, SourceError> {
        match self.get(k) {
            None => Ok(None),
            Some(Raw::Bool(b)) => Ok(Some(*b)),
            Some(Raw::Text(t)) if t == "true" => Ok(Some(true)),
            Some(Raw::Text(t)) if t == "false" => Ok(Some(false)),
            Some(_) => Err(Self::bad(k)),
        }
    }

    fn number(&self, k: &str) -> Result<Option<u32>, SourceError> {
        match self.get(k) {
            None => Ok(None),
            Some(Raw::Number(n)) => u32::try_from(*n).map(Some).map_err(|_| Self::bad(k)),
            Some(Raw::Text(t)) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                t.parse().map(Some).map_err(|_| Self::bad(k))
            }
            Some(_) => Err(Self::bad(k)),
        }
    }

    fn date(&self, k: &str) -> Result<Option<Day>, SourceError> {
        match self.text(k)? {
            None => Ok(None),
            Some(s) => parse_day(&s)
                .map(|d| Some(day(d)))
                .ok_or_else(|| Self::bad(k)),
        }
    }

    /// The content of a record of `kind`.
    pub(crate) fn content(&self, kind: RecordKind) -> Result<Content, SourceError> {
        Ok(match kind {
            RecordKind::Criminal => Content::Criminal(Criminal {
                offence: self.text("offence")?,
                offence_class: self.one_of("offence_class", &["felony", "misdemeanour"])?,
                domestic_violence: self.flag("domestic_violence")?,
                arrest_date: self.date("arrest_date")?,
                disposition: self.one_of(
                    "disposition",
                    &["convicted", "acquitted", "dismissed", "pending"],
                )?,
                disposition_date: self.date("disposition_date")?,
                sentence_max_months: self.number("sentence_max_months")?,
            }),
            RecordKind::Wanted => Content::Wanted(Wanted {
                warrant_type: self.one_of(
                    "warrant_type",
                    &["arrest", "bench", "probation_violation", "parole_violation"],
                )?,
                issuing_agency: self.text("issuing_agency")?,
                felony: self.flag("felony")?,
                offence: self.text("offence")?,
                date: self.date("date")?,
            }),
            RecordKind::ProtectionOrder => Content::ProtectionOrder(ProtectionOrder {
                issued: self.date("issued")?,
                expires: self.date("expires")?,
                intimate_partner: self.flag("intimate_partner")?,
                hearing_with_notice: self.flag("hearing_with_notice")?,
                credible_threat: self.flag("credible_threat")?,
                court: self.text("court")?,
            }),
            RecordKind::MentalHealth => Content::MentalHealth(MentalHealth {
                adjudication: self.one_of("adjudication", &["committed", "adjudicated"])?,
                date: self.date("date")?,
                relief_granted: self.flag("relief_granted")?,
                authority: self.text("authority")?,
            }),
            RecordKind::DrugUse => Content::DrugUse(DrugUse {
                basis: self.one_of(
                    "basis",
                    &[
                        "conviction",
                        "multiple_arrests",
                        "admission",
                        "positive_test",
                    ],
                )?,
                date: self.date("date")?,
            }),
            RecordKind::Discharge => Content::Discharge(Discharge {
                discharge: self.one_of("discharge", &["dishonourable", "bad_conduct"])?,
                branch: self.text("branch")?,
                date: self.date("date")?,
            }),
            RecordKind::Renounced => Content::Renounced(Renounced {
                date: self.date("date")?,
            }),
            RecordKind::Immigration => Content::Immigration(Immigration {
                status: self.one_of(
                    "status",
                    &[
                        "illegal",
                        "nonimmigrant_visa",
                        "lawful_permanent_resident",
                        "citizen",
                    ],
                )?,
                alien_number: self.text("alien_number")?,
                visa_class: self.text("visa_class")?,
                as_of: self.date("as_of")?,
            }),
            RecordKind::Indictment => Content::Indictment(Indictment {
                court: self.text("court")?,
                charge: self.text("charge")?,
                felony: self.flag("felony")?,
                date: self.date("date")?,
            }),
            RecordKind::Corrections => Content::Corrections(Corrections {
                custody: self.one_of(
                    "custody",
                    &["incarcerated", "parole", "probation", "released"],
                )?,
                facility: self.text("facility")?,
                offence: self.text("offence")?,
                since: self.date("since")?,
            }),
        })
    }
}

/// `OffenceClass` → `offence_class`.
pub(crate) fn snake_case(pascal: &str) -> String {
    let mut out = String::with_capacity(pascal.len() + 4);
    for (i, c) in pascal.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An error with its causes, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalogue_with_bad_entries_is_refused_with_every_reason() {
        let doc = serde_json::json!({
            "fixed_width_address": null,
            "sources": [
                {"id": "a", "kind": "criminal", "format": "json", "path": "/records/v1/a/search", "records": 5},
                {"id": "a", "kind": "criminal", "format": "json", "path": "/x"},
                {"id": "b", "kind": "nonsense", "format": "json", "path": "/x"},
                {"id": "c", "kind": "wanted", "format": "fixed-width"},
            ]
        });
        let e = configs_from_catalogue("http://h", &doc).unwrap_err();
        assert_eq!(e.reasons.len(), 3, "{e}");
        let doc = serde_json::json!({
            "fixed_width_address": "127.0.0.1:9",
            "sources": [
                {"id": "a", "kind": "criminal", "format": "json", "path": "/records/v1/a/search", "records": 5},
                {"id": "c", "kind": "wanted", "format": "fixed-width"},
            ]
        });
        let c = configs_from_catalogue("http://h/", &doc).unwrap();
        assert_eq!(c[0].address, "http://h/records/v1/a/search");
        assert_eq!(c[0].records, 5);
        assert_eq!(c[1].address, "127.0.0.1:9");
        assert_eq!(c[1].format, WireFormat::FixedWidth);
    }

    #[test]
    fn content_fields_are_typed_strictly() {
        let mut f = RawFields::default();
        f.0.insert("disposition".into(), Raw::Text("convicted".into()));
        f.0.insert("sentence_max_months".into(), Raw::Text("240".into()));
        f.0.insert("arrest_date".into(), Raw::Null);
        let Content::Criminal(c) = f.content(RecordKind::Criminal).unwrap() else {
            panic!()
        };
        assert_eq!(c.sentence_max_months, Some(240));
        assert_eq!(c.arrest_date, None);
        f.0.insert("disposition".into(), Raw::Text("maybe".into()));
        assert!(matches!(
            f.content(RecordKind::Criminal),
            Err(SourceError::Malformed(_))
        ));
        f.0.insert("disposition".into(), Raw::Text("convicted".into()));
        f.0.insert("arrest_date".into(), Raw::Text("2020-02-30".into()));
        assert!(f.content(RecordKind::Criminal).is_err());
        assert_eq!(snake_case("OffenceClass"), "offence_class");
    }
}
