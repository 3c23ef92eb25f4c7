//! Online-renewal eligibility as data. The agency writes its rules in a
//! TOML file (`rules/eligibility.toml` ships as the default): a small set of
//! typed condition kinds with parameters, each rule with the message a
//! citizen sees when it refuses and what to do instead.
//!
//! Evaluation is a pure function of the driver, the request and today's
//! date; it reports every rule that refuses, not only the first.

mod file;

use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::Deserialize;

use crate::drivers::domain::{Date, Driver, LicenceClass, Status};

pub use file::RuleError;

/// The shipped rule file.
pub const SHIPPED: &str = include_str!("../../rules/eligibility.toml");
pub const SHIPPED_NAME: &str = "rules/eligibility.toml";

/// A yes/no fact of a driver record a rule can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    LastRenewalOnline,
    RealId,
    RealIdDocumentsSeen,
}

impl Flag {
    fn of(self, d: &Driver) -> bool {
        match self {
            Flag::LastRenewalOnline => d.last_renewal_online,
            Flag::RealId => d.real_id,
            Flag::RealIdDocumentsSeen => d.real_id_documents_seen,
        }
    }
}

/// Until when a medical certificate must be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Through {
    /// It expires after today.
    #[default]
    Today,
    /// It expires after the renewed licence would.
    NewExpiry,
}

/// What a rule requires of a driver for online renewal.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The licence's status is one of these.
    StatusIn { statuses: Vec<Status> },
    /// Not expired, or expired at most this many days ago.
    ExpiredWithinDays { days: u32 },
    /// Aged at most this many years today.
    AgeAtMost { years: u32 },
    /// Aged at most this many years on the renewed licence's expiry date,
    /// unless a vision test was taken in person within the given days.
    AgeAtNewExpiryAtMost {
        years: u32,
        #[serde(default)]
        unless_vision_test_within_days: Option<u32>,
    },
    /// The flag is not set on the record.
    NotFlag { flag: Flag },
    /// A citizen asking for REAL ID has had their documents seen in person
    /// before.
    RealIdDocumentsSeenIfRequested {},
    /// Drivers of these classes hold a medical certificate valid through
    /// `through`.
    MedicalCurrentForClasses {
        classes: Vec<LicenceClass>,
        #[serde(default)]
        through: Through,
    },
    /// Today is at most this many days before the expiry date.
    RenewalWindowDays { days: u32 },
}

/// One rule of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub condition: Condition,
    /// What the citizen is told when the rule refuses.
    pub refusal: String,
    /// What to do instead.
    pub instead: String,
}

/// What the citizen asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenewalRequest {
    pub wants_real_id: bool,
}

/// A rule that refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule_id: String,
    pub message: String,
    pub instead: String,
}

/// The outcome of an eligibility check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub today: Date,
    /// The expiry date a renewal now would give.
    pub new_expires_on: Date,
    /// Every rule that refused, in file order; empty when eligible.
    pub refusals: Vec<Refusal>,
}

impl Decision {
    pub fn eligible(&self) -> bool {
        self.refusals.is_empty()
    }
}

/// A validated rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// The file it came from.
    pub source: String,
    pub validity_years: u32,
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// Parses and validates a rule file; refuses it whole on any mistake.
    pub fn parse(file_name: &str, text: &str) -> Result<RuleSet, RuleError> {
        file::parse(file_name, text)
    }

    /// The shipped rules.
    pub fn shipped() -> RuleSet {
        RuleSet::parse(SHIPPED_NAME, SHIPPED).expect("the shipped rules are valid (tested)")
    }

    /// The expiry date a renewal on `today` gives: `validity_years` after
    /// the current expiry, or after today once the licence has expired.
    pub fn new_expiry(&self, driver: &Driver, today: Date) -> Date {
        driver
            .expires_on
            .max(today)
            .add_years(self.validity_years as i32)
    }

    /// Every rule the driver fails for this request on `today`.
    pub fn evaluate(&self, driver: &Driver, request: &RenewalRequest, today: Date) -> Decision {
        let new_expiry = self.new_expiry(driver, today);
        let birth = driver.person.birth_date;
        let refusals = self
            .rules
            .iter()
            .filter(|rule| !holds(&rule.condition, driver, request, today, new_expiry, birth))
            .map(|rule| Refusal {
                rule_id: rule.id.clone(),
                message: rule.refusal.clone(),
                instead: rule.instead.clone(),
            })
            .collect();
        Decision {
            today,
            new_expires_on: new_expiry,
            refusals,
        }
    }
}

fn holds(
    c: &Condition,
    d: &Driver,
    request: &RenewalRequest,
    today: Date,
    new_expiry: Date,
    birth: Date,
) -> bool {
    match c {
        Condition::StatusIn { statuses } => statuses.contains(&d.status),
        Condition::ExpiredWithinDays { days } => {
            d.expires_on >= today || today.days() - d.expires_on.days() <= i64::from(*days)
        }
        Condition::AgeAtMost { years } => birth.years_until(today) <= *years as i32,
        Condition::AgeAtNewExpiryAtMost {
            years,
            unless_vision_test_within_days,
        } => {
            birth.years_until(new_expiry) <= *years as i32
                || match (unless_vision_test_within_days, d.vision_test_on) {
                    (Some(within), Some(tested)) => {
                        tested <= today && today.days() - tested.days() <= i64::from(*within)
                    }
                    _ => false,
                }
        }
        Condition::NotFlag { flag } => !flag.of(d),
        Condition::RealIdDocumentsSeenIfRequested {} => {
            !request.wants_real_id || d.real_id_documents_seen
        }
        Condition::MedicalCurrentForClasses { classes, through } => {
            if !classes.contains(&d.class) {
                return true;
            }
            let until = match through {
                Through::Today => today,
                Through::NewExpiry => new_expiry,
            };
            d.medical_certificate_expires_on
                .is_some_and(|expires| expires > until)
        }
        Condition::RenewalWindowDays { days } => {
            today.days() >= d.expires_on.days() - i64::from(*days)
        }
    }
}

/// The rules in force. A new file replaces them only when it is valid
/// whole; otherwise the rules in force stay.
#[derive(Debug)]
pub struct RuleBook {
    current: RwLock<Arc<RuleSet>>,
}

impl RuleBook {
    pub fn new(set: RuleSet) -> RuleBook {
        RuleBook {
            current: RwLock::new(Arc::new(set)),
        }
    }

    pub fn shipped() -> RuleBook {
        RuleBook::new(RuleSet::shipped())
    }

    /// The rules of `path` when given, the shipped rules otherwise.
    pub fn load(path: Option<&Path>) -> Result<RuleBook, RuleError> {
        match path {
            Some(p) => Ok(RuleBook::new(file::read(p)?)),
            None => Ok(RuleBook::shipped()),
        }
    }

    /// Replaces the rules with those of `path`, if it is valid.
    pub fn reload(&self, path: &Path) -> Result<(), RuleError> {
        let set = file::read(path)?;
        self.install(set);
        Ok(())
    }

    /// Replaces the rules with `text`, if it is valid.
    pub fn replace(&self, file_name: &str, text: &str) -> Result<(), RuleError> {
        let set = RuleSet::parse(file_name, text)?;
        self.install(set);
        Ok(())
    }

    fn install(&self, set: RuleSet) {
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        *guard = Arc::new(set);
    }

    pub fn current(&self) -> Arc<RuleSet> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests;
