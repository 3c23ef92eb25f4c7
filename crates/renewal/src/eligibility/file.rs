//! Reading and validating a rule file. A file with any mistake is refused
//! whole, with the file, the rule and the reason.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use super::{Condition, Rule, RuleSet};

/// Largest rule file accepted.
const MAX_BYTES: usize = 256 * 1024;
const MAX_RULES: usize = 200;
const MAX_TEXT: usize = 500;

/// Why a rule file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    pub file: String,
    /// The rule's id (or `#n`, its position, when it has no usable id).
    pub rule: Option<String>,
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(rule) => write!(f, "{}: rule {rule}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

/// Reads and validates the rule file at `path`.
pub(super) fn read(path: &Path) -> Result<RuleSet, RuleError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| RuleError {
        file: name.clone(),
        rule: None,
        reason: format!("cannot read it: {e}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| RuleError {
        file: name.clone(),
        rule: None,
        reason: "it is not UTF-8 text".into(),
    })?;
    parse(&name, &text)
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

pub(super) fn parse(file: &str, text: &str) -> Result<RuleSet, RuleError> {
    let whole = |reason: String| RuleError {
        file: file.to_owned(),
        rule: None,
        reason,
    };
    if text.len() > MAX_BYTES {
        return Err(whole(format!("larger than {MAX_BYTES} bytes")));
    }
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        whole(format!(
            "not valid TOML: {}",
            e.to_string().trim().replace('\n', " ")
        ))
    })?;
    let mut validity_years = None;
    let mut raw_rules = None;
    for (key, value) in table {
        match key.as_str() {
            "validity_years" => match value.as_integer() {
                Some(n) if (1..=12).contains(&n) => validity_years = Some(n as u32),
                _ => {
                    return Err(whole(
                        "validity_years must be a whole number of years from 1 to 12".into(),
                    ));
                }
            },
            "rule" => match value {
                toml::Value::Array(items) => raw_rules = Some(items),
                _ => return Err(whole("rule must be a list of [[rule]] tables".into())),
            },
            other => return Err(whole(format!("unknown setting {other:?}"))),
        }
    }
    let validity_years = validity_years.ok_or_else(|| whole("validity_years is missing".into()))?;
    let raw_rules = raw_rules.unwrap_or_default();
    if raw_rules.is_empty() {
        return Err(whole(
            "there are no rules: every driver would be eligible".into(),
        ));
    }
    if raw_rules.len() > MAX_RULES {
        return Err(whole(format!("more than {MAX_RULES} rules")));
    }
    let mut seen = HashSet::new();
    let mut rules = Vec::with_capacity(raw_rules.len());
    for (i, value) in raw_rules.into_iter().enumerate() {
        let position = format!("#{}", i + 1);
        let toml::Value::Table(mut t) = value else {
            return Err(RuleError {
                file: file.to_owned(),
                rule: Some(position),
                reason: "a rule must be a table".into(),
            });
        };
        let id = match t.remove("id") {
            Some(toml::Value::String(s)) if valid_id(&s) => s,
            Some(_) => {
                return Err(RuleError {
                    file: file.to_owned(),
                    rule: Some(position),
                    reason: "id must be 1 to 64 lower-case letters, digits, '.', '_' or '-'".into(),
                });
            }
            None => {
                return Err(RuleError {
                    file: file.to_owned(),
                    rule: Some(position),
                    reason: "id is missing".into(),
                });
            }
        };
        let refuse = |reason: String| RuleError {
            file: file.to_owned(),
            rule: Some(id.clone()),
            reason,
        };
        if !seen.insert(id.clone()) {
            return Err(refuse("this id is used by an earlier rule".into()));
        }
        let mut text_field = |name: &str| -> Result<String, RuleError> {
            match t.remove(name) {
                Some(toml::Value::String(s))
                    if !s.trim().is_empty()
                        && s.chars().count() <= MAX_TEXT
                        && !s.chars().any(char::is_control) =>
                {
                    Ok(s.trim().to_owned())
                }
                Some(_) => Err(refuse(format!(
                    "{name} must be text of 1 to {MAX_TEXT} characters on one line"
                ))),
                None => Err(refuse(format!("{name} is missing"))),
            }
        };
        let refusal = text_field("refusal")?;
        let instead = text_field("instead")?;
        let kind = match t.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(_) => return Err(refuse("kind must be text".into())),
            None => return Err(refuse("kind is missing".into())),
        };
        // The remaining keys are the condition's parameters.
        let mut tagged = toml::Table::new();
        tagged.insert(kind.clone(), toml::Value::Table(t));
        let condition: Condition = toml::Value::Table(tagged).try_into().map_err(|e| {
            let msg = e.to_string().trim().replace('\n', " ");
            refuse(format!("kind {kind:?}: {msg}"))
        })?;
        check(&condition).map_err(refuse)?;
        rules.push(Rule {
            id,
            condition,
            refusal,
            instead,
        });
    }
    Ok(RuleSet {
        source: file.to_owned(),
        validity_years,
        rules,
    })
}

/// Parameter ranges that the types alone do not enforce.
fn check(c: &Condition) -> Result<(), String> {
    let days = |d: u32| {
        if d > 36_500 {
            Err(format!("{d} days is more than a hundred years"))
        } else {
            Ok(())
        }
    };
    let years = |y: u32| {
        if !(16..=130).contains(&y) {
            Err(format!("{y} is not an age from 16 to 130"))
        } else {
            Ok(())
        }
    };
    match c {
        Condition::StatusIn { statuses } if statuses.is_empty() => {
            Err("statuses is empty: no driver could pass".into())
        }
        Condition::StatusIn { .. } => Ok(()),
        Condition::ExpiredWithinDays { days: d } | Condition::RenewalWindowDays { days: d } => {
            days(*d)
        }
        Condition::AgeAtMost { years: y } => years(*y),
        Condition::AgeAtNewExpiryAtMost {
            years: y,
            unless_vision_test_within_days,
        } => {
            years(*y)?;
            unless_vision_test_within_days.map_or(Ok(()), days)
        }
        Condition::MedicalCurrentForClasses { classes, .. } if classes.is_empty() => {
            Err("classes is empty: the rule would test nobody".into())
        }
        Condition::NotFlag { .. }
        | Condition::RealIdDocumentsSeenIfRequested {}
        | Condition::MedicalCurrentForClasses { .. } => Ok(()),
    }
}
