-- index alerts_by_service
CREATE INDEX alerts_by_service ON alerts (service_id, raised_at);

-- index conflicts_by_status
CREATE INDEX conflicts_by_status ON conflicts (status, record_id);

-- index console_sessions_by_device
CREATE INDEX console_sessions_by_device ON console_sessions (device_id);

-- index devices_by_user
CREATE INDEX devices_by_user ON devices (user_id);

-- index enrolment_failures_by_code
CREATE INDEX enrolment_failures_by_code ON enrolment_failures (code_hash, at);

-- index enrolment_failures_by_source
CREATE INDEX enrolment_failures_by_source ON enrolment_failures (source, at);

-- index enrolment_failures_by_time
CREATE INDEX enrolment_failures_by_time ON enrolment_failures (at);

-- index field_versions_by_record
CREATE INDEX field_versions_by_record ON field_versions (record_id, field, hlc);

-- index fields_by_service_seq
CREATE INDEX fields_by_service_seq ON fields (service_id, version_seq);

-- index findings_by_service_state
CREATE INDEX findings_by_service_state ON findings (service_id, state, due_at);

-- index memberships_by_user
CREATE INDEX memberships_by_user ON memberships (user_id, starts_at);

-- index mutations_flagged
CREATE INDEX mutations_flagged ON mutations (record_id) WHERE flag <> '';

-- index organisation_admins_in_force
CREATE UNIQUE INDEX organisation_admins_in_force ON organisation_admins (user_id, organisation_id) WHERE ended_at IS NULL;

-- index quarantine_by_device
CREATE INDEX quarantine_by_device ON quarantine (device_id, counter);

-- index quarantine_by_service
CREATE INDEX quarantine_by_service ON quarantine (service_id, received_at);

-- index users_by_organisation
CREATE UNIQUE INDEX users_by_organisation ON users (id, organisation_id);

-- table alerts
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

-- table audit_heads
CREATE TABLE audit_heads (
    id         INTEGER PRIMARY KEY,
    store_id   TEXT    NOT NULL,
    run        TEXT    NOT NULL, -- the writer process that signed it
    process    TEXT    NOT NULL, -- serve or admin
    version    INTEGER NOT NULL, -- the format of what the signature covers
    seq        INTEGER NOT NULL, -- the last audit_log entry it covers (0: none)
    hash       BLOB    NOT NULL, -- that entry's hash
    at         INTEGER NOT NULL,
    start      INTEGER NOT NULL, -- 1: signed as the writer opened the log
    final      INTEGER NOT NULL, -- 1: signed as the writer closed it
    public_key BLOB    NOT NULL,
    signature  BLOB    NOT NULL
);

-- table audit_log
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    actor_user   TEXT    NOT NULL,
    actor_device TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    detail       TEXT    NOT NULL,
    prev_hash    BLOB    NOT NULL,
    hash         BLOB    NOT NULL
);

-- table backup_reach
CREATE TABLE backup_reach (
    device_id TEXT    NOT NULL PRIMARY KEY,
    counter   INTEGER NOT NULL
) WITHOUT ROWID;

-- table backups
CREATE TABLE backups (
    id        INTEGER PRIMARY KEY,
    path      TEXT    NOT NULL,
    store_id  TEXT    NOT NULL,
    taken_at  INTEGER NOT NULL, -- when the copy was begun
    head_seq  INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL, -- the newest audit_log entry it holds
    bytes     INTEGER NOT NULL,
    sha256    BLOB    NOT NULL  -- of the file as written
);

-- table conflicts
CREATE TABLE conflicts (
    id           INTEGER PRIMARY KEY,
    record_id    TEXT    NOT NULL REFERENCES records (record_id),
    field        TEXT    NOT NULL,
    current_seq  INTEGER NOT NULL REFERENCES field_versions (seq), -- winning when the edit arrived
    incoming_seq INTEGER NOT NULL REFERENCES field_versions (seq), -- the concurrent edit
    winner_seq   INTEGER NOT NULL REFERENCES field_versions (seq),
    status       TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    opened_at    INTEGER NOT NULL,
    resolved_at  INTEGER,
    resolved_by  TEXT,
    resolution   TEXT
);

-- table console_sessions
CREATE TABLE console_sessions (
    token_hash   BLOB    NOT NULL PRIMARY KEY,
    device_id    TEXT    NOT NULL REFERENCES devices (id),
    user_id      TEXT    NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ended_at     INTEGER
);

-- table device_counters
CREATE TABLE device_counters (
    device_id    TEXT    NOT NULL PRIMARY KEY,
    acknowledged INTEGER NOT NULL,
    last_push_at INTEGER NOT NULL
, gap_from INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;

-- table device_health
CREATE TABLE device_health (
    device_id                   TEXT    NOT NULL PRIMARY KEY,
    user_id                     TEXT    NOT NULL,
    app_version                 TEXT    NOT NULL DEFAULT '',
    outbox_depth                INTEGER NOT NULL DEFAULT 0,
    oldest_unsynced_age_seconds INTEGER NOT NULL DEFAULT 0,
    reported_at                 INTEGER NOT NULL, -- server time of the report
    last_push_at                INTEGER,
    last_pull_at                INTEGER
) WITHOUT ROWID;

-- table device_scopes
CREATE TABLE device_scopes (
    device_id  TEXT    NOT NULL PRIMARY KEY,
    -- JSON array of the sorted keys (service, person, role) of the grants in
    -- force at the device's last pull.
    grant_keys TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- table devices
CREATE TABLE devices (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id),
    label           TEXT    NOT NULL DEFAULT '',
    credential_hash BLOB    NOT NULL,
    enrolled_at     INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoke_reason   TEXT    NOT NULL DEFAULT ''
, kind TEXT NOT NULL DEFAULT 'phone' CHECK (kind IN ('phone', 'browser', 'tool'))) WITHOUT ROWID;

-- table digest_deltas
CREATE TABLE digest_deltas (
    seq        INTEGER PRIMARY KEY,
    service_id TEXT    NOT NULL,
    deltas     BLOB    NOT NULL
);

-- table digests
CREATE TABLE digests (
    service_id  TEXT    NOT NULL,
    person_id   TEXT    NOT NULL,
    record_type TEXT    NOT NULL,
    agency      TEXT    NOT NULL,
    bucket      INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 63),
    digest      BLOB    NOT NULL CHECK (length(digest) = 32), -- big-endian, modulo 2^256
    PRIMARY KEY (service_id, person_id, record_type, agency, bucket)
) WITHOUT ROWID;

-- table enrolment_codes
CREATE TABLE enrolment_codes (
    code_hash  BLOB    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id),
    issued_by  TEXT    NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    device_id  TEXT
) WITHOUT ROWID;

-- table enrolment_failures
CREATE TABLE enrolment_failures (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    source    TEXT    NOT NULL,
    code_hash BLOB    NOT NULL
);

-- table evidence_packs
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

-- table field_versions
CREATE TABLE field_versions (
    seq         INTEGER PRIMARY KEY,
    record_id   TEXT    NOT NULL REFERENCES records (record_id),
    field       TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    hlc         INTEGER NOT NULL,
    device_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    counter     INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);

-- table fields
CREATE TABLE fields (
    record_id   TEXT    NOT NULL REFERENCES records (record_id),
    field       TEXT    NOT NULL,
    service_id  TEXT    NOT NULL, -- copied from records so a scoped pull is one index range
    version_seq INTEGER NOT NULL REFERENCES field_versions (seq),
    hlc         INTEGER NOT NULL,
    device_id   TEXT    NOT NULL, digest_element BLOB NOT NULL DEFAULT x'',
    PRIMARY KEY (record_id, field)
) WITHOUT ROWID;

-- table findings
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

-- table governance_thresholds
CREATE TABLE governance_thresholds (
    organisation_id TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version > 0),
    thresholds      TEXT    NOT NULL, -- JSON of shiftsync.Thresholds
    set_by          TEXT    NOT NULL,
    set_at          INTEGER NOT NULL,
    PRIMARY KEY (organisation_id, version)
) WITHOUT ROWID;

-- table memberships
CREATE TABLE memberships (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id),
    service_id TEXT    NOT NULL REFERENCES services (id),
    person_id  TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL CHECK (role IN ('support_worker', 'shift_lead', 'pbs_lead', 'manager',
                                                'quality_lead', 'safeguarding_lead', 'partner')),
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER, created_at INTEGER NOT NULL DEFAULT 0, created_by TEXT NOT NULL DEFAULT '',
    CHECK (ends_at IS NULL OR ends_at >= starts_at)
);

-- table mutations
CREATE TABLE mutations (
    device_id         TEXT    NOT NULL,
    counter           INTEGER NOT NULL,
    user_id           TEXT    NOT NULL,
    record_id         TEXT    NOT NULL,
    hlc               INTEGER NOT NULL,
    digest            BLOB    NOT NULL, -- SHA-256 of the mutation's content
    status            INTEGER NOT NULL CHECK (status IN (1, 2)), -- 1 accepted, 2 quarantined
    reason            TEXT    NOT NULL DEFAULT '',
    message           TEXT    NOT NULL DEFAULT '',
    conflicted_fields TEXT    NOT NULL DEFAULT '[]', -- JSON array of field names
    flag              TEXT    NOT NULL DEFAULT '', -- 'access_ended': accepted after the author's access ended
    app_version       TEXT    NOT NULL DEFAULT '',
    received_at       INTEGER NOT NULL, field_errors TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (device_id, counter)
) WITHOUT ROWID;

-- table organisation_admins
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

-- table organisations
CREATE TABLE organisations (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- table people
CREATE TABLE people (
    id         TEXT    NOT NULL PRIMARY KEY,
    service_id TEXT    NOT NULL REFERENCES services (id),
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- table quarantine
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    device_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    counter     INTEGER NOT NULL,
    record_id   TEXT    NOT NULL,
    record_type TEXT    NOT NULL,
    service_id  TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    payload     TEXT    NOT NULL, -- the mutation as JSON
    received_at INTEGER NOT NULL
, person_id TEXT NOT NULL DEFAULT '', agency TEXT NOT NULL DEFAULT '', app_version TEXT NOT NULL DEFAULT '', payload_format INTEGER NOT NULL DEFAULT 1, field_errors TEXT NOT NULL DEFAULT '[]', corrected_by_user TEXT NOT NULL DEFAULT '', corrected_by_counter INTEGER NOT NULL DEFAULT 0, corrected_at INTEGER);

-- table quarantine_days
CREATE TABLE quarantine_days (
    device_id TEXT    NOT NULL,
    day       INTEGER NOT NULL, -- UTC midnight
    entries   INTEGER NOT NULL,
    bytes     INTEGER NOT NULL, -- of the stored payloads
    PRIMARY KEY (device_id, day)
) WITHOUT ROWID;

-- table quarantine_overflow
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

-- table quarantine_services
CREATE TABLE quarantine_services (
    service_id    TEXT    NOT NULL,
    quarantine_id INTEGER NOT NULL REFERENCES quarantine (id),
    PRIMARY KEY (service_id, quarantine_id)
) WITHOUT ROWID;

-- table record_locks
CREATE TABLE record_locks (
    record_id TEXT    NOT NULL PRIMARY KEY REFERENCES records (record_id),
    locked_by TEXT    NOT NULL,
    locked_at INTEGER NOT NULL
) WITHOUT ROWID;

-- table records
CREATE TABLE records (
    record_id         TEXT    NOT NULL PRIMARY KEY,
    record_type       TEXT    NOT NULL,
    service_id        TEXT    NOT NULL,
    person_id         TEXT    NOT NULL DEFAULT '',
    created_by_user   TEXT    NOT NULL,
    created_by_device TEXT    NOT NULL,
    created_hlc       INTEGER NOT NULL,
    received_at       INTEGER NOT NULL
, agency TEXT NOT NULL DEFAULT '') WITHOUT ROWID;

-- table services
CREATE TABLE services (
    id              TEXT    NOT NULL PRIMARY KEY,
    organisation_id TEXT    NOT NULL REFERENCES organisations (id),
    name            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- table signing_keys
CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY, -- creation order
    kid         TEXT    NOT NULL UNIQUE,
    private_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

-- table store
CREATE TABLE store (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    store_id   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
, epoch TEXT NOT NULL DEFAULT '', digests_built INTEGER NOT NULL DEFAULT 0);

-- table users
CREATE TABLE users (
    id              TEXT    NOT NULL PRIMARY KEY,
    organisation_id TEXT    NOT NULL REFERENCES organisations (id),
    name            TEXT    NOT NULL,
    agency          TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- trigger audit_log_no_delete
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- trigger audit_log_no_update
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

