// Package migrations holds the schema history of shiftsync's SQLite databases
// as goose SQL migrations, embedded into the binaries that apply them.
//
// Server holds the server store's migrations. Files are numbered sequentially
// and never edited once landed: a change is a new file. Every file has an Up
// and a Down section. Times are stored as integer Unix milliseconds (UTC);
// HLCs as packed integers (see shiftsync.HLC.Pack); field values in the
// small JSON form of shiftsync.MarshalValue.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed server/*.sql replica/*.sql
var files embed.FS

// Server is the server store's migrations, for goose.NewProvider.
var Server = sub("server")

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
