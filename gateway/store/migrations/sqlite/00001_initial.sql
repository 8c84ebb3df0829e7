-- +goose Up
-- The whole data model of the design (DESIGN.md); later changes add columns,
-- not concepts. Times are stored as UTC TIMESTAMP text, which sorts correctly.

-- A raw report as it arrived, stored before anything else happens to it.
CREATE TABLE reports (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256          TEXT    NOT NULL UNIQUE,
    channel         TEXT    NOT NULL,               -- file, stdin, http, imap, shadowserver-api, dir
    source_name     TEXT    NOT NULL DEFAULT '',    -- file name, mailbox/uid, URL
    content_type    TEXT    NOT NULL DEFAULT '',
    size            INTEGER NOT NULL DEFAULT 0,
    raw             BLOB,                           -- the bytes, or NULL when raw_ref points elsewhere
    raw_ref         TEXT    NOT NULL DEFAULT '',    -- path of the stored bytes outside the database
    received_at     TIMESTAMP NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'received'
                    CHECK (status IN ('received','processing','processed','partial','failed','unrecognized')),
    format          TEXT    NOT NULL DEFAULT '',
    detail          TEXT    NOT NULL DEFAULT '',
    events_count    INTEGER NOT NULL DEFAULT 0,
    rejected_count  INTEGER NOT NULL DEFAULT 0,
    error           TEXT    NOT NULL DEFAULT '',
    processed_at    TIMESTAMP
);
CREATE INDEX reports_status_idx ON reports (status, received_at);

-- Files seen by directory ingest, so that only new files are read.
CREATE TABLE ingest_files (
    path        TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    mtime       TIMESTAMP NOT NULL,
    report_id   INTEGER REFERENCES reports (id) ON DELETE SET NULL,
    seen_at     TIMESTAMP NOT NULL
);

-- Customers and the networks, ASNs and domains they own.
CREATE TABLE customers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,               -- the contact source's customer id
    name        TEXT NOT NULL DEFAULT '',
    emails      TEXT NOT NULL DEFAULT '[]',         -- JSON array
    connector   TEXT NOT NULL DEFAULT '',
    queue       TEXT NOT NULL DEFAULT '',
    language    TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '[]',         -- JSON array
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE customer_networks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    network     TEXT NOT NULL DEFAULT '',           -- CIDR
    asn         INTEGER NOT NULL DEFAULT 0,
    domain      TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT '',           -- which contact source said so
    updated_at  TIMESTAMP NOT NULL,
    UNIQUE (customer_id, network, asn, domain)
);
CREATE INDEX customer_networks_network_idx ON customer_networks (network);

-- One problem of one customer; one case, one ticket.
CREATE TABLE cases (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    case_key                  TEXT    NOT NULL UNIQUE,
    customer_id               INTEGER REFERENCES customers (id),
    classification_taxonomy   TEXT    NOT NULL DEFAULT '',
    classification_type       TEXT    NOT NULL DEFAULT '',
    classification_identifier TEXT    NOT NULL DEFAULT '',
    feed_name                 TEXT    NOT NULL DEFAULT '',
    connector                 TEXT    NOT NULL DEFAULT '',
    state                     TEXT    NOT NULL DEFAULT 'open'
                              CHECK (state IN ('open','pending','resolved','closed','unowned','dropped')),
    status                    TEXT    NOT NULL DEFAULT 'new',      -- canonical helpdesk status
    first_seen                TIMESTAMP NOT NULL,
    last_seen                 TIMESTAMP NOT NULL,
    events_count              INTEGER NOT NULL DEFAULT 0,
    reports_count             INTEGER NOT NULL DEFAULT 0,
    ips_count                 INTEGER NOT NULL DEFAULT 0,
    pending_events            INTEGER NOT NULL DEFAULT 0,         -- new since the last update comment
    last_update_at            TIMESTAMP,                          -- last update comment enqueued
    notified_at               TIMESTAMP,
    first_response_at         TIMESTAMP,
    resolved_at               TIMESTAMP,
    closure_reason            TEXT    NOT NULL DEFAULT '',
    reopen_count              INTEGER NOT NULL DEFAULT 0,
    previous_case_id          INTEGER REFERENCES cases (id),
    version                   INTEGER NOT NULL DEFAULT 0,
    created_at                TIMESTAMP NOT NULL,
    updated_at                TIMESTAMP NOT NULL
);
CREATE INDEX cases_customer_idx ON cases (customer_id, classification_identifier);
CREATE INDEX cases_state_idx ON cases (state, last_seen);
CREATE INDEX cases_first_seen_idx ON cases (first_seen);

-- The affected addresses of a case.
CREATE TABLE case_ips (
    case_id     INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    ip          TEXT    NOT NULL,
    first_seen  TIMESTAMP NOT NULL,
    last_seen   TIMESTAMP NOT NULL,
    events      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (case_id, ip)
);

-- Normalized events: the columns that are queried, plus every field as JSON.
CREATE TABLE events (
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
    UNIQUE (report_id, seq)
);
CREATE INDEX events_case_idx ON events (case_id);
CREATE INDEX events_source_ip_idx ON events (source_ip);
CREATE INDEX events_time_idx ON events (time_source);

-- A helpdesk ticket that belongs to a case.
CREATE TABLE tickets (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id             INTEGER NOT NULL REFERENCES cases (id),
    connector           TEXT    NOT NULL,
    external_id         TEXT    NOT NULL,
    url                 TEXT    NOT NULL DEFAULT '',
    external_status     TEXT    NOT NULL DEFAULT '',
    status              TEXT    NOT NULL DEFAULT 'new'
                        CHECK (status IN ('new','open','pending','resolved','closed','deleted','unknown')),
    closure_reason      TEXT    NOT NULL DEFAULT '',
    previous_ticket_id  INTEGER REFERENCES tickets (id),
    external_updated_at TIMESTAMP,
    last_synced_at      TIMESTAMP,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    UNIQUE (connector, external_id)
);
CREATE INDEX tickets_case_idx ON tickets (case_id);
CREATE INDEX tickets_status_idx ON tickets (connector, status);

-- Every status change of a case, with when, where from and why.
CREATE TABLE status_history (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id           INTEGER NOT NULL REFERENCES cases (id),
    ticket_id         INTEGER REFERENCES tickets (id),
    from_status       TEXT    NOT NULL DEFAULT '',
    to_status         TEXT    NOT NULL,
    at                TIMESTAMP NOT NULL,
    source            TEXT    NOT NULL CHECK (source IN ('gateway','webhook','reconcile','manual')),
    reason            TEXT    NOT NULL DEFAULT '',
    actor             TEXT    NOT NULL DEFAULT '',
    external_event_id TEXT    NOT NULL DEFAULT '',
    created_at        TIMESTAMP NOT NULL
);
CREATE INDEX status_history_case_idx ON status_history (case_id, at);
CREATE INDEX status_history_at_idx ON status_history (at);

-- Helpdesk operations, written in the same transaction as the case change
-- that caused them (River's job table, reduced).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         INTEGER REFERENCES cases (id),
    connector       TEXT    NOT NULL,
    kind            TEXT    NOT NULL,                 -- create, comment, reply, reopen, ...
    payload         TEXT    NOT NULL DEFAULT '{}',    -- JSON
    idempotency_key TEXT    NOT NULL UNIQUE,
    state           TEXT    NOT NULL DEFAULT 'available'
                    CHECK (state IN ('available','running','retryable','completed','dead','cancelled')),
    attempt         INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 25,
    scheduled_at    TIMESTAMP NOT NULL,               -- next attempt not before
    attempted_at    TIMESTAMP,
    attempted_by    TEXT    NOT NULL DEFAULT '',
    lease_until     TIMESTAMP,
    outcome_unknown INTEGER NOT NULL DEFAULT 0,       -- last attempt may have taken effect
    errors          TEXT    NOT NULL DEFAULT '[]',    -- JSON array of {at, attempt, error}
    last_error      TEXT    NOT NULL DEFAULT '',
    result          TEXT    NOT NULL DEFAULT '{}',    -- JSON: ticket id, URL, ...
    created_at      TIMESTAMP NOT NULL,
    finalized_at    TIMESTAMP,
    CHECK ((state IN ('completed','dead','cancelled')) = (finalized_at IS NOT NULL))
);
CREATE INDEX outbox_claim_idx ON outbox (state, scheduled_at, id);
CREATE INDEX outbox_case_idx ON outbox (case_id, id);

-- Webhook deliveries, recorded before they are applied; deduplicated by id.
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    connector    TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    payload      TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL DEFAULT 'received' CHECK (state IN ('received','applied','ignored','failed')),
    error        TEXT NOT NULL DEFAULT '',
    applied_at   TIMESTAMP,
    UNIQUE (connector, delivery_id)
);

-- Reconcile progress per connector.
CREATE TABLE sync_watermarks (
    connector        TEXT PRIMARY KEY,
    watermark        TIMESTAMP,             -- tickets updated before this are known
    last_run_at      TIMESTAMP,
    last_success_at  TIMESTAMP,
    last_error       TEXT NOT NULL DEFAULT ''
);

-- Leases for work that one replica does at a time (reconcile, pulls).
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);

-- Cursors of ingest channels (IMAP UIDs, Shadowserver API dates, ...).
CREATE TABLE cursors (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE cursors;
DROP TABLE leases;
DROP TABLE sync_watermarks;
DROP TABLE webhook_deliveries;
DROP TABLE outbox;
DROP TABLE status_history;
DROP TABLE tickets;
DROP TABLE events;
DROP TABLE case_ips;
DROP TABLE cases;
DROP TABLE customer_networks;
DROP TABLE customers;
DROP TABLE ingest_files;
DROP TABLE reports;
