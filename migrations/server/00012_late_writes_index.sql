-- The late writes a manager reviews (ListLateWrites): accepted changes
-- flagged access_ended, found by this partial index rather than a scan of
-- every mutation. Few mutations carry the flag, so it stays small.

-- +goose Up
CREATE INDEX mutations_access_ended ON mutations (record_id) WHERE flag = 'access_ended';

-- +goose Down
DROP INDEX mutations_access_ended;
