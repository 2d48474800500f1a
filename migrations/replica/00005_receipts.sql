-- Nothing acknowledged is lost to a restore of the server: the receipt of
-- every mutation the server acknowledged (accepted or quarantined), kept
-- until a push or pull answer's backed_up_through covers it, and the
-- server's epoch, so the device sees a restore and re-pushes the receipts
-- the restored store may lack.

-- +goose Up
-- The epoch of the store that holds every receipt (the last one the device
-- re-pushed its receipts to, or first saw); '' for a store never restored.
ALTER TABLE device ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
-- The epoch of the last answer; when it differs from epoch, the receipts
-- are re-pushed before anything else.
ALTER TABLE device ADD COLUMN seen_epoch TEXT NOT NULL DEFAULT '';
-- The last answer's backed_up_through.
ALTER TABLE device ADD COLUMN backed_up_through INTEGER NOT NULL DEFAULT 0;

CREATE TABLE receipts (
    counter         INTEGER PRIMARY KEY,
    -- The mutation exactly as sent and acknowledged: shiftsync.sync.v1.Mutation,
    -- binary protobuf (deterministic), re-pushed as it is.
    mutation        BLOB    NOT NULL,
    acknowledged_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE receipts;
ALTER TABLE device DROP COLUMN backed_up_through;
ALTER TABLE device DROP COLUMN seen_epoch;
ALTER TABLE device DROP COLUMN epoch;
