-- A device enrolled through AuthService.Enrol keeps what it needs to get
-- access tokens on its own: the server it enrolled with, its user and its
-- device credential. A replica used with tokens handed to it (tests, the
-- demo) leaves them empty.

-- +goose Up
-- The server the device enrolled with, e.g. "https://sync.example.org".
ALTER TABLE device ADD COLUMN server_url TEXT NOT NULL DEFAULT '';
-- The user the device is enrolled for.
ALTER TABLE device ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
-- The device credential from EnrolResponse, exchanged for access tokens by
-- AuthService.Refresh; '' when not enrolled, and after a revocation wiped the
-- replica. An app keeps it in the platform keystore instead.
ALTER TABLE device ADD COLUMN device_credential TEXT NOT NULL DEFAULT '';
-- When the device enrolled (Unix ms; 0: never).
ALTER TABLE device ADD COLUMN enrolled_at INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE device DROP COLUMN enrolled_at;
ALTER TABLE device DROP COLUMN device_credential;
ALTER TABLE device DROP COLUMN user_id;
ALTER TABLE device DROP COLUMN server_url;
