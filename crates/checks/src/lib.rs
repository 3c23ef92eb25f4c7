//! `plaza-checks`: background checks for firearm licensing — a check fans
//! out to many record sources (criminal history, wanted persons, protection
//! orders, mental-health adjudications, immigration, state repositories)
//! and resolves which of their records are about the applicant.
//!
//! This crate holds identity resolution so far: [`matching`] finds an
//! applicant's records across sources despite misspelt, nicknamed or
//! swapped names, transposed dates and missing identifiers, and says for
//! each candidate how sure it is and why.

pub mod error;
pub mod matching;

pub use error::Error;
