use plaza_kernel::error::{ErrorKind, PublicError};

/// Everything the offices service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no office with id {0}")]
    NotFound(String),
    #[error("invalid office: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("an office with code {0} already exists")]
    DuplicateCode(String),
    #[error("office {id} is at version {actual}, not {expected}")]
    VersionConflict {
        id: String,
        expected: i64,
        actual: i64,
    },
    #[error("import refused: {} bad row(s)", .0.len())]
    Import(Vec<RowError>),
    #[error("invalid cursor")]
    BadCursor,
    #[error("not permitted: {}", .0.code)]
    Denied(PublicError),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("reading import file")]
    Csv(#[from] csv::Error),
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
        match self {
            Error::NotFound(_) => PublicError::new(
                ErrorKind::NotFound,
                "offices.not_found",
                "There is no office with this id.",
            ),
            Error::Invalid { field, reason } => PublicError::new(
                ErrorKind::InvalidArgument,
                "offices.invalid",
                format!("{field}: {reason}"),
            ),
            Error::DuplicateCode(code) => PublicError::new(
                ErrorKind::Conflict,
                "offices.duplicate_code",
                format!("An office with code {code} already exists."),
            ),
            Error::VersionConflict { .. } => PublicError::new(
                ErrorKind::Conflict,
                "offices.version_conflict",
                "The office was changed by someone else since you read it. Read it again and retry.",
            ),
            Error::Import(rows) => PublicError::new(
                ErrorKind::InvalidArgument,
                "offices.import_invalid",
                rows.iter()
                    .take(20)
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Error::Denied(e) => e.clone(),
            Error::BadCursor => PublicError::new(
                ErrorKind::InvalidArgument,
                "invalid_cursor",
                "The page cursor is not valid. Start again from the first page.",
            ),
            Error::Kernel(e) => e.public(),
            Error::Database(_) | Error::Csv(_) => PublicError::internal(),
        }
    }

    pub fn to_status(&self) -> tonic::Status {
        plaza_kernel::error::log_and_publicise(self, self.public()).to_status()
    }
}
