-- +goose Up
-- Indexes for the compliance figures (gateway/metrics).
-- Cases by receipt: the period's cohort.
CREATE INDEX cases_created_at_idx ON cases (created_at);
-- Relapses: an earlier closure of the same customer and classification.
CREATE INDEX cases_relapse_idx ON cases (customer_id, classification_identifier, resolved_at);
-- First response: the first status change not made by abusegw itself.
CREATE INDEX status_history_response_idx ON status_history (case_id, at) WHERE source <> 'gateway';
-- Customer notified: the first reply sent.
CREATE INDEX outbox_reply_idx ON outbox (case_id, finalized_at) WHERE kind = 'reply' AND state = 'completed';
-- Reports and events by receipt.
CREATE INDEX reports_received_at_idx ON reports (received_at);
CREATE INDEX events_created_at_idx ON events (created_at);

-- +goose Down
DROP INDEX events_created_at_idx;
DROP INDEX reports_received_at_idx;
DROP INDEX outbox_reply_idx;
DROP INDEX status_history_response_idx;
DROP INDEX cases_relapse_idx;
DROP INDEX cases_created_at_idx;
