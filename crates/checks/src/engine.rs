//! A background check: a transaction number, the subject sent to every
//! source at once (each under its own timeout and circuit breaker), every
//! returned record resolved against the subject, and the outcome NICS
//! gives — Proceed, Delayed or Denied.
//!
//! - **Denied** when a record confidently matched to the subject
//!   establishes a prohibitor; the result cites the prohibitor and the
//!   record.
//! - **Delayed** when any source did not answer (timeout, unavailable,
//!   open breaker, refusal, unreadable answer), when a record that could
//!   prohibit only possibly matches, or when a matched record could
//!   prohibit but lacks what decides it (a felony charge with no
//!   disposition). The case goes to an examiner, with every reason.
//! - **Proceed** only when every source answered and no matched or
//!   possibly matched record prohibits or could.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use plaza_kernel::resilience::Breaker;
use serde::Serialize;

use crate::matching::{Date, Decision, Matcher, Weights};
use crate::prohibitors::{self, Facts, Finding};
use crate::sources::{
    Content, MatchedOn, Registry, Source, SourceConfig, SourceError, SourceRecord, Subject,
};

/// Why the check is run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "purpose", rename_all = "snake_case")]
pub enum Purpose {
    /// A firearm transfer at a dealer: the federal prohibitors.
    Transfer,
    /// A state permit or licence: the federal prohibitors and the state's
    /// own disqualifiers.
    Permit { state: String },
}

impl Purpose {
    fn state(&self) -> Option<&str> {
        match self {
            Purpose::Transfer => None,
            Purpose::Permit { state } => Some(state),
        }
    }
}

/// How a checker behaves.
#[derive(Debug, Clone)]
pub struct CheckerConfig {
    /// Each source's deadline.
    pub timeout: Duration,
    /// Consecutive failures that open a source's breaker.
    pub breaker_failures: u32,
    /// How long an open breaker answers "unavailable" before a probe.
    pub breaker_open_for: Duration,
    /// The day rules are judged on; `None`: today (UTC).
    pub today: Option<Date>,
    pub weights: Weights,
}

impl Default for CheckerConfig {
    fn default() -> Self {
        CheckerConfig {
            timeout: Duration::from_millis(1500),
            breaker_failures: 5,
            breaker_open_for: Duration::from_secs(10),
            today: None,
            weights: Weights::shipped(),
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Proceed,
    Delayed,
    Denied,
}

/// How one source fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SourceStatus {
    Answered {
        hits: usize,
    },
    Timeout,
    Unavailable {
        detail: String,
    },
    Refused {
        code: String,
        detail: String,
    },
    Malformed {
        detail: String,
    },
    /// The source's breaker is open: not asked.
    BreakerOpen,
}

impl SourceStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceStatus::Answered { .. } => "answered",
            SourceStatus::Timeout => "timeout",
            SourceStatus::Unavailable { .. } => "unavailable",
            SourceStatus::Refused { .. } => "refused",
            SourceStatus::Malformed { .. } => "malformed",
            SourceStatus::BreakerOpen => "breaker_open",
        }
    }
}

/// One source's part in a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceReport {
    pub source: String,
    #[serde(flatten)]
    pub status: SourceStatus,
    pub latency_ms: f64,
}

/// A field that weighed in a candidate's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Driver {
    pub field: &'static str,
    pub level: &'static str,
    /// Bits for (positive) or against (negative) the match.
    pub weight: f64,
}

/// A record taken for the subject, or possibly so.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchedRecord {
    pub source: String,
    pub record_id: String,
    pub control_number: String,
    /// `match` or `possible_match`.
    pub decision: &'static str,
    pub score: f64,
    /// The fields that drove the score, strongest first.
    pub drivers: Vec<Driver>,
    pub matched_on: MatchedOn,
    pub content: Content,
    pub findings: Vec<Finding>,
}

/// A prohibitor a matched record establishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// `922(g)(1)`, ..., `922(n)`, or a state's code.
    pub prohibitor: String,
    pub source: String,
    pub record_id: String,
    pub reason: String,
}

/// Why a check was delayed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DelayReason {
    /// The source gave no usable answer.
    SourceFailed { source: String, status: String },
    /// A record that could prohibit only possibly matches the subject.
    PossibleMatch {
        source: String,
        record_id: String,
        score: f64,
        prohibitor: String,
    },
    /// A matched record could prohibit but lacks what decides it.
    OpenRecord {
        source: String,
        record_id: String,
        prohibitor: String,
        detail: String,
    },
}

/// Everything a check found, for the applicant's file and the examiner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// The NICS transaction number.
    pub ntn: String,
    pub purpose: Purpose,
    pub outcome: Outcome,
    /// For Denied: every prohibitor established, with its record.
    pub denials: Vec<Denial>,
    /// Every reason for an examiner to look (also listed when denied).
    pub delays: Vec<DelayReason>,
    pub sources: Vec<SourceReport>,
    /// Matched and possibly matched records, best first.
    pub matches: Vec<MatchedRecord>,
    pub elapsed_ms: f64,
}

impl CheckResult {
    /// The answer when the subject's identifiers could not be read: no
    /// source can be asked about nobody, so the check is Delayed for an
    /// examiner.
    pub fn unidentified(ntn: &str, purpose: Purpose) -> CheckResult {
        CheckResult {
            ntn: ntn.to_owned(),
            purpose,
            outcome: Outcome::Delayed,
            denials: Vec::new(),
            delays: vec![DelayReason::SourceFailed {
                source: "vault".into(),
                status: "subject_unavailable".into(),
            }],
            sources: Vec::new(),
            matches: Vec::new(),
            elapsed_ms: 0.0,
        }
    }

    /// Keeps only the prohibitors `applies` accepts (a permit type's own
    /// disqualifiers among its state's), in denials and in the reasons to
    /// delay, and decides the outcome again from what is left.
    pub fn only_prohibitors(&mut self, applies: impl Fn(&str) -> bool) {
        self.denials.retain(|d| applies(&d.prohibitor));
        self.delays.retain(|d| match d {
            DelayReason::SourceFailed { .. } => true,
            DelayReason::PossibleMatch { prohibitor, .. }
            | DelayReason::OpenRecord { prohibitor, .. } => applies(prohibitor),
        });
        self.outcome = if !self.denials.is_empty() {
            Outcome::Denied
        } else if !self.delays.is_empty() {
            Outcome::Delayed
        } else {
            Outcome::Proceed
        };
    }

    /// The prohibitors cited, each once.
    pub fn prohibitors(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.denials.iter().map(|d| d.prohibitor.as_str()).collect();
        out.dedup();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn source(&self, id: &str) -> Option<&SourceReport> {
        self.sources.iter().find(|s| s.source == id)
    }

    /// Sources that gave no usable answer.
    pub fn failed_sources(&self) -> Vec<&str> {
        self.delays
            .iter()
            .filter_map(|d| match d {
                DelayReason::SourceFailed { source, .. } => Some(source.as_str()),
                _ => None,
            })
            .collect()
    }
}

struct Entry {
    config: SourceConfig,
    source: Arc<dyn Source>,
    breaker: Breaker,
}

/// Runs checks against a registry of sources. Share it (it is `Sync`):
/// breakers and connection pools live here.
pub struct Checker {
    entries: Vec<Entry>,
    matcher: Matcher,
    config: CheckerConfig,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("sources", &self.entries.len())
            .field("timeout", &self.config.timeout)
            .finish()
    }
}

/// A new transaction number: time-ordered and unique.
pub fn new_ntn() -> String {
    uuid::Uuid::now_v7()
        .simple()
        .to_string()
        .to_ascii_uppercase()
}

/// Today in UTC.
pub fn today_utc() -> Date {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_from_days((secs / 86_400) as i64)
}

/// The calendar day `days` after 1970-01-01.
pub fn civil_from_days(days: i64) -> Date {
    let (y, m, d) = plaza_kernel::clock::civil_from_days(days);
    u16::try_from(y)
        .ok()
        .and_then(|y| Date::new(y, m as u8, d as u8))
        .unwrap_or(Date {
            year: 1970,
            month: 1,
            day: 1,
        })
}

impl Checker {
    pub fn new(registry: Registry, config: CheckerConfig) -> Checker {
        let entries = registry
            .entries
            .into_iter()
            .map(|(c, source)| Entry {
                breaker: Breaker::new(
                    &format!("records:{}", c.id),
                    config.breaker_failures,
                    config.breaker_open_for,
                ),
                config: c,
                source,
            })
            .collect();
        Checker {
            entries,
            matcher: Matcher::new(config.weights.clone()),
            config,
        }
    }

    pub fn config(&self) -> &CheckerConfig {
        &self.config
    }

    /// Asks one source, under its breaker and timeout.
    async fn ask(
        &self,
        e: &Entry,
        subject: &Subject,
        ntn: &str,
    ) -> (SourceReport, Vec<SourceRecord>) {
        let started = Instant::now();
        let report = |status| SourceReport {
            source: e.config.id.clone(),
            status,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        if !e.breaker.admit() {
            return (report(SourceStatus::BreakerOpen), Vec::new());
        }
        let answer = tokio::time::timeout(self.config.timeout, e.source.search(subject, ntn))
            .await
            .unwrap_or(Err(SourceError::Timeout));
        // A refusal is about this request, not the source's health.
        e.breaker
            .record(matches!(answer, Ok(_) | Err(SourceError::Refused { .. })));
        match answer {
            Ok(records) => (
                report(SourceStatus::Answered {
                    hits: records.len(),
                }),
                records,
            ),
            Err(err) => {
                let status = match err {
                    SourceError::Timeout => SourceStatus::Timeout,
                    SourceError::Unavailable(detail) => SourceStatus::Unavailable { detail },
                    SourceError::Refused { code, message } => SourceStatus::Refused {
                        code,
                        detail: message,
                    },
                    SourceError::Malformed(detail) => SourceStatus::Malformed { detail },
                };
                tracing::warn!(source = %e.config.id, ntn, status = status.as_str(), "record source gave no answer");
                (report(status), Vec::new())
            }
        }
    }

    /// Runs a complete check under a new transaction number.
    pub async fn check(&self, subject: &Subject, purpose: Purpose) -> CheckResult {
        self.check_numbered(subject, purpose, &new_ntn()).await
    }

    /// Runs a complete check under the transaction number `ntn`.
    pub async fn check_numbered(
        &self,
        subject: &Subject,
        purpose: Purpose,
        ntn: &str,
    ) -> CheckResult {
        let started = Instant::now();
        let ntn = ntn.to_owned();
        let answers =
            futures::future::join_all(self.entries.iter().map(|e| self.ask(e, subject, &ntn)))
                .await;
        let facts = Facts {
            today: self.config.today.unwrap_or_else(today_utc),
        };
        let mut denials = Vec::new();
        let mut delays = Vec::new();
        if self.entries.is_empty() {
            // Nobody was asked: that is no answer, never a Proceed.
            delays.push(DelayReason::SourceFailed {
                source: "(none)".into(),
                status: "no_sources".into(),
            });
        }
        let mut matches = Vec::new();
        let mut sources = Vec::with_capacity(answers.len());
        for (e, (report, records)) in self.entries.iter().zip(answers) {
            if !matches!(report.status, SourceStatus::Answered { .. }) {
                delays.push(DelayReason::SourceFailed {
                    source: e.config.id.clone(),
                    status: report.status.as_str().to_owned(),
                });
            }
            sources.push(report);
            for r in records {
                let candidate = self.matcher.compare(subject, &r.subject);
                let decision = self
                    .config
                    .weights
                    .decide(candidate.score, e.config.records as usize);
                if decision == Decision::NonMatch {
                    continue;
                }
                let findings = prohibitors::assess(&r.content, &facts, purpose.state());
                for f in &findings {
                    match (decision, f) {
                        (Decision::Match, Finding::Prohibits { code, reason }) => {
                            denials.push(Denial {
                                prohibitor: code.clone(),
                                source: e.config.id.clone(),
                                record_id: r.record_id.clone(),
                                reason: reason.clone(),
                            })
                        }
                        (Decision::Match, Finding::Open { code, reason }) => {
                            delays.push(DelayReason::OpenRecord {
                                source: e.config.id.clone(),
                                record_id: r.record_id.clone(),
                                prohibitor: code.clone(),
                                detail: reason.clone(),
                            })
                        }
                        (_, f) => delays.push(DelayReason::PossibleMatch {
                            source: e.config.id.clone(),
                            record_id: r.record_id.clone(),
                            score: candidate.score,
                            prohibitor: f.code().to_owned(),
                        }),
                    }
                }
                matches.push(MatchedRecord {
                    source: e.config.id.clone(),
                    record_id: r.record_id,
                    control_number: r.control_number,
                    decision: match decision {
                        Decision::Match => "match",
                        _ => "possible_match",
                    },
                    score: candidate.score,
                    drivers: candidate
                        .drivers()
                        .into_iter()
                        .filter(|d| d.weight != 0.0)
                        .map(|d| Driver {
                            field: d.field.as_str(),
                            level: d.level.as_str(),
                            weight: d.weight,
                        })
                        .collect(),
                    matched_on: r.matched_on,
                    content: r.content,
                    findings,
                });
            }
        }
        matches.sort_by(|a, b| b.score.total_cmp(&a.score));
        let outcome = if !denials.is_empty() {
            Outcome::Denied
        } else if !delays.is_empty() {
            Outcome::Delayed
        } else {
            Outcome::Proceed
        };
        CheckResult {
            ntn,
            purpose,
            outcome,
            denials,
            delays,
            sources,
            matches,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future::BoxFuture;

    #[test]
    fn days_become_calendar_dates() {
        assert_eq!(civil_from_days(0), Date::new(1970, 1, 1).unwrap());
        assert_eq!(civil_from_days(20_454), Date::new(2026, 1, 1).unwrap());
        assert_eq!(civil_from_days(11_016), Date::new(2000, 2, 29).unwrap());
        let a = new_ntn();
        let b = new_ntn();
        assert_ne!(a, b);
        assert!(a < b, "time-ordered: {a} {b}");
    }

    /// A source answering from a fixed list, or failing.
    struct Fake(Result<Vec<SourceRecord>, SourceError>);

    impl Source for Fake {
        fn id(&self) -> &str {
            "fake"
        }
        fn search<'a>(
            &'a self,
            _: &'a Subject,
            _: &'a str,
        ) -> BoxFuture<'a, Result<Vec<SourceRecord>, SourceError>> {
            let r = self.0.clone();
            Box::pin(async move { r })
        }
    }

    fn subject() -> Subject {
        Subject {
            first: Some("William".into()),
            last: Some("Harrington".into()),
            dob: Date::new(1968, 11, 2),
            sex: Some(crate::matching::Sex::Male),
            ..Subject::default()
        }
    }

    fn record(id: &str, who: Subject, content: Content) -> SourceRecord {
        SourceRecord {
            record_id: id.into(),
            control_number: "C1".into(),
            matched_on: MatchedOn::NameAndDob,
            subject: who,
            content,
        }
    }

    fn checker(sources: Vec<(&str, Fake)>) -> Checker {
        let entries = sources
            .into_iter()
            .map(|(id, f)| {
                let c = SourceConfig {
                    id: id.into(),
                    kind: crate::sources::RecordKind::Criminal,
                    format: crate::sources::WireFormat::Json,
                    address: String::new(),
                    records: 1000,
                };
                (c, Arc::new(f) as Arc<dyn Source>)
            })
            .collect();
        Checker::new(
            Registry::from_sources(entries),
            CheckerConfig {
                today: Date::new(2026, 1, 1),
                breaker_failures: 2,
                ..CheckerConfig::default()
            },
        )
    }

    fn felony(disposition: &str) -> Content {
        Content::Criminal(crate::sources::Criminal {
            offence: Some("BURGLARY".into()),
            offence_class: Some("felony".into()),
            domestic_violence: Some(false),
            arrest_date: None,
            disposition: Some(disposition.into()),
            disposition_date: None,
            sentence_max_months: Some(240),
        })
    }

    #[tokio::test]
    async fn outcomes_follow_the_records_and_the_sources() {
        let clean = checker(vec![("a", Fake(Ok(vec![]))), ("b", Fake(Ok(vec![])))]);
        let r = clean.check(&subject(), Purpose::Transfer).await;
        assert_eq!(r.outcome, Outcome::Proceed);
        let denied = checker(vec![
            (
                "a",
                Fake(Ok(vec![record("a:1", subject(), felony("convicted"))])),
            ),
            ("b", Fake(Err(SourceError::Timeout))),
        ]);
        let r = denied.check(&subject(), Purpose::Transfer).await;
        assert_eq!(r.outcome, Outcome::Denied);
        assert_eq!(r.prohibitors(), vec!["922(g)(1)"]);
        assert_eq!(r.denials[0].record_id, "a:1");
        assert_eq!(r.failed_sources(), vec!["b"]);
        assert!(!r.matches[0].drivers.is_empty());
        let pending = checker(vec![(
            "a",
            Fake(Ok(vec![record("a:1", subject(), felony("pending"))])),
        )]);
        let r = pending.check(&subject(), Purpose::Transfer).await;
        assert_eq!(r.outcome, Outcome::Delayed);
        assert!(matches!(r.delays[0], DelayReason::OpenRecord { .. }));
        // Someone else's conviction does not count.
        let other = Subject {
            first: Some("Maria".into()),
            last: Some("Lopez".into()),
            dob: Date::new(1990, 3, 4),
            ..Subject::default()
        };
        let r = checker(vec![(
            "a",
            Fake(Ok(vec![record("a:1", other, felony("convicted"))])),
        )])
        .check(&subject(), Purpose::Transfer)
        .await;
        assert_eq!(r.outcome, Outcome::Proceed);
        assert!(r.matches.is_empty());
        // A possible match delays (thresholds set so that every record
        // is one), unless the record could not prohibit anyway.
        let mut c = checker(vec![(
            "a",
            Fake(Ok(vec![
                record("a:1", subject(), felony("convicted")),
                record("a:2", subject(), felony("acquitted")),
            ])),
        )]);
        c.config.weights = Weights::shipped().with_thresholds(1000.0, -1000.0);
        c.matcher = Matcher::new(c.config.weights.clone());
        let r = c.check(&subject(), Purpose::Transfer).await;
        assert_eq!(r.outcome, Outcome::Delayed);
        assert_eq!(r.matches.len(), 2);
        assert!(matches!(
            &r.delays[..],
            [DelayReason::PossibleMatch { record_id, .. }] if record_id == "a:1"
        ));
    }

    #[tokio::test]
    async fn a_failing_source_opens_its_breaker() {
        let c = checker(vec![
            ("a", Fake(Err(SourceError::Unavailable("down".into())))),
            ("b", Fake(Ok(vec![]))),
        ]);
        for _ in 0..2 {
            let r = c.check(&subject(), Purpose::Transfer).await;
            assert_eq!(r.source("a").unwrap().status.as_str(), "unavailable");
            assert_eq!(r.outcome, Outcome::Delayed);
        }
        let r = c.check(&subject(), Purpose::Transfer).await;
        assert_eq!(r.source("a").unwrap().status, SourceStatus::BreakerOpen);
        assert_eq!(r.outcome, Outcome::Delayed);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["sources"][0]["status"], "breaker_open");
        assert_eq!(json["outcome"], "delayed");
    }
}
