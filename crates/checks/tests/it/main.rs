//! plaza-checks end to end: identity matching measured on labelled
//! synthetic sources, and complete checks against plaza-sim's 27 record
//! sources over their three wire formats.

mod adapters;
mod checks;
mod matching;
mod service;
mod sim;
