//! The identity service's errors.

use plaza_kernel::error::{ErrorKind, PublicError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("configuration: {0}")]
    Config(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    #[error("a client with this id already exists")]
    ClientExists,
    #[error("no such account")]
    NoSuchUser,
}

impl Error {
    pub fn public(&self) -> PublicError {
        match self {
            Error::Invalid { field, reason } => PublicError::new(
                ErrorKind::InvalidArgument,
                "identity.invalid",
                format!("{field} {reason}"),
            ),
            Error::EmailTaken => PublicError::new(
                ErrorKind::Conflict,
                "identity.email_taken",
                "An account with this e-mail address already exists.",
            ),
            Error::Kernel(e) => e.public(),
            _ => PublicError::internal(),
        }
    }
}
