//! One module per resource.

pub mod audit;
pub mod checks;
pub mod me;
pub mod offices;
pub mod permits;
pub mod renewals;
