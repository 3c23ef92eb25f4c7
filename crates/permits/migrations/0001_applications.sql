-- Permit applications. The applicant's name, birth date and address are
-- sealed with the service's data key (`applicant_sealed`); `person_blind`
-- is a keyed hash of the person (names and birth date) for lookups by
-- person. `open_key` holds a keyed hash of person and permit type while the
-- person holds or is applying for that permit (NULL once denied for good,
-- revoked or expired), so a second application is refused. `progress` is
-- the workflow's record (JSON); `state`, `due_on` and `overdue` repeat
-- what queries need.
CREATE TABLE permit_applications (
    id TEXT PRIMARY KEY,
    idem_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    owner TEXT NOT NULL,
    type_id TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    person_blind TEXT NOT NULL,
    open_key TEXT UNIQUE,
    applicant_sealed TEXT NOT NULL,
    renews TEXT,
    state TEXT NOT NULL,
    progress TEXT NOT NULL,
    due_on TEXT,
    overdue BIGINT NOT NULL,
    permit_number TEXT UNIQUE,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX permit_applications_queue ON permit_applications (jurisdiction, state, due_on);
CREATE INDEX permit_applications_person ON permit_applications (person_blind);

-- What the applicant sees: every transition, in order.
CREATE TABLE permit_timeline (
    application_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (application_id, seq)
);

-- Issued permits. Numbers run per jurisdiction, type and year.
CREATE TABLE permits_issued (
    number TEXT PRIMARY KEY,
    application_id TEXT NOT NULL UNIQUE,
    type_id TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    person_blind TEXT NOT NULL,
    issued_on TEXT NOT NULL,
    expires_on TEXT NOT NULL
);
CREATE INDEX permits_issued_person ON permits_issued (person_blind);

CREATE TABLE permit_number_seq (
    prefix TEXT PRIMARY KEY,
    last BIGINT NOT NULL
);

-- Durable timers, armed in the transaction of the transition that needs
-- them. `fired`: 0 pending, 1 fired, 2 cancelled. A timer fires when a
-- process moves it from 0 to 1 in the transaction that applies its effect.
CREATE TABLE permit_timers (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    due_at_ms BIGINT NOT NULL,
    fired BIGINT NOT NULL,
    fired_at_ms BIGINT
);
CREATE INDEX permit_timers_due ON permit_timers (fired, due_at_ms);
CREATE INDEX permit_timers_application ON permit_timers (application_id, kind, fired);

-- Records sources pushed about permit holders; each is acted on once.
CREATE TABLE permit_pushed_records (
    record_id TEXT PRIMARY KEY,
    person_blind TEXT NOT NULL,
    source TEXT NOT NULL,
    summary_sealed TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    permits_moved BIGINT NOT NULL
);
