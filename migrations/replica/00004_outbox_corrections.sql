-- Fixing a rejected record: a local edit of a record with changes the server
-- quarantined is sent as their correction, carrying their fields too, and
-- names their counters (Mutation.corrects); every problem the server found
-- with a quarantined change is kept beside it, so the app can say what to fix.

-- +goose Up
-- The counters of the rejected entries this pending entry corrects, as a
-- JSON array; '' for none.
ALTER TABLE outbox ADD COLUMN corrects TEXT NOT NULL DEFAULT '';
-- For a rejected entry: the server's field_errors, as a JSON array of
-- {"field", "reason", "message"}; '' when the server sent none.
ALTER TABLE outbox ADD COLUMN field_errors TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE outbox DROP COLUMN field_errors;
ALTER TABLE outbox DROP COLUMN corrects;
