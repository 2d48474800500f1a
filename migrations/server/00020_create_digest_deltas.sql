-- Pending digest deltas (server/shiftsync/integrity.go DigestFoldEvery): a
-- push no longer reads and rewrites every accumulator of migration 00019 it
-- changes; it keeps what it adds to each bucket of a service as one row
-- here (shiftsync.EncodeDigestDeltas), and the push that makes 64 rows
-- pending adds them all into digests and deletes them. A bucket's digest is
-- its row in digests plus its deltas here.

-- +goose Up
CREATE TABLE digest_deltas (
    seq        INTEGER PRIMARY KEY,
    service_id TEXT    NOT NULL,
    deltas     BLOB    NOT NULL
);

-- +goose Down
DROP TABLE digest_deltas;
