-- +goose Up
-- What the compliance report (gateway/metrics) needs of a case, kept on the
-- case so that the report is one pass over the cases instead of lookups per
-- case. Kept by triggers whenever the rows they come from are written:
--
--   first_reply_at           the first reply to the customer sent: the earliest
--                            completed 'reply' operation's finalized_at
--   first_outside_change_at  the earliest status-history entry not made by
--                            abusegw itself (source webhook, reconcile, manual),
--                            kept while the case has no recorded first response
--                            (first_response_at, which then stands for it: the
--                            sync applier records it with its first change)
--   prior_resolved_at        the latest resolved_at of another case of the same
--                            customer and classification at or before this
--                            case's created_at (relapses)
--
-- Times compare as text here, exactly as the queries these replace did.
ALTER TABLE cases ADD COLUMN first_reply_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN first_outside_change_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN prior_resolved_at TIMESTAMP;

UPDATE cases SET
    first_reply_at = (SELECT min(o.finalized_at) FROM outbox o
        WHERE o.case_id = cases.id AND o.kind = 'reply' AND o.state = 'completed'),
    first_outside_change_at = (SELECT min(h.at) FROM status_history h
        WHERE h.case_id = cases.id AND h.source <> 'gateway'),
    prior_resolved_at = (SELECT p.resolved_at FROM cases p
        WHERE p.customer_id = cases.customer_id AND p.classification_identifier = cases.classification_identifier
            AND p.resolved_at <= cases.created_at AND p.id <> cases.id
        ORDER BY p.resolved_at DESC LIMIT 1);

-- Everything the report reads of a case, by receipt (the period's cohort),
-- so that it reads this index alone, with the values it computes stored
-- here (the expressions must stay exactly those of gateway/metrics,
-- sqlFor.c; a test checks): when the case counts as notified (the first reply sent when
-- the customer is notified, else when the ticket was created) and first
-- responded to (the recorded first response, else the first status change
-- not made by abusegw), and in whole milliseconds (julianday keeps
-- milliseconds exactly; rounding removes the binary noise) the times from
-- receipt to each and to resolution, from the prior resolution to receipt,
-- and of receipt. It replaces cases_created_at_idx; the counters and other
-- frequent updates do not touch it.
DROP INDEX cases_created_at_idx;
CREATE INDEX cases_report_idx ON cases (created_at, customer_id, classification_identifier, feed_name, connector,
    state, reopen_count, closure_reason, resolved_at,
    CASE WHEN notify THEN first_reply_at ELSE notified_at END,
    COALESCE(first_response_at, first_outside_change_at),
    CAST(round((julianday(CASE WHEN notify THEN first_reply_at ELSE notified_at END) - julianday(created_at)) * 86400000.0) AS INTEGER),
    CAST(round((julianday(COALESCE(first_response_at, first_outside_change_at)) - julianday(created_at)) * 86400000.0) AS INTEGER),
    CAST(round((julianday(resolved_at) - julianday(created_at)) * 86400000.0) AS INTEGER),
    CAST(round((julianday(created_at) - julianday(prior_resolved_at)) * 86400000.0) AS INTEGER),
    CAST(round(julianday(created_at) * 86400000.0) AS INTEGER));
-- The cases of a customer and classification by receipt: the later cases
-- whose prior_resolved_at a resolution changes, and (with the time from the
-- prior resolution) the repeat offenders.
DROP INDEX cases_customer_idx;
CREATE INDEX cases_customer_idx ON cases (customer_id, classification_identifier, created_at,
    CAST(round((julianday(created_at) - julianday(prior_resolved_at)) * 86400000.0) AS INTEGER));

-- first_reply_at. Completed operations are final in practice; an update or
-- delete that touches a completed reply recomputes it anyway.
-- +goose StatementBegin
CREATE TRIGGER outbox_first_reply_insert AFTER INSERT ON outbox
WHEN NEW.kind = 'reply' AND NEW.state = 'completed' AND NEW.case_id IS NOT NULL
BEGIN
    UPDATE cases SET first_reply_at = NEW.finalized_at
    WHERE id = NEW.case_id AND (first_reply_at IS NULL OR first_reply_at > NEW.finalized_at);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER outbox_first_reply_update AFTER UPDATE OF case_id, kind, state, finalized_at ON outbox
WHEN (OLD.kind = 'reply' AND OLD.state = 'completed') OR (NEW.kind = 'reply' AND NEW.state = 'completed')
BEGIN
    UPDATE cases SET first_reply_at = (SELECT min(o.finalized_at) FROM outbox o
        WHERE o.case_id = cases.id AND o.kind = 'reply' AND o.state = 'completed')
    WHERE id IN (OLD.case_id, NEW.case_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER outbox_first_reply_delete AFTER DELETE ON outbox
WHEN OLD.kind = 'reply' AND OLD.state = 'completed'
BEGIN
    UPDATE cases SET first_reply_at = (SELECT min(o.finalized_at) FROM outbox o
        WHERE o.case_id = cases.id AND o.kind = 'reply' AND o.state = 'completed')
    WHERE id = OLD.case_id;
END;
-- +goose StatementEnd

-- first_outside_change_at: a recorded first response withdrawn makes the
-- case look again.
-- +goose StatementBegin
CREATE TRIGGER status_history_first_outside_insert AFTER INSERT ON status_history
WHEN NEW.source <> 'gateway'
BEGIN
    UPDATE cases SET first_outside_change_at = NEW.at
    WHERE id = NEW.case_id AND first_response_at IS NULL
        AND (first_outside_change_at IS NULL OR first_outside_change_at > NEW.at);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER cases_first_outside_update AFTER UPDATE OF first_response_at ON cases
WHEN NEW.first_response_at IS NULL AND OLD.first_response_at IS NOT NULL
BEGIN
    UPDATE cases SET first_outside_change_at = (SELECT min(h.at) FROM status_history h
        WHERE h.case_id = cases.id AND h.source <> 'gateway')
    WHERE id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER status_history_first_outside_update AFTER UPDATE OF case_id, at, source ON status_history
WHEN OLD.source <> 'gateway' OR NEW.source <> 'gateway'
BEGIN
    UPDATE cases SET first_outside_change_at = (SELECT min(h.at) FROM status_history h
        WHERE h.case_id = cases.id AND h.source <> 'gateway')
    WHERE id IN (OLD.case_id, NEW.case_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER status_history_first_outside_delete AFTER DELETE ON status_history
WHEN OLD.source <> 'gateway'
BEGIN
    UPDATE cases SET first_outside_change_at = (SELECT min(h.at) FROM status_history h
        WHERE h.case_id = cases.id AND h.source <> 'gateway')
    WHERE id = OLD.case_id;
END;
-- +goose StatementEnd

-- prior_resolved_at. A new case looks for an earlier resolution. A
-- resolution (a case inserted resolved, or resolved) can only raise the
-- prior_resolved_at of the later cases of its customer and classification;
-- one withdrawn (reopened, changed, deleted) makes those that had it look
-- again. (One statement each: SQLite compiles a trigger into every
-- statement that may fire it.)
-- +goose StatementBegin
CREATE TRIGGER cases_prior_resolved_insert AFTER INSERT ON cases
WHEN NEW.customer_id IS NOT NULL
BEGIN
    UPDATE cases SET prior_resolved_at = (SELECT p.resolved_at FROM cases p
            WHERE p.customer_id = cases.customer_id AND p.classification_identifier = cases.classification_identifier
                AND p.resolved_at <= cases.created_at AND p.id <> cases.id
            ORDER BY p.resolved_at DESC LIMIT 1)
    WHERE (id = NEW.id AND EXISTS (SELECT 1 FROM cases p
            WHERE p.customer_id = NEW.customer_id AND p.classification_identifier = NEW.classification_identifier
                AND p.resolved_at <= NEW.created_at AND p.id <> NEW.id))
        OR (customer_id = NEW.customer_id AND classification_identifier = NEW.classification_identifier
            AND created_at >= NEW.resolved_at AND id <> NEW.id
            AND (prior_resolved_at IS NULL OR prior_resolved_at < NEW.resolved_at));
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER cases_prior_resolved_update AFTER UPDATE OF resolved_at, customer_id, classification_identifier, created_at ON cases
WHEN (OLD.customer_id IS NOT NULL OR NEW.customer_id IS NOT NULL)
    AND (OLD.resolved_at IS NOT NEW.resolved_at OR OLD.customer_id IS NOT NEW.customer_id
        OR OLD.classification_identifier IS NOT NEW.classification_identifier OR OLD.created_at IS NOT NEW.created_at)
BEGIN
    UPDATE cases SET prior_resolved_at = (SELECT p.resolved_at FROM cases p
            WHERE p.customer_id = cases.customer_id AND p.classification_identifier = cases.classification_identifier
                AND p.resolved_at <= cases.created_at AND p.id <> cases.id
            ORDER BY p.resolved_at DESC LIMIT 1)
    WHERE (customer_id = OLD.customer_id AND classification_identifier = OLD.classification_identifier
            AND created_at >= OLD.resolved_at AND prior_resolved_at = OLD.resolved_at AND id <> OLD.id)
        OR (id = NEW.id AND (OLD.customer_id IS NOT NEW.customer_id
            OR OLD.classification_identifier IS NOT NEW.classification_identifier OR OLD.created_at IS NOT NEW.created_at))
        OR (customer_id = NEW.customer_id AND classification_identifier = NEW.classification_identifier
            AND created_at >= NEW.resolved_at AND id <> NEW.id
            AND (prior_resolved_at IS NULL OR prior_resolved_at < NEW.resolved_at));
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER cases_prior_resolved_delete AFTER DELETE ON cases
WHEN OLD.resolved_at IS NOT NULL AND OLD.customer_id IS NOT NULL
BEGIN
    UPDATE cases SET prior_resolved_at = (SELECT p.resolved_at FROM cases p
            WHERE p.customer_id = cases.customer_id AND p.classification_identifier = cases.classification_identifier
                AND p.resolved_at <= cases.created_at AND p.id <> cases.id
            ORDER BY p.resolved_at DESC LIMIT 1)
    WHERE customer_id = OLD.customer_id AND classification_identifier = OLD.classification_identifier
        AND created_at >= OLD.resolved_at AND prior_resolved_at = OLD.resolved_at;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER cases_prior_resolved_delete;
DROP TRIGGER cases_prior_resolved_update;
DROP TRIGGER cases_prior_resolved_insert;
DROP TRIGGER cases_first_outside_update;
DROP TRIGGER status_history_first_outside_delete;
DROP TRIGGER status_history_first_outside_update;
DROP TRIGGER status_history_first_outside_insert;
DROP TRIGGER outbox_first_reply_delete;
DROP TRIGGER outbox_first_reply_update;
DROP TRIGGER outbox_first_reply_insert;
DROP INDEX cases_customer_idx;
CREATE INDEX cases_customer_idx ON cases (customer_id, classification_identifier);
DROP INDEX cases_report_idx;
CREATE INDEX cases_created_at_idx ON cases (created_at);
ALTER TABLE cases DROP COLUMN prior_resolved_at;
ALTER TABLE cases DROP COLUMN first_outside_change_at;
ALTER TABLE cases DROP COLUMN first_reply_at;
