//! `permits`: firearm permit types as data an agency edits, checked whole
//! before they are used; the federal prohibitors every state adds its own
//! disqualifiers to; and the statutory calendar (federal holidays, business
//! days, decision deadlines, NICS timings).
//!
//! The shipped catalogue (`catalogue/*.toml`) is SAMPLE DATA shaped like
//! real permits. It is not legal advice: an agency replaces it with its own.

pub mod calendar;
pub mod catalogue;
pub mod error;
pub mod federal;
pub mod lint;
pub mod types;

pub use calendar::{BusinessCalendar, Date};
pub use catalogue::{Catalogue, TypeSet};
pub use error::Error;
pub use federal::FederalProhibitor;
pub use lint::{Code, LintError, Source};
pub use types::{Jurisdiction, Kind, PermitType};
