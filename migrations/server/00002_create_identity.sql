-- Identity and access: organisations, services, people supported, users, their
-- time-bound memberships, enrolled devices, enrolment codes, signing keys and
-- the hash-chained audit log.

-- +goose Up

CREATE TABLE organisations (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- A service is a location or team: a supported-living house, a community team.
CREATE TABLE services (
    id              TEXT    NOT NULL PRIMARY KEY,
    organisation_id TEXT    NOT NULL REFERENCES organisations (id),
    name            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- People supported, each in one service.
CREATE TABLE people (
    id         TEXT    NOT NULL PRIMARY KEY,
    service_id TEXT    NOT NULL REFERENCES services (id),
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Users: staff of the organisation, or of a partner agency (agency set).
CREATE TABLE users (
    id              TEXT    NOT NULL PRIMARY KEY,
    organisation_id TEXT    NOT NULL REFERENCES organisations (id),
    name            TEXT    NOT NULL,
    agency          TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- A role in a service, or for one person supported in it (a caseload), from
-- starts_at until ends_at (NULL: open-ended). Access is decided from these at
-- the time of each request.
CREATE TABLE memberships (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id),
    service_id TEXT    NOT NULL REFERENCES services (id),
    person_id  TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL CHECK (role IN ('support_worker', 'shift_lead', 'pbs_lead', 'manager',
                                                'quality_lead', 'safeguarding_lead', 'partner')),
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER,
    CHECK (ends_at IS NULL OR ends_at >= starts_at)
);
CREATE INDEX memberships_by_user ON memberships (user_id, starts_at);

-- Enrolled devices. The credential is kept only as a SHA-256 hash.
CREATE TABLE devices (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id),
    label           TEXT    NOT NULL DEFAULT '',
    credential_hash BLOB    NOT NULL,
    enrolled_at     INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoke_reason   TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX devices_by_user ON devices (user_id);

-- One-time enrolment codes, kept only as SHA-256 hashes.
CREATE TABLE enrolment_codes (
    code_hash  BLOB    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id),
    issued_by  TEXT    NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    device_id  TEXT
) WITHOUT ROWID;

-- Failed enrolment attempts, for rate limiting guesses.
CREATE TABLE enrolment_failures (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL
);
CREATE INDEX enrolment_failures_by_time ON enrolment_failures (at);

-- Ed25519 signing keys for access tokens. The newest unretired key signs;
-- every unretired key verifies. At-rest encryption of the private key is left
-- to the deployment (an encrypted volume), as for the care records.
CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY, -- creation order
    kid         TEXT    NOT NULL UNIQUE,
    private_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

-- The append-only audit log. Each row's hash covers the previous row's hash
-- and its own content, so an edited or removed row breaks the chain; the
-- triggers refuse updates and deletes outright.
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    actor_user   TEXT    NOT NULL,
    actor_device TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    detail       TEXT    NOT NULL,
    prev_hash    BLOB    NOT NULL,
    hash         BLOB    NOT NULL
);

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP TABLE audit_log;
DROP TABLE signing_keys;
DROP TABLE enrolment_failures;
DROP TABLE enrolment_codes;
DROP TABLE devices;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE people;
DROP TABLE services;
DROP TABLE organisations;
