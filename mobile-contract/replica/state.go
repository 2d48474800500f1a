package replica

import (
	"context"
	"database/sql"
)

// deviceState is the device row.
type deviceState struct {
	deviceID    string
	lastCounter int64
	last        hlc   // the last HLC reading
	observed    hlc   // the greatest HLC the server is known to hold
	offsetMS    int64 // server clock minus device clock
	cursor      string
	epoch       string // of the store known to hold every receipt
	seenEpoch   string // of the last answer
}

func loadState(ctx context.Context, q queryer) (deviceState, error) {
	var st deviceState
	err := q.QueryRowContext(ctx, `
		SELECT device_id, last_counter, hlc_wall_ms, hlc_logical, observed_wall_ms, observed_logical, clock_offset_ms, pull_cursor,
			epoch, seen_epoch
		FROM device WHERE id = 1`).
		Scan(&st.deviceID, &st.lastCounter, &st.last.wallMS, &st.last.logical,
			&st.observed.wallMS, &st.observed.logical, &st.offsetMS, &st.cursor, &st.epoch, &st.seenEpoch)
	return st, err
}

// saveClock stores the HLC, the observed HLC and the clock offset.
func saveClock(ctx context.Context, tx *sql.Tx, st deviceState) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE device SET hlc_wall_ms = ?, hlc_logical = ?, observed_wall_ms = ?, observed_logical = ?, clock_offset_ms = ?
		WHERE id = 1`,
		st.last.wallMS, st.last.logical, st.observed.wallMS, st.observed.logical, st.offsetMS)
	return err
}
