-- How many lines each application's timeline has. A new line takes its
-- number from the application's row, under that row's lock, so two
-- writers never pick the same number, whenever their statements began.
ALTER TABLE renewal_applications ADD COLUMN timeline_len BIGINT NOT NULL DEFAULT 0;
UPDATE renewal_applications SET timeline_len = (
    SELECT COALESCE(MAX(seq), 0) FROM renewal_timeline
    WHERE renewal_timeline.application_id = renewal_applications.id
);
