//! `plaza-checks`: background checks for firearm licensing — a check fans
//! out to many record sources (criminal history, wanted persons, protection
//! orders, mental-health adjudications, immigration, state repositories)
//! and resolves which of their records are about the applicant.
//!
//! - [`matching`]: identity resolution — finds an applicant's records
//!   across sources despite misspelt, nicknamed or swapped names,
//!   transposed dates and missing identifiers, and says for each candidate
//!   how sure it is and why.
//! - [`sources`]: the adapters for the sources' three wire formats (JSON
//!   and NIEM-style XML over HTTP, fixed-width lines over TCP) and the
//!   registry built from a source catalogue.
//! - [`prohibitors`]: what a record establishes — 18 U.S.C. 922(g)(1)–(9),
//!   922(n) and state disqualifiers — as a table of rules.
//! - [`engine`]: a check — a transaction number, every source asked at once
//!   under its own timeout and circuit breaker, each record resolved
//!   against the applicant, and the outcome: Proceed, Delayed or Denied.
//! - [`service`]: the `checks` service — requests from the permits service,
//!   workers that run them, the answers told back, and the examiners'
//!   queue of Delayed checks with the evidence, over gRPC.

pub mod engine;
pub mod error;
pub mod matching;
pub mod prohibitors;
pub mod service;
pub mod sources;

pub use engine::{CheckResult, Checker, CheckerConfig, Outcome, Purpose};
pub use error::Error;
