-- The sync store: the change log of every field version, the current value of
-- every field, the records they belong to, the mutations processed per device,
-- conflicts and quarantine.

-- +goose Up

-- The identity of this store, carried in every pull cursor so that a cursor
-- from another store (or from before a restore) is recognised.
CREATE TABLE store (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    store_id   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO store (id, store_id, created_at)
VALUES (1, lower(hex(randomblob(16))), CAST(unixepoch('subsec') * 1000 AS INTEGER));

-- One row per record: its envelope, fixed at creation.
CREATE TABLE records (
    record_id         TEXT    NOT NULL PRIMARY KEY,
    record_type       TEXT    NOT NULL,
    service_id        TEXT    NOT NULL,
    person_id         TEXT    NOT NULL DEFAULT '',
    created_by_user   TEXT    NOT NULL,
    created_by_device TEXT    NOT NULL,
    created_hlc       INTEGER NOT NULL,
    received_at       INTEGER NOT NULL
) WITHOUT ROWID;

-- The change log: every version of every field ever accepted, winning or
-- not. seq orders the log; pull cursors are positions in it.
CREATE TABLE field_versions (
    seq         INTEGER PRIMARY KEY,
    record_id   TEXT    NOT NULL REFERENCES records (record_id),
    field       TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    hlc         INTEGER NOT NULL,
    device_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    counter     INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX field_versions_by_record ON field_versions (record_id, field, hlc);

-- The current (winning) version of every field. version_seq points at the
-- winning row of field_versions and is also the field's position in the pull
-- order: it only ever grows, because a new winner is always the newest row.
CREATE TABLE fields (
    record_id   TEXT    NOT NULL REFERENCES records (record_id),
    field       TEXT    NOT NULL,
    service_id  TEXT    NOT NULL, -- copied from records so a scoped pull is one index range
    version_seq INTEGER NOT NULL REFERENCES field_versions (seq),
    hlc         INTEGER NOT NULL,
    device_id   TEXT    NOT NULL,
    PRIMARY KEY (record_id, field)
) WITHOUT ROWID;
CREATE INDEX fields_by_service_seq ON fields (service_id, version_seq);

-- Every mutation processed, accepted or quarantined, so a retry is answered
-- with its original outcome and a reused counter is detected.
CREATE TABLE mutations (
    device_id         TEXT    NOT NULL,
    counter           INTEGER NOT NULL,
    user_id           TEXT    NOT NULL,
    record_id         TEXT    NOT NULL,
    hlc               INTEGER NOT NULL,
    digest            BLOB    NOT NULL, -- SHA-256 of the mutation's content
    status            INTEGER NOT NULL CHECK (status IN (1, 2)), -- 1 accepted, 2 quarantined
    reason            TEXT    NOT NULL DEFAULT '',
    message           TEXT    NOT NULL DEFAULT '',
    conflicted_fields TEXT    NOT NULL DEFAULT '[]', -- JSON array of field names
    flag              TEXT    NOT NULL DEFAULT '', -- 'access_ended': accepted after the author's access ended
    app_version       TEXT    NOT NULL DEFAULT '',
    received_at       INTEGER NOT NULL,
    PRIMARY KEY (device_id, counter)
) WITHOUT ROWID;

-- The highest counter durably stored per device: the push acknowledgement.
CREATE TABLE device_counters (
    device_id    TEXT    NOT NULL PRIMARY KEY,
    acknowledged INTEGER NOT NULL,
    last_push_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Concurrent edits of one field: both versions are kept in field_versions;
-- a conflict stays open until a manager resolves it.
CREATE TABLE conflicts (
    id           INTEGER PRIMARY KEY,
    record_id    TEXT    NOT NULL REFERENCES records (record_id),
    field        TEXT    NOT NULL,
    current_seq  INTEGER NOT NULL REFERENCES field_versions (seq), -- winning when the edit arrived
    incoming_seq INTEGER NOT NULL REFERENCES field_versions (seq), -- the concurrent edit
    winner_seq   INTEGER NOT NULL REFERENCES field_versions (seq),
    status       TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    opened_at    INTEGER NOT NULL,
    resolved_at  INTEGER,
    resolved_by  TEXT,
    resolution   TEXT
);
CREATE INDEX conflicts_by_status ON conflicts (status, record_id);

-- Mutations that failed validation, as received, with the reason. Nothing a
-- device sends is dropped.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    device_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    counter     INTEGER NOT NULL,
    record_id   TEXT    NOT NULL,
    record_type TEXT    NOT NULL,
    service_id  TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    payload     TEXT    NOT NULL, -- the mutation as JSON
    received_at INTEGER NOT NULL
);
CREATE INDEX quarantine_by_service ON quarantine (service_id, received_at);

-- +goose Down
DROP TABLE quarantine;
DROP TABLE conflicts;
DROP TABLE device_counters;
DROP TABLE mutations;
DROP TABLE fields;
DROP TABLE field_versions;
DROP TABLE records;
DROP TABLE store;
