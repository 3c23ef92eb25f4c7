use plaza_kernel::error::{ErrorKind, PublicError};

/// Everything the photo service can fail with. Input problems carry stable
/// codes (`photo.*`) and a message a citizen can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("image of {bytes} bytes is over the limit of {max}")]
    TooLarge { bytes: usize, max: usize },
    #[error(
        "image of {width}x{height} is over the limit of {max_pixels} pixels or {max_side} per side"
    )]
    TooManyPixels {
        width: u64,
        height: u64,
        max_pixels: u64,
        max_side: u32,
    },
    #[error("image of {width}x{height} is under the minimum of {min_side} per side")]
    TooSmall {
        width: u32,
        height: u32,
        min_side: u32,
    },
    #[error("image cannot be read: {0}")]
    Unreadable(String),
    #[error("unsupported image type: {0}")]
    UnsupportedType(String),
    #[error("photo worker pool is full")]
    Busy,
    #[error("no photo with this id")]
    NotFound,
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("not permitted: {}", .0.code)]
    Denied(PublicError),
    #[error("photo processing failed: {0}")]
    Internal(String),
    #[error(transparent)]
    Kernel(#[from] plaza_kernel::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl Error {
    /// The stable code of this error (`photo.too_large`, ...).
    pub fn code(&self) -> String {
        self.public().code.to_string()
    }

    pub fn public(&self) -> PublicError {
        match self {
            Error::TooLarge { max, .. } => PublicError::new(
                ErrorKind::PayloadTooLarge,
                "photo.too_large",
                format!(
                    "The file is too big. Send a JPEG or PNG photo of at most {} MB.",
                    max / (1024 * 1024)
                ),
            ),
            Error::TooManyPixels {
                max_pixels,
                max_side,
                ..
            } => PublicError::new(
                ErrorKind::PayloadTooLarge,
                "photo.too_many_pixels",
                format!(
                    "The photo has too many pixels. Send one of at most {} megapixels and {max_side} pixels on its longest side.",
                    max_pixels / 1_000_000
                ),
            ),
            Error::TooSmall { min_side, .. } => PublicError::new(
                ErrorKind::InvalidArgument,
                "photo.too_small",
                format!(
                    "The photo is too small. Send one of at least {min_side} pixels on each side."
                ),
            ),
            Error::Unreadable(_) => PublicError::new(
                ErrorKind::InvalidArgument,
                "photo.unreadable",
                "The file could not be read as a photo. It may be damaged or incomplete: take or export it again.",
            ),
            Error::UnsupportedType(_) => PublicError::new(
                ErrorKind::InvalidArgument,
                "photo.unsupported_type",
                "Send the photo as a JPEG or PNG file.",
            ),
            Error::Busy => PublicError::new(
                ErrorKind::ResourceExhausted,
                "photo.busy",
                "Many photos are being checked right now. Try again in a moment.",
            ),
            Error::NotFound => PublicError::new(
                ErrorKind::NotFound,
                "photo.not_found",
                "There is no photo with this id.",
            ),
            Error::Invalid { field, reason } => PublicError::new(
                ErrorKind::InvalidArgument,
                "photo.invalid",
                format!("{field}: {reason}"),
            ),
            Error::Denied(e) => e.clone(),
            Error::Kernel(e) => e.public(),
            Error::Internal(_) | Error::Database(_) => PublicError::internal(),
        }
    }

    pub fn to_status(&self) -> tonic::Status {
        plaza_kernel::error::log_and_publicise(self, self.public()).to_status()
    }
}
