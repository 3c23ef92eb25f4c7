//! Token-signing keys: Ed25519, kept in an owner-only JSON file.
//!
//! The newest key that is not retired signs. A retired key stays in the
//! published JWKS until every token it signed has expired, so rotating
//! never invalidates a token in use. `plaza identity rotate-key` adds a key
//! and retires the previous one; a running provider notices the file change
//! and switches without a restart.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use ed25519_dalek::{Signer, SigningKey};
use plaza_kernel::jwt::{Header, Jwk, JwkSet};
use serde::{Deserialize, Serialize};

use crate::error::Error;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// The Ed25519 seed, 64 hex digits.
    seed: String,
    created_at_s: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_at_s: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

struct Loaded {
    mtime: Option<SystemTime>,
    signing: (String, SigningKey),
    published: Vec<(StoredKey, [u8; 32])>,
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

fn new_key(now_s: i64) -> StoredKey {
    let seed: [u8; 32] = rand::random();
    let kid_bytes: [u8; 8] = rand::random();
    StoredKey {
        kid: plaza_kernel::hex::encode(&kid_bytes),
        seed: plaza_kernel::hex::encode(&seed),
        created_at_s: now_s,
        retired_at_s: None,
    }
}

fn load(path: &Path, now_s: i64, publish_for_s: i64) -> Result<Loaded, Error> {
    let mut file = read(path)?.unwrap_or_default();
    if !file.keys.iter().any(|k| k.retired_at_s.is_none()) {
        file.keys.push(new_key(now_s));
        write(path, &file)?;
    }
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut published = Vec::new();
    let mut signing = None;
    for k in &file.keys {
        let seed = plaza_kernel::hex::decode32(&k.seed).ok_or_else(|| {
            Error::Config(format!(
                "{}: key {} has a malformed seed",
                path.display(),
                k.kid
            ))
        })?;
        let live = match k.retired_at_s {
            None => true,
            Some(t) => t + publish_for_s >= now_s,
        };
        if live {
            published.push((k.clone(), seed));
        }
        if k.retired_at_s.is_none()
            && signing
                .as_ref()
                .is_none_or(|(_, c, _): &(String, i64, _)| k.created_at_s >= *c)
        {
            signing = Some((k.kid.clone(), k.created_at_s, seed));
        }
    }
    let (kid, _, seed) = signing.expect("a key that is not retired exists");
    Ok(Loaded {
        mtime,
        signing: (kid, SigningKey::from_bytes(&seed)),
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
        let key = new_key(now);
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
        let state = self.state.read().expect("keys lock");
        let (kid, key) = &state.signing;
        let header = Header {
            alg: "EdDSA".into(),
            kid: Some(kid.clone()),
            typ: Some(typ.into()),
        };
        plaza_kernel::jwt::encode(&header, claims, |m| key.sign(m).to_bytes().to_vec())
    }

    /// The public keys to publish.
    pub fn jwks(&self) -> JwkSet {
        self.refresh();
        let state = self.state.read().expect("keys lock");
        JwkSet {
            keys: state
                .published
                .iter()
                .map(|(k, seed)| {
                    Jwk::ed25519(
                        &k.kid,
                        SigningKey::from_bytes(seed).verifying_key().as_bytes(),
                    )
                })
                .collect(),
        }
    }

    /// A secret derived from the current key for short-lived tickets inside
    /// the sign-in flow (changes when the key rotates).
    pub fn ticket_key(&self) -> [u8; 32] {
        use sha2::Digest;
        let state = self.state.read().expect("keys lock");
        let mut h = sha2::Sha256::new();
        h.update(b"plaza identity ticket\0");
        h.update(state.signing.1.to_bytes());
        h.finalize().into()
    }
}
