-- Replica integrity digests (DESIGN "Backup, restore and integrity"): for
-- each unit (service, person, record type, agency) and each of its 64
-- buckets (by the record id's hash), the AdHash-256 sum of the element
-- hashes of the winning version of every field of the unit's records in the
-- bucket (server/shiftsync/integrity.go defines the element). The push
-- transaction keeps them; `shiftsyncd admin verify-digests` rebuilds them
-- from fields and field_versions and compares.
--
-- SQLite has no SHA-256 in SQL, so this migration cannot compute the sums
-- of the data already held: it marks them unbuilt, and the store builds them
-- (shiftsync.BuildDigests) in one transaction when it is next opened, before
-- it serves anything.

-- +goose Up
CREATE TABLE digests (
    service_id  TEXT    NOT NULL,
    person_id   TEXT    NOT NULL,
    record_type TEXT    NOT NULL,
    agency      TEXT    NOT NULL,
    bucket      INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 63),
    digest      BLOB    NOT NULL CHECK (length(digest) = 32), -- big-endian, modulo 2^256
    PRIMARY KEY (service_id, person_id, record_type, agency, bucket)
) WITHOUT ROWID;

-- 1 once the store has built the digests of the data it held.
ALTER TABLE store ADD COLUMN digests_built INTEGER NOT NULL DEFAULT 0;

-- The digest element of the winning version, kept by the push that sets
-- it, so that the push that replaces it takes it out of its bucket without
-- reading the old value; x'' for a winner set before this migration (that
-- push reads the value).
ALTER TABLE fields ADD COLUMN digest_element BLOB NOT NULL DEFAULT x'';

-- +goose Down
ALTER TABLE fields DROP COLUMN digest_element;
ALTER TABLE store DROP COLUMN digests_built;
DROP TABLE digests;
