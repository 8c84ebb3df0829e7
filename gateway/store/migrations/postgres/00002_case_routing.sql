-- +goose Up
-- A case key names one problem; after a closed case's reopen window a new
-- case of the same problem gets a new key (base_key#2, …) and links the old.
ALTER TABLE cases ADD COLUMN base_key TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
-- Where the case's ticket goes and how: the routing decision at creation.
ALTER TABLE cases ADD COLUMN queue TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN template TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN notify BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE cases ADD COLUMN reference TEXT NOT NULL DEFAULT '';
CREATE INDEX cases_base_key_idx ON cases (base_key, generation);
-- When an address joined its case and when it was last reported, in gateway
-- time, for "new since the last update" (first_seen/last_seen are event times).
ALTER TABLE case_ips ADD COLUMN added_at TIMESTAMPTZ;
ALTER TABLE case_ips ADD COLUMN seen_at TIMESTAMPTZ;
-- What became of an event: part of a case, nobody's, or ignored by a rule.
ALTER TABLE events ADD COLUMN disposition TEXT NOT NULL DEFAULT 'case';
CREATE INDEX events_disposition_idx ON events (disposition);

-- +goose Down
ALTER TABLE case_ips DROP COLUMN seen_at;
ALTER TABLE case_ips DROP COLUMN added_at;
DROP INDEX events_disposition_idx;
ALTER TABLE events DROP COLUMN disposition;
DROP INDEX cases_base_key_idx;
ALTER TABLE cases DROP COLUMN reference;
ALTER TABLE cases DROP COLUMN notify;
ALTER TABLE cases DROP COLUMN template;
ALTER TABLE cases DROP COLUMN queue;
ALTER TABLE cases DROP COLUMN generation;
ALTER TABLE cases DROP COLUMN base_key;
