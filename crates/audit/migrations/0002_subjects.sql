-- Which entries concern which person (the entry's subject), so that a person
-- can list who accessed their records. An index only: the entries and the
-- tree stay the record, and every listed entry can be proven against them.
CREATE TABLE audit_subjects (
    subject TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (subject, seq)
);
