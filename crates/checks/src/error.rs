use plaza_kernel::error::{ErrorKind, PublicError};

use crate::matching::WeightsError;

/// Everything the checks service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("matching weights refused")]
    Weights(#[from] WeightsError),
}

impl Error {
    pub fn public(&self) -> PublicError {
        match self {
            Error::Weights(e) => PublicError::new(
                ErrorKind::InvalidArgument,
                "checks.weights_invalid",
                e.to_string(),
            ),
        }
    }
}
