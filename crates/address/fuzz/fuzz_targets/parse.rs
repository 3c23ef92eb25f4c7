//! The address parser on arbitrary bytes: it answers or refuses with one of
//! its stable codes, never panics; whatever it reads, its standard form
//! reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_address::parse::{parse, parse_bytes};

fuzz_target!(|data: &[u8]| {
    match parse_bytes(data) {
        Ok(parsed) => {
            let standard = parsed.address.single_line();
            let again = parse(&standard).expect("a standard form parses");
            assert_eq!(again.address, parsed.address, "{standard}");
        }
        Err(e) => {
            let code = e.public().code;
            assert!(
                matches!(
                    code.as_ref(),
                    "address.empty"
                        | "address.too_long"
                        | "address.invalid_characters"
                        | "address.unparseable"
                ),
                "{code}"
            );
        }
    }
});
