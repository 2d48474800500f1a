-- PostgreSQL translation of migrations/server/00025_device_counter_gaps.sql.

-- +goose Up
ALTER TABLE device_counters ADD COLUMN gap_from bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE device_counters DROP COLUMN gap_from;
