-- The quarantine kept under its pushers' scope, and bounded per device.
--
-- quarantine_services lists the services each quarantined change is kept
-- and listed under: its pusher's (shiftsync.Scope.QuarantineServices), never
-- a service the pusher only names, so no device writes into the quarantine
-- of another service or organisation. quarantine_days keeps what each
-- device has had quarantined in a UTC day, the total the daily bound is
-- checked against. quarantine_overflow counts the changes a bound refused
-- (they stay on the device), per service, UTC day, device and reason.

-- +goose Up
CREATE TABLE quarantine_services (
    service_id    TEXT    NOT NULL,
    quarantine_id INTEGER NOT NULL REFERENCES quarantine (id),
    PRIMARY KEY (service_id, quarantine_id)
) WITHOUT ROWID;

-- Changes quarantined before: under the service they name if their pusher
-- was ever a member of it, otherwise under every service the pusher was a
-- member of. (Those of static development tokens, whose users have no
-- memberships, are kept but listed under none.)
INSERT INTO quarantine_services (service_id, quarantine_id)
SELECT q.service_id, q.id FROM quarantine q
WHERE EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = q.user_id AND m.service_id = q.service_id);
INSERT INTO quarantine_services (service_id, quarantine_id)
SELECT DISTINCT m.service_id, q.id FROM quarantine q JOIN memberships m ON m.user_id = q.user_id
WHERE NOT EXISTS (SELECT 1 FROM memberships n WHERE n.user_id = q.user_id AND n.service_id = q.service_id);

CREATE TABLE quarantine_days (
    device_id TEXT    NOT NULL,
    day       INTEGER NOT NULL, -- UTC midnight
    entries   INTEGER NOT NULL,
    bytes     INTEGER NOT NULL, -- of the stored payloads
    PRIMARY KEY (device_id, day)
) WITHOUT ROWID;
INSERT INTO quarantine_days (device_id, day, entries, bytes)
SELECT device_id, received_at - received_at % 86400000, count(*), sum(length(CAST(payload AS BLOB)))
FROM quarantine GROUP BY 1, 2;

CREATE TABLE quarantine_overflow (
    service_id      TEXT    NOT NULL, -- '' for a pusher who never held a membership
    day             INTEGER NOT NULL, -- UTC midnight
    device_id       TEXT    NOT NULL,
    reason          TEXT    NOT NULL CHECK (reason IN ('too_large_to_quarantine', 'quarantine_full')),
    user_id         TEXT    NOT NULL,
    refused         INTEGER NOT NULL, -- refusals: a device resends at every sync
    bytes           INTEGER NOT NULL,
    last_counter    INTEGER NOT NULL,
    last_refused_at INTEGER NOT NULL,
    PRIMARY KEY (service_id, day, device_id, reason)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE quarantine_overflow;
DROP TABLE quarantine_days;
DROP TABLE quarantine_services;
