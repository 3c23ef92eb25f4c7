use plaza_kernel::error::{ErrorKind, PublicError};

/// Everything the payments service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no payment intent {0}")]
    NotFound(String),
    #[error("invalid: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("fee schedule: {0}")]
    Fees(String),
    #[error("no fee applies to licence class {0}")]
    NoFee(String),
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    #[error("intent {0} is already paid")]
    AlreadyPaid(String),
    #[error("intent {0} is not paid")]
    NotPaid(String),
    #[error("the card was declined: {0}")]
    Declined(String),
    #[error("a payment for this intent is in progress")]
    InProgress,
    #[error("refund exceeds what is left: {left} cents")]
    RefundTooLarge { left: i64 },
    #[error("processor unavailable: {0}")]
    ProcessorUnavailable(String),
    #[error("processor refused: {0}")]
    ProcessorRefused(String),
    #[error("webhook signature invalid: {0}")]
    BadSignature(&'static str),
    #[error("not permitted: {}", .0.code)]
    Denied(PublicError),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl Error {
    pub fn public(&self) -> PublicError {
        use ErrorKind::*;
        let (kind, code, msg): (ErrorKind, &str, String) = match self {
            Error::NotFound(_) => (
                NotFound,
                "payments.not_found",
                "There is no such payment.".into(),
            ),
            Error::Invalid { field, reason } => (
                InvalidArgument,
                "payments.invalid",
                format!("{field}: {reason}"),
            ),
            Error::Fees(m) => (InvalidArgument, "payments.fee_schedule_invalid", m.clone()),
            Error::NoFee(class) => (
                InvalidArgument,
                "payments.no_fee",
                format!("No fee is set for licence class {class}."),
            ),
            Error::IdempotencyMismatch => (
                Conflict,
                "payments.idempotency_mismatch",
                "This Idempotency-Key was already used for a different request.".into(),
            ),
            Error::AlreadyPaid(_) => (
                FailedPrecondition,
                "payments.already_paid",
                "This payment has already been made.".into(),
            ),
            Error::NotPaid(_) => (
                FailedPrecondition,
                "payments.not_paid",
                "This payment has not been made, so nothing can be refunded.".into(),
            ),
            Error::Declined(code) => (
                FailedPrecondition,
                "payments.card_declined",
                format!("Your card was declined ({code}). Try another card."),
            ),
            Error::InProgress => (
                Conflict,
                "payments.in_progress",
                "A payment with another card is still being processed. Try again in a minute."
                    .into(),
            ),
            Error::RefundTooLarge { left } => (
                FailedPrecondition,
                "payments.refund_too_large",
                format!("At most {left} cents can still be refunded."),
            ),
            Error::ProcessorUnavailable(_) => (
                Unavailable,
                "payments.processor_unavailable",
                "The card processor did not answer. Nothing was charged twice; try again shortly."
                    .into(),
            ),
            Error::ProcessorRefused(_) => (
                InvalidArgument,
                "payments.processor_refused",
                "The card processor refused the request; check the card number.".into(),
            ),
            Error::BadSignature(_) => (
                Unauthenticated,
                "payments.webhook_signature_invalid",
                "The webhook signature does not verify.".into(),
            ),
            Error::Denied(e) => return e.clone(),
            Error::Kernel(plaza_kernel::Error::IdempotencyMismatch { .. }) => (
                Conflict,
                "payments.idempotency_mismatch",
                "This Idempotency-Key was already used for a different request.".into(),
            ),
            Error::Kernel(plaza_kernel::Error::Invalid(m)) => {
                (InvalidArgument, "payments.invalid", m.clone())
            }
            Error::Kernel(_) | Error::Database(_) => return PublicError::internal(),
        };
        PublicError::new(kind, code, msg)
    }
}
