-- Events waiting to be published, written in the same transaction as the
-- change they describe. The relay deletes a row once the bus acknowledged it.
CREATE TABLE outbox (
    id {{id}},
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload {{blob}} NOT NULL,
    correlation_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until_ms BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0
);

-- One relay per service database publishes at a time, which keeps events in
-- commit order (and so in order per aggregate). Others wait for the lease.
CREATE TABLE relay_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);

-- Events a consumer has applied: a redelivered event finds its row and has
-- no second effect.
CREATE TABLE inbox (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Answers to mutating requests, by idempotency key, stored in the same
-- transaction as the change.
CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response {{blob}} NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);

-- The saga log: one row per saga, one per step outcome.
CREATE TABLE saga (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    outputs TEXT NOT NULL,
    next_step BIGINT NOT NULL,
    error TEXT,
    correlation_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT
);
CREATE INDEX saga_status ON saga (status);

CREATE TABLE saga_log (
    id {{id}},
    saga_id TEXT NOT NULL,
    step BIGINT NOT NULL,
    step_name TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX saga_log_saga ON saga_log (saga_id, id);
