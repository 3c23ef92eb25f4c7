-- One row per protected value. The value is encrypted with its own data key
-- (AES-256-GCM-SIV); the data key is stored wrapped by a key-encryption key
-- that never touches the database. `blind_index` is an HMAC of the
-- normalised value, for equality search without decrypting.
CREATE TABLE vault_records (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    blind_index TEXT NOT NULL,
    nonce {{blob}} NOT NULL,
    ciphertext {{blob}} NOT NULL,
    dek_nonce {{blob}} NOT NULL,
    wrapped_dek {{blob}} NOT NULL,
    kek_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX vault_records_lookup ON vault_records (kind, blind_index);
CREATE INDEX vault_records_kek ON vault_records (kek_id);
