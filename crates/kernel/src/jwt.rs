//! JSON Web Tokens (RFC 7519) in compact JWS form (RFC 7515): parsing,
//! signature verification against JSON Web Keys (RFC 7517) and checks of the
//! registered claims.
//!
//! Plaza's provider signs with RSA-2048 (`RS256`) and, for keys from
//! before, Ed25519 (`EdDSA`, RFC 8037); Plaza verifies `RS256`, `ES256` and
//! `EdDSA`, so that an agency's own identity provider can be trusted as it
//! is. `none` and symmetric algorithms are refused: a public key must never
//! double as an HMAC secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::Verifier;
use ring::signature;
use serde::{Deserialize, Serialize};

/// Why a token was refused. Each has a stable code for the problem answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    #[error("the token was signed by a key this issuer does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token comes from an issuer Plaza does not trust")]
    UntrustedIssuer,
    #[error("the token was issued for another audience")]
    WrongAudience,
}

impl JwtError {
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::Malformed => "token_malformed",
            JwtError::UnsupportedAlgorithm(_) => "token_algorithm_unsupported",
            JwtError::UnknownKey => "token_key_unknown",
            JwtError::BadSignature => "token_signature_invalid",
            JwtError::Expired => "token_expired",
            JwtError::NotYetValid => "token_not_yet_valid",
            JwtError::UntrustedIssuer => "token_issuer_untrusted",
            JwtError::WrongAudience => "token_audience_invalid",
        }
    }
}

/// The JOSE header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// A public JSON Web Key, as a JWKS publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A JWK Set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// The public half of an Ed25519 key.
    pub fn ed25519(kid: &str, public: &[u8; 32]) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            kid: Some(kid.into()),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
            crv: Some("Ed25519".into()),
            x: Some(B64.encode(public)),
            y: None,
            n: None,
            e: None,
        }
    }
}

/// A key that verifies signatures of one algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyKey {
    /// Kept decompressed: verification does not decode the point again.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (0x04 ‖ x ‖ y).
    P256(Vec<u8>),
}

impl VerifyKey {
    /// The verifying key a JWK describes; `None` for keys Plaza cannot use
    /// (encryption keys, other curves, private or symmetric keys).
    pub fn from_jwk(jwk: &Jwk) -> Option<VerifyKey> {
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let field = |v: &Option<String>| v.as_deref().and_then(|s| B64.decode(s).ok());
        match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => field(&jwk.x)
                .and_then(|x| <[u8; 32]>::try_from(x.as_slice()).ok())
                .and_then(|x| ed25519_dalek::VerifyingKey::from_bytes(&x).ok())
                .map(VerifyKey::Ed25519),
            ("RSA", _) => Some(VerifyKey::Rsa {
                n: field(&jwk.n)?,
                e: field(&jwk.e)?,
            }),
            ("EC", Some("P-256")) => {
                let (x, y) = (field(&jwk.x)?, field(&jwk.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Some(VerifyKey::P256(point))
            }
            _ => None,
        }
    }

    /// Checks `sig` over `msg` with algorithm `alg`, which must be this
    /// key's algorithm.
    pub fn verify(&self, alg: &str, msg: &[u8], sig: &[u8]) -> Result<(), JwtError> {
        let ok = match (self, alg) {
            (VerifyKey::Ed25519(pk), "EdDSA") => {
                // curve25519-dalek (vectorised where the CPU allows) verifies
                // in about half the time of ring's portable code.
                let sig = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| JwtError::BadSignature)?;
                // RFC 8032 verification; `s` must be canonical (checked
                // when the signature is parsed). The stricter check against
                // small-order points guards against keys an attacker
                // chose, and these keys come from a trusted issuer's JWKS.
                return pk.verify(msg, &sig).map_err(|_| JwtError::BadSignature);
            }
            (VerifyKey::Rsa { n, e }, "RS256") => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig),
            (VerifyKey::P256(point), "ES256") => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig)
            }
            (_, "EdDSA" | "RS256" | "ES256") => return Err(JwtError::UnknownKey),
            (_, other) => return Err(JwtError::UnsupportedAlgorithm(other.to_owned())),
        };
        ok.map_err(|_| JwtError::BadSignature)
    }
}

/// A token split into its parts; nothing in it is trusted yet.
#[derive(Debug)]
pub struct Unverified<'a> {
    pub header: Header,
    /// The decoded claims JSON.
    pub payload: Vec<u8>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

/// The longest token Plaza reads; anything longer is refused unread.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Splits and decodes a compact JWS.
pub fn parse(token: &str) -> Result<Unverified<'_>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.splitn(3, '.');
    let (h, p, s) = match (parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s)) if !s.contains('.') => (h, p, s),
        _ => return Err(JwtError::Malformed),
    };
    let header: Header = B64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    let payload = B64.decode(p).map_err(|_| JwtError::Malformed)?;
    let signature = B64.decode(s).map_err(|_| JwtError::Malformed)?;
    if !matches!(header.alg.as_str(), "EdDSA" | "RS256" | "ES256") {
        return Err(JwtError::UnsupportedAlgorithm(header.alg));
    }
    Ok(Unverified {
        header,
        payload,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature,
    })
}

impl Unverified<'_> {
    pub fn verify(&self, key: &VerifyKey) -> Result<(), JwtError> {
        key.verify(
            &self.header.alg,
            self.signing_input.as_bytes(),
            &self.signature,
        )
    }

    /// The claims, deserialised; call only after [`Unverified::verify`].
    pub fn claims<T: serde::de::DeserializeOwned>(&self) -> Result<T, JwtError> {
        serde_json::from_slice(&self.payload).map_err(|_| JwtError::Malformed)
    }
}

/// The registered claims Plaza checks on every token.
#[derive(Debug, Clone, Deserialize)]
pub struct Registered {
    pub iss: String,
    #[serde(default)]
    pub aud: Audience,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
}

/// `aud` is a string or an array of strings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::None => false,
            Audience::One(a) => a == aud,
            Audience::Many(all) => all.iter().any(|a| a == aud),
        }
    }
}

impl Registered {
    /// Checks audience and validity window at `now` (seconds), allowing
    /// `leeway` seconds of clock skew either way.
    pub fn check(&self, audience: &str, now: i64, leeway: i64) -> Result<(), JwtError> {
        if !self.aud.contains(audience) {
            return Err(JwtError::WrongAudience);
        }
        if now > self.exp + leeway {
            return Err(JwtError::Expired);
        }
        if self.nbf.is_some_and(|nbf| now + leeway < nbf) {
            return Err(JwtError::NotYetValid);
        }
        if self.iat.is_some_and(|iat| now + leeway < iat) {
            return Err(JwtError::NotYetValid);
        }
        Ok(())
    }
}

/// Encodes a compact JWS of `claims`, signed by `sign` (which returns the
/// raw signature over the signing input).
pub fn encode(
    header: &Header,
    claims: &impl Serialize,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let mut out = B64.encode(serde_json::to_vec(header).expect("a header serialises"));
    out.push('.');
    out.push_str(&B64.encode(serde_json::to_vec(claims).expect("claims serialise")));
    let sig = sign(out.as_bytes());
    out.push('.');
    out.push_str(&B64.encode(sig));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed_key() -> (signature::Ed25519KeyPair, VerifyKey) {
        use signature::KeyPair;
        let seed = [3u8; 32];
        let kp = signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let pk: [u8; 32] = kp.public_key().as_ref().try_into().unwrap();
        (
            kp,
            VerifyKey::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&pk).unwrap()),
        )
    }

    fn token(kp: &signature::Ed25519KeyPair, claims: serde_json::Value) -> String {
        let header = Header {
            alg: "EdDSA".into(),
            kid: Some("k1".into()),
            typ: Some("JWT".into()),
        };
        encode(&header, &claims, |m| kp.sign(m).as_ref().to_vec())
    }

    #[test]
    fn a_signed_token_verifies_and_a_tampered_one_does_not() {
        let (kp, key) = ed_key();
        let t = token(
            &kp,
            serde_json::json!({"iss": "i", "aud": "plaza", "exp": 100}),
        );
        let u = parse(&t).unwrap();
        u.verify(&key).unwrap();
        let r: Registered = u.claims().unwrap();
        r.check("plaza", 50, 0).unwrap();
        assert_eq!(r.check("other", 50, 0), Err(JwtError::WrongAudience));
        assert_eq!(r.check("plaza", 161, 60), Err(JwtError::Expired));
        r.check("plaza", 160, 60).unwrap();

        // Swap in another payload under the same signature.
        let parts: Vec<&str> = t.split('.').collect();
        let forged_payload = B64.encode(br#"{"iss":"i","aud":"plaza","exp":999999}"#);
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(
            parse(&forged).unwrap().verify(&key),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn none_and_hmac_algorithms_and_garbage_are_refused() {
        let none = format!(
            "{}.{}.",
            B64.encode(br#"{"alg":"none"}"#),
            B64.encode(br#"{"iss":"i"}"#)
        );
        assert!(matches!(
            parse(&none),
            Err(JwtError::UnsupportedAlgorithm(_))
        ));
        let hs = format!(
            "{}.{}.AAAA",
            B64.encode(br#"{"alg":"HS256"}"#),
            B64.encode(br#"{"iss":"i"}"#)
        );
        assert!(matches!(parse(&hs), Err(JwtError::UnsupportedAlgorithm(_))));
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.??.**",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        // A key of another type never verifies, whatever the header says.
        let (kp, _) = ed_key();
        let t = token(&kp, serde_json::json!({"iss": "i", "exp": 1}));
        let rsa = VerifyKey::Rsa {
            n: vec![1; 256],
            e: vec![1, 0, 1],
        };
        assert_eq!(parse(&t).unwrap().verify(&rsa), Err(JwtError::UnknownKey));
    }
}
