-- Driver records. Name, birth date, address and licence number are sealed
-- with the service's data key, bound to the row id; the licence number is
-- found through its blind index. Dates are days since 1970-01-01.
CREATE TABLE drivers (
    id TEXT PRIMARY KEY,
    licence_index TEXT NOT NULL,
    licence_sealed TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    class TEXT NOT NULL,
    endorsements TEXT NOT NULL,
    restrictions TEXT NOT NULL,
    issued_on BIGINT NOT NULL,
    expires_on BIGINT NOT NULL,
    status TEXT NOT NULL,
    real_id BIGINT NOT NULL,
    real_id_documents_seen BIGINT NOT NULL,
    last_renewal_online BIGINT NOT NULL,
    vision_test_on BIGINT,
    medical_expires_on BIGINT,
    subject TEXT,
    name_sealed TEXT NOT NULL,
    birth_date_sealed TEXT NOT NULL,
    address_sealed TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    -- Sex, eye colour and height for the card, sealed like the name.
    description_sealed TEXT NOT NULL
);
CREATE UNIQUE INDEX drivers_licence_index ON drivers (licence_index);
CREATE INDEX drivers_subject ON drivers (subject);
