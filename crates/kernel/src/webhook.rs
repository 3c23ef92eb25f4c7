//! Signed webhooks, as outside systems deliver them to Plaza (the card
//! processor's payment events, a record source's new-record notices):
//! the header `t=<unix seconds>,v1=<hex HMAC-SHA-256("<t>.<body>")>` under
//! a secret shared with the sender. A receiver checks the signature in
//! constant time and refuses a timestamp outside its tolerance, so a
//! captured delivery cannot be replayed later.

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn mac(secret: &str, t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header for `body` sent at `t` (unix seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        crate::hex::encode(&mac(secret, t, body).finalize().into_bytes())
    )
}

/// Checks `header` against `body`: one of its `v1` signatures made with
/// `secret`, at a time within `tolerance_s` of `now_s`. The reason when
/// not.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), &'static str> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let t = t.ok_or("no timestamp")?;
    if (now_s - t).abs() > tolerance_s {
        return Err("timestamp outside tolerance");
    }
    for sig in sigs {
        let Some(raw) = crate::hex::decode(sig) else {
            continue;
        };
        if mac(secret, t, body).verify_slice(&raw).is_ok() {
            return Ok(());
        }
    }
    Err("no matching signature")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_body_and_a_fresh_time() {
        let h = sign("s", 1000, b"{}");
        assert_eq!(verify("s", &h, b"{}", 1010, 300), Ok(()));
        assert!(verify("x", &h, b"{}", 1010, 300).is_err());
        assert!(verify("s", &h, b"{ }", 1010, 300).is_err());
        assert_eq!(
            verify("s", &h, b"{}", 2000, 300),
            Err("timestamp outside tolerance")
        );
        assert!(verify("s", "v1=00", b"{}", 0, 300).is_err());
        assert!(verify("s", "", b"{}", 0, 300).is_err());
        // A second signature (a secret being rotated) may be the good one.
        let two = format!(
            "{},v1={}",
            sign("old", 1000, b"{}"),
            &h[h.find("v1=").unwrap() + 3..]
        );
        assert_eq!(verify("s", &two, b"{}", 1000, 300), Ok(()));
    }
}
