//! A permit type as the catalogue describes it. Values here come only from
//! the linter ([`crate::lint`]), so a `PermitType` in memory is always one
//! that passed every check.

use std::fmt;

use serde::Serialize;

use crate::calendar::{BusinessCalendar, Date};

/// The states, the District of Columbia, the territories, and `US` for
/// federal licences: code and name.
pub const JURISDICTIONS: &[(&str, &str)] = &[
    ("US", "United States (federal)"),
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("DC", "District of Columbia"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
    ("PR", "Puerto Rico"),
    ("GU", "Guam"),
    ("VI", "U.S. Virgin Islands"),
    ("AS", "American Samoa"),
    ("MP", "Northern Mariana Islands"),
];

/// A jurisdiction that issues permits: a two-letter code of
/// [`JURISDICTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "&'static str")]
pub struct Jurisdiction(&'static str);

impl Jurisdiction {
    /// The jurisdiction with this code (upper case, as in `MA`).
    pub fn parse(code: &str) -> Option<Jurisdiction> {
        JURISDICTIONS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(c, _)| Jurisdiction(c))
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    pub fn name(self) -> &'static str {
        JURISDICTIONS
            .iter()
            .find(|(c, _)| *c == self.0)
            .map_or("", |(_, n)| n)
    }

    /// The prefix every id of this jurisdiction starts with (`ma-`).
    pub fn id_prefix(self) -> String {
        format!("{}-", self.0.to_ascii_lowercase())
    }
}

impl From<Jurisdiction> for &'static str {
    fn from(j: Jurisdiction) -> &'static str {
        j.0
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// What a permit lets its holder do, or what it renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Lets the holder acquire firearms (or one firearm, when single-use).
    PurchasePermit,
    /// An owner identification card (to possess or acquire at all).
    OwnerId,
    /// A licence to carry, concealed or openly.
    CarryLicence,
    /// A safety certificate earned by a test.
    SafetyCertificate,
    /// A certificate of eligibility to acquire a class of firearm or
    /// ammunition.
    EligibilityCertificate,
    /// A licence to deal in firearms.
    DealerLicence,
    /// A licence to teach the courses other permits require.
    InstructorLicence,
    PurchasePermitRenewal,
    OwnerIdRenewal,
    CarryRenewal,
    EligibilityRenewal,
    DealerRenewal,
    InstructorRenewal,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::PurchasePermit,
        Kind::OwnerId,
        Kind::CarryLicence,
        Kind::SafetyCertificate,
        Kind::EligibilityCertificate,
        Kind::DealerLicence,
        Kind::InstructorLicence,
        Kind::PurchasePermitRenewal,
        Kind::OwnerIdRenewal,
        Kind::CarryRenewal,
        Kind::EligibilityRenewal,
        Kind::DealerRenewal,
        Kind::InstructorRenewal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PurchasePermit => "purchase_permit",
            Kind::OwnerId => "owner_id",
            Kind::CarryLicence => "carry_licence",
            Kind::SafetyCertificate => "safety_certificate",
            Kind::EligibilityCertificate => "eligibility_certificate",
            Kind::DealerLicence => "dealer_licence",
            Kind::InstructorLicence => "instructor_licence",
            Kind::PurchasePermitRenewal => "purchase_permit_renewal",
            Kind::OwnerIdRenewal => "owner_id_renewal",
            Kind::CarryRenewal => "carry_renewal",
            Kind::EligibilityRenewal => "eligibility_renewal",
            Kind::DealerRenewal => "dealer_renewal",
            Kind::InstructorRenewal => "instructor_renewal",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// For a renewal kind, the kind of permit it renews.
    pub fn renews(self) -> Option<Kind> {
        match self {
            Kind::PurchasePermitRenewal => Some(Kind::PurchasePermit),
            Kind::OwnerIdRenewal => Some(Kind::OwnerId),
            Kind::CarryRenewal => Some(Kind::CarryLicence),
            Kind::EligibilityRenewal => Some(Kind::EligibilityCertificate),
            Kind::DealerRenewal => Some(Kind::DealerLicence),
            Kind::InstructorRenewal => Some(Kind::InstructorLicence),
            _ => None,
        }
    }

    /// Whether a permit of this kind is renewed at all (a safety
    /// certificate is earned again by a new test).
    pub fn renewable(self) -> bool {
        self != Kind::SafetyCertificate
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a permit lasts from the day it is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    Years(u32),
    Days(u32),
    /// A single-use permit: void this many days after issue, or once used.
    /// It cannot be renewed; a new one is applied for.
    VoidAfterIssueDays(u32),
}

impl Validity {
    /// The last day the permit is valid, issued on `issued_on`.
    pub fn expires_on(self, issued_on: Date) -> Date {
        match self {
            Validity::Years(y) => issued_on.add_years(y as i32),
            Validity::Days(d) | Validity::VoidAfterIssueDays(d) => issued_on.add_days(i64::from(d)),
        }
    }

    /// About how many days the permit lasts (a year counted as 365 days).
    pub fn approximate_days(self) -> u32 {
        match self {
            Validity::Years(y) => y * 365,
            Validity::Days(d) | Validity::VoidAfterIssueDays(d) => d,
        }
    }

    pub fn single_use(self) -> bool {
        matches!(self, Validity::VoidAfterIssueDays(_))
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validity::Years(1) => f.write_str("1 year"),
            Validity::Years(y) => write!(f, "{y} years"),
            Validity::Days(1) => f.write_str("1 day"),
            Validity::Days(d) => write!(f, "{d} days"),
            Validity::VoidAfterIssueDays(d) => write!(f, "void {d} days after issue"),
        }
    }
}

/// Who may apply, by where they live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Residency {
    /// Residents must prove they live (or, for a dealer, do business) in
    /// the jurisdiction.
    pub required: bool,
    /// People who live elsewhere may apply too.
    pub non_resident_allowed: bool,
}

/// A kind of evidence that training was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    /// A certificate from an approved course.
    CourseCertificate,
    /// A qualification score on a range, signed by an instructor.
    RangeQualification,
    /// A written test passed.
    WrittenTest,
    /// A hunter education card.
    HunterEducation,
    /// Military service with firearms training.
    MilitaryService,
    /// Law-enforcement service with firearms training.
    LawEnforcementService,
    /// A licence held before, of the same or a stricter kind.
    PriorLicence,
}

impl Proof {
    pub const ALL: [Proof; 7] = [
        Proof::CourseCertificate,
        Proof::RangeQualification,
        Proof::WrittenTest,
        Proof::HunterEducation,
        Proof::MilitaryService,
        Proof::LawEnforcementService,
        Proof::PriorLicence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Proof::CourseCertificate => "course_certificate",
            Proof::RangeQualification => "range_qualification",
            Proof::WrittenTest => "written_test",
            Proof::HunterEducation => "hunter_education",
            Proof::MilitaryService => "military_service",
            Proof::LawEnforcementService => "law_enforcement_service",
            Proof::PriorLicence => "prior_licence",
        }
    }

    pub fn parse(s: &str) -> Option<Proof> {
        Proof::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The training an applicant must show. All zero and empty: none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Training {
    /// Hours of instruction in all, live fire included.
    pub hours: u32,
    /// Of those, hours of live fire on a range.
    pub live_fire_hours: u32,
    /// What the applicant may show as evidence (any one of them).
    pub proof: Vec<Proof>,
    /// The lowest passing score of a test or range qualification.
    pub min_score_percent: Option<u32>,
}

impl Training {
    pub fn required(&self) -> bool {
        !self.proof.is_empty()
    }
}

/// How a deadline's days are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counting {
    Calendar,
    Business,
}

impl Counting {
    pub fn as_str(self) -> &'static str {
        match self {
            Counting::Calendar => "calendar",
            Counting::Business => "business",
        }
    }
}

/// The statutory time the agency has to decide an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Deadline {
    pub days: u32,
    pub counting: Counting,
}

impl Deadline {
    /// The last day to decide an application received on `received_on`.
    /// The day of receipt does not count: `days` calendar days later, or the
    /// `days`-th business day after it.
    pub fn due(self, received_on: Date, calendar: &BusinessCalendar) -> Date {
        match self.counting {
            Counting::Calendar => received_on.add_days(i64::from(self.days)),
            Counting::Business => calendar.add_business_days(received_on, self.days),
        }
    }
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.days == 1 { "day" } else { "days" };
        write!(f, "{} {} {unit}", self.days, self.counting.as_str())
    }
}

/// When a holder may renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RenewalWindow {
    /// Renewal opens this many days before expiry.
    pub opens_days_before_expiry: u32,
    /// And stays open this many days after it (0: not after expiry).
    pub grace_days_after: u32,
}

impl RenewalWindow {
    /// Whether a permit expiring on `expires_on` may be renewed on `today`.
    pub fn is_open(self, expires_on: Date, today: Date) -> bool {
        let opens = expires_on.add_days(-i64::from(self.opens_days_before_expiry));
        let closes = expires_on.add_days(i64::from(self.grace_days_after));
        opens <= today && today <= closes
    }
}

/// A state reason to refuse, in addition to the federal prohibitors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disqualifier {
    /// Stable code (`ma-140-131-d-iv`): decisions cite it.
    pub code: String,
    pub description: String,
    /// Only events within this many years count; `None`: for ever.
    pub lookback_years: Option<u32>,
}

/// A permit type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermitType {
    /// Stable id, starting with the jurisdiction (`ma-ltc`).
    pub id: String,
    pub name: String,
    pub jurisdiction: Jurisdiction,
    pub kind: Kind,
    /// The law it comes from, as the agency cites it.
    pub statute: Option<String>,
    /// The fee, in cents.
    pub fee_cents: u32,
    /// The fee for a non-resident, when it differs.
    pub non_resident_fee_cents: Option<u32>,
    pub validity: Validity,
    pub minimum_age: u32,
    pub residency: Residency,
    pub training: Training,
    /// Character references the applicant names.
    pub references: u32,
    pub fingerprints: bool,
    pub interview: bool,
    /// Days between approval and taking the permit (or the firearm).
    pub waiting_period_days: u32,
    pub decision_deadline: Deadline,
    /// When the holder may renew; `None`: no renewal (apply anew).
    pub renewal: Option<RenewalWindow>,
    /// For a renewal type, the id of the type it renews.
    pub renews: Option<String>,
    /// State disqualifiers, in addition to the federal prohibitors.
    pub state_disqualifiers: Vec<Disqualifier>,
}

impl PermitType {
    /// The fee for this applicant; `None` when a non-resident may not apply.
    pub fn fee_for(&self, resident: bool) -> Option<u32> {
        if resident {
            Some(self.fee_cents)
        } else if self.residency.non_resident_allowed {
            Some(self.non_resident_fee_cents.unwrap_or(self.fee_cents))
        } else {
            None
        }
    }
}

/// Cents as dollars (`$150.00`).
pub fn dollars(cents: u32) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}
