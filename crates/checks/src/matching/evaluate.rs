//! Measuring a matcher on a labelled set: queries whose true records are
//! known.
//!
//! Pairs are (query, record). A pair is *true* when the record is about the
//! query's person. Precision and recall are computed on the automatic
//! decisions only:
//!
//! - precision = true matches / all matches;
//! - recall = true matches / (true matches + true pairs decided no match,
//!   including those blocking never put forward);
//! - possible matches go to an examiner and count in neither; they are
//!   reported as the **review rate**, the share of queries with at least one
//!   possible match (each such check is delayed), so that sending hard
//!   cases to review cannot pass for accuracy. `strict_recall` counts true
//!   pairs sent to review as missed.

use std::collections::BTreeMap;
use std::fmt;

use super::compare::{Candidate, Decision, Field, Level};
use super::{Descriptors, Matcher};

/// A query with its truth.
#[derive(Debug, Clone)]
pub struct LabelledQuery {
    pub descriptors: Descriptors,
    /// The person the query is for.
    pub person: u64,
    /// How many of the source's records are that person's.
    pub true_records: u32,
}

/// A pair worth looking at.
#[derive(Debug, Clone)]
pub struct Example {
    pub query: Descriptors,
    pub person: u64,
    /// The candidate as scored, or `None` for true records blocking missed.
    pub candidate: Option<Candidate>,
}

/// What [`evaluate`] found.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub queries: u64,
    /// Pairs of a query and one of its person's records.
    pub true_pairs: u64,
    /// Pairs blocking put forward and scoring compared.
    pub candidates: u64,
    pub true_matches: u64,
    pub false_matches: u64,
    /// Possible matches that were the person's records, and that were not.
    pub review_true: u64,
    pub review_false: u64,
    /// Queries with at least one possible match.
    pub review_queries: u64,
    /// True pairs scored below the review threshold.
    pub missed_scored: u64,
    /// True pairs blocking never put forward.
    pub missed_unblocked: u64,
    /// For each field and level, how many candidate pairs had it: (same
    /// person, different people). From these, m and u can be re-estimated.
    pub tally: BTreeMap<(Field, Level), (u64, u64)>,
    pub false_match_examples: Vec<Example>,
    pub missed_examples: Vec<Example>,
    pub review_examples: Vec<Example>,
}

/// How many examples of each kind an evaluation keeps.
const EXAMPLES: usize = 25;

impl Evaluation {
    pub fn precision(&self) -> f64 {
        ratio(self.true_matches, self.true_matches + self.false_matches)
    }

    pub fn recall(&self) -> f64 {
        ratio(
            self.true_matches,
            self.true_matches + self.missed_scored + self.missed_unblocked,
        )
    }

    /// Recall counting true pairs sent to review as missed.
    pub fn strict_recall(&self) -> f64 {
        ratio(self.true_matches, self.true_pairs)
    }

    /// Share of queries with at least one possible match.
    pub fn review_rate(&self) -> f64 {
        ratio(self.review_queries, self.queries)
    }

    /// m and u for each field and level, as observed among candidate pairs
    /// (u here is among pairs that blocking put together, which agree more
    /// often than people drawn at random).
    pub fn observed_m_u(&self) -> Vec<(Field, Level, f64, f64)> {
        let same: u64 = self.true_matches + self.review_true + self.missed_scored;
        let different = self.candidates.saturating_sub(same);
        self.tally
            .iter()
            .map(|(&(f, l), &(s, d))| (f, l, ratio(s, same), ratio(d, different)))
            .collect()
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} queries, {} true pairs, {} candidates: precision {:.4}, recall {:.4} \
             (strict {:.4}), review rate {:.4} ({} queries; {} true and {} false pairs); \
             {} matches, {} false; missed {} scored low and {} never blocked",
            self.queries,
            self.true_pairs,
            self.candidates,
            self.precision(),
            self.recall(),
            self.strict_recall(),
            self.review_rate(),
            self.review_queries,
            self.review_true,
            self.review_false,
            self.true_matches + self.false_matches,
            self.false_matches,
            self.missed_scored,
            self.missed_unblocked,
        )
    }
}

/// Runs every query against `matcher`; `person_of` tells whose a record is.
pub fn evaluate(
    matcher: &Matcher,
    person_of: impl Fn(u64) -> u64,
    queries: impl IntoIterator<Item = LabelledQuery>,
) -> Evaluation {
    let mut e = Evaluation::default();
    for q in queries {
        e.queries += 1;
        e.true_pairs += u64::from(q.true_records);
        let mut found_true = 0u64;
        let mut in_review = false;
        for c in matcher.score_all(&q.descriptors) {
            e.candidates += 1;
            let same = person_of(c.record_id) == q.person;
            found_true += u64::from(same);
            for fs in &c.fields {
                let entry = e.tally.entry((fs.field, fs.level)).or_default();
                if same {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                }
            }
            let keep = |list: &mut Vec<Example>| {
                if list.len() < EXAMPLES {
                    list.push(Example {
                        query: q.descriptors.clone(),
                        person: q.person,
                        candidate: Some(c.clone()),
                    });
                }
            };
            match (c.decision, same) {
                (Decision::Match, true) => e.true_matches += 1,
                (Decision::Match, false) => {
                    e.false_matches += 1;
                    keep(&mut e.false_match_examples);
                }
                (Decision::PossibleMatch, true) => {
                    e.review_true += 1;
                    in_review = true;
                    keep(&mut e.review_examples);
                }
                (Decision::PossibleMatch, false) => {
                    e.review_false += 1;
                    in_review = true;
                    keep(&mut e.review_examples);
                }
                (Decision::NonMatch, true) => {
                    e.missed_scored += 1;
                    keep(&mut e.missed_examples);
                }
                (Decision::NonMatch, false) => {}
            }
        }
        e.review_queries += u64::from(in_review);
        let unblocked = u64::from(q.true_records).saturating_sub(found_true);
        e.missed_unblocked += unblocked;
        if unblocked > 0 && e.missed_examples.len() < EXAMPLES {
            e.missed_examples.push(Example {
                query: q.descriptors.clone(),
                person: q.person,
                candidate: None,
            });
        }
    }
    e
}
