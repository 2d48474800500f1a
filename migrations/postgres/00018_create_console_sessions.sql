-- The manager console's sign-in sessions, kept by the hash of their token.
-- PostgreSQL translation of migrations/server/00018_create_console_sessions.sql.

-- +goose Up
CREATE TABLE console_sessions (
    token_hash   bytea  NOT NULL PRIMARY KEY,
    device_id    text   NOT NULL REFERENCES devices (id),
    user_id      text   NOT NULL REFERENCES users (id),
    created_at   bigint NOT NULL,
    last_seen_at bigint NOT NULL,
    ended_at     bigint
);
CREATE INDEX console_sessions_by_device ON console_sessions (device_id);

-- +goose Down
DROP TABLE console_sessions;
