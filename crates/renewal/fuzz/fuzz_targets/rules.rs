//! Eligibility rule files: any text is either a valid rule set or refused
//! with a reason, never a panic. `cargo fuzz run rules` in this folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_renewal::eligibility::RuleSet;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match RuleSet::parse("fuzz.toml", text) {
            Ok(set) => assert!(!set.rules.is_empty()),
            Err(e) => assert!(!e.reason.is_empty()),
        }
    }
});
