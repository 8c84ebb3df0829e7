-- +goose Up
-- Events are an append-only log that only the ingest pipeline writes, in the
-- same transaction as the report, customer and case rows they refer to.
-- Checking three foreign keys per row (a trigger each) took about a third of
-- the time of storing a large report, so the log keeps its references
-- without them. Nothing deletes reports; a purge must delete their events
-- itself. The indexes on source_ip and time_source served no query.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_report_id_fkey;
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_customer_id_fkey;
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_case_id_fkey;
DROP INDEX IF EXISTS events_source_ip_idx;
DROP INDEX IF EXISTS events_time_idx;

-- +goose Down
CREATE INDEX events_time_idx ON events (time_source);
CREATE INDEX events_source_ip_idx ON events (source_ip);
ALTER TABLE events ADD CONSTRAINT events_case_id_fkey FOREIGN KEY (case_id) REFERENCES cases (id);
ALTER TABLE events ADD CONSTRAINT events_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE events ADD CONSTRAINT events_report_id_fkey FOREIGN KEY (report_id) REFERENCES reports (id) ON DELETE CASCADE;
