-- The reference address set, one row per street within a ZIP code: the
-- street's standardised parts and every delivery point on it (house number,
-- unit, ZIP+4) packed in `points`. An import replaces the whole set.
CREATE TABLE address_streets (
    id BIGINT PRIMARY KEY,
    zip5 TEXT NOT NULL,
    state TEXT NOT NULL,
    city TEXT NOT NULL,
    county TEXT NOT NULL,
    predir TEXT NOT NULL,
    name TEXT NOT NULL,
    suffix TEXT NOT NULL,
    postdir TEXT NOT NULL,
    point_count BIGINT NOT NULL,
    points TEXT NOT NULL
);
