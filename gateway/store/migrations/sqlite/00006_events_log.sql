-- +goose Up
-- Events are an append-only log that only the ingest pipeline writes, in the
-- same transaction as the report, customer and case rows they refer to.
-- Checking three foreign keys per row took a good part of the time of
-- storing a large report, so the log keeps its references without them
-- (SQLite cannot drop a constraint: the table is rebuilt). Nothing deletes
-- reports; a purge must delete their events itself. The indexes on
-- source_ip and time_source served no query.
CREATE TABLE events_new (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id                 INTEGER NOT NULL,
    seq                       INTEGER NOT NULL,       -- position of the event in its report
    line                      INTEGER NOT NULL DEFAULT 0,
    part                      TEXT    NOT NULL DEFAULT '',
    time_source               TIMESTAMP,
    time_observation          TIMESTAMP,
    feed_name                 TEXT    NOT NULL DEFAULT '',
    feed_provider             TEXT    NOT NULL DEFAULT '',
    classification_taxonomy   TEXT    NOT NULL DEFAULT '',
    classification_type       TEXT    NOT NULL DEFAULT '',
    classification_identifier TEXT    NOT NULL DEFAULT '',
    source_ip                 TEXT    NOT NULL DEFAULT '',
    source_port               INTEGER,
    source_asn                INTEGER,
    source_network            TEXT    NOT NULL DEFAULT '',
    source_fqdn               TEXT    NOT NULL DEFAULT '',
    source_url                TEXT    NOT NULL DEFAULT '',
    customer_id               INTEGER,
    case_id                   INTEGER,
    fields                    TEXT    NOT NULL,        -- the whole event, JSON
    created_at                TIMESTAMP NOT NULL,
    disposition               TEXT    NOT NULL DEFAULT 'case',
    UNIQUE (report_id, seq)
);
INSERT INTO events_new (id, report_id, seq, line, part, time_source, time_observation, feed_name, feed_provider, classification_taxonomy, classification_type, classification_identifier, source_ip, source_port, source_asn, source_network, source_fqdn, source_url, customer_id, case_id, fields, created_at, disposition)
    SELECT id, report_id, seq, line, part, time_source, time_observation, feed_name, feed_provider, classification_taxonomy, classification_type, classification_identifier, source_ip, source_port, source_asn, source_network, source_fqdn, source_url, customer_id, case_id, fields, created_at, disposition FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_case_idx ON events (case_id);
CREATE INDEX events_disposition_idx ON events (disposition);
CREATE INDEX events_created_at_idx ON events (created_at);

-- +goose Down
CREATE TABLE events_new (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id                 INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    seq                       INTEGER NOT NULL,       -- position of the event in its report
    line                      INTEGER NOT NULL DEFAULT 0,
    part                      TEXT    NOT NULL DEFAULT '',
    time_source               TIMESTAMP,
    time_observation          TIMESTAMP,
    feed_name                 TEXT    NOT NULL DEFAULT '',
    feed_provider             TEXT    NOT NULL DEFAULT '',
    classification_taxonomy   TEXT    NOT NULL DEFAULT '',
    classification_type       TEXT    NOT NULL DEFAULT '',
    classification_identifier TEXT    NOT NULL DEFAULT '',
    source_ip                 TEXT    NOT NULL DEFAULT '',
    source_port               INTEGER,
    source_asn                INTEGER,
    source_network            TEXT    NOT NULL DEFAULT '',
    source_fqdn               TEXT    NOT NULL DEFAULT '',
    source_url                TEXT    NOT NULL DEFAULT '',
    customer_id               INTEGER REFERENCES customers (id),
    case_id                   INTEGER REFERENCES cases (id),
    fields                    TEXT    NOT NULL,        -- the whole event, JSON
    created_at                TIMESTAMP NOT NULL,
    disposition               TEXT    NOT NULL DEFAULT 'case',
    UNIQUE (report_id, seq)
);
INSERT INTO events_new (id, report_id, seq, line, part, time_source, time_observation, feed_name, feed_provider, classification_taxonomy, classification_type, classification_identifier, source_ip, source_port, source_asn, source_network, source_fqdn, source_url, customer_id, case_id, fields, created_at, disposition)
    SELECT id, report_id, seq, line, part, time_source, time_observation, feed_name, feed_provider, classification_taxonomy, classification_type, classification_identifier, source_ip, source_port, source_asn, source_network, source_fqdn, source_url, customer_id, case_id, fields, created_at, disposition FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_case_idx ON events (case_id);
CREATE INDEX events_disposition_idx ON events (disposition);
CREATE INDEX events_created_at_idx ON events (created_at);
CREATE INDEX events_source_ip_idx ON events (source_ip);
CREATE INDEX events_time_idx ON events (time_source);
