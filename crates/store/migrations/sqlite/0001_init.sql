-- Seawall control-plane store, SQLite. STRICT tables keep every value the
-- type it was written with; timestamps are integer milliseconds UTC.
-- PRAGMA foreign_keys=ON is set on every connection by the store.

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    slug        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL
) STRICT;

CREATE TABLE plan_versions (
    event_id    INTEGER NOT NULL REFERENCES events (id),
    version     INTEGER NOT NULL CHECK (version >= 1),
    sha256      TEXT    NOT NULL,
    file_name   TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    PRIMARY KEY (event_id, version)
) STRICT;

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL REFERENCES events (id),
    plan_version INTEGER,
    scenario     TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    json         TEXT    NOT NULL,
    uploaded_ms  INTEGER NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    FOREIGN KEY (event_id, plan_version) REFERENCES plan_versions (event_id, version)
) STRICT;
CREATE INDEX runs_event ON runs (event_id, id);

CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    business_line TEXT,
    secret_sha256 TEXT    NOT NULL UNIQUE,
    created_ms    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    revoked_ms    INTEGER
) STRICT;

CREATE TABLE exceptions (
    id            INTEGER PRIMARY KEY,
    event_id      INTEGER NOT NULL REFERENCES events (id),
    services      TEXT    NOT NULL,
    kinds         TEXT    NOT NULL,
    starts_ms     INTEGER NOT NULL,
    ends_ms       INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    requested_by  TEXT    NOT NULL,
    requested_ms  INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    decided_by    TEXT,
    decided_ms    INTEGER,
    decision_note TEXT
) STRICT;
CREATE INDEX exceptions_event ON exceptions (event_id, id);

CREATE TABLE change_records (
    id           INTEGER PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    event_id     INTEGER REFERENCES events (id),
    service      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    change_ref   TEXT    NOT NULL,
    allowed      INTEGER NOT NULL CHECK (allowed IN (0, 1)),
    reason       TEXT    NOT NULL,
    window_name  TEXT,
    exception_id INTEGER REFERENCES exceptions (id)
) STRICT;
CREATE INDEX change_records_at ON change_records (at_ms, id);
CREATE INDEX change_records_service ON change_records (service, at_ms);

CREATE TABLE rule_versions (
    service      TEXT    NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    document     TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    plan_version INTEGER,
    note         TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    PRIMARY KEY (service, version)
) STRICT;

CREATE TABLE sidecar_reports (
    service         TEXT    NOT NULL,
    instance        TEXT    NOT NULL,
    applied_version INTEGER NOT NULL,
    reported_ms     INTEGER NOT NULL,
    PRIMARY KEY (service, instance)
) STRICT;

CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY CHECK (seq >= 1),
    at_ms     INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
) STRICT;
