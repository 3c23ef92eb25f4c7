use plaza_kernel::error::{ErrorKind, PublicError};

/// Everything the audit log can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no audit entry {0}")]
    NoSuchEntry(u64),
    #[error("{what} proof for {a}..{b} is not possible in a log of {size} entries")]
    BadRange {
        what: &'static str,
        a: u64,
        b: u64,
        size: u64,
    },
    #[error("the stored log is damaged: {0}")]
    Corrupt(String),
    #[error("signing key: {0}")]
    Key(String),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl Error {
    pub fn public(&self) -> PublicError {
        match self {
            Error::NoSuchEntry(_) => PublicError::new(
                ErrorKind::NotFound,
                "audit.no_such_entry",
                "There is no audit entry with this number.",
            ),
            Error::BadRange { what, a, b, size } => PublicError::new(
                ErrorKind::InvalidArgument,
                "audit.bad_range",
                format!(
                    "A {what} proof for {a} and {b} is not possible: the log holds {size} entries."
                ),
            ),
            Error::Kernel(e) => e.public(),
            _ => PublicError::internal(),
        }
    }
}
