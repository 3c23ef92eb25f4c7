//! The application workflow as a pure function: [`transition`] takes what
//! is known of an application, an event, its permit type and the time, and
//! answers the next state with what must happen because of it (timers to
//! arm or cancel, a check to request, a permit to issue), or refuses the
//! event. Nothing here touches storage, so every path is tested directly.
//!
//! The path follows the permit type: documents (and training proof when the
//! type requires training), a fingerprint appointment and the prints when
//! it takes fingerprints, the background check, references when it asks for
//! any, an interview when it holds one, then the officer's decision. Steps a
//! type does not require are skipped.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::calendar::{self, BusinessCalendar, Date};
use crate::federal::FederalProhibitor;
use crate::types::{PermitType, Proof};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The first instant of a day in UTC (on a calendar in UTC, when a timer
/// due that day fires; see [`BusinessCalendar::day_start_ms`]).
pub fn day_start_ms(d: Date) -> i64 {
    d.days() * DAY_MS
}

/// Where an application (and, once issued, its permit) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Draft,
    Submitted,
    /// Documents in; waiting for a fingerprint appointment.
    DocumentsReceived,
    FingerprintsScheduled,
    CheckPending,
    /// The check answered Delayed: waiting for a final answer or for the
    /// three business days to pass.
    CheckDelayed,
    ReferencesPending,
    InterviewPending,
    OfficerReview,
    MoreInfoRequested,
    /// Approved; issued when the waiting period ends.
    Approved,
    Issued,
    Denied,
    Appealed,
    AppealUpheld,
    AppealGranted,
    Suspended,
    /// A new record about the holder: an officer reviews the permit.
    UnderReview,
    Revoked,
    Expired,
}

impl State {
    pub const ALL: [State; 20] = [
        State::Draft,
        State::Submitted,
        State::DocumentsReceived,
        State::FingerprintsScheduled,
        State::CheckPending,
        State::CheckDelayed,
        State::ReferencesPending,
        State::InterviewPending,
        State::OfficerReview,
        State::MoreInfoRequested,
        State::Approved,
        State::Issued,
        State::Denied,
        State::Appealed,
        State::AppealUpheld,
        State::AppealGranted,
        State::Suspended,
        State::UnderReview,
        State::Revoked,
        State::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Submitted => "submitted",
            State::DocumentsReceived => "documents_received",
            State::FingerprintsScheduled => "fingerprints_scheduled",
            State::CheckPending => "check_pending",
            State::CheckDelayed => "check_delayed",
            State::ReferencesPending => "references_pending",
            State::InterviewPending => "interview_pending",
            State::OfficerReview => "officer_review",
            State::MoreInfoRequested => "more_info_requested",
            State::Approved => "approved",
            State::Issued => "issued",
            State::Denied => "denied",
            State::Appealed => "appealed",
            State::AppealUpheld => "appeal_upheld",
            State::AppealGranted => "appeal_granted",
            State::Suspended => "suspended",
            State::UnderReview => "under_review",
            State::Revoked => "revoked",
            State::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Nothing more happens to an application in this state.
    pub fn is_final(self) -> bool {
        matches!(self, State::AppealUpheld | State::Revoked | State::Expired)
    }

    /// The statutory decision clock runs (the application is not decided).
    pub fn clock_running(self) -> bool {
        matches!(
            self,
            State::Submitted
                | State::DocumentsReceived
                | State::FingerprintsScheduled
                | State::CheckPending
                | State::CheckDelayed
                | State::ReferencesPending
                | State::InterviewPending
                | State::OfficerReview
                | State::MoreInfoRequested
        )
    }

    /// The person holds (or is about to hold) this permit, or is still
    /// applying for it: another application for the same type is a
    /// duplicate.
    pub fn holds_or_pending(self) -> bool {
        !matches!(
            self,
            State::Denied | State::AppealUpheld | State::Revoked | State::Expired
        )
    }

    /// A permit exists (issued, possibly suspended or under review).
    pub fn is_permit(self) -> bool {
        matches!(self, State::Issued | State::Suspended | State::UnderReview)
    }

    /// The events this state accepts (for the refusal of any other).
    pub fn expected(self) -> &'static [&'static str] {
        match self {
            State::Draft => &["submit"],
            State::Submitted => &["documents_received"],
            State::DocumentsReceived => &["fingerprints_scheduled"],
            State::FingerprintsScheduled => &["fingerprinted", "fingerprints_scheduled"],
            State::CheckPending => &["check_completed"],
            State::CheckDelayed => &["check_completed", "delayed_expired"],
            State::ReferencesPending => &["reference_received"],
            State::InterviewPending => &["interviewed"],
            State::OfficerReview => &["approve", "deny", "request_info"],
            State::MoreInfoRequested => &["info_provided", "deny"],
            State::Approved => &["waiting_period_ended"],
            State::Issued => &["suspend", "revoke", "expire", "record_pushed"],
            State::Suspended => &["reinstate", "revoke", "expire", "record_pushed"],
            State::UnderReview => &["reinstate", "suspend", "revoke", "expire", "record_pushed"],
            State::Denied => &["appeal"],
            State::Appealed => &["appeal_decided"],
            State::AppealGranted => &["approve"],
            State::AppealUpheld | State::Revoked | State::Expired => &[],
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A NICS-style answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    Proceed,
    Delayed,
    Denied,
}

impl CheckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Proceed => "proceed",
            CheckOutcome::Delayed => "delayed",
            CheckOutcome::Denied => "denied",
        }
    }
}

/// Evidence of training, as the applicant shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingEvidence {
    /// A [`Proof`] code (`course_certificate`).
    pub proof: String,
    pub hours: u32,
    pub score_percent: Option<u32>,
}

/// A background check's answer, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub outcome: CheckOutcome,
    pub ntn: String,
    pub prohibitors: Vec<String>,
    pub checked_on: Date,
}

/// A fingerprint appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    pub office_id: String,
    pub on: Date,
}

/// What happens to an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Submit,
    DocumentsReceived {
        training: Option<TrainingEvidence>,
    },
    FingerprintsScheduled {
        office_id: String,
        on: Date,
    },
    Fingerprinted,
    /// The checks service's answer.
    CheckCompleted {
        outcome: CheckOutcome,
        ntn: String,
        prohibitors: Vec<String>,
    },
    /// Three business days passed on a Delayed check without a final answer.
    DelayedExpired,
    /// A Proceed older than 30 days, before a decision.
    CheckExpired,
    ReferenceReceived {
        referee: String,
    },
    Interviewed,
    Approve,
    Deny {
        reasons: Vec<String>,
    },
    RequestInfo {
        what: String,
    },
    InfoProvided {
        note: String,
    },
    Appeal {
        grounds: String,
    },
    AppealDecided {
        granted: bool,
    },
    WaitingPeriodEnded,
    /// The statutory decision deadline passed.
    DeadlinePassed,
    Suspend {
        reasons: Vec<String>,
    },
    Reinstate,
    Revoke {
        reasons: Vec<String>,
    },
    Expire,
    /// A source reported a new record about the holder.
    RecordPushed {
        record_id: String,
        source: String,
    },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Submit => "submit",
            Event::DocumentsReceived { .. } => "documents_received",
            Event::FingerprintsScheduled { .. } => "fingerprints_scheduled",
            Event::Fingerprinted => "fingerprinted",
            Event::CheckCompleted { .. } => "check_completed",
            Event::DelayedExpired => "delayed_expired",
            Event::CheckExpired => "check_expired",
            Event::ReferenceReceived { .. } => "reference_received",
            Event::Interviewed => "interviewed",
            Event::Approve => "approve",
            Event::Deny { .. } => "deny",
            Event::RequestInfo { .. } => "request_info",
            Event::InfoProvided { .. } => "info_provided",
            Event::Appeal { .. } => "appeal",
            Event::AppealDecided { .. } => "appeal_decided",
            Event::WaitingPeriodEnded => "waiting_period_ended",
            Event::DeadlinePassed => "deadline_passed",
            Event::Suspend { .. } => "suspend",
            Event::Reinstate => "reinstate",
            Event::Revoke { .. } => "revoke",
            Event::Expire => "expire",
            Event::RecordPushed { .. } => "record_pushed",
        }
    }
}

/// Durable timers an application arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    DecisionDeadline,
    DelayedExpired,
    CheckExpired,
    WaitingPeriod,
    PermitExpiry,
}

impl TimerKind {
    pub const ALL: [TimerKind; 5] = [
        TimerKind::DecisionDeadline,
        TimerKind::DelayedExpired,
        TimerKind::CheckExpired,
        TimerKind::WaitingPeriod,
        TimerKind::PermitExpiry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::DecisionDeadline => "decision_deadline",
            TimerKind::DelayedExpired => "delayed_expired",
            TimerKind::CheckExpired => "check_expired",
            TimerKind::WaitingPeriod => "waiting_period",
            TimerKind::PermitExpiry => "permit_expiry",
        }
    }

    pub fn parse(s: &str) -> Option<TimerKind> {
        TimerKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The event a timer of this kind delivers when it fires.
    pub fn event(self) -> Event {
        match self {
            TimerKind::DecisionDeadline => Event::DeadlinePassed,
            TimerKind::DelayedExpired => Event::DelayedExpired,
            TimerKind::CheckExpired => Event::CheckExpired,
            TimerKind::WaitingPeriod => Event::WaitingPeriodEnded,
            TimerKind::PermitExpiry => Event::Expire,
        }
    }
}

/// What a transition asks the store to do, in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Arm a timer (replacing a pending one of the same kind).
    Arm { kind: TimerKind, due_ms: i64 },
    /// Cancel a pending timer of this kind, if any.
    Cancel(TimerKind),
    /// Ask the checks service for a background check.
    RequestCheck,
    /// Issue the permit: a number, and these dates.
    Issue { issued_on: Date, expires_on: Date },
    /// The decision deadline passed: raise the application in the queue.
    MarkOverdue,
}

/// Everything the workflow knows of an application besides who applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub state: State,
    pub received_on: Option<Date>,
    /// The last day to decide (or, under review, to review).
    pub decision_due: Option<Date>,
    #[serde(default)]
    pub overdue: bool,
    pub training: Option<TrainingEvidence>,
    pub appointment: Option<Appointment>,
    pub check: Option<CheckRecord>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub interviewed: bool,
    pub info_requested: Option<String>,
    /// The reason codes of the last denial, suspension or revocation.
    #[serde(default)]
    pub reasons: Vec<String>,
    pub approved_on: Option<Date>,
    /// The first day the permit may be issued (after the waiting period).
    pub issue_from: Option<Date>,
    pub issued_on: Option<Date>,
    pub expires_on: Option<Date>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            state: State::Draft,
            received_on: None,
            decision_due: None,
            overdue: false,
            training: None,
            appointment: None,
            check: None,
            references: Vec::new(),
            interviewed: false,
            info_requested: None,
            reasons: Vec::new(),
            approved_on: None,
            issue_from: None,
            issued_on: None,
            expires_on: None,
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// The answer of [`transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub next: Progress,
    pub effects: Vec<Effect>,
    /// The timeline line the applicant reads.
    pub note: String,
}

/// Reasons that are neither federal prohibitors nor state disqualifiers:
/// the application itself fell short.
pub const PROCEDURAL_REASONS: &[(&str, &str)] = &[
    ("incomplete", "The application is incomplete"),
    (
        "training_not_proven",
        "The required training was not proven",
    ),
    (
        "references_insufficient",
        "The references were insufficient",
    ),
    ("fingerprints_not_taken", "Fingerprints were not taken"),
    ("interview_not_attended", "The interview was not attended"),
    (
        "information_not_provided",
        "Information the officer asked for was not provided",
    ),
    (
        "false_statement",
        "The application contains a false statement",
    ),
    (
        "under_minimum_age",
        "The applicant is under the minimum age",
    ),
    ("residency_not_met", "The residency requirement is not met"),
];

/// Checks that every reason code is known for this type; `Ok` only when
/// there is at least one.
pub fn check_reasons(reasons: &[String], t: &PermitType) -> Result<(), Error> {
    if reasons.is_empty() {
        return Err(Error::ReasonsRequired);
    }
    for r in reasons {
        check_record_code(r, t).or_else(|_| {
            if PROCEDURAL_REASONS.iter().any(|(c, _)| c == r) {
                Ok(())
            } else {
                Err(Error::UnknownReason(r.chars().take(64).collect()))
            }
        })?;
    }
    Ok(())
}

/// A prohibitor a check may report: federal, or one of the type's state
/// disqualifiers.
fn check_record_code(code: &str, t: &PermitType) -> Result<(), Error> {
    if FederalProhibitor::from_code(code).is_some()
        || t.state_disqualifiers.iter().any(|d| d.code == code)
    {
        Ok(())
    } else {
        Err(Error::UnknownReason(code.chars().take(64).collect()))
    }
}

fn text(field: &'static str, value: &str, max: usize) -> Result<(), Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("at most {max} characters, on one line"),
        ));
    }
    Ok(())
}

fn check_training(evidence: Option<&TrainingEvidence>, t: &PermitType) -> Result<(), Error> {
    if !t.training.required() {
        return Ok(());
    }
    let Some(e) = evidence else {
        return Err(Error::TrainingNotProven(format!(
            "show one of: {}",
            t.training
                .proof
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let proof = Proof::parse(&e.proof)
        .filter(|p| t.training.proof.contains(p))
        .ok_or_else(|| {
            Error::TrainingNotProven(format!("{:?} is not accepted for this permit", e.proof))
        })?;
    // Service and a prior licence stand for the course itself.
    let by_course = matches!(
        proof,
        Proof::CourseCertificate | Proof::RangeQualification | Proof::WrittenTest
    );
    if by_course && e.hours < t.training.hours {
        return Err(Error::TrainingNotProven(format!(
            "{} hours shown, {} required",
            e.hours, t.training.hours
        )));
    }
    if let Some(min) = t.training.min_score_percent
        && by_course
    {
        match e.score_percent {
            Some(s) if s > 100 => return Err(Error::invalid("score_percent", "0 to 100")),
            Some(s) if s >= min => {}
            Some(s) => {
                return Err(Error::TrainingNotProven(format!(
                    "a score of {s}% is below the {min}% required"
                )));
            }
            None => {
                return Err(Error::TrainingNotProven(format!(
                    "a score of at least {min}% must be shown"
                )));
            }
        }
    }
    Ok(())
}

/// After a satisfied check: references, interview, then the officer.
fn after_check(p: &Progress, t: &PermitType) -> State {
    if (p.references.len() as u32) < t.references {
        State::ReferencesPending
    } else if t.interview && !p.interviewed {
        State::InterviewPending
    } else {
        State::OfficerReview
    }
}

/// A permit goes to officer review: a new decision deadline, unless it is
/// under review already.
fn to_review(
    p: &Progress,
    next: &mut Progress,
    effects: &mut Vec<Effect>,
    t: &PermitType,
    today: Date,
    cal: &BusinessCalendar,
) {
    next.state = State::UnderReview;
    if p.state != State::UnderReview {
        let due = t.decision_deadline.due(today, cal);
        next.decision_due = Some(due);
        next.overdue = false;
        effects.push(Effect::Arm {
            kind: TimerKind::DecisionDeadline,
            due_ms: cal.day_start_ms(due.add_days(1)),
        });
    }
}

fn out_of_order(p: &Progress, event: &Event) -> Error {
    Error::OutOfOrder {
        state: p.state.as_str().to_owned(),
        event: event.name().to_owned(),
        expected: p.state.expected().iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn issue(
    next: &mut Progress,
    t: &PermitType,
    today: Date,
    effects: &mut Vec<Effect>,
    cal: &BusinessCalendar,
) {
    let expires_on = t.validity.expires_on(today);
    next.state = State::Issued;
    next.issued_on = Some(today);
    next.expires_on = Some(expires_on);
    effects.push(Effect::Issue {
        issued_on: today,
        expires_on,
    });
    effects.push(Effect::Arm {
        kind: TimerKind::PermitExpiry,
        due_ms: cal.day_start_ms(expires_on.add_days(1)),
    });
}

/// The next state of `p` after `event`, for a permit of type `t`, at
/// `now_ms`, on the federal business calendar.
pub fn transition(
    p: &Progress,
    event: &Event,
    t: &PermitType,
    now_ms: i64,
) -> Result<Transition, Error> {
    transition_on(&BusinessCalendar::federal(), p, event, t, now_ms)
}

/// [`transition`] on an agency's own business calendar.
pub fn transition_on(
    cal: &BusinessCalendar,
    p: &Progress,
    event: &Event,
    t: &PermitType,
    now_ms: i64,
) -> Result<Transition, Error> {
    use State as S;
    let today = cal
        .day_of(now_ms)
        .ok_or_else(|| Error::InvalidDate(now_ms.to_string()))?;
    let mut next = p.clone();
    let mut effects = Vec::new();
    let note: String = match (p.state, event) {
        (S::Draft, Event::Submit) => {
            let due = t.decision_deadline.due(today, cal);
            next.state = S::Submitted;
            next.received_on = Some(today);
            next.decision_due = Some(due);
            effects.push(Effect::Arm {
                kind: TimerKind::DecisionDeadline,
                due_ms: cal.day_start_ms(due.add_days(1)),
            });
            format!(
                "Application received for {}; a decision is due by {due} ({}).",
                t.name, t.decision_deadline
            )
        }
        (S::Submitted, Event::DocumentsReceived { training }) => {
            check_training(training.as_ref(), t)?;
            next.training = training.clone().filter(|_| t.training.required());
            if t.fingerprints {
                next.state = S::DocumentsReceived;
                "Documents received. Next: a fingerprint appointment.".into()
            } else {
                next.state = S::CheckPending;
                effects.push(Effect::RequestCheck);
                "Documents received; the background check was requested.".into()
            }
        }
        (
            S::DocumentsReceived | S::FingerprintsScheduled,
            Event::FingerprintsScheduled { office_id, on },
        ) => {
            text("office_id", office_id, 64)?;
            if *on < today {
                return Err(Error::InvalidDate(on.to_string()));
            }
            next.state = S::FingerprintsScheduled;
            next.appointment = Some(Appointment {
                office_id: office_id.trim().to_owned(),
                on: *on,
            });
            format!(
                "Fingerprint appointment on {on} at office {}.",
                office_id.trim()
            )
        }
        (S::FingerprintsScheduled, Event::Fingerprinted) => {
            next.state = S::CheckPending;
            effects.push(Effect::RequestCheck);
            "Fingerprints taken; the background check was requested.".into()
        }
        (
            S::CheckPending | S::CheckDelayed,
            Event::CheckCompleted {
                outcome,
                ntn,
                prohibitors,
            },
        ) => {
            text("ntn", ntn, 64)?;
            for code in prohibitors {
                check_record_code(code, t)?;
            }
            if *outcome != CheckOutcome::Denied && !prohibitors.is_empty() {
                return Err(Error::invalid(
                    "prohibitors",
                    "only a Denied check names prohibitors",
                ));
            }
            if *outcome == CheckOutcome::Denied && prohibitors.is_empty() {
                return Err(Error::invalid(
                    "prohibitors",
                    "a Denied check names at least one prohibitor",
                ));
            }
            if p.state == S::CheckDelayed && *outcome == CheckOutcome::Delayed {
                return Err(out_of_order(p, event));
            }
            next.check = Some(CheckRecord {
                outcome: *outcome,
                ntn: ntn.trim().to_owned(),
                prohibitors: prohibitors.clone(),
                checked_on: today,
            });
            match outcome {
                CheckOutcome::Proceed => {
                    effects.push(Effect::Cancel(TimerKind::DelayedExpired));
                    effects.push(Effect::Arm {
                        kind: TimerKind::CheckExpired,
                        due_ms: cal
                            .day_start_ms(calendar::nics_proceed_valid_through(today).add_days(1)),
                    });
                    next.state = after_check(&next, t);
                    format!("Background check: Proceed (NTN {}).", ntn.trim())
                }
                CheckOutcome::Delayed => {
                    let from = cal.nics_delayed_transfer_from(today);
                    effects.push(Effect::Arm {
                        kind: TimerKind::DelayedExpired,
                        due_ms: cal.day_start_ms(from),
                    });
                    next.state = S::CheckDelayed;
                    format!(
                        "Background check: Delayed (NTN {}). Without a final answer, the application may proceed from {from}.",
                        ntn.trim()
                    )
                }
                CheckOutcome::Denied => {
                    effects.push(Effect::Cancel(TimerKind::DelayedExpired));
                    next.state = S::OfficerReview;
                    format!(
                        "Background check: Denied (NTN {}). An officer reviews the application.",
                        ntn.trim()
                    )
                }
            }
        }
        // The final answer to a Delayed check after the three business days
        // let the application go on: a Proceed is recorded; a Denied stops
        // the application (or puts the permit issued meanwhile under review).
        (
            S::ReferencesPending
            | S::InterviewPending
            | S::OfficerReview
            | S::MoreInfoRequested
            | S::Approved
            | S::Issued
            | S::Suspended
            | S::UnderReview,
            Event::CheckCompleted {
                outcome,
                ntn,
                prohibitors,
            },
        ) if *outcome != CheckOutcome::Delayed
            && p.check
                .as_ref()
                .is_some_and(|c| c.outcome == CheckOutcome::Delayed && c.ntn == ntn.trim()) =>
        {
            for code in prohibitors {
                check_record_code(code, t)?;
            }
            if (*outcome == CheckOutcome::Denied) == prohibitors.is_empty() {
                return Err(Error::invalid(
                    "prohibitors",
                    "a Denied check names at least one prohibitor, and only a Denied check does",
                ));
            }
            next.check = Some(CheckRecord {
                outcome: *outcome,
                ntn: ntn.trim().to_owned(),
                prohibitors: prohibitors.clone(),
                checked_on: today,
            });
            match outcome {
                CheckOutcome::Denied if p.state.is_permit() => {
                    to_review(p, &mut next, &mut effects, t, today, cal);
                    format!(
                        "Background check, final answer: Denied (NTN {}). An officer reviews the permit.",
                        ntn.trim()
                    )
                }
                CheckOutcome::Denied => {
                    effects.push(Effect::Cancel(TimerKind::WaitingPeriod));
                    next.state = S::OfficerReview;
                    format!(
                        "Background check, final answer: Denied (NTN {}). An officer reviews the application.",
                        ntn.trim()
                    )
                }
                _ => format!(
                    "Background check, final answer: Proceed (NTN {}).",
                    ntn.trim()
                ),
            }
        }
        (S::CheckDelayed, Event::DelayedExpired) => {
            next.state = after_check(&next, t);
            "Three business days passed without a final answer from the background check; the application proceeds.".into()
        }
        (
            S::ReferencesPending | S::InterviewPending | S::OfficerReview | S::MoreInfoRequested,
            Event::CheckExpired,
        ) if p
            .check
            .as_ref()
            .is_some_and(|c| c.outcome == CheckOutcome::Proceed) =>
        {
            next.state = S::CheckPending;
            next.check = None;
            effects.push(Effect::RequestCheck);
            "The background check is more than 30 days old; a new check was requested.".into()
        }
        (S::ReferencesPending, Event::ReferenceReceived { referee }) => {
            text("referee", referee, 200)?;
            next.references.push(referee.trim().to_owned());
            next.state = after_check(&next, t);
            format!(
                "Reference received ({} of {}).",
                next.references.len(),
                t.references
            )
        }
        (S::InterviewPending, Event::Interviewed) => {
            next.interviewed = true;
            next.state = after_check(&next, t);
            "Interview held.".into()
        }
        (S::OfficerReview | S::AppealGranted, Event::Approve) => {
            if p.state == S::OfficerReview
                && p.check
                    .as_ref()
                    .is_none_or(|c| c.outcome == CheckOutcome::Denied)
            {
                return Err(Error::NotEligible(
                    "the background check did not clear the applicant".into(),
                ));
            }
            effects.push(Effect::Cancel(TimerKind::DecisionDeadline));
            effects.push(Effect::Cancel(TimerKind::CheckExpired));
            next.approved_on = Some(today);
            next.overdue = false;
            if t.waiting_period_days > 0 {
                let from = today.add_days(i64::from(t.waiting_period_days));
                next.state = S::Approved;
                next.issue_from = Some(from);
                effects.push(Effect::Arm {
                    kind: TimerKind::WaitingPeriod,
                    due_ms: cal.day_start_ms(from),
                });
                format!("Approved. The permit is issued on {from}, after the waiting period.")
            } else {
                issue(&mut next, t, today, &mut effects, cal);
                format!(
                    "Approved and issued; valid until {}.",
                    next.expires_on.map(|d| d.to_string()).unwrap_or_default()
                )
            }
        }
        (S::Approved, Event::WaitingPeriodEnded) => {
            if let Some(from) = p.issue_from
                && today < from
            {
                return Err(Error::WaitingPeriod(from.to_string()));
            }
            issue(&mut next, t, today, &mut effects, cal);
            format!(
                "The waiting period ended; the permit is issued, valid until {}.",
                next.expires_on.map(|d| d.to_string()).unwrap_or_default()
            )
        }
        (S::OfficerReview | S::MoreInfoRequested, Event::Deny { reasons }) => {
            check_reasons(reasons, t)?;
            for kind in [
                TimerKind::DecisionDeadline,
                TimerKind::CheckExpired,
                TimerKind::DelayedExpired,
            ] {
                effects.push(Effect::Cancel(kind));
            }
            next.state = S::Denied;
            next.reasons = reasons.clone();
            next.overdue = false;
            format!(
                "Denied: {}. The denial may be appealed.",
                reasons.join(", ")
            )
        }
        (S::OfficerReview, Event::RequestInfo { what }) => {
            text("what", what, 500)?;
            next.state = S::MoreInfoRequested;
            next.info_requested = Some(what.trim().to_owned());
            format!("The officer asks for more information: {}", what.trim())
        }
        (S::MoreInfoRequested, Event::InfoProvided { note }) => {
            text("note", note, 500)?;
            next.state = S::OfficerReview;
            next.info_requested = None;
            "Information provided; back with the officer.".into()
        }
        (S::Denied, Event::Appeal { grounds }) => {
            text("grounds", grounds, 2000)?;
            next.state = S::Appealed;
            "Appeal lodged.".into()
        }
        (S::Appealed, Event::AppealDecided { granted }) => {
            if *granted {
                next.state = S::AppealGranted;
                next.reasons.clear();
                "Appeal granted: the denial is set aside.".into()
            } else {
                next.state = S::AppealUpheld;
                "Appeal decided: the denial stands.".into()
            }
        }
        (s, Event::DeadlinePassed) if s.clock_running() || s == S::UnderReview => {
            next.overdue = true;
            effects.push(Effect::MarkOverdue);
            format!(
                "The decision deadline ({}) passed; the application is overdue and moved up the officers' queue.",
                p.decision_due.map(|d| d.to_string()).unwrap_or_default()
            )
        }
        (S::Issued | S::UnderReview, Event::Suspend { reasons }) => {
            check_reasons(reasons, t)?;
            effects.push(Effect::Cancel(TimerKind::DecisionDeadline));
            next.state = S::Suspended;
            next.reasons = reasons.clone();
            next.overdue = false;
            format!("Permit suspended: {}.", reasons.join(", "))
        }
        (S::Suspended | S::UnderReview, Event::Reinstate) => {
            effects.push(Effect::Cancel(TimerKind::DecisionDeadline));
            next.state = S::Issued;
            next.reasons.clear();
            next.overdue = false;
            "Permit reinstated.".into()
        }
        (S::Issued | S::Suspended | S::UnderReview, Event::Revoke { reasons }) => {
            check_reasons(reasons, t)?;
            effects.push(Effect::Cancel(TimerKind::DecisionDeadline));
            effects.push(Effect::Cancel(TimerKind::PermitExpiry));
            next.state = S::Revoked;
            next.reasons = reasons.clone();
            next.overdue = false;
            format!("Permit revoked: {}.", reasons.join(", "))
        }
        (S::Issued | S::Suspended | S::UnderReview, Event::Expire) => {
            if p.expires_on.is_some_and(|e| today <= e) {
                return Err(Error::invalid(
                    "expire",
                    format!(
                        "the permit is valid until {}",
                        p.expires_on.map(|d| d.to_string()).unwrap_or_default()
                    ),
                ));
            }
            effects.push(Effect::Cancel(TimerKind::DecisionDeadline));
            next.state = S::Expired;
            next.overdue = false;
            "The permit expired.".into()
        }
        (S::Issued | S::Suspended | S::UnderReview, Event::RecordPushed { record_id, source }) => {
            text("record_id", record_id, 128)?;
            text("source", source, 64)?;
            to_review(p, &mut next, &mut effects, t, today, cal);
            format!(
                "A new record was reported by {}; an officer reviews the permit.",
                source.trim()
            )
        }
        _ => return Err(out_of_order(p, event)),
    };
    Ok(Transition {
        next,
        effects,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TypeSet;

    fn ty(id: &str) -> PermitType {
        TypeSet::shipped().require(id).unwrap().clone()
    }

    fn ms(date: &str) -> i64 {
        day_start_ms(Date::parse(date).unwrap()) + 3_600_000
    }

    fn run(t: &PermitType, events: &[Event], at: &str) -> Result<Transition, Error> {
        let mut p = Progress::new();
        let mut last = None;
        for e in events {
            let tr = transition(&p, e, t, ms(at))?;
            p = tr.next.clone();
            last = Some(tr);
        }
        Ok(last.expect("at least one event"))
    }

    #[test]
    fn submission_arms_the_decision_deadline_of_the_type() {
        let t = ty("il-foid");
        let tr = run(&t, &[Event::Submit], "2026-03-02").unwrap();
        assert_eq!(tr.next.state, State::Submitted);
        assert_eq!(tr.next.decision_due, Date::parse("2026-04-01").ok());
        assert_eq!(
            tr.effects,
            [Effect::Arm {
                kind: TimerKind::DecisionDeadline,
                due_ms: day_start_ms(Date::parse("2026-04-02").unwrap()),
            }]
        );
    }

    #[test]
    fn a_business_day_deadline_skips_weekends_and_holidays() {
        let t = TypeSet::shipped()
            .types()
            .iter()
            .find(|t| t.decision_deadline.counting == crate::types::Counting::Business)
            .expect("a business-day type is shipped")
            .clone();
        let tr = run(&t, &[Event::Submit], "2026-11-25").unwrap();
        let due = tr.next.decision_due.unwrap();
        assert_eq!(
            BusinessCalendar::federal()
                .business_days_between(Date::parse("2026-11-25").unwrap(), due),
            t.decision_deadline.days
        );
        assert!(crate::calendar::is_business_day(due));
    }

    #[test]
    fn documents_skip_fingerprints_when_the_type_takes_none() {
        let foid = ty("il-foid");
        let tr = run(
            &foid,
            &[Event::Submit, Event::DocumentsReceived { training: None }],
            "2026-03-02",
        )
        .unwrap();
        assert_eq!(tr.next.state, State::CheckPending);
        assert_eq!(tr.effects, [Effect::RequestCheck]);
        let ccl = ty("il-ccl");
        let training = TrainingEvidence {
            proof: "range_qualification".into(),
            hours: 16,
            score_percent: Some(70),
        };
        let tr = run(
            &ccl,
            &[
                Event::Submit,
                Event::DocumentsReceived {
                    training: Some(training),
                },
            ],
            "2026-03-02",
        )
        .unwrap();
        assert_eq!(tr.next.state, State::DocumentsReceived);
    }

    fn answer(outcome: CheckOutcome, ntn: &str, prohibitors: &[&str]) -> Event {
        Event::CheckCompleted {
            outcome,
            ntn: ntn.into(),
            prohibitors: prohibitors.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_final_answer_after_the_delay_ran_out_is_recorded_and_a_denial_stops_the_application() {
        let t = ty("il-foid");
        let before = [
            Event::Submit,
            Event::DocumentsReceived { training: None },
            answer(CheckOutcome::Delayed, "NTN-1", &[]),
            Event::DelayedExpired,
        ];
        let went_on = run(&t, &before, "2026-03-02").unwrap();
        assert_eq!(went_on.next.state, State::OfficerReview);
        let mut events = before.to_vec();
        events.push(answer(CheckOutcome::Denied, "NTN-1", &["922g1"]));
        let tr = run(&t, &events, "2026-03-09").unwrap();
        assert_eq!(tr.next.state, State::OfficerReview);
        let check = tr.next.check.as_ref().unwrap();
        assert_eq!(check.outcome, CheckOutcome::Denied);
        assert_eq!(check.prohibitors, ["922g1"]);
        assert!(tr.note.contains("final answer: Denied"), "{}", tr.note);
        // A Proceed is recorded and changes nothing else.
        let mut events = before.to_vec();
        events.push(answer(CheckOutcome::Proceed, "NTN-1", &[]));
        let tr = run(&t, &events, "2026-03-09").unwrap();
        assert_eq!(tr.next.state, State::OfficerReview);
        assert_eq!(tr.next.check.unwrap().outcome, CheckOutcome::Proceed);
        // Another check's answer, or a second Delayed, is out of order.
        for late in [
            answer(CheckOutcome::Denied, "NTN-2", &["922g1"]),
            answer(CheckOutcome::Delayed, "NTN-1", &[]),
        ] {
            let mut events = before.to_vec();
            events.push(late);
            assert!(matches!(
                run(&t, &events, "2026-03-09"),
                Err(Error::OutOfOrder { .. })
            ));
        }
        // A denial must cite, and cite what the type knows.
        for (codes, bad) in [(&[][..], "empty"), (&["xx-nothing"][..], "unknown")] {
            let mut events = before.to_vec();
            events.push(answer(CheckOutcome::Denied, "NTN-1", codes));
            assert!(run(&t, &events, "2026-03-09").is_err(), "{bad}");
        }
    }

    #[test]
    fn every_refusal_names_the_state_and_what_it_expects() {
        let t = ty("il-foid");
        for state in State::ALL {
            let p = Progress {
                state,
                ..Progress::new()
            };
            // `submit` fits only a draft.
            if state == State::Draft {
                continue;
            }
            match transition(&p, &Event::Submit, &t, ms("2026-03-02")) {
                Err(Error::OutOfOrder {
                    state: s, expected, ..
                }) => {
                    assert_eq!(s, state.as_str());
                    assert_eq!(expected.len(), state.expected().len());
                    assert_eq!(expected.is_empty(), state.is_final(), "{state}");
                }
                other => panic!("{state}: {other:?}"),
            }
        }
    }

    #[test]
    fn reasons_are_federal_the_types_own_or_procedural() {
        let t = ty("il-foid");
        assert!(check_reasons(&["922g9".into()], &t).is_ok());
        assert!(check_reasons(&["il-65-8-q".into()], &t).is_ok());
        assert!(check_reasons(&["references_insufficient".into()], &t).is_ok());
        assert!(matches!(
            check_reasons(&[], &t),
            Err(Error::ReasonsRequired)
        ));
        assert!(matches!(
            check_reasons(&["922g1".into(), "hi-134-7-b".into()], &t),
            Err(Error::UnknownReason(_))
        ));
    }

    #[test]
    fn states_and_timer_kinds_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        for k in TimerKind::ALL {
            assert_eq!(TimerKind::parse(k.as_str()), Some(k));
        }
    }
}
