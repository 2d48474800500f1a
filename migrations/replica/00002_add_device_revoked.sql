-- A device the server says was revoked wipes its replica and stays wiped.

-- +goose Up
-- When the server answered "device_revoked" (Unix ms; 0: never). A revoked
-- replica holds no records and refuses local writes and syncs.
ALTER TABLE device ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE device DROP COLUMN revoked_at;
