-- The lowest counter a device pushed that was refused for not following
-- its acknowledged counter (shiftsync.SyncTx NoteGap): what `shiftsyncd
-- admin accept-gap` may give up is bounded by it, so an operator cannot
-- give up counters the device still holds (they would be quarantined as
-- counter_reused). 0: none; at or below acknowledged: the gap was filled.

-- +goose Up
ALTER TABLE device_counters ADD COLUMN gap_from INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE device_counters DROP COLUMN gap_from;
