// Package migrations holds the schema history of shiftsync's databases as
// goose SQL migrations, embedded into the binaries that apply them.
//
// Server holds the SQLite server store's migrations, Postgres the
// PostgreSQL store's: the same numbered history, each file of one the
// translation of the other's under the same number. Files are numbered sequentially
// and never edited once landed: a change is a new file. Every file has an Up
// and a Down section. Times are stored as integer Unix milliseconds (UTC);
// HLCs as packed integers (see shiftsync.HLC.Pack); field values in the
// small JSON form of shiftsync.MarshalValue.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed server/*.sql postgres/*.sql replica/*.sql
var files embed.FS

// Server is the server store's migrations, for goose.NewProvider.
var Server = sub("server")

// Postgres is the PostgreSQL server store's migrations, for
// goose.NewProvider with goose.DialectPostgres. Its times, HLCs and values
// are stored as Server's are; its change log positions differ (see
// 00001_create_sync.sql).
var Postgres = sub("postgres")

// Replica is the device replica's migrations, for goose.NewProvider: the
// schema of the SQLite file a phone keeps (mobile-contract/replica), which a
// Kotlin or Swift app copies. Unlike the server's, it keeps an HLC as two
// columns (wall_ms, logical) and field values as the protobuf JSON of
// shiftsync.sync.v1.Value.
var Replica = sub("replica")

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the directory is embedded above: unreachable
	}
	return f
}
