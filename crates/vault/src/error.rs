use plaza_kernel::error::{ErrorKind, PublicError};

/// Everything the vault can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a valid {kind}: {reason}")]
    Invalid { kind: &'static str, reason: String },
    #[error("no such token")]
    NoSuchToken,
    #[error("a purpose is required to see personal data")]
    PurposeRequired,
    #[error("keys: {0}")]
    Keys(String),
    #[error("cryptography: {0}")]
    Crypto(String),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("not permitted: {}", .0.code)]
    Denied(PublicError),
}

impl Error {
    pub fn public(&self) -> PublicError {
        match self {
            // The reason names the rule, never the value.
            Error::Invalid { kind, reason } => PublicError::new(
                ErrorKind::InvalidArgument,
                "vault.invalid_value",
                format!("Not a valid {kind}: {reason}."),
            ),
            Error::NoSuchToken => PublicError::new(
                ErrorKind::NotFound,
                "vault.no_such_token",
                "There is no such token.",
            ),
            Error::PurposeRequired => PublicError::new(
                ErrorKind::InvalidArgument,
                "vault.purpose_required",
                "State why you need to see this personal data.",
            ),
            Error::Kernel(e) => e.public(),
            Error::Denied(e) => e.clone(),
            _ => PublicError::internal(),
        }
    }
}
