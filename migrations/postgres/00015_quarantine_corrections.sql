-- A quarantined change can be corrected by a later mutation of the same
-- device and record (Mutation.corrects). PostgreSQL translation of
-- migrations/server/00015_quarantine_corrections.sql.

-- +goose Up
ALTER TABLE quarantine ADD COLUMN corrected_by_user text NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN corrected_by_counter bigint NOT NULL DEFAULT 0;
ALTER TABLE quarantine ADD COLUMN corrected_at bigint; -- NULL until corrected
CREATE INDEX quarantine_by_device ON quarantine (device_id, counter);

-- +goose Down
DROP INDEX quarantine_by_device;
ALTER TABLE quarantine DROP COLUMN corrected_at;
ALTER TABLE quarantine DROP COLUMN corrected_by_counter;
ALTER TABLE quarantine DROP COLUMN corrected_by_user;
