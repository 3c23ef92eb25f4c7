//! Idempotency keys for mutating requests.
//!
//! The answer to a request is stored under its key in the same transaction
//! as the change it made. A repeat with the same key and the same request
//! gets the stored answer and changes nothing; the same key with a different
//! request is refused. A crash between change and answer cannot split them.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::Error;
use crate::db::Tx;

/// The metadata entry that carries the key over gRPC.
pub const METADATA: &str = "idempotency-key";

/// Accepts a key from outside only if it is of reasonable shape.
pub fn validate_key(raw: &str) -> Result<String, Error> {
    let ok = (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Error::Invalid(
            "Idempotency-Key must be 1 to 128 visible ASCII characters (a UUID is a good choice)"
                .into(),
        ))
    }
}

/// A fingerprint of the request, to tell a true repeat from a reused key.
pub fn fingerprint(request: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(request))
}

/// Looks the key up inside `tx`. `Some(answer)` means this request was
/// already carried out and `answer` is what it returned.
pub async fn lookup(
    tx: &mut Tx,
    scope: &str,
    key: &str,
    request_hash: &str,
) -> Result<Option<Vec<u8>>, Error> {
    let row = sqlx::query(
        "SELECT request_hash, response FROM idempotency WHERE scope = $1 AND idem_key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        None => Ok(None),
        Some(r) => {
            let stored: String = r.try_get(0)?;
            if stored != request_hash {
                return Err(Error::IdempotencyMismatch {
                    key: key.to_owned(),
                });
            }
            Ok(Some(r.try_get(1)?))
        }
    }
}

/// Records the answer inside the transaction that made the change.
pub async fn record(
    tx: &mut Tx,
    scope: &str,
    key: &str,
    request_hash: &str,
    response: &[u8],
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO idempotency (scope, idem_key, request_hash, response, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(scope)
    .bind(key)
    .bind(request_hash)
    .bind(response.to_vec())
    .bind(crate::clock::now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
