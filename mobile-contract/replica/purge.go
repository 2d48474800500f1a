package replica

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// purgeResult is what one purge of a pulled page did.
type purgeResult struct {
	ServiceID     string   `json:"serviceId"`
	PersonID      string   `json:"personId,omitempty"`
	KeepPersonIDs []string `json:"keepPersonIds,omitempty"`
	// RecordTypes limits the purge to records of these types; nil purges
	// every type.
	RecordTypes []string `json:"recordTypes,omitempty"`
	// Records is how many records were deleted.
	Records int64 `json:"records"`
	// Deferred is set when the purge was skipped because the outbox holds
	// unsent changes to records of the scope; Unsent counts them.
	Deferred bool  `json:"deferred,omitempty"`
	Unsent   int64 `json:"unsent,omitempty"`
}

// key names the purge's scope, for counting each scope once per sync.
func (p purgeResult) key() string {
	return p.ServiceID + "\x00" + p.PersonID + "\x00" + strings.Join(p.KeepPersonIDs, "\x00") + "\x00\x00" + strings.Join(p.RecordTypes, "\x00")
}

// purgeScope is the SQL condition, on a table with service_id, person_id
// and record_type columns, selecting the rows of a purge's scope, and its
// arguments.
func purgeScope(p *syncv1.Purge) (string, []any) {
	cond := `service_id = ?`
	args := []any{p.GetServiceId()}
	if p.GetPersonId() != "" {
		cond += ` AND person_id = ?`
		args = append(args, p.GetPersonId())
	}
	if keep := p.GetKeepPersonIds(); len(keep) > 0 {
		cond += ` AND person_id NOT IN (` + placeholders(len(keep)) + `)`
		for _, k := range keep {
			args = append(args, k)
		}
	}
	if types := p.GetRecordTypes(); len(types) > 0 {
		cond += ` AND record_type IN (` + placeholders(len(types)) + `)`
		for _, t := range types {
			args = append(args, t)
		}
	}
	return cond, args
}

// placeholders returns n comma-separated SQL placeholders (n > 0).
func placeholders(n int) string {
	return `?` + strings.Repeat(`, ?`, n-1)
}

// applyPurges carries out the purges of a pulled page in tx, the
// transaction that stores the page's cursor. A purge whose scope has unsent
// (pending) outbox entries is skipped: the next sync pushes them first, and
// the server, which repeats a purge on every pull while the access stays
// lost, asks again. Otherwise every record of the scope is deleted with its
// fields, history, conflicts and rejected outbox entries. A purge of a
// scope already purged deletes nothing.
func applyPurges(ctx context.Context, tx *sql.Tx, purges []*syncv1.Purge) ([]purgeResult, error) {
	var results []purgeResult
	for _, p := range purges {
		if p.GetServiceId() == "" {
			continue // names no scope; a server never sends one
		}
		res := purgeResult{
			ServiceID: p.GetServiceId(), PersonID: p.GetPersonId(),
			KeepPersonIDs: slices.Clone(p.GetKeepPersonIds()), RecordTypes: slices.Clone(p.GetRecordTypes()),
		}
		scope, args := purgeScope(p)
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending' AND `+scope, args...).Scan(&res.Unsent); err != nil {
			return nil, fmt.Errorf("replica: purge %s: %w", res.ServiceID, err)
		}
		if res.Unsent > 0 {
			res.Deferred = true
			results = append(results, res)
			continue
		}
		doomed := `SELECT record_id FROM records WHERE ` + scope
		// Children first: the foreign keys are enforced. The outbox holds only
		// rejected entries for the scope here, since none is pending.
		for _, stmt := range []string{
			`DELETE FROM outbox_fields WHERE counter IN (SELECT counter FROM outbox WHERE record_id IN (` + doomed + `))`,
			`DELETE FROM outbox WHERE record_id IN (` + doomed + `)`,
			`DELETE FROM conflicts WHERE record_id IN (` + doomed + `)`,
			`DELETE FROM field_history WHERE record_id IN (` + doomed + `)`,
			`DELETE FROM fields WHERE record_id IN (` + doomed + `)`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
				return nil, fmt.Errorf("replica: purge %s: %w", res.ServiceID, err)
			}
		}
		deleted, err := tx.ExecContext(ctx, `DELETE FROM records WHERE `+scope, args...)
		if err != nil {
			return nil, fmt.Errorf("replica: purge %s: %w", res.ServiceID, err)
		}
		if res.Records, err = deleted.RowsAffected(); err != nil {
			return nil, fmt.Errorf("replica: purge %s: %w", res.ServiceID, err)
		}
		results = append(results, res)
	}
	return results, nil
}
