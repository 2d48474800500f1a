package shiftsync

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// A hash chain shows that no entry was edited, inserted or removed in the
// middle, but anyone who can write the database can rewrite or truncate the
// whole chain and recompute it. Signed heads close that gap: at intervals,
// and whenever a writer opens or closes the log, the writer signs the
// chain's last entry with the audit key, which is kept outside the
// database (the token signing keys are inside it, so a database writer
// could sign with those). The heads are kept where the database's writer
// cannot reach them too: a file beside it, the server log, and whatever an
// operator ships those to.
//
// A chain is then checked against its heads: an entry that does not match a
// head means the chain was rewritten; a chain that ends before the latest
// head was truncated; entries beyond a head that closed the log, or between
// it and the head of the next writer to open it, were written without the
// key. What no head can cover is the tail a running writer has not signed
// yet: at most AuditHeadEvery entries or AuditHeadInterval.

// Audit head policy: a running writer signs a head once AuditHeadEvery
// entries, or any entry older than AuditHeadInterval, are not covered.
const (
	AuditHeadEvery    = 100
	AuditHeadInterval = time.Minute
)

// auditHeadFormat is the version of the bytes an [AuditHead] signs.
const auditHeadFormat = 1

// AuditHead is a signed statement that the audit chain of a store ended,
// at a time, with the entry Seq whose hash is Hash (Seq 0: the chain was
// empty). Its JSON form is what the heads file and the server log hold.
type AuditHead struct {
	Version int       `json:"v"`
	StoreID string    `json:"store"`
	Run     string    `json:"run"`     // the writer process that signed it
	Process string    `json:"process"` // AuditProcessServe or AuditProcessAdmin
	Seq     int64     `json:"seq"`
	Hash    []byte    `json:"hash"`
	At      time.Time `json:"at"`
	// Start marks the head a writer signs as it opens the log, Final the
	// one it signs as it closes it: nothing follows a final head until a
	// writer opens the log again.
	Start     bool              `json:"start,omitempty"`
	Final     bool              `json:"final,omitempty"`
	PublicKey ed25519.PublicKey `json:"key"`
	Signature []byte            `json:"sig"`
}

// The processes that write the audit log. On a store of one server (a
// SQLite file) a server that opens the log ends every writer run before
// it, and admin commands run beside it. On a store several servers share
// ([AuditRuns]) each run opens the log with an entry naming the runs still
// registered then, and those are the runs its start head leaves open.
const (
	AuditProcessServe = "serve"
	AuditProcessAdmin = "admin"
)

// AuditRuns is a store whose audit log several writer processes hold open
// at once: several servers on one PostgreSQL. A run ends when it signs its
// final head, or when it dies, and only the store knows which runs are
// still alive, so a run opens the log through the store.
type AuditRuns interface {
	// OpenAuditRun registers run as a writer of the log, until end is
	// called or the process ends, and then, in one transaction ordered
	// with every other audited write, appends the entry event makes of the
	// other runs registered at that moment (sorted), and returns it. A run
	// that registered before the entry was appended is named by it; one
	// that registers later appends its own entry after it.
	OpenAuditRun(ctx context.Context, run string, event func(alive []string) AuditEvent) (e AuditEntry, end func(), err error)
}

// auditRunOpen is the detail of an [AuditRunOpen] entry, whose subject is
// the run that opened the log.
type auditRunOpen struct {
	Process string   `json:"process"`
	Alive   []string `json:"alive"` // the other runs registered as it opened the log
}

// signed returns the bytes the signature covers: a format label, then the
// fields, strings and hashes length-prefixed, so no two heads sign alike.
func (h AuditHead) signed() []byte {
	b := []byte("shiftsync audit head\x00")
	b = binary.BigEndian.AppendUint16(b, uint16(h.Version))
	for _, f := range [][]byte{[]byte(h.StoreID), []byte(h.Run), []byte(h.Process), h.Hash} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(h.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(h.At.UnixMilli()))
	var flags byte
	if h.Start {
		flags |= 1
	}
	if h.Final {
		flags |= 2
	}
	return append(b, flags)
}

// Sign returns h signed with key, in the current format.
func (h AuditHead) Sign(key ed25519.PrivateKey) AuditHead {
	h.Version = auditHeadFormat
	h.At = h.At.UTC().Truncate(time.Millisecond)
	h.PublicKey = key.Public().(ed25519.PublicKey)
	h.Signature = ed25519.Sign(key, h.signed())
	return h
}

// Verify returns nil if h is signed by the key pub, or by the key it names
// when pub is nil (which proves only that the head is intact: the caller
// must then check the key's fingerprint against the one it trusts).
func (h AuditHead) Verify(pub ed25519.PublicKey) error {
	if h.Version != auditHeadFormat {
		return fmt.Errorf("audit head of entry %d: unknown format %d", h.Seq, h.Version)
	}
	if pub != nil && !pub.Equal(h.PublicKey) {
		return fmt.Errorf("audit head of entry %d is signed by key %s, not the audit key %s", h.Seq, AuditKeyFingerprint(h.PublicKey), AuditKeyFingerprint(pub))
	}
	if len(h.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(h.PublicKey, h.signed(), h.Signature) {
		return fmt.Errorf("audit head of entry %d: the signature does not verify", h.Seq)
	}
	return nil
}

// AuditKeyFingerprint returns the form in which an operator records and
// compares the audit public key: "SHA256:" and the unpadded base64 of its
// SHA-256, as ssh prints key fingerprints.
func AuditKeyFingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// AuditHeadDue reports whether a running writer whose latest head is last
// should sign a new one, the chain's tip being entry tip at now.
func AuditHeadDue(last AuditHead, tip int64, now time.Time) bool {
	return tip-last.Seq >= AuditHeadEvery || (tip > last.Seq && now.Sub(last.At) >= AuditHeadInterval)
}

// AuditReport is what checking an audit chain found.
type AuditReport struct {
	Entries int   // entries checked
	Tip     int64 // the last entry's seq (0: none)
	Heads   int   // distinct signed heads checked against
	// Head is the latest signed head the chain was checked against; zero
	// if there was none.
	Head AuditHead
	// Uncovered counts the entries after the latest head that a writer
	// still open (running, or stopped without closing the log) may have
	// written; at most the bound of [AuditHeadDue] while it runs.
	Uncovered int64
}

// AuditChecker checks an audit chain, given its entries in seq order,
// against signed heads whose signatures the caller has verified
// ([AuditHead.Verify]). The zero value is not usable: call
// [NewAuditChecker].
type AuditChecker struct {
	heads   []AuditHead // in the order they were written
	hashes  map[int64][]byte
	prev    []byte
	lastSeq int64
	n       int
	// runOpens holds the [AuditRunOpen] entries by seq: a start head at
	// one of them, of its run, opened a shared log.
	runOpens map[int64]runOpen
}

// runOpen is what an [AuditRunOpen] entry says: which run opened the log,
// and which others were alive then.
type runOpen struct {
	run   string
	alive map[string]bool
}

// NewAuditChecker returns a checker of a chain against heads, all of the
// store storeID, given in the order they were written (a heads file's
// order, then other copies); their times are not trusted for order; a head of another store is an error (a database swapped
// for another). Heads that are the same head found in several places count
// once.
func NewAuditChecker(storeID string, heads []AuditHead) (*AuditChecker, error) {
	c := &AuditChecker{hashes: map[int64][]byte{}, prev: AuditGenesis, runOpens: map[int64]runOpen{}}
	seen := map[string]bool{}
	for _, h := range heads {
		if h.StoreID != storeID {
			return nil, fmt.Errorf("audit log: a signed head of entry %d is of store %q, and this database is store %q", h.Seq, h.StoreID, storeID)
		}
		if seen[string(h.Signature)] {
			continue
		}
		seen[string(h.Signature)] = true
		if want, ok := c.hashes[h.Seq]; ok && !bytes.Equal(want, h.Hash) {
			return nil, fmt.Errorf("audit log: two signed heads of entry %d disagree: the chain was rewritten after the first", h.Seq)
		}
		if h.Seq > 0 {
			c.hashes[h.Seq] = h.Hash
		}
		c.heads = append(c.heads, h)
	}
	// The order heads were written in, not the clocks that stamped them
	// (a clock may step back): the chain only grows, so by seq, and heads
	// of one seq in the order given.
	slices.SortStableFunc(c.heads, func(a, b AuditHead) int { return cmp.Compare(a.Seq, b.Seq) })
	return c, nil
}

// Check checks the next entry: its seq follows the last, it links to it,
// its hash is its content's, and it matches any head of its seq. The error
// names the entry.
func (c *AuditChecker) Check(e AuditEntry) error {
	switch {
	case e.Seq != c.lastSeq+1:
		return fmt.Errorf("audit log: entry %d follows %d: entries are missing", e.Seq, c.lastSeq)
	case !bytes.Equal(e.PrevHash, c.prev):
		return fmt.Errorf("audit log: entry %d does not link to entry %d", e.Seq, c.lastSeq)
	case !bytes.Equal(e.Hash, AuditHash(c.prev, e.At, e.Event)):
		return fmt.Errorf("audit log: entry %d was altered", e.Seq)
	}
	if want, ok := c.hashes[e.Seq]; ok && !bytes.Equal(e.Hash, want) {
		return fmt.Errorf("audit log: entry %d does not match its signed head: the chain was rewritten up to it", e.Seq)
	}
	c.prev, c.lastSeq = e.Hash, e.Seq
	c.n++
	var open auditRunOpen
	if e.Event.Action == AuditRunOpen && json.Unmarshal([]byte(e.Event.Detail), &open) == nil && c.runOpens != nil {
		alive := map[string]bool{}
		for _, r := range open.Alive {
			alive[r] = true
		}
		c.runOpens[e.Seq] = runOpen{run: e.Event.Subject, alive: alive}
	}
	return nil
}

// Report returns what the checker has seen so far: the entries checked and
// the last of them.
func (c *AuditChecker) Report() AuditReport {
	return AuditReport{Entries: c.n, Tip: c.lastSeq, Heads: len(c.heads)}
}

// Finish checks the end of the chain against the heads, once every entry
// has been checked: the chain reaches the latest head, and no entries were
// written while no writer had the log open (after a final head, or between
// it and the next start).
func (c *AuditChecker) Finish() (AuditReport, error) {
	r := c.Report()
	open := map[string]bool{} // runs that have not closed the log
	var covered AuditHead     // the head of the highest entry so far
	for i, h := range c.heads {
		opened, shared := c.runOpens[h.Seq]
		shared = shared && h.Start && opened.run == h.Run
		last := h.Seq // the last entry a start head finds written before it
		if shared {
			last-- // its own AuditRunOpen entry
		}
		if h.Start && i > 0 && len(open) == 0 && last > covered.Seq {
			return r, fmt.Errorf("audit log: entries %d to %d were written while no writer had the log open: after the final head of entry %d (%s), before the start head of entry %d (%s)",
				covered.Seq+1, last, covered.Seq, covered.At.Format(time.RFC3339), h.Seq, h.At.Format(time.RFC3339))
		}
		switch {
		case shared: // the runs not alive as it opened the log have ended
			maps.DeleteFunc(open, func(run string, _ bool) bool { return !opened.alive[run] })
		case h.Start && h.Process == AuditProcessServe:
			clear(open) // whoever ran before a server started has stopped
		}
		if h.Final {
			delete(open, h.Run)
		} else {
			open[h.Run] = true
		}
		if h.Seq >= covered.Seq {
			covered = h
		}
	}
	r.Head = covered
	switch {
	case len(c.heads) == 0:
		return r, nil
	case c.lastSeq < covered.Seq:
		return r, fmt.Errorf("audit log: the chain ends at entry %d, before the signed head of entry %d (%s): entries were removed",
			c.lastSeq, covered.Seq, covered.At.Format(time.RFC3339))
	case c.lastSeq > covered.Seq && len(open) == 0:
		return r, fmt.Errorf("audit log: %d entries after the final head of entry %d (%s), written without the audit key",
			c.lastSeq-covered.Seq, covered.Seq, covered.At.Format(time.RFC3339))
	}
	r.Uncovered = c.lastSeq - covered.Seq
	return r, nil
}

// AuditChain is the audit log as an [AuditSealer] sees it.
type AuditChain interface {
	// AuditTip returns the last entry's seq and hash, or 0 and AuditGenesis
	// for an empty log.
	AuditTip(ctx context.Context) (int64, []byte, error)
	// AuditEntries calls fn with each entry from seq from (1 if from is 0)
	// to seq to, in seq order, stopping at fn's first error.
	AuditEntries(ctx context.Context, from, to int64, fn func(AuditEntry) error) error
	AuditHeadWriter
}

// AuditHeadWriter keeps signed heads somewhere.
type AuditHeadWriter interface {
	// WriteAuditHead keeps h; it returns once h is durable.
	WriteAuditHead(ctx context.Context, h AuditHead) error
}

// AuditSealer is one writer process's signer of audit heads: Open signs a
// start head, SealIfDue signs by the policy of [AuditHeadDue], Close signs
// the final head. Every head goes to the chain's store and to each of
// Copies. It is safe for concurrent use.
//
// Before it signs a head after the first, the sealer checks the entries
// since its last head: that entry still has the hash it signed, and every
// later one follows, links and hashes right. A chain that fails is not
// signed, then or ever after by this sealer, with an [ErrAuditChainBroken]
// naming the first bad entry; verify-audit then fails on the same entry.
// Entries a database writer appended with correct links pass: only a key
// the database writer lacks, in every entry, would tell them.
type AuditSealer struct {
	Chain   AuditChain
	StoreID string
	Key     ed25519.PrivateKey
	Process string // AuditProcessServe or AuditProcessAdmin
	Copies  []AuditHeadWriter
	Now     func() time.Time

	mu     sync.Mutex
	run    string
	end    func() // ends the run's registration with an [AuditRuns] store
	last   AuditHead
	broken error // the check that failed; nothing is signed after it
}

// ErrAuditChainBroken is the error, wrapped, of a sealer that found the
// chain since its last head rewritten.
var ErrAuditChainBroken = errors.New("audit chain broken since the last signed head: no head is signed")

// Open signs the start head, covering the chain as the writer found it;
// on an [AuditRuns] store, covering the [AuditRunOpen] entry it appends.
func (s *AuditSealer) Open(ctx context.Context) (AuditHead, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run = hex.EncodeToString(b)
	runs, shared := s.Chain.(AuditRuns)
	if !shared {
		return s.seal(ctx, true, false)
	}
	e, end, err := runs.OpenAuditRun(ctx, s.run, func(alive []string) AuditEvent {
		detail, _ := json.Marshal(auditRunOpen{Process: s.Process, Alive: alive})
		return AuditEvent{Action: AuditRunOpen, Subject: s.run, Detail: string(detail)}
	})
	if err != nil {
		return AuditHead{}, err
	}
	s.end = end
	return s.sign(ctx, e.Seq, e.Hash, true, false)
}

// SealIfDue signs a head if one is due, and reports whether it did. A
// chain shorter than the last head, and a sealer that found the chain
// broken, are refused at once with an [ErrAuditChainBroken].
func (s *AuditSealer) SealIfDue(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tip, _, err := s.Chain.AuditTip(ctx)
	if err != nil || !AuditHeadDue(s.last, tip, s.Now()) && tip >= s.last.Seq && s.broken == nil {
		return false, err
	}
	_, err = s.seal(ctx, false, false)
	return true, err
}

// Close signs the final head. The writer must append nothing after it.
func (s *AuditSealer) Close(ctx context.Context) (AuditHead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.seal(ctx, false, true)
	if s.end != nil {
		s.end()
		s.end = nil
	}
	return h, err
}

// seal signs a head of the chain's tip and writes it everywhere, returning
// every failure; a copy that fails does not stop the others.
func (s *AuditSealer) seal(ctx context.Context, start, final bool) (AuditHead, error) {
	if s.run == "" {
		return AuditHead{}, errors.New("audit sealer: not open")
	}
	if s.broken != nil {
		return AuditHead{}, s.broken
	}
	seq, hash, err := s.Chain.AuditTip(ctx)
	if err != nil {
		return AuditHead{}, err
	}
	if !start {
		if err := s.checkSince(ctx, seq, hash); err != nil {
			return AuditHead{}, err
		}
	}
	return s.sign(ctx, seq, hash, start, final)
}

// sign signs a head of entry seq, whose hash is hash, and writes it
// everywhere, returning every failure.
func (s *AuditSealer) sign(ctx context.Context, seq int64, hash []byte, start, final bool) (AuditHead, error) {
	h := AuditHead{StoreID: s.StoreID, Run: s.run, Process: s.Process, Seq: seq, Hash: hash, At: s.Now(), Start: start, Final: final}.Sign(s.Key)
	errs := []error{s.Chain.WriteAuditHead(ctx, h)}
	for _, c := range s.Copies {
		errs = append(errs, c.WriteAuditHead(ctx, h))
	}
	s.last = h
	return h, errors.Join(errs...)
}

// checkSince checks the entries from the last head's to the tip, entry seq
// of hash; a chain found rewritten breaks the sealer for good.
func (s *AuditSealer) checkSince(ctx context.Context, seq int64, hash []byte) error {
	if seq < s.last.Seq {
		s.broken = fmt.Errorf("%w: the chain ends at entry %d, before the signed head of entry %d", ErrAuditChainBroken, seq, s.last.Seq)
		return s.broken
	}
	c := &AuditChecker{prev: s.last.Hash, lastSeq: s.last.Seq}
	found := s.last.Seq == 0 // the head's entry, if it has one
	err := s.Chain.AuditEntries(ctx, s.last.Seq, seq, func(e AuditEntry) error {
		if !found {
			if e.Seq != s.last.Seq {
				return fmt.Errorf("%w: entry %d, of the last signed head, is missing", ErrAuditChainBroken, s.last.Seq)
			}
			found = true
			if !bytes.Equal(e.Hash, s.last.Hash) || !bytes.Equal(e.Hash, AuditHash(e.PrevHash, e.At, e.Event)) {
				return fmt.Errorf("%w: entry %d was altered after its head was signed", ErrAuditChainBroken, e.Seq)
			}
			return nil
		}
		if err := c.Check(e); err != nil {
			return fmt.Errorf("%w: %w", ErrAuditChainBroken, err)
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrAuditChainBroken):
	case err != nil:
		return err
	case !found:
		err = fmt.Errorf("%w: entry %d, of the last signed head, is missing", ErrAuditChainBroken, s.last.Seq)
	case c.lastSeq != seq || !bytes.Equal(c.prev, hash):
		err = fmt.Errorf("%w: entry %d changed while it was checked", ErrAuditChainBroken, seq)
	default:
		return nil
	}
	s.broken = err
	return err
}
