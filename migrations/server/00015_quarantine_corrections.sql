-- A quarantined change can be corrected: the same device sends the record
-- again, carrying every field it needs and naming the quarantined change's
-- counter (Mutation.corrects). When the server accepts the correction it
-- marks the quarantine entry with who corrected it, when, and by which
-- counter; reviewers see it beside the change as received.

-- +goose Up
ALTER TABLE quarantine ADD COLUMN corrected_by_user TEXT NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN corrected_by_counter INTEGER NOT NULL DEFAULT 0;
ALTER TABLE quarantine ADD COLUMN corrected_at INTEGER; -- NULL until corrected
CREATE INDEX quarantine_by_device ON quarantine (device_id, counter);

-- +goose Down
DROP INDEX quarantine_by_device;
ALTER TABLE quarantine DROP COLUMN corrected_at;
ALTER TABLE quarantine DROP COLUMN corrected_by_counter;
ALTER TABLE quarantine DROP COLUMN corrected_by_user;
