-- The flagged writes a manager reviews, found by a partial index.
-- PostgreSQL translation of migrations/server/00012_flagged_writes_index.sql.

-- +goose Up
CREATE INDEX mutations_flagged ON mutations (record_id) WHERE flag <> '';

-- +goose Down
DROP INDEX mutations_flagged;
