CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    renewal_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    card_sealed TEXT NOT NULL,
    delivery_kind TEXT NOT NULL,
    delivery_sealed TEXT NOT NULL,
    office_id TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    batch_id TEXT,
    tracking TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX orders_status ON orders (status, created_at_ms, id);
CREATE INDEX orders_batch ON orders (batch_id);
CREATE INDEX orders_renewal ON orders (renewal_id);
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    reason TEXT,
    order_count BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX batches_status ON batches (status, created_at_ms);
