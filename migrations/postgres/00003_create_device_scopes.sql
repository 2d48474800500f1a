-- The scope each device was last served, so a pull can tell when a device's
-- access has grown. PostgreSQL translation of
-- migrations/server/00003_create_device_scopes.sql.

-- +goose Up
CREATE TABLE device_scopes (
    device_id  text   NOT NULL PRIMARY KEY,
    -- JSON array of the sorted keys (service, person, role) of the grants in
    -- force at the device's last pull.
    grant_keys text   NOT NULL,
    updated_at bigint NOT NULL
);

-- +goose Down
DROP TABLE device_scopes;
