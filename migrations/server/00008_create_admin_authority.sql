-- Authority for administration: when and by whom each membership was
-- recorded (a membership recorded after it ended, back-dated, confers no
-- authority over its user), and the organisation administrators the
-- operator appoints.

-- +goose Up
ALTER TABLE memberships ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
-- Existing memberships were recorded when the audit log says they were
-- added; failing that, take their start as the record.
UPDATE memberships SET
    created_at = coalesce((
        SELECT min(a.at) FROM audit_log a
        WHERE a.action = 'membership.add' AND json_extract(a.detail, '$.membership') = memberships.id), starts_at),
    created_by = coalesce((
        SELECT a.actor_user FROM audit_log a
        WHERE a.action = 'membership.add' AND json_extract(a.detail, '$.membership') = memberships.id
        ORDER BY a.seq LIMIT 1), '');

-- Lets organisation_admins refer to a user together with their organisation.
CREATE UNIQUE INDEX users_by_organisation ON users (id, organisation_id);

-- Organisation administrators: authority to administer every service of an
-- organisation (never to read its records), from granted_at until ended_at
-- (NULL: in force). Only the operator grants and ends it. The user must be
-- one of the organisation's own.
CREATE TABLE organisation_admins (
    id              INTEGER PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    organisation_id TEXT    NOT NULL,
    granted_at      INTEGER NOT NULL,
    granted_by      TEXT    NOT NULL,
    ended_at        INTEGER,
    ended_by        TEXT    NOT NULL DEFAULT '',
    FOREIGN KEY (user_id, organisation_id) REFERENCES users (id, organisation_id),
    CHECK (ended_at IS NULL OR ended_at >= granted_at)
);
-- At most one grant in force per user and organisation.
CREATE UNIQUE INDEX organisation_admins_in_force ON organisation_admins (user_id, organisation_id) WHERE ended_at IS NULL;

-- +goose Down
DROP TABLE organisation_admins;
DROP INDEX users_by_organisation;
ALTER TABLE memberships DROP COLUMN created_by;
ALTER TABLE memberships DROP COLUMN created_at;
