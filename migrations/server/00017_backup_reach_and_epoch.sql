-- Nothing acknowledged is lost to a restore: the store's epoch, which a
-- restore from a backup changes (cursors of an earlier epoch are answered
-- resync_required, and devices re-push what the restored store lacks), and
-- each device's backup reach, which push and pull answers carry as
-- backed_up_through so a device knows which receipts it may drop.

-- +goose Up
-- '' for a store never restored; a random id set by each restore.
ALTER TABLE store ADD COLUMN epoch TEXT NOT NULL DEFAULT '';

-- The highest counter of each device that a verified backup of the current
-- epoch holds (raised by each backup recorded; set, at a restore, to what
-- the restored store holds).
CREATE TABLE backup_reach (
    device_id TEXT    NOT NULL PRIMARY KEY,
    counter   INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE backup_reach;
ALTER TABLE store DROP COLUMN epoch;
