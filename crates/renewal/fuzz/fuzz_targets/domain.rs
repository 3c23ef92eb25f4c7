//! Driver-record parsers (dates, licence numbers, classes, statuses, codes,
//! addresses): never a panic, and what parses prints back to itself.
//! `cargo fuzz run domain` in this folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_renewal::drivers::domain::{
    AddressLines, Codes, Date, LicenceClass, LicenceNumber, Status,
};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = Date::parse(s) {
        assert_eq!(Date::parse(&d.to_string()).unwrap(), d);
    }
    if let Ok(n) = LicenceNumber::parse(s) {
        assert_eq!(LicenceNumber::parse(n.as_str()).unwrap(), n);
    }
    if let Ok(c) = LicenceClass::parse(s) {
        assert_eq!(LicenceClass::parse(c.as_str()).unwrap(), c);
    }
    let _ = Status::parse(s);
    if let Ok(c) = Codes::parse("codes", s) {
        assert_eq!(Codes::parse("codes", &c.joined()).unwrap(), c);
    }
    let parts: Vec<&str> = s.splitn(5, '|').collect();
    if let [a, b, c, d, e] = parts.as_slice() {
        let _ = AddressLines::parse(a, b, c, d, e);
    }
});
