-- +goose Up
-- The webhook sweep looks for deliveries still waiting to be applied.
CREATE INDEX webhook_deliveries_state_idx ON webhook_deliveries (state, id);

-- +goose Down
DROP INDEX webhook_deliveries_state_idx;
