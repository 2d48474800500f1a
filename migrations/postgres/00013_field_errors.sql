-- Every problem found with a quarantined change: the JSON array
-- shiftsync.MarshalFieldErrors writes. PostgreSQL translation of
-- migrations/server/00013_field_errors.sql.

-- +goose Up
ALTER TABLE quarantine ADD COLUMN field_errors text NOT NULL DEFAULT '[]';
ALTER TABLE mutations ADD COLUMN field_errors text NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE mutations DROP COLUMN field_errors;
ALTER TABLE quarantine DROP COLUMN field_errors;
