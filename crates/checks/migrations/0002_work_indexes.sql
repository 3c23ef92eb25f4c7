-- Workers take pending checks oldest first and skip those leased, walking
-- this index in order instead of sorting every pending check; the answers
-- still to be told are only the rows with `notify` set.
DROP INDEX checks_work;
DROP INDEX checks_notify;
CREATE INDEX checks_pending ON checks (status, created_ms);
CREATE INDEX checks_untold ON checks (notify_after_ms) WHERE notify IS NOT NULL;
