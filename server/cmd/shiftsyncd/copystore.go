package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shiftsync/shiftsync/server/auditfile"
	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/sqlite"
	"github.com/shiftsync/shiftsync/server/wiring"
)

// copyStore runs "shiftsyncd admin copy-store": it copies the SQLite store
// at -from into the new PostgreSQL database at -to ([postgres.DB.CopyFrom]),
// then the audit key and heads file beside it into state, where serve -db
// -to looks for them.
func copyStore(ctx context.Context, args []string, state string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("copy-store", flag.ContinueOnError)
	flags.SetOutput(stderr)
	from := flags.String("from", "", "the SQLite database file to copy (no server may be writing it)")
	to := flags.String("to", "", "the PostgreSQL database to copy it into, postgres://…; created by createdb, empty or only migrated")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *from == "" || !wiring.IsPostgres(*to) {
		return errors.New("copy-store: -from FILE.db and -to postgres://… are required")
	}
	if _, err := os.Stat(*from); err != nil {
		return fmt.Errorf("copy-store: %w", err)
	}
	// A push a server acknowledged after the copy read its table would be
	// on no store once the phones move.
	lock, err := lockDB(*from, "shiftsyncd admin copy-store")
	if err != nil {
		return fmt.Errorf("copy-store: %w", err)
	}
	defer lock.Release()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	src := sqlite.NewDB(*from)
	src.Logger = log
	if err := src.Open(); err != nil {
		return err
	}
	defer src.Close()
	dst := postgres.NewDB(*to)
	dst.Logger = log
	if err := dst.Open(); err != nil {
		return err
	}
	defer dst.Close()
	keyTo, headsTo := auditfile.KeyPath(filepath.Join(state, "postgres")), auditfile.HeadsPath(filepath.Join(state, "postgres"))
	for _, p := range []string{keyTo, headsTo} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("copy-store: %s exists: the state directory is another store's", p)
		}
	}
	counts, err := dst.CopyFrom(ctx, src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	for _, f := range [][2]string{{auditfile.KeyPath(*from), keyTo}, {auditfile.HeadsPath(*from), headsTo}} {
		if err := copyFile(f[0], f[1]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("copy-store: the rows are copied, but not %s: copy it to %s by hand: %w", f[0], f[1], err)
		}
	}
	tables := make([]string, 0, len(counts))
	for t, n := range counts {
		tables = append(tables, fmt.Sprintf("%s %d", t, n))
	}
	slices.Sort(tables)
	fmt.Fprintf(stdout, "copied store %s from %s to %s: %s\n", dst.StoreID(), *from, displayDB(*to), strings.Join(tables, ", "))
	return nil
}

// copyFile copies the file at from to a new file at to, readable by its
// owner only.
func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
