-- Accepted licence photos, normalised. `id` is a keyed hash of the stored
-- JPEG (a content address only the service can compute); `sealed` is the
-- JPEG encrypted with the service's data key, bound to the id, in base64.
CREATE TABLE photos (
    id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
