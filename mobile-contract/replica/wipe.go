package replica

import (
	"context"
	"database/sql"
	"fmt"
)

// CodeDeviceRevoked is the code of every call on a replica whose device the
// server revoked: the replica has been wiped. Enrol the phone again with a
// new code ([Replica.Enrol] on the wiped replica, or a new replica file).
const CodeDeviceRevoked = "device_revoked"

// wipedTables are every table holding care data, children first, and
// the digests of it.
var wipedTables = []string{"receipts", "outbox_fields", "outbox", "conflicts", "field_history", "fields", "records", "digests"}

// wipe deletes every record, version, conflict and outbox entry, the
// cursor and the device credential, and marks the replica revoked, in one
// transaction: a revoked device keeps no care data and cannot get another
// access token. The server holds everything that was acknowledged; what was
// not is lost with the device, as the revocation intends (a lost or stolen
// phone).
func (r *Replica) wipe(ctx context.Context) error {
	r.mu.Lock()
	r.token = accessToken{}
	r.mu.Unlock()
	return r.writeTx(ctx, func(tx *sql.Tx) error {
		if err := deleteCareData(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE device SET pull_cursor = '', device_credential = '', verified_at = 0, verified_cursor = '',
			verify_key_id = '', verify_signature = x'', verify_mismatch = '', revoked_at = ? WHERE id = 1`, max(r.nowMS(), 1))
		return err
	})
}

// deleteCareData deletes every record, version, conflict, outbox entry and
// receipt.
func deleteCareData(ctx context.Context, tx *sql.Tx) error {
	for _, table := range wipedTables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return fmt.Errorf("replica: wipe %s: %w", table, err)
		}
	}
	return nil
}

// checkNotRevoked answers CodeDeviceRevoked for a wiped replica.
func checkNotRevoked(ctx context.Context, q queryer) error {
	var revokedAt int64
	if err := q.QueryRowContext(ctx, `SELECT revoked_at FROM device WHERE id = 1`).Scan(&revokedAt); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	if revokedAt != 0 {
		return &codedError{Code: CodeDeviceRevoked, Message: "the server revoked this device and its replica was wiped; enrol again"}
	}
	return nil
}
