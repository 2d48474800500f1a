-- The flagged writes a manager reviews (ListFlaggedWrites): accepted
-- changes flagged access_ended or reference_pending, found by this partial
-- index rather than a scan of every mutation. Few mutations carry a flag, so
-- it stays small.

-- +goose Up
CREATE INDEX mutations_flagged ON mutations (record_id) WHERE flag <> '';

-- +goose Down
DROP INDEX mutations_flagged;
