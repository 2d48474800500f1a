-- Failed enrolment attempts are counted per source (network address or IPv6
-- /64) and per code presented (by its SHA-256), not across all callers, so
-- one caller's guesses never lock out another's valid code. Rows older than
-- the window are pruned as failures are written. The old rows carry neither
-- and count for nothing once their window has passed, so they are dropped.
--
-- Signed heads of the audit chain: each vouches, with the audit key kept
-- outside the database, for the chain up to seq ending in hash. A copy of
-- every head is also appended to a file beside the database and logged; this
-- table is one more place to find them, not the one to trust.

-- +goose Up
DROP TABLE enrolment_failures;
CREATE TABLE enrolment_failures (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    source    TEXT    NOT NULL,
    code_hash BLOB    NOT NULL
);
CREATE INDEX enrolment_failures_by_time ON enrolment_failures (at);
CREATE INDEX enrolment_failures_by_source ON enrolment_failures (source, at);
CREATE INDEX enrolment_failures_by_code ON enrolment_failures (code_hash, at);

CREATE TABLE audit_heads (
    id         INTEGER PRIMARY KEY,
    store_id   TEXT    NOT NULL,
    run        TEXT    NOT NULL, -- the writer process that signed it
    process    TEXT    NOT NULL, -- serve or admin
    version    INTEGER NOT NULL, -- the format of what the signature covers
    seq        INTEGER NOT NULL, -- the last audit_log entry it covers (0: none)
    hash       BLOB    NOT NULL, -- that entry's hash
    at         INTEGER NOT NULL,
    start      INTEGER NOT NULL, -- 1: signed as the writer opened the log
    final      INTEGER NOT NULL, -- 1: signed as the writer closed it
    public_key BLOB    NOT NULL,
    signature  BLOB    NOT NULL
);

-- +goose Down
DROP TABLE audit_heads;
DROP TABLE enrolment_failures;
CREATE TABLE enrolment_failures (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL
);
CREATE INDEX enrolment_failures_by_time ON enrolment_failures (at);
