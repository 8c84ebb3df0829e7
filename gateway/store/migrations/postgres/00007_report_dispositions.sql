-- +goose Up
-- How many of a report's events were unowned or ignored, kept with the
-- report: the /metrics collector sums these instead of counting the events
-- table on every scrape, and the events lose their disposition index.
ALTER TABLE reports ADD COLUMN unowned_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN ignored_count INTEGER NOT NULL DEFAULT 0;
UPDATE reports SET
    unowned_count = (SELECT count(*) FROM events e WHERE e.report_id = reports.id AND e.disposition = 'unowned'),
    ignored_count = (SELECT count(*) FROM events e WHERE e.report_id = reports.id AND e.disposition = 'ignored')
    WHERE events_count > 0;
DROP INDEX events_disposition_idx;

-- +goose Down
CREATE INDEX events_disposition_idx ON events (disposition);
ALTER TABLE reports DROP COLUMN ignored_count;
ALTER TABLE reports DROP COLUMN unowned_count;
