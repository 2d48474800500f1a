-- Immediate alerts: raised in the transaction that accepts the change that
-- triggers them, so a manager sees them as soon as the record has synced.

-- +goose Up
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    rule_id         TEXT    NOT NULL,
    rule_version    INTEGER NOT NULL,
    record_id       TEXT    NOT NULL REFERENCES records (record_id),
    record_type     TEXT    NOT NULL,
    service_id      TEXT    NOT NULL,
    person_id       TEXT    NOT NULL DEFAULT '',
    summary         TEXT    NOT NULL,
    user_id         TEXT    NOT NULL, -- author of the change that raised it
    device_id       TEXT    NOT NULL,
    raised_at       INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT    NOT NULL DEFAULT '',
    note            TEXT    NOT NULL DEFAULT '',
    -- One alert per rule and record: a later edit that matches again does
    -- not raise it twice.
    UNIQUE (rule_id, record_id)
);
CREATE INDEX alerts_by_service ON alerts (service_id, raised_at);

-- +goose Down
DROP TABLE alerts;
