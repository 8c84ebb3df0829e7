-- +goose Up
-- What the compliance report (gateway/metrics) needs of a case, kept on the
-- case so that the report is one pass over the cases instead of lookups per
-- case. Kept by triggers whenever the rows they come from are written:
--
--   first_reply_at           the first reply to the customer sent: the earliest
--                            completed 'reply' operation's finalized_at
--   first_outside_change_at  the earliest status-history entry not made by
--                            abusegw itself (source webhook, reconcile, manual)
--   prior_resolved_at        the latest resolved_at of another case of the same
--                            customer and classification at or before this
--                            case's created_at (relapses)
--
-- Computed from the row (README, "Compliance metrics"):
--
--   notification_at          when the case counts as notified: the first reply
--                            sent when the customer is notified, else when the
--                            ticket was created (notified_at)
--   response_at              its first response: the recorded one, else the
--                            first status change not made by abusegw
--   time_to_*_ms, relapse_gap_ms
--                            whole milliseconds from receipt to each, and from
--                            the prior resolution to receipt
ALTER TABLE cases ADD COLUMN first_reply_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN first_outside_change_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN prior_resolved_at TIMESTAMPTZ;

-- +goose StatementBegin
CREATE FUNCTION case_prior_resolved_at(c cases) RETURNS TIMESTAMPTZ LANGUAGE sql STABLE AS $$
    SELECT max(p.resolved_at) FROM cases p
    WHERE p.customer_id = c.customer_id AND p.classification_identifier = c.classification_identifier
        AND p.resolved_at <= c.created_at AND p.id <> c.id
$$;
-- +goose StatementEnd

UPDATE cases c SET
    first_reply_at = (SELECT min(o.finalized_at) FROM outbox o
        WHERE o.case_id = c.id AND o.kind = 'reply' AND o.state = 'completed'),
    first_outside_change_at = (SELECT min(h.at) FROM status_history h
        WHERE h.case_id = c.id AND h.source <> 'gateway'),
    prior_resolved_at = case_prior_resolved_at(c)
WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND o.kind = 'reply' AND o.state = 'completed')
    OR EXISTS (SELECT 1 FROM status_history h WHERE h.case_id = c.id AND h.source <> 'gateway')
    OR case_prior_resolved_at(c) IS NOT NULL;

ALTER TABLE cases
    ADD COLUMN notification_at TIMESTAMPTZ
        GENERATED ALWAYS AS (CASE WHEN notify THEN first_reply_at ELSE notified_at END) STORED,
    ADD COLUMN response_at TIMESTAMPTZ
        GENERATED ALWAYS AS (COALESCE(first_response_at, first_outside_change_at)) STORED,
    ADD COLUMN time_to_notify_ms BIGINT GENERATED ALWAYS AS (CAST(round(EXTRACT(EPOCH FROM (
        CASE WHEN notify THEN first_reply_at ELSE notified_at END - created_at)) * 1000) AS BIGINT)) STORED,
    ADD COLUMN time_to_response_ms BIGINT GENERATED ALWAYS AS (CAST(round(EXTRACT(EPOCH FROM (
        COALESCE(first_response_at, first_outside_change_at) - created_at)) * 1000) AS BIGINT)) STORED,
    ADD COLUMN time_to_resolve_ms BIGINT GENERATED ALWAYS AS (CAST(round(EXTRACT(EPOCH FROM (
        resolved_at - created_at)) * 1000) AS BIGINT)) STORED,
    ADD COLUMN relapse_gap_ms BIGINT GENERATED ALWAYS AS (CAST(round(EXTRACT(EPOCH FROM (
        created_at - prior_resolved_at)) * 1000) AS BIGINT)) STORED;

-- The cases of a customer and classification by receipt: the later cases
-- whose prior_resolved_at a resolution changes, and (with the time from the
-- prior resolution) the repeat offenders, from the index alone.
DROP INDEX cases_customer_idx;
CREATE INDEX cases_customer_idx ON cases (customer_id, classification_identifier, created_at) INCLUDE (relapse_gap_ms);

-- first_reply_at. Completed operations are final in practice; an update or
-- delete that touches a completed reply recomputes it anyway.
-- +goose StatementBegin
CREATE FUNCTION outbox_first_reply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE cases SET first_reply_at = NEW.finalized_at
        WHERE id = NEW.case_id AND (first_reply_at IS NULL OR first_reply_at > NEW.finalized_at);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE cases c SET first_reply_at = (SELECT min(o.finalized_at) FROM outbox o
            WHERE o.case_id = c.id AND o.kind = 'reply' AND o.state = 'completed')
        WHERE c.id IN (OLD.case_id, NEW.case_id);
    ELSE
        UPDATE cases c SET first_reply_at = (SELECT min(o.finalized_at) FROM outbox o
            WHERE o.case_id = c.id AND o.kind = 'reply' AND o.state = 'completed')
        WHERE c.id = OLD.case_id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_first_reply_insert AFTER INSERT ON outbox FOR EACH ROW
    WHEN (NEW.kind = 'reply' AND NEW.state = 'completed' AND NEW.case_id IS NOT NULL)
    EXECUTE FUNCTION outbox_first_reply();
CREATE TRIGGER outbox_first_reply_update AFTER UPDATE OF case_id, kind, state, finalized_at ON outbox FOR EACH ROW
    WHEN ((OLD.kind = 'reply' AND OLD.state = 'completed') OR (NEW.kind = 'reply' AND NEW.state = 'completed'))
    EXECUTE FUNCTION outbox_first_reply();
CREATE TRIGGER outbox_first_reply_delete AFTER DELETE ON outbox FOR EACH ROW
    WHEN (OLD.kind = 'reply' AND OLD.state = 'completed')
    EXECUTE FUNCTION outbox_first_reply();

-- first_outside_change_at.
-- +goose StatementBegin
CREATE FUNCTION status_history_first_outside() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE cases SET first_outside_change_at = NEW.at
        WHERE id = NEW.case_id AND (first_outside_change_at IS NULL OR first_outside_change_at > NEW.at);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE cases c SET first_outside_change_at = (SELECT min(h.at) FROM status_history h
            WHERE h.case_id = c.id AND h.source <> 'gateway')
        WHERE c.id IN (OLD.case_id, NEW.case_id);
    ELSE
        UPDATE cases c SET first_outside_change_at = (SELECT min(h.at) FROM status_history h
            WHERE h.case_id = c.id AND h.source <> 'gateway')
        WHERE c.id = OLD.case_id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER status_history_first_outside_insert AFTER INSERT ON status_history FOR EACH ROW
    WHEN (NEW.source <> 'gateway')
    EXECUTE FUNCTION status_history_first_outside();
CREATE TRIGGER status_history_first_outside_update AFTER UPDATE OF case_id, at, source ON status_history FOR EACH ROW
    WHEN (OLD.source <> 'gateway' OR NEW.source <> 'gateway')
    EXECUTE FUNCTION status_history_first_outside();
CREATE TRIGGER status_history_first_outside_delete AFTER DELETE ON status_history FOR EACH ROW
    WHEN (OLD.source <> 'gateway')
    EXECUTE FUNCTION status_history_first_outside();

-- prior_resolved_at. A new case looks for an earlier resolution (before the
-- insert: no second version of the row). A resolution (a case inserted
-- resolved, or resolved) can only raise the prior_resolved_at of the later
-- cases of its customer and classification; one withdrawn (reopened,
-- changed, deleted) makes those that had it look again. After the
-- statement's rows are all there.
-- +goose StatementBegin
CREATE FUNCTION cases_prior_resolved_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.prior_resolved_at := case_prior_resolved_at(NEW);
    RETURN NEW;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION cases_prior_resolved_later() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF OLD.resolved_at IS NOT NULL THEN
            UPDATE cases c SET prior_resolved_at = case_prior_resolved_at(c)
            WHERE c.customer_id = OLD.customer_id AND c.classification_identifier = OLD.classification_identifier
                AND c.created_at >= OLD.resolved_at AND c.prior_resolved_at = OLD.resolved_at AND c.id <> OLD.id;
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN NULL;
        END IF;
        IF OLD.customer_id IS DISTINCT FROM NEW.customer_id OR OLD.created_at IS DISTINCT FROM NEW.created_at
                OR OLD.classification_identifier IS DISTINCT FROM NEW.classification_identifier THEN
            UPDATE cases c SET prior_resolved_at = case_prior_resolved_at(c)
            WHERE c.id = NEW.id AND c.prior_resolved_at IS DISTINCT FROM case_prior_resolved_at(c);
        END IF;
    END IF;
    IF NEW.resolved_at IS NOT NULL THEN
        UPDATE cases c SET prior_resolved_at = NEW.resolved_at
        WHERE c.customer_id = NEW.customer_id AND c.classification_identifier = NEW.classification_identifier
            AND c.created_at >= NEW.resolved_at AND c.id <> NEW.id
            AND (c.prior_resolved_at IS NULL OR c.prior_resolved_at < NEW.resolved_at);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER cases_prior_resolved_new BEFORE INSERT ON cases FOR EACH ROW
    WHEN (NEW.customer_id IS NOT NULL)
    EXECUTE FUNCTION cases_prior_resolved_new();
CREATE TRIGGER cases_prior_resolved_insert AFTER INSERT ON cases FOR EACH ROW
    WHEN (NEW.customer_id IS NOT NULL AND NEW.resolved_at IS NOT NULL)
    EXECUTE FUNCTION cases_prior_resolved_later();
CREATE TRIGGER cases_prior_resolved_update AFTER UPDATE OF resolved_at, customer_id, classification_identifier, created_at ON cases FOR EACH ROW
    WHEN (OLD.resolved_at IS DISTINCT FROM NEW.resolved_at OR OLD.customer_id IS DISTINCT FROM NEW.customer_id
        OR OLD.classification_identifier IS DISTINCT FROM NEW.classification_identifier OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION cases_prior_resolved_later();
CREATE TRIGGER cases_prior_resolved_delete AFTER DELETE ON cases FOR EACH ROW
    WHEN (OLD.resolved_at IS NOT NULL AND OLD.customer_id IS NOT NULL)
    EXECUTE FUNCTION cases_prior_resolved_later();

-- +goose Down
DROP TRIGGER cases_prior_resolved_delete ON cases;
DROP TRIGGER cases_prior_resolved_update ON cases;
DROP TRIGGER cases_prior_resolved_insert ON cases;
DROP TRIGGER cases_prior_resolved_new ON cases;
DROP FUNCTION cases_prior_resolved_later();
DROP FUNCTION cases_prior_resolved_new();
DROP TRIGGER status_history_first_outside_delete ON status_history;
DROP TRIGGER status_history_first_outside_update ON status_history;
DROP TRIGGER status_history_first_outside_insert ON status_history;
DROP FUNCTION status_history_first_outside();
DROP TRIGGER outbox_first_reply_delete ON outbox;
DROP TRIGGER outbox_first_reply_update ON outbox;
DROP TRIGGER outbox_first_reply_insert ON outbox;
DROP FUNCTION outbox_first_reply();
DROP FUNCTION case_prior_resolved_at(cases);
DROP INDEX cases_customer_idx;
CREATE INDEX cases_customer_idx ON cases (customer_id, classification_identifier);
ALTER TABLE cases DROP COLUMN relapse_gap_ms;
ALTER TABLE cases DROP COLUMN time_to_resolve_ms;
ALTER TABLE cases DROP COLUMN time_to_response_ms;
ALTER TABLE cases DROP COLUMN time_to_notify_ms;
ALTER TABLE cases DROP COLUMN response_at;
ALTER TABLE cases DROP COLUMN notification_at;
ALTER TABLE cases DROP COLUMN prior_resolved_at;
ALTER TABLE cases DROP COLUMN first_outside_change_at;
ALTER TABLE cases DROP COLUMN first_reply_at;
