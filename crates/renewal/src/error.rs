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
            Error::Denied(e) => e.clone(),
            Error::Kernel(e) => e.public(),
            Error::Corrupt(_) | Error::Database(_) => PublicError::internal(),
        }
    }

    pub fn to_status(&self) -> tonic::Status {
        plaza_kernel::error::log_and_publicise(self, self.public()).to_status()
    }
}
