-- Nothing acknowledged is lost to a restore. PostgreSQL translation of
-- migrations/server/00017_backup_reach_and_epoch.sql: the store's epoch and
-- each device's backup reach. The PostgreSQL store is backed up and restored
-- with PostgreSQL's own tools, which set neither yet: its answers carry a
-- reach of 0 (devices keep every receipt) and the epoch ''.

-- +goose Up
ALTER TABLE store ADD COLUMN epoch text NOT NULL DEFAULT '';

CREATE TABLE backup_reach (
    device_id text   NOT NULL PRIMARY KEY,
    counter   bigint NOT NULL
);

-- +goose Down
DROP TABLE backup_reach;
ALTER TABLE store DROP COLUMN epoch;
