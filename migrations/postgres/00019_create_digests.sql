-- Replica integrity digests. PostgreSQL translation of
-- migrations/server/00019_create_digests.sql: one row per unit and bucket.
-- The buckets are also the write stripes: a push updates the row of its
-- record's bucket only, so two pushes into one unit contend for a row only
-- when their records share a bucket (1 in 64), and no unit has a hot row.
-- As on SQLite, the store builds the digests of the data already held when
-- it is next opened (the element encoding lives in Go, beside the pushes
-- that maintain it, and is not repeated in SQL).

-- +goose Up
CREATE TABLE digests (
    service_id  text     NOT NULL,
    person_id   text     NOT NULL,
    record_type text     NOT NULL,
    agency      text     NOT NULL,
    bucket      integer  NOT NULL CHECK (bucket BETWEEN 0 AND 63),
    digest      bytea    NOT NULL CHECK (length(digest) = 32), -- big-endian, modulo 2^256
    PRIMARY KEY (service_id, person_id, record_type, agency, bucket)
);

ALTER TABLE store ADD COLUMN digests_built boolean NOT NULL DEFAULT false;

ALTER TABLE fields ADD COLUMN digest_element bytea NOT NULL DEFAULT ''::bytea;

-- +goose Down
ALTER TABLE fields DROP COLUMN digest_element;
ALTER TABLE store DROP COLUMN digests_built;
DROP TABLE digests;
