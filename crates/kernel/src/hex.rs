//! Lower-case hexadecimal, for hashes, checksums and key material in files.

/// `bytes` as lower-case hex.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

/// Exactly 32 bytes from 64 hex digits (either case), or `None`.
pub fn decode32(s: &str) -> Option<[u8; 32]> {
    decode(s)?.try_into().ok()
}

/// Bytes from an even number of hex digits (either case), or `None`.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_refuses_bad_input() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        let text = super::encode(&bytes);
        assert_eq!(text.len(), 64);
        assert_eq!(&text[..6], "00254a");
        assert_eq!(super::decode32(&text), Some(bytes));
        assert_eq!(super::decode32(&text.to_uppercase()), Some(bytes));
        assert_eq!(super::decode32(&text[..62]), None);
        assert_eq!(super::decode32(&"zz".repeat(32)), None);
    }
}
