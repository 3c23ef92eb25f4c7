-- Which entries concern which person (the entry's subject), so that a person
-- can list who accessed their records. An index only, built behind the log
-- in sorted batches (so appends stay fast): the entries and the tree stay
-- the record, and every listed entry can be proven against them.
CREATE TABLE audit_subjects (
    subject TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (subject, seq)
);

-- How far the subject index has got: entries from `next_seq` on are not
-- indexed yet (queries read them directly).
CREATE TABLE audit_subjects_progress (
    id BIGINT PRIMARY KEY,
    next_seq BIGINT NOT NULL
);
INSERT INTO audit_subjects_progress (id, next_seq) VALUES (1, 0);
