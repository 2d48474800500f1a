-- Replica integrity digests (mobile-contract/README.md, "Integrity
-- digests"): for each unit (service, person, record type) and each of its 64
-- buckets (the first byte of SHA-256(record_id) modulo 64), the AdHash-256
-- sum of the element hashes of the fields the replica holds, kept by every
-- write to fields; and the last verification against the server.
--
-- SQLite has no SHA-256 in SQL: this migration marks the digests unbuilt and
-- the replica library builds them from the fields it holds when it next
-- opens the file, in one transaction.

-- +goose Up
CREATE TABLE digests (
    service_id  TEXT    NOT NULL,
    person_id   TEXT    NOT NULL,
    record_type TEXT    NOT NULL,
    bucket      INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 63),
    digest      BLOB    NOT NULL CHECK (length(digest) = 32), -- big-endian, modulo 2^256
    PRIMARY KEY (service_id, person_id, record_type, bucket)
) WITHOUT ROWID;

-- 1 once the digests of the fields held were built.
ALTER TABLE device ADD COLUMN digests_built INTEGER NOT NULL DEFAULT 0;
-- The last Verify the server answered MATCH or MISMATCH: when (device clock,
-- Unix ms; 0 never), at which cursor, the signing key and signature of the
-- server's answer (the sync receipt), and the units and buckets still
-- differing after the repair, as JSON ('' when it matched).
ALTER TABLE device ADD COLUMN verified_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE device ADD COLUMN verified_cursor TEXT NOT NULL DEFAULT '';
ALTER TABLE device ADD COLUMN verify_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE device ADD COLUMN verify_signature BLOB NOT NULL DEFAULT x'';
ALTER TABLE device ADD COLUMN verify_mismatch TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE device DROP COLUMN verify_mismatch;
ALTER TABLE device DROP COLUMN verify_signature;
ALTER TABLE device DROP COLUMN verify_key_id;
ALTER TABLE device DROP COLUMN verified_cursor;
ALTER TABLE device DROP COLUMN verified_at;
ALTER TABLE device DROP COLUMN digests_built;
DROP TABLE digests;
