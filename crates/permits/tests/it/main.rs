//! The permits crate from the outside: the linter on good and bad
//! catalogues, the holder that keeps a good catalogue in force, the shipped
//! catalogue, and the statutory calendar.

mod applications;
mod calendar;
mod catalogue;
mod lint;
mod shipped;
