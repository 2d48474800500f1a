-- What each device last reported of its own sync health, and when it last
-- pushed and pulled. PostgreSQL translation of
-- migrations/server/00006_create_device_health.sql.

-- +goose Up
CREATE TABLE device_health (
    device_id                   text   NOT NULL PRIMARY KEY,
    user_id                     text   NOT NULL,
    app_version                 text   NOT NULL DEFAULT '',
    outbox_depth                bigint NOT NULL DEFAULT 0,
    oldest_unsynced_age_seconds bigint NOT NULL DEFAULT 0,
    reported_at                 bigint NOT NULL, -- server time of the report
    last_push_at                bigint,
    last_pull_at                bigint
);

-- +goose Down
DROP TABLE device_health;
