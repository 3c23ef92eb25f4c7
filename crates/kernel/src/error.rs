//! Errors: the kernel's own [`Error`], and [`PublicError`], the shape every
//! crate's error takes when it leaves the process.
//!
//! A public error carries a stable machine code (`offices.not_found`), a
//! message fit for a citizen, and a kind that fixes the gRPC status and the
//! HTTP status. Internal detail stays in the crate's error and goes to logs
//! only. Across gRPC the code travels in the `plaza-code` metadata entry, so
//! the gateway can answer `application/problem+json` with the same code that
//! the service chose.

use std::borrow::Cow;

use tonic::{Code, Status};

/// The kernel's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("event bus: {0}")]
    Bus(String),
    #[error("cache: {0}")]
    Cache(String),
    #[error("idempotency key {key:?} was already used with a different request")]
    IdempotencyMismatch { key: String },
    #[error("encoding: {0}")]
    Encoding(String),
}

impl Error {
    pub fn public(&self) -> PublicError {
        match self {
            Error::IdempotencyMismatch { .. } => PublicError::new(
                ErrorKind::Conflict,
                "idempotency_key_reused",
                "This Idempotency-Key was already used for a different request. Use a new key for a new request.",
            ),
            Error::Invalid(msg) => {
                PublicError::new(ErrorKind::InvalidArgument, "invalid_request", msg.clone())
            }
            _ => PublicError::internal(),
        }
    }
}

/// What went wrong, in the terms both gRPC and HTTP understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    NotFound,
    Conflict,
    FailedPrecondition,
    Unauthenticated,
    PermissionDenied,
    ResourceExhausted,
    PayloadTooLarge,
    Unavailable,
    DeadlineExceeded,
    Internal,
}

impl ErrorKind {
    pub fn grpc_code(self) -> Code {
        match self {
            ErrorKind::InvalidArgument => Code::InvalidArgument,
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::Conflict => Code::AlreadyExists,
            ErrorKind::FailedPrecondition => Code::FailedPrecondition,
            ErrorKind::Unauthenticated => Code::Unauthenticated,
            ErrorKind::PermissionDenied => Code::PermissionDenied,
            ErrorKind::ResourceExhausted => Code::ResourceExhausted,
            ErrorKind::PayloadTooLarge => Code::OutOfRange,
            ErrorKind::Unavailable => Code::Unavailable,
            ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
            ErrorKind::Internal => Code::Internal,
        }
    }

    pub fn from_grpc_code(code: Code) -> ErrorKind {
        match code {
            Code::InvalidArgument => ErrorKind::InvalidArgument,
            Code::NotFound => ErrorKind::NotFound,
            Code::AlreadyExists | Code::Aborted => ErrorKind::Conflict,
            Code::FailedPrecondition => ErrorKind::FailedPrecondition,
            Code::Unauthenticated => ErrorKind::Unauthenticated,
            Code::PermissionDenied => ErrorKind::PermissionDenied,
            Code::ResourceExhausted => ErrorKind::ResourceExhausted,
            Code::OutOfRange => ErrorKind::PayloadTooLarge,
            Code::Unavailable | Code::Cancelled => ErrorKind::Unavailable,
            Code::DeadlineExceeded => ErrorKind::DeadlineExceeded,
            _ => ErrorKind::Internal,
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::FailedPrecondition => 422,
            ErrorKind::ResourceExhausted => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
            ErrorKind::DeadlineExceeded => 504,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "Invalid request",
            ErrorKind::NotFound => "Not found",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::FailedPrecondition => "Not possible now",
            ErrorKind::Unauthenticated => "Sign-in required",
            ErrorKind::PermissionDenied => "Not allowed",
            ErrorKind::ResourceExhausted => "Too many requests",
            ErrorKind::PayloadTooLarge => "Request too large",
            ErrorKind::Unavailable => "Service unavailable",
            ErrorKind::DeadlineExceeded => "Timed out",
            ErrorKind::Internal => "Internal error",
        }
    }
}

/// The metadata entry that carries a [`PublicError`]'s code over gRPC.
pub const CODE_METADATA: &str = "plaza-code";

/// An error as a caller outside the process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicError {
    pub kind: ErrorKind,
    /// Stable, documented, never reworded: clients branch on it.
    pub code: Cow<'static, str>,
    /// Plain words for the person who made the request.
    pub message: Cow<'static, str>,
}

impl PublicError {
    pub fn new(
        kind: ErrorKind,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        PublicError {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn internal() -> Self {
        PublicError::new(
            ErrorKind::Internal,
            "internal",
            "Something went wrong on our side. It has been logged; please try again later.",
        )
    }

    pub fn unavailable(service: &str) -> Self {
        PublicError::new(
            ErrorKind::Unavailable,
            "service_unavailable",
            format!("The {service} service is not available right now. Please try again shortly."),
        )
    }

    /// The gRPC status that carries this error.
    pub fn to_status(&self) -> Status {
        let mut status = Status::new(self.kind.grpc_code(), self.message.to_string());
        if let Ok(v) = self.code.parse() {
            status.metadata_mut().insert(CODE_METADATA, v);
        }
        status
    }

    /// Reads a status from a downstream service. A status without a Plaza
    /// code (a transport failure, a timeout) gets a generic one of its kind.
    pub fn from_status(status: &Status, downstream: &str) -> Self {
        let kind = ErrorKind::from_grpc_code(status.code());
        match status
            .metadata()
            .get(CODE_METADATA)
            .and_then(|v| v.to_str().ok())
        {
            Some(code) => PublicError::new(kind, code.to_owned(), status.message().to_owned()),
            None => match kind {
                ErrorKind::Unavailable => PublicError::unavailable(downstream),
                ErrorKind::DeadlineExceeded => PublicError::new(
                    kind,
                    "downstream_timeout",
                    format!("The {downstream} service took too long to answer. Please try again."),
                ),
                ErrorKind::ResourceExhausted => PublicError::new(
                    kind,
                    "overloaded",
                    "Plaza is busy right now. Please try again in a moment.",
                ),
                _ => PublicError::internal(),
            },
        }
    }
}

/// Logs an error with its whole source chain (never shown to callers) and
/// returns the public form.
pub fn log_and_publicise<E: std::error::Error>(err: &E, public: PublicError) -> PublicError {
    if public.kind == ErrorKind::Internal || public.kind == ErrorKind::Unavailable {
        tracing::error!(error = %chain(err), code = %public.code, "request failed");
    } else {
        tracing::debug!(error = %chain(err), code = %public.code, "request refused");
    }
    public
}

/// The error and its sources, joined by ": ".
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_survives_a_grpc_round_trip() {
        let e = PublicError::new(ErrorKind::NotFound, "offices.not_found", "No such office.");
        let back = PublicError::from_status(&e.to_status(), "offices");
        assert_eq!(back, e);
        assert_eq!(back.kind.http_status(), 404);
    }

    #[test]
    fn transport_failures_become_service_unavailable() {
        let s = Status::unavailable("tcp connect error: connection refused");
        let e = PublicError::from_status(&s, "offices");
        assert_eq!(e.code, "service_unavailable");
        assert_eq!(e.kind.http_status(), 503);
        assert!(!e.message.contains("tcp"), "transport detail must not leak");
    }

    #[test]
    fn internal_status_never_leaks_its_message() {
        let s = Status::internal("relation \"offices\" does not exist");
        let e = PublicError::from_status(&s, "offices");
        assert_eq!(e.code, "internal");
        assert!(!e.message.contains("relation"));
    }
}
