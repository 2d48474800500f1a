-- The scope each device was last served, so a pull can tell when a device's
-- access has grown: the records it may now see lie behind its cursor, and it
-- must pull again from the start.

-- +goose Up
CREATE TABLE device_scopes (
    device_id  TEXT    NOT NULL PRIMARY KEY,
    -- JSON array of the sorted keys (service, person, role) of the grants in
    -- force at the device's last pull.
    grant_keys TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE device_scopes;
