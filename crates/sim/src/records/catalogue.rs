//! The 27 record sources a background check consults, what each holds and
//! which wire format it speaks.
//!
//! Record counts at scale 1 total ten million and keep the proportions of
//! the national figures (75 M criminal-history records, 12 M mental-health
//! adjudications, 5 M protection orders), with the smaller wanted-person,
//! immigration, discharge, renunciation, indictment, drug-user and
//! corrections files beside them.

use serde::Serialize;

/// How a source is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WireFormat {
    /// JSON over HTTP: `POST /records/v1/{source}/search`.
    Json,
    /// NIEM-style XML over HTTP: `POST /records/niem/v1/{source}/search`.
    NiemXml,
    /// Fixed-width lines over raw TCP.
    FixedWidth,
}

impl WireFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WireFormat::Json => "json",
            WireFormat::NiemXml => "niem-xml",
            WireFormat::FixedWidth => "fixed-width",
        }
    }
}

/// What a source's file is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    CriminalHistory,
    CourtDispositions,
    WantedPersons,
    Warrants,
    ProtectionOrders,
    ImmigrationViolators,
    IllegalAliens,
    ImmigrationStatus,
    MentalHealth,
    DrugUsers,
    Discharges,
    RenouncedCitizenship,
    Indictments,
    Corrections,
}

/// The shape of a record's content (see [`super::model::Detail`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
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

    /// The two-letter code of the fixed-width protocol.
    pub fn code(self) -> &'static str {
        match self {
            RecordKind::Criminal => "CR",
            RecordKind::Wanted => "WA",
            RecordKind::ProtectionOrder => "PO",
            RecordKind::MentalHealth => "MH",
            RecordKind::DrugUse => "DU",
            RecordKind::Discharge => "DD",
            RecordKind::Renounced => "RC",
            RecordKind::Immigration => "IM",
            RecordKind::Indictment => "IN",
            RecordKind::Corrections => "CO",
        }
    }

    pub fn from_code(code: &str) -> Option<RecordKind> {
        ALL_KINDS.into_iter().find(|k| k.code() == code)
    }
}

pub const ALL_KINDS: [RecordKind; 10] = [
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

impl Category {
    pub fn kind(self) -> RecordKind {
        match self {
            Category::CriminalHistory | Category::CourtDispositions => RecordKind::Criminal,
            Category::WantedPersons | Category::Warrants => RecordKind::Wanted,
            Category::ProtectionOrders => RecordKind::ProtectionOrder,
            Category::ImmigrationViolators
            | Category::IllegalAliens
            | Category::ImmigrationStatus => RecordKind::Immigration,
            Category::MentalHealth => RecordKind::MentalHealth,
            Category::DrugUsers => RecordKind::DrugUse,
            Category::Discharges => RecordKind::Discharge,
            Category::RenouncedCitizenship => RecordKind::Renounced,
            Category::Indictments => RecordKind::Indictment,
            Category::Corrections => RecordKind::Corrections,
        }
    }

    /// Whether records concentrate on a smaller set of people (repeat
    /// offenders) rather than spreading evenly over the population.
    pub(crate) fn repeat_offenders(self) -> bool {
        matches!(
            self,
            Category::CriminalHistory
                | Category::CourtDispositions
                | Category::WantedPersons
                | Category::Warrants
                | Category::Corrections
                | Category::Indictments
                | Category::DrugUsers
        )
    }
}

/// One record source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Source {
    /// Stable id, used in URLs, files and record ids.
    pub id: &'static str,
    pub name: &'static str,
    /// `US` for a federal file, else the state's two-letter code.
    pub jurisdiction: &'static str,
    pub category: Category,
    pub format: WireFormat,
    /// Records at scale 1.
    pub records_at_scale_1: u64,
    /// Prefix of the source's own control numbers.
    pub control_prefix: &'static str,
}

impl Source {
    pub fn kind(&self) -> RecordKind {
        self.category.kind()
    }

    /// Records at `scale` (at least one).
    pub fn records_at(&self, scale: f64) -> u64 {
        ((self.records_at_scale_1 as f64 * scale).round() as u64).max(1)
    }
}

const fn src(
    id: &'static str,
    name: &'static str,
    jurisdiction: &'static str,
    category: Category,
    format: WireFormat,
    records_at_scale_1: u64,
    control_prefix: &'static str,
) -> Source {
    Source {
        id,
        name,
        jurisdiction,
        category,
        format,
        records_at_scale_1,
        control_prefix,
    }
}

use Category as C;
use WireFormat as W;

/// The catalogue, in a fixed order: a source's position is part of its
/// files' identity, so sources are only ever appended.
pub const CATALOGUE: [Source; 27] = [
    src(
        "fbi-iii",
        "Interstate Identification Index (criminal history)",
        "US",
        C::CriminalHistory,
        W::Json,
        4_180_000,
        "III",
    ),
    src(
        "ncic-wanted",
        "NCIC Wanted Person File",
        "US",
        C::WantedPersons,
        W::FixedWidth,
        90_000,
        "W",
    ),
    src(
        "ncic-protection",
        "NCIC Protection Order File",
        "US",
        C::ProtectionOrders,
        W::FixedWidth,
        260_000,
        "H",
    ),
    src(
        "ncic-immigration",
        "NCIC Immigration Violator File",
        "US",
        C::ImmigrationViolators,
        W::FixedWidth,
        20_000,
        "V",
    ),
    src(
        "nics-mental",
        "NICS Indices: mental-health adjudications and commitments",
        "US",
        C::MentalHealth,
        W::NiemXml,
        800_000,
        "NMH",
    ),
    src(
        "nics-drug",
        "NICS Indices: unlawful users of controlled substances",
        "US",
        C::DrugUsers,
        W::NiemXml,
        40_000,
        "NDU",
    ),
    src(
        "nics-discharge",
        "NICS Indices: dishonourable discharges",
        "US",
        C::Discharges,
        W::NiemXml,
        10_000,
        "NDD",
    ),
    src(
        "nics-renounced",
        "NICS Indices: renounced US citizenship",
        "US",
        C::RenouncedCitizenship,
        W::NiemXml,
        2_000,
        "NRC",
    ),
    src(
        "nics-alien",
        "NICS Indices: illegal or unlawful aliens",
        "US",
        C::IllegalAliens,
        W::NiemXml,
        30_000,
        "NIA",
    ),
    src(
        "nics-indictment",
        "NICS Indices: persons under indictment",
        "US",
        C::Indictments,
        W::NiemXml,
        20_000,
        "NIN",
    ),
    src(
        "ice-status",
        "Immigration status query (immigration alien query)",
        "US",
        C::ImmigrationStatus,
        W::Json,
        60_000,
        "IAQ",
    ),
    src(
        "ma-criminal",
        "Massachusetts criminal history (CORI)",
        "MA",
        C::CriminalHistory,
        W::Json,
        600_000,
        "MA-CH",
    ),
    src(
        "ma-mental",
        "Massachusetts mental-health commitments",
        "MA",
        C::MentalHealth,
        W::NiemXml,
        120_000,
        "MA-MH",
    ),
    src(
        "ma-protection",
        "Massachusetts abuse prevention orders (209A)",
        "MA",
        C::ProtectionOrders,
        W::FixedWidth,
        60_000,
        "MA-PO",
    ),
    src(
        "ma-warrants",
        "Massachusetts warrant management",
        "MA",
        C::Warrants,
        W::FixedWidth,
        20_000,
        "MA-WMS",
    ),
    src(
        "ma-courts",
        "Massachusetts trial court dispositions",
        "MA",
        C::CourtDispositions,
        W::Json,
        170_000,
        "MA-TC",
    ),
    src(
        "ma-corrections",
        "Massachusetts department of correction",
        "MA",
        C::Corrections,
        W::FixedWidth,
        25_000,
        "MA-DOC",
    ),
    src(
        "il-criminal",
        "Illinois criminal history (CHRI)",
        "IL",
        C::CriminalHistory,
        W::Json,
        750_000,
        "IL-CH",
    ),
    src(
        "il-mental",
        "Illinois mental-health reporting (FOID)",
        "IL",
        C::MentalHealth,
        W::NiemXml,
        160_000,
        "IL-MH",
    ),
    src(
        "il-protection",
        "Illinois orders of protection",
        "IL",
        C::ProtectionOrders,
        W::FixedWidth,
        80_000,
        "IL-OP",
    ),
    src(
        "il-warrants",
        "Illinois warrant file",
        "IL",
        C::Warrants,
        W::Json,
        30_000,
        "IL-WF",
    ),
    src(
        "tx-criminal",
        "Texas computerized criminal history",
        "TX",
        C::CriminalHistory,
        W::Json,
        1_050_000,
        "TX-CCH",
    ),
    src(
        "tx-protection",
        "Texas protective orders",
        "TX",
        C::ProtectionOrders,
        W::FixedWidth,
        120_000,
        "TX-PO",
    ),
    src(
        "tx-courts",
        "Texas court dispositions",
        "TX",
        C::CourtDispositions,
        W::Json,
        250_000,
        "TX-CD",
    ),
    src(
        "ny-criminal",
        "New York criminal history (DCJS)",
        "NY",
        C::CriminalHistory,
        W::Json,
        850_000,
        "NY-CH",
    ),
    src(
        "ny-mental",
        "New York mental-health reporting (NICS Act)",
        "NY",
        C::MentalHealth,
        W::NiemXml,
        180_000,
        "NY-MH",
    ),
    src(
        "ny-corrections",
        "New York corrections and community supervision",
        "NY",
        C::Corrections,
        W::FixedWidth,
        23_000,
        "NY-DOCCS",
    ),
];

/// The source with id `id`, and its position in the catalogue.
pub fn source(id: &str) -> Option<(usize, &'static Source)> {
    CATALOGUE.iter().enumerate().find(|(_, s)| s.id == id)
}

/// Records in the whole catalogue at `scale`.
pub fn total_records(scale: f64) -> u64 {
    CATALOGUE.iter().map(|s| s.records_at(scale)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn twenty_seven_sources_ten_million_records_in_the_national_shape() {
        assert_eq!(CATALOGUE.len(), 27);
        let ids: HashSet<_> = CATALOGUE.iter().map(|s| s.id).collect();
        assert_eq!(ids.len(), 27, "ids are unique");
        assert_eq!(total_records(1.0), 10_000_000);
        let of = |k: RecordKind| -> u64 {
            CATALOGUE
                .iter()
                .filter(|s| s.kind() == k)
                .map(|s| s.records_at_scale_1)
                .sum()
        };
        let (crim, mental, po) = (
            of(RecordKind::Criminal) as f64,
            of(RecordKind::MentalHealth) as f64,
            of(RecordKind::ProtectionOrder) as f64,
        );
        assert!(
            (crim / mental - 75.0 / 12.0).abs() < 0.1,
            "{crim} : {mental}"
        );
        assert!((crim / po - 75.0 / 5.0).abs() < 0.3, "{crim} : {po}");
        for f in [W::Json, W::NiemXml, W::FixedWidth] {
            assert_eq!(CATALOGUE.iter().filter(|s| s.format == f).count(), 9);
        }
        // Every state repository kind appears.
        for c in [
            C::CriminalHistory,
            C::MentalHealth,
            C::ProtectionOrders,
            C::Warrants,
            C::CourtDispositions,
            C::Corrections,
        ] {
            assert!(
                CATALOGUE
                    .iter()
                    .any(|s| s.jurisdiction != "US" && s.category == c)
            );
        }
        for s in &CATALOGUE {
            assert!(s.id.len() <= 16, "{} fits the fixed-width field", s.id);
            assert!(s.control_prefix.len() <= 8);
        }
    }
}
