use plaza_kernel::error::{ErrorKind, PublicError};

use crate::matching::WeightsError;
use crate::sources::CatalogueError;

/// Everything the checks service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("matching weights refused")]
    Weights(#[from] WeightsError),
    #[error("record source catalogue refused")]
    Catalogue(#[from] CatalogueError),
    #[error("no such check")]
    NotFound,
    /// Only a Delayed check in the examiners' queue can be resolved.
    #[error("the check is {0}, not in review")]
    NotInReview(String),
    #[error("the check was already resolved otherwise")]
    AlreadyResolved,
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0:?} is not a prohibitor of this check")]
    UnknownProhibitor(String),
    #[error("not permitted: {}", .0.code)]
    Denied(PublicError),
    /// A record notice whose signature does not verify.
    #[error("notice signature: {0}")]
    NoticeSignature(&'static str),
    /// A service the check needs did not answer.
    #[error("{0}")]
    Peer(String),
    #[error("stored data does not open: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl Error {
    pub fn public(&self) -> PublicError {
        let (kind, code, message): (ErrorKind, &'static str, String) = match self {
            Error::Weights(e) => (
                ErrorKind::InvalidArgument,
                "checks.weights_invalid",
                e.to_string(),
            ),
            Error::Catalogue(e) => (
                ErrorKind::InvalidArgument,
                "checks.catalogue_invalid",
                e.to_string(),
            ),
            Error::NotFound => (
                ErrorKind::NotFound,
                "checks.not_found",
                "There is no such background check.".into(),
            ),
            Error::NotInReview(status) => (
                ErrorKind::FailedPrecondition,
                "checks.not_in_review",
                format!(
                    "Only a Delayed check awaiting an examiner can be resolved; this one is {status}."
                ),
            ),
            Error::AlreadyResolved => (
                ErrorKind::Conflict,
                "checks.already_resolved",
                "This check was already resolved with another decision.".into(),
            ),
            Error::Invalid { field, reason } => (
                ErrorKind::InvalidArgument,
                "checks.invalid",
                format!("{field}: {reason}"),
            ),
            Error::UnknownProhibitor(code) => (
                ErrorKind::InvalidArgument,
                "checks.unknown_prohibitor",
                format!(
                    "{code:?} is neither a federal prohibitor (922(g)(1)–(9), 922(n)) nor a disqualifier of this permit type."
                ),
            ),
            Error::NoticeSignature(_) => (
                ErrorKind::Unauthenticated,
                "checks.notice_signature_invalid",
                "The record notice's signature does not verify.".into(),
            ),
            Error::Denied(e) => return e.clone(),
            Error::Peer(_) => return PublicError::unavailable("checks"),
            Error::Kernel(e) => return e.public(),
            Error::Corrupt(_) | Error::Database(_) => return PublicError::internal(),
        };
        PublicError::new(kind, code, message)
    }
}
