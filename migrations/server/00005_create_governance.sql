-- Care-record semantics and governance: records a manager has locked,
-- governance thresholds per organisation (versioned), the findings of the
-- governance rules, and the evidence packs exported with their manifests.

-- +goose Up
-- A locked record takes no more edits: corrections are addenda (records of
-- type "addendum" that name it). Voiding stays possible for a manager.
CREATE TABLE record_locks (
    record_id TEXT    NOT NULL PRIMARY KEY REFERENCES records (record_id),
    locked_by TEXT    NOT NULL,
    locked_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Each change of an organisation's thresholds is a new version; findings
-- keep the version they were evaluated with. Version 0 is the defaults.
CREATE TABLE governance_thresholds (
    organisation_id TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version > 0),
    thresholds      TEXT    NOT NULL, -- JSON of shiftsync.Thresholds
    set_by          TEXT    NOT NULL,
    set_at          INTEGER NOT NULL,
    PRIMARY KEY (organisation_id, version)
) WITHOUT ROWID;

-- One row per rule and subject (a meeting, a person's week, an action...):
-- its latest evaluation. State moves between due, warning, breach and met;
-- a finding never disappears, so the history of compliance stays.
CREATE TABLE findings (
    id                 INTEGER PRIMARY KEY,
    service_id         TEXT    NOT NULL,
    person_id          TEXT    NOT NULL DEFAULT '',
    rule_id            TEXT    NOT NULL,
    rule_version       INTEGER NOT NULL,
    thresholds_version INTEGER NOT NULL,
    subject            TEXT    NOT NULL, -- what the finding is about, unique per rule
    record_id          TEXT    NOT NULL DEFAULT '',
    state              TEXT    NOT NULL CHECK (state IN ('due', 'warning', 'breach', 'met')),
    due_at             INTEGER NOT NULL,
    message            TEXT    NOT NULL,
    first_seen_at      INTEGER NOT NULL,
    evaluated_at       INTEGER NOT NULL,
    closed_at          INTEGER, -- when it became met
    UNIQUE (service_id, rule_id, subject)
);
CREATE INDEX findings_by_service_state ON findings (service_id, state, due_at);

-- Evidence packs exported: what was shared, when, by whom, with a manifest
-- of record hashes so it can be proven later.
CREATE TABLE evidence_packs (
    id              TEXT    NOT NULL PRIMARY KEY,
    service_id      TEXT    NOT NULL,
    person_id       TEXT    NOT NULL,
    period_start    INTEGER NOT NULL,
    period_end      INTEGER NOT NULL,
    max_version_seq INTEGER NOT NULL, -- the change log position the pack was made at
    manifest        TEXT    NOT NULL, -- JSON
    manifest_sha256 TEXT    NOT NULL,
    exported_by     TEXT    NOT NULL,
    exported_at     INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE evidence_packs;
DROP TABLE findings;
DROP TABLE governance_thresholds;
DROP TABLE record_locks;
