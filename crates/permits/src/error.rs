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
}

impl Error {
    pub fn public(&self) -> PublicError {
        match self {
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
                PublicError::new(
                    ErrorKind::InvalidArgument,
                    "permits.catalogue_invalid",
                    message,
                )
            }
            Error::UnknownType(_) => PublicError::new(
                ErrorKind::NotFound,
                "permits.unknown_type",
                "There is no such permit type.",
            ),
            Error::InvalidDate(_) => PublicError::new(
                ErrorKind::InvalidArgument,
                "permits.invalid_date",
                "Dates are written YYYY-MM-DD and must exist.",
            ),
        }
    }
}
