-- The manager console's sign-in sessions. A browser signs in with a
-- one-time enrolment code and becomes a device of kind 'browser' (listed
-- and revoked with the user's phones); each sign-in is a session of that
-- device. The cookie holds a random token; only its SHA-256 is kept, so a
-- copy of the database lets no one in. A session is refused once ended_at
-- is set (sign-out), once last_seen_at is older than the idle expiry, or
-- once its device is revoked.

-- +goose Up
CREATE TABLE console_sessions (
    token_hash   BLOB    NOT NULL PRIMARY KEY,
    device_id    TEXT    NOT NULL REFERENCES devices (id),
    user_id      TEXT    NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ended_at     INTEGER
);
CREATE INDEX console_sessions_by_device ON console_sessions (device_id);

-- +goose Down
DROP TABLE console_sessions;
