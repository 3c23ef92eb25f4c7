//! plaza-checks end to end: identity matching measured on labelled
//! synthetic sources.

mod matching;
