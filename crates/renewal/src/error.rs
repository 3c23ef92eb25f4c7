use plaza_kernel::error::{ErrorKind, PublicError};

use crate::eligibility::RuleError;

/// Everything the renewal service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such driver record")]
    NotFound,
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the driver record is already linked to another account")]
    AlreadyClaimed,
    #[error("eligibility rules refused")]
    Rules(#[from] RuleError),
    #[error("invalid cursor")]
    BadCursor,
    #[error("not permitted: {}", .0.code)]
    Denied(PublicError),
    #[error("a stored driver record does not open: {0}")]
    Corrupt(String),
    #[error("no such renewal application")]
    ApplicationNotFound,
    #[error("not eligible for online renewal: {} rule(s)", .0.len())]
    NotEligible(Vec<crate::eligibility::Refusal>),
    #[error("steps missing before payment: {}", .0.join(", "))]
    OutOfOrder(Vec<&'static str>),
    #[error("the application is {status}, not {wanted}")]
    WrongState {
        status: String,
        wanted: &'static str,
    },
    #[error("the driver already has an open renewal")]
    AlreadyOpen,
    #[error("too late to cancel")]
    TooLateToCancel,
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    #[error("a service the renewal needs answered {}", .0.code)]
    Downstream(PublicError),
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

    pub fn public(&self) -> PublicError {
        match self {
            Error::NotFound => PublicError::new(
                ErrorKind::NotFound,
                "renewal.driver_not_found",
                "No driver record matches.",
            ),
            Error::Invalid { field, reason } => PublicError::new(
                ErrorKind::InvalidArgument,
                "renewal.invalid",
                format!("{field}: {reason}"),
            ),
            Error::AlreadyClaimed => PublicError::new(
                ErrorKind::Conflict,
                "renewal.driver_already_claimed",
                "This driver record is already linked to another account. Contact the licensing agency.",
            ),
            Error::Rules(e) => PublicError::new(
                ErrorKind::InvalidArgument,
                "renewal.rules_invalid",
                e.to_string(),
            ),
            Error::BadCursor => PublicError::new(
                ErrorKind::InvalidArgument,
                "invalid_cursor",
                "The page cursor is not valid. Start again from the first page.",
            ),
            Error::ApplicationNotFound => PublicError::new(
                ErrorKind::NotFound,
                "renewal.application_not_found",
                "There is no such renewal application.",
            ),
            Error::NotEligible(refusals) => PublicError::new(
                ErrorKind::FailedPrecondition,
                "renewal.not_eligible",
                refusals
                    .iter()
                    .map(|r| format!("[{}] {} Instead: {}", r.rule_id, r.message, r.instead))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Error::OutOfOrder(missing) => PublicError::new(
                ErrorKind::FailedPrecondition,
                "renewal.out_of_order",
                format!("Before paying, complete: {}.", missing.join(", ")),
            ),
            Error::WrongState { status, wanted } => PublicError::new(
                ErrorKind::FailedPrecondition,
                "renewal.wrong_state",
                format!("The application is {status}; this needs it to be {wanted}."),
            ),
            Error::AlreadyOpen => PublicError::new(
                ErrorKind::Conflict,
                "renewal.already_open",
                "This licence already has a renewal in progress.",
            ),
            Error::TooLateToCancel => PublicError::new(
                ErrorKind::FailedPrecondition,
                "renewal.too_late_to_cancel",
                "The card is already being made; the application can no longer be cancelled.",
            ),
            Error::IdempotencyMismatch => PublicError::new(
                ErrorKind::Conflict,
                "renewal.idempotency_mismatch",
                "This Idempotency-Key was already used for a different request.",
            ),
            Error::Downstream(e) => e.clone(),
            Error::Denied(e) => e.clone(),
            Error::Kernel(e) => e.public(),
            Error::Corrupt(_) | Error::Database(_) => PublicError::internal(),
        }
    }

    pub fn to_status(&self) -> tonic::Status {
        plaza_kernel::error::log_and_publicise(self, self.public()).to_status()
    }
}
