//! The decoder front and the checks on whatever decodes:
//! `cargo +nightly fuzz run decode` from `crates/photo`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plaza_photo::checks::{Thresholds, analyse};
use plaza_photo::decode::decode;
use plaza_photo::Limits;

fuzz_target!(|data: &[u8]| {
    // Smaller limits than the service's keep each run fast; the code paths
    // are the same.
    let limits = Limits {
        max_bytes: 1 << 20,
        max_pixels: 4_000_000,
        max_side: 4000,
        min_side: 300,
    };
    if let Ok(img) = decode(data, None, &limits) {
        let _ = analyse(&img, &Thresholds::default());
    }
});
