//! Fellegi–Sunter weights and thresholds, read from a TOML file so that an
//! agency can retune them without a release. A file with any mistake is
//! refused whole, with every reason.
//!
//! For each field and agreement level the file gives `m`, the chance of
//! that level when query and record are the same person, and `u`, the
//! chance when they are two different people; the level weighs
//! `log2(m / u)` bits. For exact first names and surnames `u` may be
//! `"frequency"`: the name's share of the source's records (never below
//! `frequency_floor`), so that agreeing on a rare name counts for more than
//! agreeing on a common one. A field missing on either side weighs 0.
//!
//! A candidate whose total reaches `match` is a match; one that reaches
//! `review` but not `match` is a possible match, for an examiner. Both are
//! for a source of `reference_records`; for a larger source they rise by
//! `log2(records / reference_records)`, since chance agreements grow with
//! the number of people a query is compared against.

use std::fmt;
use std::io::Read;
use std::path::Path;

use super::compare::{Decision, Field, Level};

/// The weights Plaza ships with (see the file for how they were set).
pub const SHIPPED: &str = include_str!("../../weights/matching.toml");
pub const SHIPPED_NAME: &str = "weights/matching.toml";

const MAX_BYTES: usize = 64 * 1024;

/// Where `u` comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum U {
    Fixed(f64),
    /// The value's frequency among the records.
    Frequency,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probabilities {
    pub m: f64,
    pub u: U,
}

/// Why a weight file was refused: every mistake in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct WeightsError {
    pub file: String,
    pub reasons: Vec<String>,
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.reasons.join("; "))
    }
}

/// Validated weights and thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub match_threshold: f64,
    pub review_threshold: f64,
    pub frequency_floor: f64,
    /// The source size the thresholds are for.
    pub reference_records: f64,
    /// Per field (in [`Field::ALL`] order), per level of that field.
    table: Vec<Vec<(Level, Probabilities)>>,
}

fn field_index(field: Field) -> usize {
    Field::ALL.iter().position(|f| *f == field).expect("listed")
}

impl Weights {
    pub fn shipped() -> Weights {
        Weights::parse(SHIPPED_NAME, SHIPPED).expect("the shipped weights are valid (tested)")
    }

    /// Reads the file at `path`, or the shipped weights when there is none.
    pub fn load(path: Option<&Path>) -> Result<Weights, WeightsError> {
        let Some(path) = path else {
            return Ok(Weights::shipped());
        };
        let name = path.display().to_string();
        let refuse = |reason: String| WeightsError {
            file: name.clone(),
            reasons: vec![reason],
        };
        // At most one byte past the limit, so a huge file is not read whole.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes))
            .map_err(|e| refuse(format!("cannot read it: {e}")))?;
        if bytes.len() > MAX_BYTES {
            return Err(refuse(format!("larger than {MAX_BYTES} bytes")));
        }
        let text = String::from_utf8(bytes).map_err(|_| refuse("it is not UTF-8 text".into()))?;
        Weights::parse(&name, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Weights, WeightsError> {
        let whole = |reason: String| WeightsError {
            file: file.to_owned(),
            reasons: vec![reason],
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
        let mut reasons = Vec::new();
        let mut number = |key: &str, ok: fn(f64) -> bool, what: &str| -> f64 {
            match table.get(key).and_then(as_number) {
                Some(v) if ok(v) => v,
                Some(_) => {
                    reasons.push(format!("{key} must be {what}"));
                    f64::NAN
                }
                None => {
                    reasons.push(format!("{key} is missing (a number: {what})"));
                    f64::NAN
                }
            }
        };
        let match_threshold = number("match", f64::is_finite, "a finite number of bits");
        let review_threshold = number("review", f64::is_finite, "a finite number of bits");
        let frequency_floor = number(
            "frequency_floor",
            |v| v > 0.0 && v < 1.0,
            "a probability above 0 and below 1",
        );
        let reference_records = number(
            "reference_records",
            |v| v >= 1.0 && v.fract() == 0.0,
            "a whole number of records, at least 1",
        );
        if match_threshold.is_finite()
            && review_threshold.is_finite()
            && review_threshold > match_threshold
        {
            reasons.push(format!(
                "review ({review_threshold}) must not be above match ({match_threshold})"
            ));
        }
        let known: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
        for key in table.keys() {
            if !["match", "review", "frequency_floor", "reference_records"].contains(&key.as_str())
                && !known.contains(&key.as_str())
            {
                reasons.push(format!("unknown setting {key:?}"));
            }
        }
        let mut fields = Vec::new();
        for field in Field::ALL {
            let name = field.as_str();
            let Some(t) = table.get(name) else {
                reasons.push(format!("[{name}] is missing"));
                fields.push(Vec::new());
                continue;
            };
            let Some(t) = t.as_table() else {
                reasons.push(format!("{name} must be a table of levels"));
                fields.push(Vec::new());
                continue;
            };
            for key in t.keys() {
                if !field.levels().iter().any(|l| l.as_str() == key) {
                    reasons.push(format!(
                        "{name}.{key}: not a level of {name} (its levels: {})",
                        level_names(field)
                    ));
                }
            }
            let mut levels = Vec::new();
            for &level in field.levels() {
                let at = format!("{name}.{}", level.as_str());
                match t.get(level.as_str()) {
                    None => reasons.push(format!("{at} is missing")),
                    Some(v) => {
                        let frequency_allowed =
                            level == Level::Exact && matches!(field, Field::First | Field::Last);
                        match probabilities(v, frequency_allowed) {
                            Ok(p) => levels.push((level, p)),
                            Err(why) => reasons.push(format!("{at}: {why}")),
                        }
                    }
                }
            }
            fields.push(levels);
        }
        if !reasons.is_empty() {
            return Err(WeightsError {
                file: file.to_owned(),
                reasons,
            });
        }
        Ok(Weights {
            match_threshold,
            review_threshold,
            frequency_floor,
            reference_records,
            table: fields,
        })
    }

    pub fn probabilities(&self, field: Field, level: Level) -> Option<Probabilities> {
        self.table[field_index(field)]
            .iter()
            .find(|(l, _)| *l == level)
            .map(|(_, p)| *p)
    }

    /// The weight of `level` on `field`, in bits; `frequency` gives the
    /// value's frequency when the level's `u` is one.
    pub fn weight(&self, field: Field, level: Level, frequency: impl FnOnce() -> f64) -> f64 {
        let Some(p) = self.probabilities(field, level) else {
            return 0.0;
        };
        let u = match p.u {
            U::Fixed(u) => u,
            U::Frequency => frequency().max(self.frequency_floor),
        };
        (p.m / u).log2()
    }

    /// How many bits the thresholds rise for a source of `records`.
    pub fn threshold_shift(&self, records: usize) -> f64 {
        (records as f64 / self.reference_records).log2().max(0.0)
    }

    /// The decision for `score` against a source of `records` records.
    pub fn decide(&self, score: f64, records: usize) -> Decision {
        let shift = self.threshold_shift(records);
        if score >= self.match_threshold + shift {
            Decision::Match
        } else if score >= self.review_threshold + shift {
            Decision::PossibleMatch
        } else {
            Decision::NonMatch
        }
    }

    /// The same weights with other thresholds.
    pub fn with_thresholds(mut self, match_threshold: f64, review_threshold: f64) -> Weights {
        self.match_threshold = match_threshold;
        self.review_threshold = review_threshold.min(match_threshold);
        self
    }
}

fn level_names(field: Field) -> String {
    field
        .levels()
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn as_number(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

fn probability(v: Option<&toml::Value>, name: &str) -> Result<f64, String> {
    match v.and_then(as_number) {
        Some(p) if p > 0.0 && p <= 1.0 => Ok(p),
        Some(p) => Err(format!(
            "{name} = {p} is not a probability above 0 and at most 1"
        )),
        None => Err(format!("{name} must be a number")),
    }
}

fn probabilities(v: &toml::Value, frequency_allowed: bool) -> Result<Probabilities, String> {
    let Some(t) = v.as_table() else {
        return Err("must be a table { m = ..., u = ... }".into());
    };
    if let Some(key) = t.keys().find(|k| *k != "m" && *k != "u") {
        return Err(format!("unknown key {key:?} (only m and u)"));
    }
    let m = probability(t.get("m"), "m")?;
    let u = match t.get("u") {
        Some(toml::Value::String(s)) if s == "frequency" && frequency_allowed => U::Frequency,
        Some(toml::Value::String(s)) if s == "frequency" => {
            return Err("u = \"frequency\" is only for exact first names and surnames".into());
        }
        other => U::Fixed(probability(other, "u")?),
    };
    Ok(Probabilities { m, u })
}
