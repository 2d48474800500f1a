package sqlite

import (
	"context"
	"fmt"
)

// ScanTable calls fn with every row of the table, in rowid order where it
// has one, and the names of its columns: for moving a store to another
// database (shiftsyncd admin copy-store). Values are as the driver reads
// them (int64, float64, string, []byte or nil). Returns an error for a
// table the schema does not have.
func (db *DB) ScanTable(ctx context.Context, table string, fn func(columns []string, row []any) error) error {
	var exists bool
	if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)`, table).Scan(&exists); err != nil {
		return storageError(err)
	}
	if !exists {
		return fmt.Errorf("sqlite: no table %q", table)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT * FROM "`+table+`"`) // the name is one of the schema's
	if err != nil {
		return storageError(err)
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		return storageError(err)
	}
	for rows.Next() {
		row := make([]any, len(columns))
		ptrs := make([]any, len(columns))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return storageError(err)
		}
		if err := fn(columns, row); err != nil {
			return err
		}
	}
	return storageError(rows.Err())
}
