//! The AAMVA parser on arbitrary bytes: it must answer, never panic; and
//! whatever it reads as a Plaza card must encode and read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_fulfillment::aamva;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = aamva::parse(data) {
        let _ = parsed.names();
        if let Ok(card) = parsed.card_data() {
            let again = aamva::parse(&card.encode()).expect("Plaza's own payload parses");
            assert_eq!(
                again.card_data().expect("and reads as a card"),
                card.as_encoded()
            );
        }
    }
});
