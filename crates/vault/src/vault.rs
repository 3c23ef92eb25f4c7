//! Tokenise and detokenise personal data.
//!
//! Each value gets a data key of its own (random, 256 bits) and is encrypted
//! with AES-256-GCM-SIV, bound to its token and kind as associated data, so
//! a ciphertext moved to another row does not decrypt. The data key is
//! stored wrapped (AES-256-GCM-SIV again) by the current key-encryption key,
//! bound to the token and the KEK's id. A blind index — HMAC-SHA-256 of the
//! normalised value under a separate key — finds a value's token without
//! decrypting anything: the same SSN always gets the same token.
//!
//! Detokenising needs a stated purpose and always writes an audit event, in
//! a transaction that must commit before the value is returned.

use std::sync::Arc;

use plaza_kernel::auth::Caller;
use plaza_policy::{Policies, Resource};

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use hmac::{Hmac, Mac};
use plaza_kernel::clock::SharedClock;
use plaza_kernel::db::Db;
use sha2::Sha256;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::keys::{Key, KeyManager};

/// What kind of personal data a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ssn,
    BirthDate,
    LicenceNumber,
    Name,
    Address,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ssn => "ssn",
            Kind::BirthDate => "birth_date",
            Kind::LicenceNumber => "licence_number",
            Kind::Name => "name",
            Kind::Address => "address",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Ssn,
            Kind::BirthDate,
            Kind::LicenceNumber,
            Kind::Name,
            Kind::Address,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The canonical form that is encrypted and indexed; refuses values
    /// that are not of this kind.
    pub fn normalise(self, raw: &str) -> Result<String, Error> {
        let bad = |why: &str| Error::Invalid {
            kind: self.as_str(),
            reason: why.to_owned(),
        };
        let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        match self {
            Kind::Ssn => {
                let digits: String = raw.chars().filter(|c| c.is_ascii_digit()).collect();
                let shape_ok = raw
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c == ' ');
                if digits.len() != 9 || !shape_ok {
                    return Err(bad("an SSN has nine digits"));
                }
                // Never issued: area 000, 666 or 9xx; group 00; serial 0000.
                if digits.starts_with("000")
                    || digits.starts_with("666")
                    || digits.starts_with('9')
                    || &digits[3..5] == "00"
                    || &digits[5..] == "0000"
                {
                    return Err(bad("this is not a number the SSA issues"));
                }
                Ok(digits)
            }
            Kind::BirthDate => {
                let t = raw.trim();
                let ok = t.len() == 10
                    && t.as_bytes()[4] == b'-'
                    && t.as_bytes()[7] == b'-'
                    && t.chars()
                        .enumerate()
                        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
                if !ok {
                    return Err(bad("use the form YYYY-MM-DD"));
                }
                let (y, m, d): (u32, u32, u32) = (
                    t[..4].parse().unwrap_or(0),
                    t[5..7].parse().unwrap_or(0),
                    t[8..].parse().unwrap_or(0),
                );
                let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
                let days = [
                    31,
                    if leap { 29 } else { 28 },
                    31,
                    30,
                    31,
                    30,
                    31,
                    31,
                    30,
                    31,
                    30,
                    31,
                ];
                if !(1900..=2200).contains(&y)
                    || !(1..=12).contains(&m)
                    || d == 0
                    || d > days[(m - 1) as usize]
                {
                    return Err(bad("no such date"));
                }
                Ok(t.to_owned())
            }
            Kind::LicenceNumber => {
                let v: String = raw
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '-')
                    .collect::<String>()
                    .to_uppercase();
                if v.is_empty() || v.len() > 25 || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(bad("letters and digits, at most 25"));
                }
                Ok(v)
            }
            Kind::Name | Kind::Address => {
                if collapsed.is_empty()
                    || collapsed.chars().count() > 300
                    || collapsed.chars().any(char::is_control)
                {
                    return Err(bad("1 to 300 printable characters"));
                }
                Ok(collapsed.to_uppercase())
            }
        }
    }
}

/// What one re-wrap pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rewrap {
    pub rewrapped: u64,
    /// Tokens whose data key would not open (altered, or its KEK is gone).
    pub failed: Vec<String>,
    /// The last token looked at; `None` when there was nothing left.
    pub last: Option<String>,
}

/// Who asks to see a value, and why.
#[derive(Debug, Clone)]
pub struct Access<'a> {
    pub actor: &'a str,
    pub purpose: &'a str,
}

/// The most tokens [`Vault::detokenise_many_as`] reads at once.
pub const MAX_BATCH: usize = 16;

/// The vault.
#[derive(Clone)]
pub struct Vault {
    db: Db,
    keys: Arc<dyn KeyManager>,
    clock: SharedClock,
    policies: Policies,
}

fn cipher(key: &[u8; 32]) -> Result<Aes256GcmSiv, Error> {
    Aes256GcmSiv::new_from_slice(key).map_err(|_| Error::Crypto("bad key length".into()))
}

fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<([u8; 12], Vec<u8>), Error> {
    let nonce_bytes: [u8; 12] = rand::random();
    let nonce = Nonce::from(nonce_bytes);
    let ct = cipher(key)?
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Crypto("encryption failed".into()))?;
    Ok((nonce_bytes, ct))
}

fn open(
    key: &[u8; 32],
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| Error::Crypto("stored nonce is not 12 bytes".into()))?;
    cipher(key)?
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| {
            Error::Crypto("authentication failed: the stored value or its key was altered".into())
        })
}

fn dek_aad(token: &str, kek_id: &str) -> Vec<u8> {
    format!("plaza-vault-dek/v1|{token}|{kek_id}").into_bytes()
}

/// The value is bound to its token, kind and blind index: moving a
/// ciphertext to another row, or pointing a blind index at another token,
/// makes it fail to open.
fn value_aad(token: &str, kind: Kind, blind_index: &str) -> Vec<u8> {
    format!(
        "plaza-vault-value/v2|{token}|{}|{blind_index}",
        kind.as_str()
    )
    .into_bytes()
}

fn new_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let bytes: [u8; 24] = rand::random();
    let body: String = bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect();
    format!("tok_{body}")
}

impl Vault {
    pub fn new(db: Db, keys: Arc<dyn KeyManager>, clock: SharedClock) -> Vault {
        Vault {
            db,
            keys,
            clock,
            policies: Policies::shipped(),
        }
    }

    /// Decides whether `caller` may do `action` (`vault.tokenize`,
    /// `vault.find`) on values of `kind`.
    pub fn authorize(&self, caller: &Caller, action: &str, kind: Kind) -> Result<(), Error> {
        self.policies
            .require(caller, action, &Resource::new("VaultRecord", kind.as_str()))
            .map_err(Error::Denied)
    }

    /// [`Vault::detokenise`] for a caller: the policies decide with the
    /// stated purpose, and a refusal is written to the audit log too.
    pub async fn detokenise_as(
        &self,
        caller: &Caller,
        token: &str,
        purpose: &str,
    ) -> Result<(Kind, Zeroizing<String>), Error> {
        let mut values = self
            .detokenise_many_as(caller, &[token.to_owned()], purpose)
            .await?;
        Ok(values.remove(0))
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    fn blind_index(&self, kind: Kind, normalised: &str) -> Result<String, Error> {
        let key = self.keys.index_key()?;
        let mut mac = <Hmac<Sha256>>::new_from_slice(key.bytes.as_ref())
            .map_err(|_| Error::Crypto("index key".into()))?;
        mac.update(kind.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        Ok(plaza_kernel::hex::encode(&mac.finalize().into_bytes()))
    }

    /// The token for `value`: the existing one if the vault already holds
    /// this value, a new one otherwise.
    pub async fn tokenise(&self, kind: Kind, value: &str) -> Result<String, Error> {
        let normalised = Zeroizing::new(kind.normalise(value)?);
        let index = self.blind_index(kind, &normalised)?;
        if let Some(token) = self.lookup(kind, &index).await? {
            return Ok(token);
        }
        let token = new_token();
        let kek = self.keys.current_kek()?;
        let dek: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
        let (nonce, ciphertext) = seal(
            &dek,
            normalised.as_bytes(),
            &value_aad(&token, kind, &index),
        )?;
        let (dek_nonce, wrapped) = seal(&kek.bytes, dek.as_ref(), &dek_aad(&token, &kek.id))?;
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO vault_records (token, kind, blind_index, nonce, ciphertext, dek_nonce, wrapped_dek, kek_id, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (kind, blind_index) DO NOTHING",
        )
        .bind(&token)
        .bind(kind.as_str())
        .bind(&index)
        .bind(nonce.to_vec())
        .bind(ciphertext)
        .bind(dek_nonce.to_vec())
        .bind(wrapped)
        .bind(&kek.id)
        .bind(self.clock.now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if inserted == 1 {
            Ok(token)
        } else {
            // Another request stored the same value first: use its token.
            self.lookup(kind, &index)
                .await?
                .ok_or_else(|| Error::Crypto("token vanished".into()))
        }
    }

    /// The token of `value`, if the vault holds it: equality search without
    /// decrypting anything.
    pub async fn find(&self, kind: Kind, value: &str) -> Result<Option<String>, Error> {
        let normalised = Zeroizing::new(kind.normalise(value)?);
        let index = self.blind_index(kind, &normalised)?;
        self.lookup(kind, &index).await
    }

    async fn lookup(&self, kind: Kind, index: &str) -> Result<Option<String>, Error> {
        let row =
            sqlx::query("SELECT token FROM vault_records WHERE kind = $1 AND blind_index = $2")
                .bind(kind.as_str())
                .bind(index)
                .fetch_optional(self.db.reader())
                .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// [`Vault::detokenise_as`] for several tokens at once (at most
    /// [`MAX_BATCH`]): each is decided by the policies and audited as if
    /// read alone, in one transaction. One refusal refuses them all (and
    /// is audited); an unknown token refuses them all.
    pub async fn detokenise_many_as(
        &self,
        caller: &Caller,
        tokens: &[String],
        purpose: &str,
    ) -> Result<Vec<(Kind, Zeroizing<String>)>, Error> {
        if purpose.trim().len() < 3 {
            return Err(Error::PurposeRequired);
        }
        if tokens.is_empty() || tokens.len() > MAX_BATCH {
            return Err(Error::Invalid {
                kind: "tokens",
                reason: format!("1 to {MAX_BATCH} tokens"),
            });
        }
        let actor = caller.actor();
        let now = self.clock.now_ms();
        let mut refused = Vec::new();
        let mut denied = None;
        for t in tokens {
            if let Err(e) = self.policies.require_with(
                caller,
                "vault.detokenize",
                &Resource::new("VaultRecord", t),
                &[("purpose", purpose)],
            ) {
                refused.push(t);
                denied = Some(e);
            }
        }
        if let Some(denied) = denied {
            let events = refused
                .iter()
                .map(|token| detokenised(now, &actor, purpose, token, "vault", "denied"))
                .collect();
            self.audit(events).await?;
            return Err(Error::Denied(denied));
        }
        let mut values = Vec::with_capacity(tokens.len());
        for token in tokens {
            values.push(self.open_value(token).await?);
        }
        // Audited before they are returned: no trail, no value.
        let events = tokens
            .iter()
            .zip(&values)
            .map(|(token, (kind, _))| {
                let resource = format!("vault/{}", kind.as_str());
                detokenised(now, &actor, purpose, token, &resource, "ok")
            })
            .collect();
        self.audit(events).await?;
        Ok(values)
    }

    /// Writes audit events in one transaction of their own, on the
    /// database's writer.
    async fn audit(&self, events: Vec<plaza_kernel::outbox::NewEvent>) -> Result<(), Error> {
        let db = self.db.clone();
        self.db
            .on_writer(async move {
                let mut tx = db.begin().await?;
                plaza_kernel::outbox::enqueue_all(&mut tx, events).await?;
                db.commit(tx).await
            })
            .await?;
        Ok(())
    }

    /// The value behind `token`. Needs a stated purpose; the access is
    /// written to the audit trail before the value is returned.
    pub async fn detokenise(
        &self,
        token: &str,
        access: &Access<'_>,
    ) -> Result<Zeroizing<String>, Error> {
        if access.purpose.trim().len() < 3 {
            return Err(Error::PurposeRequired);
        }
        let (kind, text) = self.open_value(token).await?;
        // Audited before it is returned: no trail, no value.
        let resource = format!("vault/{}", kind.as_str());
        self.audit(vec![detokenised(
            self.clock.now_ms(),
            access.actor,
            access.purpose,
            token,
            &resource,
            "ok",
        )])
        .await?;
        Ok(text)
    }

    /// Opens the value behind `token` (no policy, no audit: the callers
    /// above do both).
    async fn open_value(&self, token: &str) -> Result<(Kind, Zeroizing<String>), Error> {
        let row = sqlx::query("SELECT kind, nonce, ciphertext, dek_nonce, wrapped_dek, kek_id, blind_index FROM vault_records WHERE token = $1")
            .bind(token)
            .fetch_optional(self.db.reader())
            .await?
            .ok_or_else(|| Error::NoSuchToken)?;
        let kind_text: String = row.try_get(0)?;
        let kind = Kind::parse(&kind_text)
            .ok_or_else(|| Error::Crypto(format!("stored kind {kind_text}")))?;
        let kek_id: String = row.try_get(5)?;
        let kek: Key = self.keys.kek(&kek_id)?;
        let dek = open(
            &kek.bytes,
            &row.try_get::<Vec<u8>, _>(3)?,
            &row.try_get::<Vec<u8>, _>(4)?,
            &dek_aad(token, &kek_id),
        )?;
        let dek: [u8; 32] = dek
            .as_slice()
            .try_into()
            .map_err(|_| Error::Crypto("data key is not 32 bytes".into()))?;
        let dek = Zeroizing::new(dek);
        let value = open(
            &dek,
            &row.try_get::<Vec<u8>, _>(1)?,
            &row.try_get::<Vec<u8>, _>(2)?,
            &value_aad(token, kind, &row.try_get::<String, _>(6)?),
        )?;
        let text = String::from_utf8(value.to_vec())
            .map_err(|_| Error::Crypto("value is not UTF-8".into()))?;
        Ok((kind, Zeroizing::new(text)))
    }

    /// Re-wraps up to `batch` data keys not under the current KEK, taking
    /// tokens after `after` in order. Values are never decrypted, only their
    /// data keys; readers keep working throughout. A data key that will not
    /// open is skipped and reported, never allowed to stall the rest.
    pub async fn rewrap_batch(&self, after: &str, batch: i64) -> Result<Rewrap, Error> {
        let current = self.keys.current_kek()?;
        let rows = sqlx::query(
            "SELECT token, dek_nonce, wrapped_dek, kek_id FROM vault_records
             WHERE kek_id <> $1 AND token > $2 ORDER BY token LIMIT $3",
        )
        .bind(&current.id)
        .bind(after)
        .bind(batch)
        .fetch_all(self.db.reader())
        .await?;
        let mut pass = Rewrap::default();
        let mut tx = self.db.begin().await?;
        for r in &rows {
            let token: String = r.try_get(0)?;
            pass.last = Some(token.clone());
            let old_id: String = r.try_get(3)?;
            let dek = self.keys.kek(&old_id).and_then(|old| {
                open(
                    &old.bytes,
                    &r.try_get::<Vec<u8>, _>(1)?,
                    &r.try_get::<Vec<u8>, _>(2)?,
                    &dek_aad(&token, &old_id),
                )
            });
            let dek = match dek {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(token = %token, error = %e, "data key cannot be re-wrapped");
                    pass.failed.push(token);
                    continue;
                }
            };
            let (nonce, wrapped) = seal(&current.bytes, &dek, &dek_aad(&token, &current.id))?;
            // Only if nobody re-wrapped it meanwhile.
            pass.rewrapped += sqlx::query(
                "UPDATE vault_records SET dek_nonce = $1, wrapped_dek = $2, kek_id = $3 WHERE token = $4 AND kek_id = $5",
            )
            .bind(nonce.to_vec())
            .bind(wrapped)
            .bind(&current.id)
            .bind(&token)
            .bind(&old_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(pass)
    }

    /// Re-wraps every data key not under the current KEK, in passes of
    /// `batch`, going round again for keys wrapped meanwhile under an old
    /// KEK (a process that had not yet seen the new one). Calls `progress`
    /// with the running count. Returns the total and the tokens that failed.
    pub async fn rewrap_all(
        &self,
        batch: i64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(u64, Vec<String>), Error> {
        let mut total = 0;
        let mut failed: Vec<String> = Vec::new();
        loop {
            let mut after = String::new();
            let mut round = 0;
            loop {
                let pass = self.rewrap_batch(&after, batch).await?;
                round += pass.rewrapped;
                total += pass.rewrapped;
                progress(total);
                for t in pass.failed {
                    if !failed.contains(&t) {
                        failed.push(t);
                    }
                }
                match pass.last {
                    Some(last) => after = last,
                    None => break,
                }
            }
            if round == 0 {
                return Ok((total, failed));
            }
        }
    }

    /// How many data keys each KEK wraps.
    pub async fn keys_in_use(&self) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT kek_id, COUNT(*) FROM vault_records GROUP BY kek_id ORDER BY kek_id",
        )
        .fetch_all(self.db.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

/// The audit event of one read of `token` (or of a refusal to read it).
fn detokenised(
    at_ms: i64,
    actor: &str,
    purpose: &str,
    token: &str,
    resource: &str,
    outcome: &str,
) -> plaza_kernel::outbox::NewEvent {
    plaza_audit::trail::event(
        crate::SERVICE,
        at_ms,
        plaza_audit::trail::Record {
            actor,
            action: "vault.detokenise",
            resource,
            subject: Some(token),
            purpose,
            outcome,
        },
    )
}
