//! Fee schedules as data: a TOML file of fee lines, each with conditions
//! (licence classes, age band, late renewal, REAL ID). An agency edits the
//! file, never the code; a file with an error is refused whole.

use serde::Deserialize;

use crate::Error;

/// The schedule Plaza ships (sample data; see the file's header).
pub const SHIPPED: &str = include_str!("../fees/fees.toml");

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FeeRule {
    pub code: String,
    pub description: String,
    pub amount: i64,
    #[serde(default)]
    pub classes: Vec<String>,
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    pub late: Option<bool>,
    pub real_id: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    currency: String,
    line: Vec<FeeRule>,
}

/// What a quote depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeInput {
    pub licence_class: String,
    pub age: u32,
    pub late: bool,
    pub real_id: bool,
}

/// One line of a quote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeeLine {
    pub code: String,
    pub description: String,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub lines: Vec<FeeLine>,
    pub total: i64,
    pub currency: String,
}

#[derive(Debug, Clone)]
pub struct FeeSchedule {
    currency: String,
    rules: Vec<FeeRule>,
}

impl FeeSchedule {
    pub fn shipped() -> FeeSchedule {
        FeeSchedule::parse(SHIPPED).expect("the shipped fee schedule is valid")
    }

    /// Parses and checks a schedule: every amount positive, codes unique,
    /// age bands sane, currency USD.
    pub fn parse(text: &str) -> Result<FeeSchedule, Error> {
        let file: File = toml::from_str(text).map_err(|e| Error::Fees(e.to_string()))?;
        if file.currency != "USD" {
            return Err(Error::Fees(format!(
                "currency {}: only USD is supported",
                file.currency
            )));
        }
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in &file.line {
            if r.code.is_empty() || !seen.insert(r.code.clone()) {
                problems.push(format!("line {:?}: code missing or repeated", r.code));
            }
            if r.amount <= 0 || r.amount > 10_000_000 {
                problems.push(format!(
                    "line {}: amount {} is not 1..=10000000 cents",
                    r.code, r.amount
                ));
            }
            if let (Some(lo), Some(hi)) = (r.min_age, r.max_age)
                && lo > hi
            {
                problems.push(format!("line {}: min_age {lo} > max_age {hi}", r.code));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Fees(problems.join("; ")));
        }
        Ok(FeeSchedule {
            currency: file.currency,
            rules: file.line,
        })
    }

    /// Every line that applies. A quote with no class-specific line is
    /// refused: the class is unknown to the schedule.
    pub fn quote(&self, input: &FeeInput) -> Result<Quote, Error> {
        let applies = |r: &FeeRule| {
            (r.classes.is_empty() || r.classes.iter().any(|c| c == &input.licence_class))
                && r.min_age.is_none_or(|a| input.age >= a)
                && r.max_age.is_none_or(|a| input.age <= a)
                && r.late.is_none_or(|l| l == input.late)
                && r.real_id.is_none_or(|x| x == input.real_id)
        };
        let lines: Vec<FeeLine> = self
            .rules
            .iter()
            .filter(|r| applies(r))
            .map(|r| FeeLine {
                code: r.code.clone(),
                description: r.description.clone(),
                amount: r.amount,
            })
            .collect();
        let class_specific = self
            .rules
            .iter()
            .filter(|r| applies(r))
            .any(|r| !r.classes.is_empty());
        if !class_specific {
            return Err(Error::NoFee(input.licence_class.clone()));
        }
        Ok(Quote {
            total: lines.iter().map(|l| l.amount).sum(),
            lines,
            currency: self.currency.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(class: &str, age: u32, late: bool, real_id: bool) -> FeeInput {
        FeeInput {
            licence_class: class.into(),
            age,
            late,
            real_id,
        }
    }

    #[test]
    fn the_shipped_schedule_quotes_by_class_age_lateness_and_real_id() {
        let s = FeeSchedule::shipped();
        let q = s.quote(&input("C", 40, false, false)).unwrap();
        assert_eq!(q.total, 3950 + 350);
        let q = s.quote(&input("C", 70, true, true)).unwrap();
        let codes: Vec<&str> = q.lines.iter().map(|l| l.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "renewal.senior",
                "renewal.late",
                "real_id.first",
                "card.production"
            ]
        );
        assert_eq!(q.total, 2750 + 1000 + 3000 + 350);
        assert_eq!(
            s.quote(&input("CDL-A", 30, false, false)).unwrap().total,
            8750
        );
        assert!(matches!(
            s.quote(&input("Z", 30, false, false)),
            Err(Error::NoFee(_))
        ));
    }

    #[test]
    fn a_bad_schedule_is_refused_whole_with_reasons() {
        let bad = r#"
currency = "USD"
[[line]]
code = "a"
description = "x"
amount = -5
[[line]]
code = "a"
description = "y"
amount = 10
min_age = 70
max_age = 60
"#;
        let Err(Error::Fees(msg)) = FeeSchedule::parse(bad) else {
            panic!("refused")
        };
        assert!(msg.contains("amount -5"), "{msg}");
        assert!(msg.contains("repeated"), "{msg}");
        assert!(msg.contains("min_age 70 > max_age 60"), "{msg}");
        assert!(FeeSchedule::parse("currency = \"EUR\"\nline = []").is_err());
        assert!(FeeSchedule::parse("[[line]]\ncode = 1").is_err());
    }
}
