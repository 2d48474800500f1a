-- The backups taken of this database (shiftsyncd admin backup, or serve
-- -backup-dir): each a copy in one step that passed integrity_check and
-- verify-audit, with how far it reaches. head_seq is the newest change log
-- position the copy holds: every push acknowledged before the backup began
-- is at or below it. A restored copy does not list itself.

-- +goose Up
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

-- +goose Down
DROP TABLE backups;
