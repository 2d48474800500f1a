-- Pending digest deltas. PostgreSQL translation of
-- migrations/server/00020_create_digest_deltas.sql. It replaces the
-- striping of 00019: a push inserts its deltas here and takes no lock on
-- any row of digests, so concurrent pushes into one unit never wait for
-- each other there; only the push that folds the pending rows locks the
-- buckets it adds them to, in a fixed order.

-- +goose Up
CREATE TABLE digest_deltas (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id text   NOT NULL,
    deltas     bytea  NOT NULL
);

-- +goose Down
DROP TABLE digest_deltas;
