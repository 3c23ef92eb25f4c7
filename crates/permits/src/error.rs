use plaza_kernel::error::{ErrorKind, PublicError};

use crate::lint::LintError;

/// Everything the permits crate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The catalogue was refused whole; every mistake is listed.
    #[error("the permit catalogue was refused: {} error(s)", .0.len())]
    Catalogue(Vec<LintError>),
    #[error("no permit type {0:?}")]
    UnknownType(String),
    #[error("invalid date {0:?}")]
    InvalidDate(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// An event the application's state does not allow.
    #[error("{event} is not possible while the application is {state}")]
    OutOfOrder {
        state: String,
        event: String,
        expected: Vec<String>,
    },
    #[error("no such permit application")]
    ApplicationNotFound,
    #[error("no such permit")]
    PermitNotFound,
    #[error("idempotency key reused with a different request")]
    IdempotencyConflict,
    #[error("an application of this type is already open for this person")]
    Duplicate,
    /// A submission refused without saying why: the answer when saying why
    /// would tell one account about another's application.
    #[error("the application cannot be accepted online")]
    CannotAccept,
    #[error("a decision needs reason codes")]
    ReasonsRequired,
    #[error("unknown reason code {0:?}")]
    UnknownReason(String),
    #[error("training not proven: {0}")]
    TrainingNotProven(String),
    #[error("not eligible: {0}")]
    NotEligible(String),
    #[error("renewal window: {0}")]
    RenewalWindow(String),
    #[error("waiting period runs until {0}")]
    WaitingPeriod(String),
    #[error("not permitted: {}", .0.code)]
    Denied(PublicError),
    #[error("stored data does not open: {0}")]
    Corrupt(String),
    /// The vault did not seal the applicant's identifiers.
    #[error("vault: {0}")]
    Vault(String),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The stable code (`permits.out_of_order`).
    pub fn code(&self) -> String {
        self.public().code.to_string()
    }

    pub fn public(&self) -> PublicError {
        let (kind, code, message): (ErrorKind, &'static str, String) = match self {
            Error::Catalogue(errors) => {
                let shown: Vec<String> = errors.iter().take(20).map(ToString::to_string).collect();
                let more = errors.len().saturating_sub(shown.len());
                let mut message = format!(
                    "The permit catalogue was refused ({} error(s)); the catalogue in force is unchanged. {}",
                    errors.len(),
                    shown.join("; ")
                );
                if more > 0 {
                    message.push_str(&format!("; and {more} more"));
                }
                (
                    ErrorKind::InvalidArgument,
                    "permits.catalogue_invalid",
                    message,
                )
            }
            Error::UnknownType(_) => (
                ErrorKind::NotFound,
                "permits.unknown_type",
                "There is no such permit type.".into(),
            ),
            Error::InvalidDate(_) => (
                ErrorKind::InvalidArgument,
                "permits.invalid_date",
                "Dates are written YYYY-MM-DD and must exist.".into(),
            ),
            Error::Invalid { field, reason } => (
                ErrorKind::InvalidArgument,
                "permits.invalid",
                format!("{field}: {reason}"),
            ),
            Error::OutOfOrder {
                state,
                event,
                expected,
            } => (
                ErrorKind::FailedPrecondition,
                "permits.out_of_order",
                if expected.is_empty() {
                    format!("The application is {state}: nothing more can happen to it ({event} refused).")
                } else {
                    format!(
                        "The application is {state}: {event} is not possible now. Expected: {}.",
                        expected.join(", ")
                    )
                },
            ),
            Error::ApplicationNotFound => (
                ErrorKind::NotFound,
                "permits.application_not_found",
                "There is no such permit application.".into(),
            ),
            Error::PermitNotFound => (
                ErrorKind::NotFound,
                "permits.permit_not_found",
                "There is no such permit.".into(),
            ),
            Error::IdempotencyConflict => (
                ErrorKind::Conflict,
                "permits.idempotency_conflict",
                "This Idempotency-Key was already used for a different application. Use a new key for a new request.".into(),
            ),
            Error::Duplicate => (
                ErrorKind::Conflict,
                "permits.duplicate",
                "An application for this permit is already open for this person.".into(),
            ),
            Error::CannotAccept => (
                ErrorKind::FailedPrecondition,
                "permits.cannot_accept",
                "This application cannot be accepted online; contact the licensing office.".into(),
            ),
            Error::ReasonsRequired => (
                ErrorKind::InvalidArgument,
                "permits.reasons_required",
                "A denial or revocation must cite at least one reason code.".into(),
            ),
            Error::UnknownReason(code) => (
                ErrorKind::InvalidArgument,
                "permits.unknown_reason",
                format!(
                    "{code:?} is not a federal prohibitor, a disqualifier of this permit type, or a procedural reason."
                ),
            ),
            Error::TrainingNotProven(why) => (
                ErrorKind::FailedPrecondition,
                "permits.training_not_proven",
                format!("The training this permit requires is not proven: {why}."),
            ),
            Error::NotEligible(why) => (
                ErrorKind::FailedPrecondition,
                "permits.not_eligible",
                format!("The applicant may not apply for this permit: {why}."),
            ),
            Error::RenewalWindow(why) => (
                ErrorKind::FailedPrecondition,
                "permits.renewal_window",
                format!("The permit cannot be renewed now: {why}."),
            ),
            Error::WaitingPeriod(until) => (
                ErrorKind::FailedPrecondition,
                "permits.waiting_period",
                format!("The waiting period runs until {until}; the permit is issued after it."),
            ),
            Error::Vault(_) => (
                ErrorKind::Unavailable,
                "permits.vault_unavailable",
                "The application could not be recorded just now; please try again shortly.".into(),
            ),
            Error::Denied(e) => return e.clone(),
            Error::Kernel(e) => return e.public(),
            Error::Corrupt(_) | Error::Database(_) => return PublicError::internal(),
        };
        PublicError::new(kind, code, message)
    }
}
