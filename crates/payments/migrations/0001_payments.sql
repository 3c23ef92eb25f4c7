-- Payment intents: what a citizen owes for one purpose (a renewal), paid
-- at most once. `attempt` numbers the tries at the processor; the
-- processor's idempotency key is `<intent>/<attempt>`, so a retried call
-- after a crash or a timeout can never charge twice.
CREATE TABLE payment_intents (
    id TEXT PRIMARY KEY,
    idem_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    reference TEXT NOT NULL,
    payer TEXT NOT NULL,
    description TEXT NOT NULL,
    lines TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    charge_id TEXT,
    decline_code TEXT,
    paid_at_ms BIGINT,
    refunded BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX payment_intents_status ON payment_intents (status, updated_ms);
CREATE INDEX payment_intents_reference ON payment_intents (reference);

-- Refunds Plaza asked for; `pending` until the processor confirms.
CREATE TABLE payment_refunds (
    id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL,
    idem_key TEXT NOT NULL UNIQUE,
    charge_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    processor_refund_id TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX payment_refunds_status ON payment_refunds (status);

-- The double-entry ledger: a journal entry per money movement at the
-- processor (unique by the processor's id, so the same movement is never
-- booked twice, however often it is reported), and its postings, which
-- sum to zero.
CREATE TABLE ledger_journal (
    id TEXT PRIMARY KEY,
    processor_id TEXT NOT NULL UNIQUE,
    intent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    day TEXT NOT NULL
);
CREATE INDEX ledger_journal_day ON ledger_journal (day);
CREATE INDEX ledger_journal_intent ON ledger_journal (intent_id);

CREATE TABLE ledger_postings (
    journal_id TEXT NOT NULL,
    account TEXT NOT NULL,
    amount BIGINT NOT NULL
);
CREATE INDEX ledger_postings_journal ON ledger_postings (journal_id);

-- Webhook events already applied (processors deliver some twice).
CREATE TABLE payment_webhook_events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    received_ms BIGINT NOT NULL
);
