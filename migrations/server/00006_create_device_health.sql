-- What each device last reported of its own sync health (ClientInfo), and
-- when it last pushed and pulled, for managers to see which phones have not
-- synced and how old their unsynced records are.

-- +goose Up
CREATE TABLE device_health (
    device_id                   TEXT    NOT NULL PRIMARY KEY,
    user_id                     TEXT    NOT NULL,
    app_version                 TEXT    NOT NULL DEFAULT '',
    outbox_depth                INTEGER NOT NULL DEFAULT 0,
    oldest_unsynced_age_seconds INTEGER NOT NULL DEFAULT 0,
    reported_at                 INTEGER NOT NULL, -- server time of the report
    last_push_at                INTEGER,
    last_pull_at                INTEGER
) WITHOUT ROWID;

-- +goose Down
DROP TABLE device_health;
