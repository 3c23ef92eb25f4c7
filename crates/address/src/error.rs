use plaza_kernel::error::{ErrorKind, PublicError};

/// Everything the address service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the address is empty")]
    Empty,
    #[error("the address is {len} bytes long, over the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("the address holds characters an address cannot have")]
    InvalidCharacters,
    #[error("the address could not be read: {0}")]
    Unparseable(&'static str),
    #[error("the address lacks {0}")]
    Incomplete(&'static str),
    #[error("import refused: {} bad row(s)", .0.len())]
    Import(Vec<RowError>),
    #[error("not permitted: {}", .0.code)]
    Denied(PublicError),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("reading import file")]
    Csv(#[from] csv::Error),
    #[error("reading {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("stored reference data is damaged: {0}")]
    Corrupt(String),
}

/// A bad row of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl Error {
    pub fn public(&self) -> PublicError {
        let invalid = |code: &'static str, msg: String| {
            PublicError::new(ErrorKind::InvalidArgument, code, msg)
        };
        match self {
            Error::Empty => invalid("address.empty", "Enter an address.".into()),
            Error::TooLong { max, .. } => invalid(
                "address.too_long",
                format!("An address can be at most {max} characters long."),
            ),
            Error::InvalidCharacters => invalid(
                "address.invalid_characters",
                "Use only letters A to Z without accents, digits, spaces and , . # - / ' & in an address."
                    .into(),
            ),
            Error::Unparseable(why) => invalid(
                "address.unparseable",
                format!("The address could not be read: {why}."),
            ),
            Error::Incomplete(what) => invalid(
                "address.incomplete",
                format!("The address needs {what} to be checked."),
            ),
            Error::Import(rows) => invalid(
                "address.import_invalid",
                rows.iter()
                    .take(20)
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Error::Denied(e) => e.clone(),
            Error::Kernel(e) => e.public(),
            Error::Database(_) | Error::Csv(_) | Error::Io { .. } | Error::Corrupt(_) => {
                PublicError::internal()
            }
        }
    }

    pub fn to_status(&self) -> tonic::Status {
        plaza_kernel::error::log_and_publicise(self, self.public()).to_status()
    }
}
