-- Online renewal applications. `open_driver` holds the driver id while the
-- application is open (NULL once it is finished or cancelled), so a driver
-- has at most one open renewal. The mailing address is sealed with the
-- service's data key; `caller` is the citizen the saga acts for.
CREATE TABLE renewal_applications (
    id TEXT PRIMARY KEY,
    idem_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    driver_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    caller TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    status TEXT NOT NULL,
    wants_real_id BIGINT NOT NULL,
    photo_id TEXT,
    address_sealed TEXT,
    delivery TEXT,
    office_id TEXT,
    intent_id TEXT NOT NULL,
    amount_due BIGINT NOT NULL,
    order_id TEXT,
    new_expires_on TEXT NOT NULL,
    tracking TEXT,
    refund_due BIGINT NOT NULL,
    open_driver TEXT UNIQUE,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX renewal_applications_driver ON renewal_applications (driver_id);
CREATE INDEX renewal_applications_refund_due ON renewal_applications (refund_due);

-- What the citizen sees: every change of their application, in order.
CREATE TABLE renewal_timeline (
    application_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (application_id, seq)
);
