//! Bearer-token verification at the gateway, on one core: parse, key
//! lookup, signature, registered claims, role mapping — everything the
//! authentication middleware does per request before sealing the caller.
//!
//! For each signature algorithm Plaza's provider can use (RS256 for new
//! keys, EdDSA for keys from before), two cases: every request with a token
//! never seen before (the signature is checked each time: the worst case),
//! and callers repeating their tokens, as a signed-in client does for the
//! token's lifetime (verified once, then answered from the cache of
//! verified tokens).
//!
//! ```text
//! cargo bench -p plaza-gateway --bench tokens -- --tokens 200000
//! ```

use std::time::Instant;

use plaza_gateway::auth::{Authenticator, TrustedIssuer};
use plaza_kernel::auth::CallerSeal;
use plaza_kernel::jwt::{Header, Jwk, JwkSet};

const ISSUER: &str = "https://id.plaza.example/oidc";

fn claims(i: usize, exp: i64) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER, "sub": format!("user-{i}"), "aud": "plaza", "exp": exp, "iat": exp - 3600,
        "nbf": exp - 3600, "jti": format!("j{i}"), "client_id": "web", "scope": "openid",
        "roles": ["clerk"], "jurisdiction": "PA/Dauphin", "amr": ["pwd", "otp"]
    })
}

fn main() {
    let mut n: usize = 200_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--tokens" {
            n = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--tokens N");
        }
    }
    let exp = plaza_kernel::clock::now_ms() / 1000 + 3600;

    // RS256: the provider's own signing keys, as `serve` makes them.
    let dir = plaza_kernel::testing::temp_dir("token-bench");
    let rsa = plaza_identity::SigningKeys::open(&dir.join("keys.json"), 600).unwrap();
    let rs256: Vec<String> = (0..n)
        .map(|i| rsa.sign("at+jwt", &claims(i, exp)))
        .collect();

    // EdDSA: an Ed25519 key.
    use ed25519_dalek::Signer;
    let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let ed_jwks = JwkSet {
        keys: vec![Jwk::ed25519("k1", ed.verifying_key().as_bytes())],
    };
    let header = Header {
        alg: "EdDSA".into(),
        kid: Some("k1".into()),
        typ: Some("at+jwt".into()),
    };
    let eddsa: Vec<String> = (0..n)
        .map(|i| {
            plaza_kernel::jwt::encode(&header, &claims(i, exp), |m| ed.sign(m).to_bytes().to_vec())
        })
        .collect();

    let seal = CallerSeal::from_key([1; 32]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for (alg, jwks, tokens) in [("RS256", rsa.jwks(), &rs256), ("EdDSA", ed_jwks, &eddsa)] {
            let mut trusted = TrustedIssuer::plaza(ISSUER, "plaza");
            trusted.jwks = Some(jwks);
            // A fresh authenticator per algorithm: an empty cache.
            let auth = Authenticator::new(vec![trusted], 60);
            for (label, repeat) in [
                ("every token new (signature checked)", None),
                ("repeated tokens, 1,000 callers (cache)", Some(1000)),
            ] {
                let started = Instant::now();
                for i in 0..n {
                    let t = &tokens[repeat.map_or(i, |r| i % r)];
                    let caller = auth.authenticate(t).await.unwrap();
                    std::hint::black_box(seal.seal(&caller, 0));
                }
                let secs = started.elapsed().as_secs_f64();
                println!(
                    "{alg}, {label}: {n} requests on one core in {secs:.2} s: {:.0} tokens/s ({:.1} µs each)",
                    n as f64 / secs,
                    secs * 1e6 / n as f64
                );
            }
        }
    });
}
