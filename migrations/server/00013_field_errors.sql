-- Every problem found with a quarantined change, not only the first: the
-- JSON array shiftsync.MarshalFieldErrors writes, kept beside the change
-- for its reviewers and beside the processed mutation so that a replay
-- answers the same list. Rows kept before hold '[]'; the engine answers
-- their one reason and message. The quarantine payload (format 2) is
-- unchanged.

-- +goose Up
ALTER TABLE quarantine ADD COLUMN field_errors TEXT NOT NULL DEFAULT '[]';
ALTER TABLE mutations ADD COLUMN field_errors TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE mutations DROP COLUMN field_errors;
ALTER TABLE quarantine DROP COLUMN field_errors;
