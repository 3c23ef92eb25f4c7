//! One module per resource.

pub mod audit;
pub mod offices;
