use plaza_kernel::error::{ErrorKind, PublicError};

use crate::matching::WeightsError;
use crate::sources::CatalogueError;

/// Everything the checks service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("matching weights refused")]
    Weights(#[from] WeightsError),
    #[error("record source catalogue refused")]
    Catalogue(#[from] CatalogueError),
}

impl Error {
    pub fn public(&self) -> PublicError {
        match self {
            Error::Weights(e) => PublicError::new(
                ErrorKind::InvalidArgument,
                "checks.weights_invalid",
                e.to_string(),
            ),
            Error::Catalogue(e) => PublicError::new(
                ErrorKind::InvalidArgument,
                "checks.catalogue_invalid",
                e.to_string(),
            ),
        }
    }
}
