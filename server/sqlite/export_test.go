package sqlite

import (
	"context"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Snapshot exposes the governance snapshot to the benchmarks.
func (db *DB) Snapshot(ctx context.Context, serviceID string) (shiftsync.Snapshot, error) {
	return snapshot(ctx, db.read, serviceID)
}

// RawScanForBench reads every current field value of a service with one
// query and no decoding, counting rows into n: the governance benchmark's
// baseline.
func (db *DB) RawScanForBench(ctx context.Context, serviceID string, n *int) error {
	rows, err := db.read.QueryContext(ctx, recordQuery+` WHERE r.service_id = ?`, serviceID)
	if err != nil {
		return err
	}
	defer rows.Close()
	*n = 0
	for rows.Next() {
		*n++
	}
	return rows.Err()
}
