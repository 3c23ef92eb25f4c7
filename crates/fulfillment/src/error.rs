use plaza_kernel::error::{ErrorKind, PublicError};

use crate::aamva::AamvaError;
use crate::pdf417::Pdf417Error;
use crate::vendor::VendorError;

/// Everything the fulfillment service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no order with id {0}")]
    NotFound(String),
    #[error("invalid request: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("card data refused")]
    Card(#[source] AamvaError),
    #[error("idempotency key {0:?} was already used with a different request")]
    IdempotencyMismatch(String),
    #[error("order is {status} and can no longer be cancelled")]
    NotCancellable { status: String },
    #[error("no such office: {0}")]
    UnknownOffice(String),
    #[error("no PDF417 pattern table is configured")]
    BarcodeUnavailable,
    #[error("barcode")]
    Barcode(#[source] Pdf417Error),
    #[error("order {0} changed while being updated")]
    Conflict(String),
    #[error("card vendor")]
    Vendor(#[source] VendorError),
    #[error("not permitted: {}", .0.code)]
    Denied(PublicError),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("stored order {0} does not read back")]
    Corrupt(String),
}

impl Error {
    pub fn public(&self) -> PublicError {
        match self {
            Error::NotFound(_) => PublicError::new(
                ErrorKind::NotFound,
                "fulfillment.not_found",
                "There is no card order with this id.",
            ),
            Error::Invalid { field, reason } => PublicError::new(
                ErrorKind::InvalidArgument,
                "fulfillment.invalid",
                format!("{field}: {reason}"),
            ),
            Error::Card(e) => {
                PublicError::new(ErrorKind::InvalidArgument, e.code, e.detail.clone())
            }
            Error::IdempotencyMismatch(_) => PublicError::new(
                ErrorKind::Conflict,
                "fulfillment.idempotency_mismatch",
                "This idempotency key was already used for a different order.",
            ),
            Error::NotCancellable { status } => PublicError::new(
                ErrorKind::Conflict,
                "fulfillment.not_cancellable",
                format!("The card is already {status} and can no longer be cancelled."),
            ),
            Error::UnknownOffice(_) => PublicError::new(
                ErrorKind::InvalidArgument,
                "fulfillment.unknown_office",
                "There is no pickup office with this id.",
            ),
            Error::BarcodeUnavailable => PublicError::new(
                ErrorKind::Unavailable,
                "fulfillment.barcode_unavailable",
                "Barcodes cannot be drawn right now.",
            ),
            Error::Barcode(e) => PublicError::new(
                ErrorKind::InvalidArgument,
                e.code(),
                "The card data does not fit in a barcode.",
            ),
            Error::Conflict(_) => PublicError::new(
                ErrorKind::Conflict,
                "fulfillment.conflict",
                "The order changed while being updated. Read it again and retry.",
            ),
            Error::Denied(e) => e.clone(),
            Error::Kernel(e) => e.public(),
            Error::Vendor(_) => PublicError::unavailable("card vendor"),
            Error::Database(_) | Error::Corrupt(_) => PublicError::internal(),
        }
    }

    pub fn to_status(&self) -> tonic::Status {
        plaza_kernel::error::log_and_publicise(self, self.public()).to_status()
    }
}
