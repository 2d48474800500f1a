-- index outbox_by_record
CREATE INDEX outbox_by_record ON outbox (record_id, counter);

-- index outbox_by_status
CREATE INDEX outbox_by_status ON outbox (status, counter);

-- table conflicts
CREATE TABLE conflicts (
    record_id   TEXT    NOT NULL REFERENCES records (record_id),
    field       TEXT    NOT NULL,
    counter     INTEGER NOT NULL,
    reported_at INTEGER NOT NULL,
    PRIMARY KEY (record_id, field, counter)
) WITHOUT ROWID;

-- table device
CREATE TABLE device (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    device_id        TEXT    NOT NULL CHECK (device_id <> ''),
    -- The last mutation counter used. Counters start at 1 and never go back,
    -- for the life of the device's enrolment.
    last_counter     INTEGER NOT NULL DEFAULT 0,
    -- The last HLC reading, persisted so the clock never runs backwards.
    hlc_wall_ms      INTEGER NOT NULL DEFAULT 0,
    hlc_logical      INTEGER NOT NULL DEFAULT 0,
    -- The greatest HLC the server is known to hold: every pulled version and
    -- every acknowledged mutation of this device is at or below it. Re-stamped
    -- mutations are stamped after it, so they never reuse a version.
    observed_wall_ms INTEGER NOT NULL DEFAULT 0,
    observed_logical INTEGER NOT NULL DEFAULT 0,
    -- Server clock minus device clock, from the last push answer; added to the
    -- device clock whenever the HLC is ticked.
    clock_offset_ms  INTEGER NOT NULL DEFAULT 0,
    -- Opaque pull cursor; '' before the first pull. Written in the same
    -- transaction as the page it covers.
    pull_cursor      TEXT    NOT NULL DEFAULT '',
    last_sync_at     INTEGER NOT NULL DEFAULT 0, -- end of the last complete sync
    last_attempt_at  INTEGER NOT NULL DEFAULT 0, -- start of the last sync, complete or not
    last_error       TEXT    NOT NULL DEFAULT '', -- why the last sync failed; '' if it did not
    created_at       INTEGER NOT NULL
, revoked_at INTEGER NOT NULL DEFAULT 0, server_url TEXT NOT NULL DEFAULT '', user_id TEXT NOT NULL DEFAULT '', device_credential TEXT NOT NULL DEFAULT '', enrolled_at INTEGER NOT NULL DEFAULT 0, epoch TEXT NOT NULL DEFAULT '', seen_epoch TEXT NOT NULL DEFAULT '', backed_up_through INTEGER NOT NULL DEFAULT 0, digests_built INTEGER NOT NULL DEFAULT 0, verified_at INTEGER NOT NULL DEFAULT 0, verified_cursor TEXT NOT NULL DEFAULT '', verify_key_id TEXT NOT NULL DEFAULT '', verify_signature BLOB NOT NULL DEFAULT x'', verify_mismatch TEXT NOT NULL DEFAULT '');

-- table digests
CREATE TABLE digests (
    service_id  TEXT    NOT NULL,
    person_id   TEXT    NOT NULL,
    record_type TEXT    NOT NULL,
    bucket      INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 63),
    digest      BLOB    NOT NULL CHECK (length(digest) = 32), -- big-endian, modulo 2^256
    PRIMARY KEY (service_id, person_id, record_type, bucket)
) WITHOUT ROWID;

-- table field_history
CREATE TABLE field_history (
    record_id      TEXT    NOT NULL REFERENCES records (record_id),
    field          TEXT    NOT NULL,
    wall_ms        INTEGER NOT NULL,
    logical        INTEGER NOT NULL,
    device_id      TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    origin         TEXT    NOT NULL CHECK (origin IN ('local', 'pulled')),
    counter        INTEGER NOT NULL DEFAULT 0, -- the local mutation's counter; 0 when pulled
    author_user_id TEXT    NOT NULL DEFAULT '',
    recorded_at    INTEGER NOT NULL,
    PRIMARY KEY (record_id, field, wall_ms, logical, device_id)
) WITHOUT ROWID;

-- table fields
CREATE TABLE fields (
    record_id      TEXT    NOT NULL REFERENCES records (record_id),
    field          TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    wall_ms        INTEGER NOT NULL,
    logical        INTEGER NOT NULL,
    device_id      TEXT    NOT NULL,
    author_user_id TEXT    NOT NULL DEFAULT '', -- from the server; '' for a local edit not yet pulled back
    PRIMARY KEY (record_id, field)
) WITHOUT ROWID;

-- table outbox
CREATE TABLE outbox (
    counter     INTEGER PRIMARY KEY, -- 1, 2, 3, ... with no gaps
    record_id   TEXT    NOT NULL REFERENCES records (record_id),
    record_type TEXT    NOT NULL,
    service_id  TEXT    NOT NULL,
    person_id   TEXT    NOT NULL DEFAULT '',
    wall_ms     INTEGER NOT NULL, -- the mutation's HLC; changed only by a re-stamp
    logical     INTEGER NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'rejected')),
    reason_code TEXT    NOT NULL DEFAULT '', -- for a rejected entry: the server's stable reason code
    reason      TEXT    NOT NULL DEFAULT '', -- and its message for a person
    created_at  INTEGER NOT NULL, -- when the change was made on the device
    restamps    INTEGER NOT NULL DEFAULT 0, -- how many times it was re-stamped
    rejected_at INTEGER NOT NULL DEFAULT 0
, corrects TEXT NOT NULL DEFAULT '', field_errors TEXT NOT NULL DEFAULT '');

-- table outbox_fields
CREATE TABLE outbox_fields (
    counter        INTEGER NOT NULL REFERENCES outbox (counter) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    field          TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    base_wall_ms   INTEGER NOT NULL DEFAULT 0,
    base_logical   INTEGER NOT NULL DEFAULT 0,
    base_device_id TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (counter, position)
) WITHOUT ROWID;

-- table receipts
CREATE TABLE receipts (
    counter         INTEGER PRIMARY KEY,
    -- The mutation exactly as sent and acknowledged: shiftsync.sync.v1.Mutation,
    -- binary protobuf (deterministic), re-pushed as it is.
    mutation        BLOB    NOT NULL,
    acknowledged_at INTEGER NOT NULL
);

-- table records
CREATE TABLE records (
    record_id       TEXT    NOT NULL PRIMARY KEY, -- UUIDv7, made on the device that created it
    record_type     TEXT    NOT NULL,
    service_id      TEXT    NOT NULL,
    person_id       TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL, -- when this replica first held it
    rejected_code   TEXT    NOT NULL DEFAULT '', -- quarantine reason_code; '' when not rejected
    rejected_reason TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;

