package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/shiftsync/shiftsync/server/auditfile"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/wiring"
)

// openSealer opens the audit key beside the database at path (creating it
// on first use, and saying so on log) and signs the start head of a writer
// process. Its heads go to the database, the heads file beside it, and the
// log when logHeads is set. A writer that cannot keep its heads does not
// start: it would write entries nothing vouches for.
func openSealer(ctx context.Context, chain shiftsync.AuditChain, storeID, path, process string, log *slog.Logger, logHeads bool) (*shiftsync.AuditSealer, error) {
	key, created, err := auditfile.OpenKey(auditfile.KeyPath(path))
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	if created || logHeads {
		log.InfoContext(ctx, "audit key", "path", auditfile.KeyPath(path), "created", created,
			"fingerprint", shiftsync.AuditKeyFingerprint(pub), "public_key", base64.StdEncoding.EncodeToString(pub))
	}
	s := &shiftsync.AuditSealer{Chain: chain, StoreID: storeID, Key: key, Process: process, Now: time.Now,
		Copies: []shiftsync.AuditHeadWriter{auditfile.Heads{Path: auditfile.HeadsPath(path)}}}
	if logHeads {
		s.Copies = append(s.Copies, headLog{log})
	}
	if _, err := s.Open(ctx); err != nil {
		return nil, fmt.Errorf("signing the audit log's start head: %w", err)
	}
	return s, nil
}

// headLog writes signed heads to the server log, one line each, holding
// the head's JSON as verify-audit -head takes it.
type headLog struct{ log *slog.Logger }

func (l headLog) WriteAuditHead(ctx context.Context, h shiftsync.AuditHead) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	l.log.InfoContext(ctx, "audit head", "seq", h.Seq, "start", h.Start, "final", h.Final, "head", string(b))
	return nil
}

// sealAudit signs a head whenever one is due ([shiftsync.AuditHeadDue]),
// checking every poll, until ctx ends; failures are logged and retried. A
// chain the sealer found rewritten is logged once, as an ERROR naming the
// first bad entry: the sealer signs nothing after it.
func sealAudit(ctx context.Context, s *shiftsync.AuditSealer, poll time.Duration, log *slog.Logger) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	broken := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, err := s.SealIfDue(ctx)
		switch {
		case err == nil || ctx.Err() != nil || broken:
		case errors.Is(err, shiftsync.ErrAuditChainBroken):
			broken = true
			log.ErrorContext(ctx, "audit log rewritten while the server ran: no more audit heads are signed; run verify-audit and investigate", "err", err)
		default:
			log.ErrorContext(ctx, "signing an audit head failed", "err", err)
		}
	}
}

// verifyAudit checks the audit log of the database at path against every
// signed head it can find: those of the heads file (headsPath, or the one
// beside the database), the database's own, and head (JSON, e.g. from an
// off-box copy of the log). Every head must be signed by the audit key:
// pubFlag (base64), else the key file beside the database, else the one
// key the heads name, whose fingerprint the operator compares with the one
// they recorded.
//
// It fails when the heads file is missing, given or expected (the audit
// key is known: a key file beside the database or pubFlag), and when no
// head is found for a known key. Only a database that never had an audit
// key, a store from before signed heads, is checked on its links alone.
func verifyAudit(ctx context.Context, db wiring.AuditStore, path, headsPath, head, pubFlag string, stdout io.Writer) error {
	type found struct {
		where string
		head  shiftsync.AuditHead
	}
	pub, err := auditPublicKey(path, pubFlag)
	if err != nil {
		return err
	}
	keyed := pub != nil
	var heads []found
	file := headsPath
	if file == "" {
		file = auditfile.HeadsPath(path)
	}
	fromFile, torn, err := auditfile.ReadHeads(file)
	switch {
	case errors.Is(err, fs.ErrNotExist) && headsPath != "":
		return fmt.Errorf("audit log does not verify: the heads file %s given is missing", file)
	case errors.Is(err, fs.ErrNotExist) && keyed:
		return fmt.Errorf("audit log does not verify: the database has an audit key, and its heads file %s is missing (give a copy with -heads)", file)
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	}
	for _, n := range torn {
		fmt.Fprintf(stdout, "%s line %d: a head cut short as it was written (a crash), left out\n", file, n)
	}
	for i, h := range fromFile {
		heads = append(heads, found{fmt.Sprintf("%s, head %d", file, i+1), h})
	}
	fromDB, err := db.AuditHeads(ctx)
	if err != nil {
		return err
	}
	for i, h := range fromDB {
		heads = append(heads, found{fmt.Sprintf("the database's head %d", i+1), h})
	}
	if head != "" {
		var h shiftsync.AuditHead
		if err := json.Unmarshal([]byte(head), &h); err != nil {
			return fmt.Errorf("-head: %w", err)
		}
		heads = append(heads, found{"-head", h})
	}

	if len(heads) == 0 && keyed {
		return errors.New("audit log does not verify: the database has an audit key, and no signed head was found: heads were removed")
	}
	if pub == nil && len(heads) > 0 {
		pub = heads[0].head.PublicKey // every other head must name the same key
	}
	valid := make([]shiftsync.AuditHead, 0, len(heads))
	for _, f := range heads {
		if err := f.head.Verify(pub); err != nil {
			return fmt.Errorf("%s: %w", f.where, err)
		}
		valid = append(valid, f.head)
	}

	r, err := db.CheckAudit(ctx, valid)
	if err != nil {
		return fmt.Errorf("audit log does not verify: %w", err)
	}
	fmt.Fprintf(stdout, "audit log verified: %d entries, chain intact\n", r.Entries)
	if len(valid) == 0 {
		fmt.Fprintln(stdout, "no audit key and no signed heads: a store from before signed heads; only the chain's links were checked, which does not show a chain truncated or rewritten as a whole")
		return nil
	}
	kind := "running"
	if r.Head.Final {
		kind = "final"
	}
	fmt.Fprintf(stdout, "against %d signed heads, the latest of entry %d (%s, signed %s by the %s process) with audit key %s\n",
		r.Heads, r.Head.Seq, kind, r.Head.At.Format(time.RFC3339), r.Head.Process, shiftsync.AuditKeyFingerprint(pub))
	if r.Uncovered > 0 {
		fmt.Fprintf(stdout, "%d entries after it are not covered by a head yet: a running server signs every %d entries or %s\n",
			r.Uncovered, shiftsync.AuditHeadEvery, shiftsync.AuditHeadInterval)
	}
	return nil
}

// auditPublicKey returns the audit public key given as base64, else the
// public half of the key file beside the database at path, else nil.
func auditPublicKey(path, pubFlag string) (ed25519.PublicKey, error) {
	if pubFlag != "" {
		b, err := base64.StdEncoding.DecodeString(pubFlag)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("-key: want the audit public key as %d bytes of base64, as the server logs it at start", ed25519.PublicKeySize)
		}
		return b, nil
	}
	key, err := auditfile.ReadKey(auditfile.KeyPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}
