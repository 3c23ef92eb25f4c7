-- Background checks, one row per request from the permits service
-- (`request_id`: the id of its CheckRequested event, so a request delivered
-- twice is one check). `subject_tokens` are vault tokens, never values.
-- `status`: pending (waiting for a worker; `lease_until_ms` fences a
-- worker's claim), decided (the automated answer is final), review (Delayed,
-- in the examiners' queue), resolved (an examiner decided). `summary` is
-- what an officer may see (sources, prohibitors cited, reasons for delay);
-- `evidence_sealed` holds the subject and the matched records, sealed with
-- the service's data key. `notify` is the outcome still to be told to the
-- permits service (NULL once told).
CREATE TABLE checks (
    ntn TEXT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    application_id TEXT NOT NULL,
    state TEXT NOT NULL,
    type_id TEXT NOT NULL,
    subject_tokens TEXT,
    status TEXT NOT NULL,
    outcome TEXT,
    final_outcome TEXT,
    prohibitors TEXT NOT NULL,
    summary TEXT,
    evidence_sealed TEXT,
    delayed_until TEXT,
    notify TEXT,
    notify_after_ms BIGINT NOT NULL,
    notify_error TEXT,
    lease_until_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    examiner TEXT,
    resolution_note TEXT,
    created_ms BIGINT NOT NULL,
    decided_ms BIGINT,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX checks_work ON checks (status, lease_until_ms);
CREATE INDEX checks_notify ON checks (notify, notify_after_ms);
CREATE INDEX checks_application ON checks (application_id);
