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
-- and, from the row (README, "Compliance metrics"), in whole milliseconds:
--
--   time_to_notify_ms        from receipt to notification: the first reply sent
--                            when the customer is notified, else the ticket's
--                            creation (notified_at)
--   time_to_response_ms      from receipt to the first response: the recorded
--                            one, else the first change not made by abusegw
--   time_to_resolve_ms       from receipt to resolved_at
--   relapse_gap_ms           from the prior resolution to receipt
--
-- (A trigger, not generated columns: PostgreSQL prepares a stored generated
-- column's expression for every UPDATE statement of the table, which
-- doubled the cost of applying a ticket's status.)
ALTER TABLE cases ADD COLUMN first_reply_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN first_outside_change_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN prior_resolved_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN time_to_notify_ms BIGINT;
ALTER TABLE cases ADD COLUMN time_to_response_ms BIGINT;
ALTER TABLE cases ADD COLUMN time_to_resolve_ms BIGINT;
ALTER TABLE cases ADD COLUMN relapse_gap_ms BIGINT;

-- +goose StatementBegin
CREATE FUNCTION case_prior_resolved_at(c cases) RETURNS TIMESTAMPTZ LANGUAGE sql STABLE AS $$
    SELECT max(p.resolved_at) FROM cases p
    WHERE p.customer_id = c.customer_id AND p.classification_identifier = c.classification_identifier
        AND p.resolved_at <= c.created_at AND p.id <> c.id
$$;
-- +goose StatementEnd

-- The whole milliseconds from a to b, rounded as gateway/metrics did.
-- +goose StatementBegin
CREATE FUNCTION case_ms(a TIMESTAMPTZ, b TIMESTAMPTZ) RETURNS BIGINT LANGUAGE sql IMMUTABLE AS $$
    SELECT CAST(round(EXTRACT(EPOCH FROM (b - a)) * 1000) AS BIGINT)
$$;
-- +goose StatementEnd

UPDATE cases c SET first_reply_at = f.reply, first_outside_change_at = f.outside, prior_resolved_at = f.prior,
    time_to_notify_ms = case_ms(c.created_at, CASE WHEN c.notify THEN f.reply ELSE c.notified_at END),
    time_to_response_ms = case_ms(c.created_at, COALESCE(c.first_response_at, f.outside)),
    time_to_resolve_ms = case_ms(c.created_at, c.resolved_at),
    relapse_gap_ms = case_ms(f.prior, c.created_at)
FROM (SELECT x.id,
        (SELECT min(o.finalized_at) FROM outbox o WHERE o.case_id = x.id AND o.kind = 'reply' AND o.state = 'completed') AS reply,
        (SELECT min(h.at) FROM status_history h WHERE h.case_id = x.id AND h.source <> 'gateway') AS outside,
        case_prior_resolved_at(x) AS prior
    FROM cases x) f
WHERE f.id = c.id;

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
        WHERE id = NEW.case_id AND first_response_at IS NULL
            AND (first_outside_change_at IS NULL OR first_outside_change_at > NEW.at);
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

-- The case's own facts, before the row is written (no second version): a
-- new case looks for an earlier resolution; a recorded first response
-- withdrawn makes the case look for its first change from outside again;
-- the times follow their columns.
-- +goose StatementBegin
CREATE FUNCTION cases_facts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.customer_id IS NOT NULL THEN
            NEW.prior_resolved_at := case_prior_resolved_at(NEW);
        END IF;
    ELSIF NEW.first_response_at IS NULL AND OLD.first_response_at IS NOT NULL THEN
        NEW.first_outside_change_at := (SELECT min(h.at) FROM status_history h
            WHERE h.case_id = NEW.id AND h.source <> 'gateway');
    END IF;
    NEW.time_to_notify_ms := case_ms(NEW.created_at, CASE WHEN NEW.notify THEN NEW.first_reply_at ELSE NEW.notified_at END);
    NEW.time_to_response_ms := case_ms(NEW.created_at, COALESCE(NEW.first_response_at, NEW.first_outside_change_at));
    NEW.time_to_resolve_ms := case_ms(NEW.created_at, NEW.resolved_at);
    NEW.relapse_gap_ms := case_ms(NEW.prior_resolved_at, NEW.created_at);
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER cases_facts BEFORE INSERT OR UPDATE OF created_at, notify, notified_at, first_reply_at, first_response_at,
        first_outside_change_at, resolved_at, prior_resolved_at, time_to_notify_ms, time_to_response_ms,
        time_to_resolve_ms, relapse_gap_ms ON cases FOR EACH ROW
    EXECUTE FUNCTION cases_facts();

-- prior_resolved_at of the other cases. A resolution (a case inserted
-- resolved, or resolved) can only raise the prior_resolved_at of the later
-- cases of its customer and classification; one withdrawn (reopened,
-- changed, deleted) makes those that had it look again. After the
-- statement's rows are all there.
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
CREATE TRIGGER cases_prior_resolved_insert AFTER INSERT ON cases FOR EACH ROW
    WHEN (NEW.customer_id IS NOT NULL AND NEW.resolved_at IS NOT NULL)
    EXECUTE FUNCTION cases_prior_resolved_later();
CREATE TRIGGER cases_prior_resolved_update AFTER UPDATE OF resolved_at, customer_id, classification_identifier, created_at ON cases FOR EACH ROW
    WHEN ((OLD.customer_id IS NOT NULL OR NEW.customer_id IS NOT NULL)
        AND (OLD.resolved_at IS DISTINCT FROM NEW.resolved_at OR OLD.customer_id IS DISTINCT FROM NEW.customer_id
            OR OLD.classification_identifier IS DISTINCT FROM NEW.classification_identifier OR OLD.created_at IS DISTINCT FROM NEW.created_at))
    EXECUTE FUNCTION cases_prior_resolved_later();
CREATE TRIGGER cases_prior_resolved_delete AFTER DELETE ON cases FOR EACH ROW
    WHEN (OLD.resolved_at IS NOT NULL AND OLD.customer_id IS NOT NULL)
    EXECUTE FUNCTION cases_prior_resolved_later();

-- +goose Down
DROP TRIGGER cases_prior_resolved_delete ON cases;
DROP TRIGGER cases_prior_resolved_update ON cases;
DROP TRIGGER cases_prior_resolved_insert ON cases;
DROP FUNCTION cases_prior_resolved_later();
DROP TRIGGER cases_facts ON cases;
DROP FUNCTION cases_facts();
DROP TRIGGER status_history_first_outside_delete ON status_history;
DROP TRIGGER status_history_first_outside_update ON status_history;
DROP TRIGGER status_history_first_outside_insert ON status_history;
DROP FUNCTION status_history_first_outside();
DROP TRIGGER outbox_first_reply_delete ON outbox;
DROP TRIGGER outbox_first_reply_update ON outbox;
DROP TRIGGER outbox_first_reply_insert ON outbox;
DROP FUNCTION outbox_first_reply();
DROP INDEX cases_customer_idx;
CREATE INDEX cases_customer_idx ON cases (customer_id, classification_identifier);
DROP FUNCTION case_ms(TIMESTAMPTZ, TIMESTAMPTZ);
DROP FUNCTION case_prior_resolved_at(cases);
ALTER TABLE cases DROP COLUMN relapse_gap_ms;
ALTER TABLE cases DROP COLUMN time_to_resolve_ms;
ALTER TABLE cases DROP COLUMN time_to_response_ms;
ALTER TABLE cases DROP COLUMN time_to_notify_ms;
ALTER TABLE cases DROP COLUMN prior_resolved_at;
ALTER TABLE cases DROP COLUMN first_outside_change_at;
ALTER TABLE cases DROP COLUMN first_reply_at;
