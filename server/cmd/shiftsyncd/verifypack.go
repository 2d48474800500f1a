package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/shiftsync/shiftsync/server/evidence"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// verifyPack runs "shiftsyncd admin verify-pack -file F": offline, with no
// database, it recomputes each row's hash of a pack's CSV (or HTML) and
// their root ([shiftsync.PackRowEncoding]), and fails naming each row that
// does not match the hash it shows, or when the rows do not hash to the
// root it shows. It proves the file was not edited without recomputing
// its hashes; the root it prints is compared with the one the recipient
// was given, or the pack verified against the server (VerifyEvidencePack).
func verifyPack(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify-pack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("file", "", "the pack's CSV or HTML, as exported")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shiftsyncd admin verify-pack -file PACK.csv|PACK.html\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return usageError{errors.New("verify-pack: -file is required, and nothing else")}
	}
	f, err := os.Open(*path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, shiftsync.MaxPackFileBytes+1))
	if err != nil {
		return err
	}
	pack, err := evidence.ReadPack(b)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	check := pack.Check()
	fmt.Fprintf(stdout, "pack %s: %d rows, root %s (%s)\n", pack.PackID, check.Rows, pack.Root, pack.Encoding)
	for _, c := range check.Changed {
		fmt.Fprintf(stdout, "line %d, record %s: does not hash to the hash it shows\n", c.Line, c.RecordID)
	}
	switch {
	case len(check.Changed) > 0:
		return fmt.Errorf("%s: %d rows changed since export", *path, len(check.Changed))
	case !check.RootMatches:
		return fmt.Errorf("%s: the rows do not hash to the root shown (a row added, removed, reordered, or the root altered)", *path)
	}
	fmt.Fprintln(stdout, "ok: every row hashes to the hash it shows, and the rows to the root")
	return nil
}
