//! At-rest encryption for what a service must keep itself (a photo, a card
//! order, a driver record's personal fields) rather than as vault tokens.
//!
//! A [`DataKey`] is 64 random bytes in a private key file outside the
//! database: the first half keys AES-256-GCM-SIV, the second half an
//! HMAC-SHA-256 used as a keyed content address or blind index, so that a
//! stored hash cannot be matched against a picture or a name by anyone
//! without the key. Every ciphertext is bound to associated data (its table
//! and row) so that it does not decrypt when moved to another row.

use std::path::Path;

use crate::Error;
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use hmac::Mac;

const NONCE_LEN: usize = 12;

fn random64() -> [u8; 64] {
    let (a, b): ([u8; 32], [u8; 32]) = (rand::random(), rand::random());
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&a);
    out[32..].copy_from_slice(&b);
    out
}

/// A service's data key. Cheap to clone.
#[derive(Clone)]
pub struct DataKey {
    cipher: Aes256GcmSiv,
    mac: [u8; 32],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A key from its 64 bytes.
    pub fn from_bytes(bytes: &[u8; 64]) -> DataKey {
        let cipher = Aes256GcmSiv::new_from_slice(&bytes[..32]).expect("32-byte key");
        let mut mac = [0u8; 32];
        mac.copy_from_slice(&bytes[32..]);
        DataKey { cipher, mac }
    }

    /// A fresh random key (tests, and the first start of a service).
    pub fn random() -> DataKey {
        DataKey::from_bytes(&random64())
    }

    /// Loads the key at `path` (hex), creating it (owner-only) if missing.
    pub fn load_or_create(path: &Path) -> Result<DataKey, Error> {
        let io = |what: String| move |source| Error::Io { what, source };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let raw = crate::hex::decode(text.trim()).ok_or_else(|| {
                    Error::Invalid(format!("data key {} is not hex", path.display()))
                })?;
                let bytes: [u8; 64] = raw.try_into().map_err(|_| {
                    Error::Invalid(format!("data key {} is not 64 bytes", path.display()))
                })?;
                Ok(DataKey::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(io(format!("creating {}", dir.display())))?;
                }
                let bytes = random64();
                match crate::files::write_private(path, &crate::hex::encode(&bytes)) {
                    Ok(()) => Ok(DataKey::from_bytes(&bytes)),
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        DataKey::load_or_create(path)
                    }
                    Err(e) => Err(io(format!("writing {}", path.display()))(e)),
                }
            }
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    /// `nonce ‖ ciphertext`, bound to `aad`.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM-SIV encryption does not fail on in-memory input");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// The plaintext of [`DataKey::encrypt`]'s output, if it was made with
    /// this key and the same `aad`.
    pub fn decrypt(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Error> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Encoding("sealed value too short".into()));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                &Nonce::from(<[u8; NONCE_LEN]>::try_from(nonce).expect("split at NONCE_LEN")),
                Payload { msg: ct, aad },
            )
            .map_err(|_| Error::Encoding("sealed value does not open with this key".into()))
    }

    /// Encrypts a string to base64 text (for TEXT columns).
    pub fn encrypt_text(&self, aad: &str, plaintext: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(self.encrypt(aad.as_bytes(), plaintext.as_bytes()))
    }

    /// The inverse of [`DataKey::encrypt_text`].
    pub fn decrypt_text(&self, aad: &str, sealed: &str) -> Result<String, Error> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(sealed)
            .map_err(|_| Error::Encoding("sealed text is not base64".into()))?;
        String::from_utf8(self.decrypt(aad.as_bytes(), &raw)?)
            .map_err(|_| Error::Encoding("sealed text is not UTF-8".into()))
    }

    /// A keyed hash (hex HMAC-SHA-256): a content address or blind index
    /// that only the key's holder can compute.
    pub fn blind(&self, data: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.mac).expect("any length");
        mac.update(data);
        crate::hex::encode(&mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_to_its_row() {
        let k = DataKey::random();
        let sealed = k.encrypt(b"orders/1", b"JANE Q CITIZEN");
        assert!(!sealed.windows(4).any(|w| w == b"JANE"));
        assert_eq!(k.decrypt(b"orders/1", &sealed).unwrap(), b"JANE Q CITIZEN");
        assert!(
            k.decrypt(b"orders/2", &sealed).is_err(),
            "moved to another row"
        );
        assert!(DataKey::random().decrypt(b"orders/1", &sealed).is_err());
        let t = k.encrypt_text("a", "Main St");
        assert_eq!(k.decrypt_text("a", &t).unwrap(), "Main St");
    }

    #[test]
    fn blind_hashes_depend_on_the_key() {
        let (a, b) = (DataKey::random(), DataKey::random());
        assert_eq!(a.blind(b"x"), a.blind(b"x"));
        assert_ne!(a.blind(b"x"), b.blind(b"x"));
        assert_eq!(a.blind(b"x").len(), 64);
    }

    #[test]
    fn key_files_are_created_once_and_reloaded() {
        let dir = crate::testing::temp_dir("crypt");
        let path = dir.join("keys/photo.key");
        let k1 = DataKey::load_or_create(&path).unwrap();
        let k2 = DataKey::load_or_create(&path).unwrap();
        let sealed = k1.encrypt(b"", b"same key");
        assert_eq!(k2.decrypt(b"", &sealed).unwrap(), b"same key");
        std::fs::write(dir.join("bad.key"), "zz").unwrap();
        assert!(DataKey::load_or_create(&dir.join("bad.key")).is_err());
    }
}
