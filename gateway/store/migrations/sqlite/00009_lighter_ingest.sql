-- +goose Up
-- What storing a large report writes, made lighter.
--
-- From this version on the events' fields JSON leaves out the fields that
-- have columns of their own (store.EventColumns); readers put them back.
-- Older rows keep theirs: the values agree.
--
-- A case's addresses are kept in the order of their primary key alone
-- (WITHOUT ROWID: one b-tree per row written instead of two), and without
-- the foreign key to cases: they are written only by the case session that
-- holds the case in the same transaction, and cases are never deleted
-- (SQLite cannot drop a constraint: the table is rebuilt).
CREATE TABLE case_ips_new (
    case_id     INTEGER NOT NULL,
    ip          TEXT    NOT NULL,
    first_seen  TIMESTAMP NOT NULL,
    last_seen   TIMESTAMP NOT NULL,
    events      INTEGER NOT NULL DEFAULT 0,
    added_at    TIMESTAMP,
    seen_at     TIMESTAMP,
    PRIMARY KEY (case_id, ip)
) WITHOUT ROWID;
INSERT INTO case_ips_new (case_id, ip, first_seen, last_seen, events, added_at, seen_at)
    SELECT case_id, ip, first_seen, last_seen, events, added_at, seen_at FROM case_ips;
DROP TABLE case_ips;
ALTER TABLE case_ips_new RENAME TO case_ips;

-- +goose Down
CREATE TABLE case_ips_new (
    case_id     INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    ip          TEXT    NOT NULL,
    first_seen  TIMESTAMP NOT NULL,
    last_seen   TIMESTAMP NOT NULL,
    events      INTEGER NOT NULL DEFAULT 0,
    added_at    TIMESTAMP,
    seen_at     TIMESTAMP,
    PRIMARY KEY (case_id, ip)
);
INSERT INTO case_ips_new (case_id, ip, first_seen, last_seen, events, added_at, seen_at)
    SELECT case_id, ip, first_seen, last_seen, events, added_at, seen_at FROM case_ips;
DROP TABLE case_ips;
ALTER TABLE case_ips_new RENAME TO case_ips;
