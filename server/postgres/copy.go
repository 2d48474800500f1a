package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// TableSource is a store whose tables can be read row by row, as the
// server/sqlite store's can: the source of [DB.CopyFrom].
type TableSource interface {
	// ScanTable calls fn with every row of the table and its columns'
	// names; values are int64, float64, string, []byte or nil.
	ScanTable(ctx context.Context, table string, fn func(columns []string, row []any) error) error
}

// copyOrder is every table of the schema, each after those it refers to.
var copyOrder = []string{
	"store", "organisations", "services", "people", "users", "memberships", "organisation_admins", "devices",
	"enrolment_codes", "enrolment_failures", "signing_keys", "audit_log", "audit_heads",
	"records", "field_versions", "fields", "mutations", "device_counters", "conflicts",
	"quarantine", "quarantine_services", "quarantine_days", "quarantine_overflow", "device_scopes",
	"alerts", "record_locks", "governance_thresholds", "findings", "evidence_packs", "device_health",
	"backups", "backup_reach", "console_sessions", "digests", "digest_deltas",
}

// CopyFrom copies every row of every table of src, a store of the same
// schema version, into this database, which must hold no organisation,
// record or audit entry yet, in one transaction, and returns how many rows
// each table received. The copy keeps the source's store id, change log
// positions and audit chain: the source's positions are all below those
// this store hands out, so a device's cursor stays valid, and the chain
// and its signed heads still verify (with the source's audit key). Stop
// every writer of src first.
func (db *DB) CopyFrom(ctx context.Context, src TableSource) (map[string]int64, error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		return nil, storageError(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var used bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organisations) OR EXISTS (SELECT 1 FROM records) OR EXISTS (SELECT 1 FROM audit_log)`).Scan(&used); err != nil {
		return nil, storageError(err)
	}
	if used {
		return nil, errors.New("postgres: the target database already holds a store: copy into a new one")
	}
	if _, err := tx.Exec(ctx, `DELETE FROM store`); err != nil { // the identity the migration gave it: the source's replaces it
		return nil, storageError(err)
	}
	var uncopied []string
	rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'goose_db_version' AND NOT table_name = ANY($1)`, copyOrder)
	if err == nil {
		uncopied, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return nil, storageError(err)
	}
	if len(uncopied) > 0 {
		return nil, fmt.Errorf("postgres: copy-store does not know the tables %v of this schema: nothing copied", uncopied)
	}
	counts := make(map[string]int64, len(copyOrder))
	for _, table := range copyOrder {
		n, err := copyTable(ctx, tx, src, table)
		if err != nil {
			return nil, fmt.Errorf("postgres: copy %s: %w", table, err)
		}
		counts[table] = n
	}
	// Identity columns go on from the highest id copied.
	rows, err = tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return nil, storageError(err)
	}
	var identities [][2]string
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, storageError(err)
		}
		identities = append(identities, [2]string{t, c})
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(err)
	}
	for _, tc := range identities {
		t, c := pgx.Identifier{tc[0]}.Sanitize(), pgx.Identifier{tc[1]}.Sanitize()
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), coalesce((SELECT max(`+c+`) FROM `+t+`), 0) + 1, false)`, tc[0], tc[1]); err != nil {
			return nil, storageError(err)
		}
	}
	var below bool
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) < (pg_current_xact_id()::text::bigint << `+fmt.Sprint(positionBits)+`) FROM field_versions`).Scan(&below); err != nil {
		return nil, storageError(err)
	}
	if !below {
		return nil, errors.New("postgres: the source's change log positions reach those this database hands out; a device's cursor could skip changes")
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, storageError(err)
	}
	return counts, db.pool.QueryRow(ctx, `SELECT store_id FROM store WHERE id = 1`).Scan(&db.storeID)
}

// copyTable copies one table's rows, converted to its columns' types here.
func copyTable(ctx context.Context, tx pgx.Tx, src TableSource, table string) (int64, error) {
	types := map[string]string{}
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var c, t string
		if err := rows.Scan(&c, &t); err != nil {
			return 0, err
		}
		types[c] = t
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var (
		columns []string
		batch   [][]any
	)
	err = src.ScanTable(ctx, table, func(cols []string, row []any) error {
		columns = cols
		out := make([]any, len(row))
		for i, v := range row {
			t, ok := types[cols[i]]
			if !ok {
				return fmt.Errorf("column %s is not in this database's schema", cols[i])
			}
			if out[i], err = convert(v, t); err != nil {
				return fmt.Errorf("column %s: %w", cols[i], err)
			}
		}
		batch = append(batch, out)
		return nil
	})
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	return tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(batch))
}

// convert turns a value as SQLite keeps it into one of the PostgreSQL
// type.
func convert(v any, pgType string) (any, error) {
	switch pgType {
	case "boolean":
		if n, ok := v.(int64); ok {
			return n != 0, nil
		}
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
	}
	return v, nil
}
