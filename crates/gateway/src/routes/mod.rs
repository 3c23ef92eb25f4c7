//! One module per resource.

pub mod offices;
