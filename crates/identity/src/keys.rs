//! Token-signing keys, kept in an owner-only JSON file.
//!
//! New keys are RSA-2048 (`RS256`: what OpenID Connect asks every provider
//! to offer, and the cheapest signature for a gateway to check); keys from
//! before are Ed25519 (`EdDSA`) and keep working until retired. The newest
//! key that is not retired signs. A retired key stays in the published JWKS
//! until every token it signed has expired, so rotating never invalidates a
//! token in use. `plaza identity rotate-key` adds a key and retires the
//! previous one; a running provider notices the file change and switches
//! without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use ed25519_dalek::Signer;
use plaza_kernel::jwt::{Header, Jwk, JwkSet, VerifyKey};
use ring::signature::RsaKeyPair;
use serde::{Deserialize, Serialize};

use crate::error::Error;

fn eddsa() -> String {
    "EdDSA".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// `RS256` or `EdDSA`.
    #[serde(default = "eddsa")]
    alg: String,
    /// An Ed25519 seed, 64 hex digits.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    seed: String,
    /// An RSA private key, PKCS#8 DER in base64.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pkcs8: String,
    created_at_s: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_at_s: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

#[derive(Clone)]
enum Material {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    Rsa(Arc<RsaKeyPair>),
}

impl Material {
    fn jwk(&self, kid: &str) -> Jwk {
        match self {
            Material::Ed25519(k) => Jwk::ed25519(kid, k.verifying_key().as_bytes()),
            Material::Rsa(k) => {
                let public: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                Jwk {
                    kty: "RSA".into(),
                    kid: Some(kid.into()),
                    alg: Some("RS256".into()),
                    use_: Some("sig".into()),
                    crv: None,
                    x: None,
                    y: None,
                    n: Some(B64.encode(&public.n)),
                    e: Some(B64.encode(&public.e)),
                }
            }
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            Material::Ed25519(_) => "EdDSA",
            Material::Rsa(_) => "RS256",
        }
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Material::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            Material::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    msg,
                    &mut sig,
                )
                .expect("RSA signing with a valid key does not fail");
                sig
            }
        }
    }

    /// The key that checks this key's signatures.
    fn verify_key(&self) -> VerifyKey {
        match self {
            Material::Ed25519(k) => VerifyKey::Ed25519(k.verifying_key()),
            Material::Rsa(k) => {
                let public: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                VerifyKey::Rsa {
                    n: public.n,
                    e: public.e,
                }
            }
        }
    }
}

fn material(path: &Path, k: &StoredKey) -> Result<Material, Error> {
    let bad = |what: &str| Error::Config(format!("{}: key {} has {what}", path.display(), k.kid));
    match k.alg.as_str() {
        "EdDSA" => plaza_kernel::hex::decode32(&k.seed)
            .map(|s| Material::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&s))))
            .ok_or_else(|| bad("a malformed seed")),
        "RS256" => {
            let der = STANDARD
                .decode(&k.pkcs8)
                .map_err(|_| bad("a malformed RSA key"))?;
            RsaKeyPair::from_pkcs8(&der)
                .map(|k| Material::Rsa(Arc::new(k)))
                .map_err(|_| bad("an RSA key ring refuses"))
        }
        other => Err(bad(&format!("the unknown algorithm {other:?}"))),
    }
}

struct Loaded {
    mtime: Option<SystemTime>,
    signing: (String, Material),
    published: Vec<(String, Material)>,
    /// Keys tickets inside the sign-in flow; derived from the signing
    /// key's secret, so it changes when the key rotates.
    ticket_key: [u8; 32],
}

/// The provider's signing keys.
pub struct SigningKeys {
    path: PathBuf,
    /// How long after retirement a key stays published (the longest token
    /// lifetime).
    publish_for_s: i64,
    state: RwLock<Loaded>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeys({})", self.path.display())
    }
}

fn read(path: &Path) -> Result<Option<KeyFile>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::Config(format!("{} is not a signing key file: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Config(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn write(path: &Path, file: &KeyFile) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(file).expect("key file serialises");
    let fail = |e: std::io::Error| Error::Config(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    // Written whole beside it, then renamed over it: a reader never sees
    // half a file.
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    plaza_kernel::files::write_private(&tmp, &text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// A new RSA-2048 signing key.
fn new_key(now_s: i64) -> Result<StoredKey, Error> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| Error::Config(format!("generating an RSA key: {e}")))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| Error::Config(format!("encoding an RSA key: {e}")))?;
    let kid_bytes: [u8; 8] = rand::random();
    Ok(StoredKey {
        kid: plaza_kernel::hex::encode(&kid_bytes),
        alg: "RS256".into(),
        seed: String::new(),
        pkcs8: STANDARD.encode(der.as_bytes()),
        created_at_s: now_s,
        retired_at_s: None,
    })
}

fn load(path: &Path, now_s: i64, publish_for_s: i64) -> Result<Loaded, Error> {
    let mut file = read(path)?.unwrap_or_default();
    if !file.keys.iter().any(|k| k.retired_at_s.is_none()) {
        file.keys.push(new_key(now_s)?);
        write(path, &file)?;
    }
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut published = Vec::new();
    let mut signing: Option<(&StoredKey, Material)> = None;
    for k in &file.keys {
        let m = material(path, k)?;
        let live = match k.retired_at_s {
            None => true,
            Some(t) => t + publish_for_s >= now_s,
        };
        if live {
            published.push((k.kid.clone(), m.clone()));
        }
        if k.retired_at_s.is_none()
            && signing
                .as_ref()
                .is_none_or(|(c, _)| k.created_at_s >= c.created_at_s)
        {
            signing = Some((k, m));
        }
    }
    let (k, m) = signing.expect("a key that is not retired exists");
    Ok(Loaded {
        mtime,
        ticket_key: {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(b"plaza identity ticket\0");
            h.update(k.seed.as_bytes());
            h.update(k.pkcs8.as_bytes());
            h.finalize().into()
        },
        signing: (k.kid.clone(), m),
        published,
    })
}

impl SigningKeys {
    /// Loads `path`, creating it with a first key if it does not exist.
    pub fn open(path: &Path, publish_for_s: i64) -> Result<SigningKeys, Error> {
        let now = plaza_kernel::clock::now_ms() / 1000;
        Ok(SigningKeys {
            path: path.to_path_buf(),
            publish_for_s,
            state: RwLock::new(load(path, now, publish_for_s)?),
        })
    }

    /// Adds a new signing key to the file and retires the current one.
    /// Returns the new key id.
    pub fn rotate(path: &Path) -> Result<String, Error> {
        let now = plaza_kernel::clock::now_ms() / 1000;
        let mut file = read(path)?.unwrap_or_default();
        for k in &mut file.keys {
            k.retired_at_s.get_or_insert(now);
        }
        let key = new_key(now)?;
        let kid = key.kid.clone();
        file.keys.push(key);
        write(path, &file)?;
        Ok(kid)
    }

    fn refresh(&self) {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let stale = self.state.read().expect("keys lock").mtime != mtime;
        if stale {
            let now = plaza_kernel::clock::now_ms() / 1000;
            match load(&self.path, now, self.publish_for_s) {
                Ok(l) => *self.state.write().expect("keys lock") = l,
                Err(e) => {
                    tracing::error!(error = %e, "reloading the signing keys failed; keeping the loaded ones")
                }
            }
        }
    }

    /// Signs `claims` as a JWT with the current key.
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> String {
        self.refresh();
        let (kid, key) = self.state.read().expect("keys lock").signing.clone();
        let header = Header {
            alg: key.alg().into(),
            kid: Some(kid),
            typ: Some(typ.into()),
        };
        plaza_kernel::jwt::encode(&header, claims, |m| key.sign(m))
    }

    /// The public keys to publish.
    pub fn jwks(&self) -> JwkSet {
        self.refresh();
        let state = self.state.read().expect("keys lock");
        JwkSet {
            keys: state.published.iter().map(|(kid, m)| m.jwk(kid)).collect(),
        }
    }

    /// The key that checks signatures of published key `kid`.
    pub fn verify_key(&self, kid: &str) -> Option<VerifyKey> {
        self.refresh();
        let state = self.state.read().expect("keys lock");
        state
            .published
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, m)| m.verify_key())
    }

    /// A secret derived from the current signing key for short-lived
    /// tickets inside the sign-in flow (changes when the key rotates).
    pub fn ticket_key(&self) -> [u8; 32] {
        self.state.read().expect("keys lock").ticket_key
    }
}
