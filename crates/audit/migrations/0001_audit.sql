-- The log itself: entry `seq` is leaf `seq` of the Merkle tree.
-- `prev_leaf_hash` repeats the leaf hash of entry `seq - 1` (zeros for the
-- first), so a reordered or removed row is pinpointed where it happened.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    entry {{blob}} NOT NULL,
    leaf_hash {{blob}} NOT NULL,
    prev_leaf_hash {{blob}} NOT NULL,
    at_ms BIGINT NOT NULL
);

-- Hashes of the perfect subtrees of 16 leaves and more (level >= 4). A
-- proof reads these plus at most a block or two of 16 leaf hashes.
CREATE TABLE audit_nodes (
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash {{blob}} NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Signed tree heads.
CREATE TABLE audit_tree_heads (
    size BIGINT PRIMARY KEY,
    root {{blob}} NOT NULL,
    at_ms BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    signature {{blob}} NOT NULL
);

-- Public keys that signed tree heads, for third parties. Verification
-- trusts only keys given to it, never this table alone.
CREATE TABLE audit_keys (
    key_id TEXT PRIMARY KEY,
    public_key {{blob}} NOT NULL,
    created_at_ms BIGINT NOT NULL
);
