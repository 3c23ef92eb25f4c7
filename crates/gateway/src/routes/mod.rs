//! One module per resource.

pub mod audit;
pub mod me;
pub mod offices;
pub mod permits;
pub mod renewals;
