-- The quarantine kept under its pushers' scope, and bounded per device.
-- PostgreSQL translation of
-- migrations/server/00009_scope_and_bound_quarantine.sql, with its
-- conversion of the changes quarantined before.

-- +goose Up
CREATE TABLE quarantine_services (
    service_id    text   NOT NULL,
    quarantine_id bigint NOT NULL REFERENCES quarantine (id),
    PRIMARY KEY (service_id, quarantine_id)
);

INSERT INTO quarantine_services (service_id, quarantine_id)
SELECT q.service_id, q.id FROM quarantine q
WHERE EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = q.user_id AND m.service_id = q.service_id);
INSERT INTO quarantine_services (service_id, quarantine_id)
SELECT DISTINCT m.service_id, q.id FROM quarantine q JOIN memberships m ON m.user_id = q.user_id
WHERE NOT EXISTS (SELECT 1 FROM memberships n WHERE n.user_id = q.user_id AND n.service_id = q.service_id);

CREATE TABLE quarantine_days (
    device_id text   NOT NULL,
    day       bigint NOT NULL, -- UTC midnight
    entries   bigint NOT NULL,
    bytes     bigint NOT NULL, -- of the stored payloads
    PRIMARY KEY (device_id, day)
);
INSERT INTO quarantine_days (device_id, day, entries, bytes)
SELECT device_id, received_at - received_at % 86400000, count(*), sum(octet_length(payload))
FROM quarantine GROUP BY 1, 2;

CREATE TABLE quarantine_overflow (
    service_id      text   NOT NULL, -- '' for a pusher who never held a membership
    day             bigint NOT NULL, -- UTC midnight
    device_id       text   NOT NULL,
    reason          text   NOT NULL CHECK (reason IN ('too_large_to_quarantine', 'quarantine_full')),
    user_id         text   NOT NULL,
    refused         bigint NOT NULL, -- refusals: a device resends at every sync
    bytes           bigint NOT NULL,
    last_counter    bigint NOT NULL,
    last_refused_at bigint NOT NULL,
    PRIMARY KEY (service_id, day, device_id, reason)
);

-- +goose Down
DROP TABLE quarantine_overflow;
DROP TABLE quarantine_days;
DROP TABLE quarantine_services;
