-- What each enrolled device is: a phone, a browser or a tool. PostgreSQL
-- translation of migrations/server/00014_device_kind.sql.

-- +goose Up
ALTER TABLE devices ADD COLUMN kind text NOT NULL DEFAULT 'phone' CHECK (kind IN ('phone', 'browser', 'tool'));

-- +goose Down
ALTER TABLE devices DROP COLUMN kind;
