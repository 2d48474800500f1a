package shiftsync_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestAuditHash pins format 1 of the entry hash: every chain already stored
// must keep verifying, so these values never change.
func TestAuditHash(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	h1 := shiftsync.AuditHash(shiftsync.AuditGenesis, at, shiftsync.AuditEvent{
		Actor: shiftsync.Principal{UserID: "manager-1", DeviceID: "console", Services: []string{"not covered"}}, Action: "device.revoke", Subject: "d-1", Detail: `{"reason":"lost"}`})
	h2 := shiftsync.AuditHash(h1, at.Add(time.Millisecond), shiftsync.AuditEvent{Action: "device.enrol_refused", Subject: "192.0.2.7", Detail: "{}"})
	for _, c := range []struct {
		got  []byte
		want string
	}{
		{h1, "fb88337c5043f0b71ed256ed7ee6708d19c91ec936cada125c2c8907246e4bf0"},
		{h2, "7e0c6a9dbf9ba9038e8e771cf663c0db710afab3f293192153c733b71e5dc7f1"},
	} {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("AuditHash() = %s, want %s", got, c.want)
		}
	}
}

var testAuditKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

func TestAuditHead_Verify(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	h := shiftsync.AuditHead{StoreID: "s", Run: "r", Process: shiftsync.AuditProcessServe, Seq: 7, Hash: []byte("hash"), At: at, Final: true}.Sign(testAuditKey)
	pub := testAuditKey.Public().(ed25519.PublicKey)
	if err := h.Verify(pub); err != nil {
		t.Fatalf("Verify() of a signed head = %v", err)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back shiftsync.AuditHead
	if err := json.Unmarshal(b, &back); err != nil || back.Verify(pub) != nil {
		t.Errorf("the JSON form %s does not verify: %v, %v", b, err, back.Verify(pub))
	}
	other := ed25519.NewKeyFromSeed([]byte(strings.Repeat("x", ed25519.SeedSize)))
	tampered := map[string]shiftsync.AuditHead{
		"another seq":   func(h shiftsync.AuditHead) shiftsync.AuditHead { h.Seq++; return h }(h),
		"another hash":  func(h shiftsync.AuditHead) shiftsync.AuditHead { h.Hash = []byte("hasj"); return h }(h),
		"another store": func(h shiftsync.AuditHead) shiftsync.AuditHead { h.StoreID = "t"; return h }(h),
		"not final":     func(h shiftsync.AuditHead) shiftsync.AuditHead { h.Final = false; return h }(h),
		"another time":  func(h shiftsync.AuditHead) shiftsync.AuditHead { h.At = h.At.Add(time.Second); return h }(h),
		"another key":   h.Sign(other),
	}
	for name, bad := range tampered {
		if err := bad.Verify(pub); err == nil {
			t.Errorf("Verify() of a head with %s = nil, want an error", name)
		}
	}
	if err := tampered["another key"].Verify(nil); err != nil {
		t.Errorf("Verify(nil) of a head intact under its own key = %v", err)
	}
}

// chain is a test audit chain with the heads its writers signed.
type chain struct {
	entries []shiftsync.AuditEntry
	heads   []shiftsync.AuditHead
	now     time.Time
}

func (c *chain) append(n int) {
	for range n {
		prev := shiftsync.AuditGenesis
		if len(c.entries) > 0 {
			prev = c.entries[len(c.entries)-1].Hash
		}
		c.now = c.now.Add(time.Second)
		e := shiftsync.AuditEntry{Seq: int64(len(c.entries) + 1), At: c.now, Event: shiftsync.AuditEvent{Action: "sync.push", Detail: fmt.Sprint(len(c.entries))}, PrevHash: prev}
		e.Hash = shiftsync.AuditHash(prev, e.At, e.Event)
		c.entries = append(c.entries, e)
	}
}

// head signs a head of the chain's tip by run (of process "serve" when it
// starts with "serve").
func (c *chain) head(run string, start, final bool) {
	h := shiftsync.AuditHead{StoreID: "store-1", Run: run, Process: shiftsync.AuditProcessAdmin, At: c.now.Add(time.Millisecond), Start: start, Final: final, Hash: shiftsync.AuditGenesis}
	if strings.HasPrefix(run, "serve") {
		h.Process = shiftsync.AuditProcessServe
	}
	if n := len(c.entries); n > 0 {
		h.Seq, h.Hash = int64(n), c.entries[n-1].Hash
	}
	c.heads = append(c.heads, h.Sign(testAuditKey))
}

func (c *chain) check() (shiftsync.AuditReport, error) {
	ck, err := shiftsync.NewAuditChecker("store-1", c.heads)
	if err != nil {
		return shiftsync.AuditReport{}, err
	}
	for _, e := range c.entries {
		if err := ck.Check(e); err != nil {
			return shiftsync.AuditReport{}, err
		}
	}
	return ck.Finish()
}

// served is a chain written by a server that started on an empty log,
// signed a head after 100 entries and stopped cleanly after 120.
func served() *chain {
	c := &chain{now: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)}
	c.head("serve-1", true, false)
	c.append(100)
	c.head("serve-1", false, false)
	c.append(20)
	c.head("serve-1", false, true)
	return c
}

func TestAuditChecker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		edit      func(c *chain)
		wantErr   string // "" for a chain that verifies
		uncovered int64
	}{
		{name: "a cleanly stopped server's chain", edit: func(*chain) {}},
		{name: "no heads: links only", edit: func(c *chain) { c.heads = nil }},
		{name: "the last rows deleted", edit: func(c *chain) { c.entries = c.entries[:110] }, wantErr: "chain ends at entry 110, before the signed head of entry 120"},
		{name: "every row deleted", edit: func(c *chain) { c.entries = nil }, wantErr: "chain ends at entry 0, before the signed head of entry 120"},
		{name: "a row altered and the chain recomputed", edit: func(c *chain) {
			c.entries[49].Event.Detail = "rewritten"
			prev := c.entries[48].Hash
			for i := 49; i < len(c.entries); i++ {
				c.entries[i].PrevHash = prev
				c.entries[i].Hash = shiftsync.AuditHash(prev, c.entries[i].At, c.entries[i].Event)
				prev = c.entries[i].Hash
			}
		}, wantErr: "entry 100 does not match its signed head"},
		{name: "a row appended after the final head", edit: func(c *chain) { c.append(1) }, wantErr: "1 entries after the final head of entry 120"},
		{name: "rows appended while stopped, then a server starts", edit: func(c *chain) {
			c.append(3)
			c.head("serve-2", true, false)
			c.append(5)
			c.head("serve-2", false, true)
		}, wantErr: "entries 121 to 123 were written while no writer had the log open"},
		{name: "a running server's unsigned tail", edit: func(c *chain) {
			c.head("serve-2", true, false)
			c.append(42)
		}, uncovered: 42},
		{name: "an admin command while the server runs", edit: func(c *chain) {
			c.head("serve-2", true, false)
			c.append(3)
			c.head("admin-1", true, false)
			c.append(1)
			c.head("admin-1", false, true)
			c.append(4) // the server's, not yet signed
		}, uncovered: 4},
		{name: "an admin command after the server stopped", edit: func(c *chain) {
			c.head("admin-1", true, false)
			c.append(1)
			c.head("admin-1", false, true)
		}},
		{name: "a server that crashed, then a restart", edit: func(c *chain) {
			c.head("serve-2", true, false)
			c.append(7) // lost with the crash: no head covers them
			c.head("serve-3", true, false)
			c.append(2)
			c.head("serve-3", false, true)
		}},
		{name: "a row appended after a restart that followed a crash", edit: func(c *chain) {
			c.head("serve-2", true, false)
			c.append(7)
			c.head("serve-3", true, false)
			c.head("serve-3", false, true)
			c.append(1)
		}, wantErr: "1 entries after the final head of entry 127"},
		{name: "a clock stepped back while a server ran, then a row appended after its final head", edit: func(c *chain) {
			c.heads[0].At = c.heads[2].At.Add(time.Hour) // the start head was stamped an hour ahead
			c.heads[0] = c.heads[0].Sign(testAuditKey)
			c.append(1)
		}, wantErr: "1 entries after the final head of entry 120"},
		{name: "a clock stepped back between two servers", edit: func(c *chain) {
			c.now = c.now.Add(-time.Hour)
			c.head("serve-2", true, false)
			c.append(3)
			c.head("serve-2", false, true)
		}},
		{name: "a head of another store", edit: func(c *chain) {
			h := c.heads[0]
			h.StoreID = "store-2"
			c.heads = append(c.heads, h.Sign(testAuditKey))
		}, wantErr: `is of store "store-2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := served()
			tt.edit(c)
			r, err := c.check()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("check() = %v, want the chain to verify", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("check() = %v, want an error containing %q", err, tt.wantErr)
			}
			if err == nil && (r.Uncovered != tt.uncovered || r.Entries != len(c.entries)) {
				t.Errorf("check() = %+v, want %d entries, %d uncovered", r, len(c.entries), tt.uncovered)
			}
		})
	}
}

func TestAuditHeadDue(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	last := shiftsync.AuditHead{Seq: 10, At: at}
	tests := []struct {
		name string
		tip  int64
		now  time.Time
		want bool
	}{
		{"nothing new", 10, at.Add(time.Hour), false},
		{"a few entries, recently", 10 + shiftsync.AuditHeadEvery - 1, at.Add(shiftsync.AuditHeadInterval - time.Second), false},
		{"enough entries", 10 + shiftsync.AuditHeadEvery, at.Add(time.Second), true},
		{"one entry, long enough ago", 11, at.Add(shiftsync.AuditHeadInterval), true},
	}
	for _, tt := range tests {
		if got := shiftsync.AuditHeadDue(last, tt.tip, tt.now); got != tt.want {
			t.Errorf("%s: AuditHeadDue(seq 10, %d, %v) = %v, want %v", tt.name, tt.tip, tt.now.Sub(at), got, tt.want)
		}
	}
}

// AuditTip, AuditEntries and WriteAuditHead make a test chain the
// [shiftsync.AuditChain] of a sealer.
func (c *chain) AuditTip(context.Context) (int64, []byte, error) {
	if n := len(c.entries); n > 0 {
		return c.entries[n-1].Seq, c.entries[n-1].Hash, nil
	}
	return 0, shiftsync.AuditGenesis, nil
}

func (c *chain) AuditEntries(_ context.Context, from, to int64, fn func(shiftsync.AuditEntry) error) error {
	for _, e := range c.entries {
		if e.Seq >= from && e.Seq <= to {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *chain) WriteAuditHead(_ context.Context, h shiftsync.AuditHead) error {
	c.heads = append(c.heads, h)
	return nil
}

// TestAuditSealer_RefusesARewrittenChain: a sealer signs a head only over
// a chain that still holds its last head's entry and links and hashes right
// from it to the tip; once it has found one that does not, it signs
// nothing more, naming the first bad entry.
func TestAuditSealer_RefusesARewrittenChain(t *testing.T) {
	t.Parallel()
	rehash := func(c *chain, from int) { // recompute the chain from entry index from, as a database writer can
		prev := shiftsync.AuditGenesis
		if from > 0 {
			prev = c.entries[from-1].Hash
		}
		for i := from; i < len(c.entries); i++ {
			c.entries[i].PrevHash = prev
			c.entries[i].Hash = shiftsync.AuditHash(prev, c.entries[i].At, c.entries[i].Event)
			prev = c.entries[i].Hash
		}
	}
	tests := []struct {
		name    string
		edit    func(c *chain) // after the sealer's head of entry 10, with 15 entries
		wantErr string         // "": the sealer signs a head of the tip
	}{
		{name: "entries appended by the server", edit: func(*chain) {}},
		{name: "an unsigned entry altered", edit: func(c *chain) { c.entries[11].Event.Detail = "rewritten" }, wantErr: "entry 12 was altered"},
		{name: "an unsigned entry removed", edit: func(c *chain) { c.entries = slices.Delete(c.entries, 11, 12) }, wantErr: "entry 13 follows 11"},
		{name: "an entry inserted that does not link", edit: func(c *chain) {
			e := c.entries[14]
			e.Seq, e.PrevHash = 16, shiftsync.AuditGenesis
			e.Hash = shiftsync.AuditHash(e.PrevHash, e.At, e.Event)
			c.entries = append(c.entries, e)
		}, wantErr: "entry 16 does not link to entry 15"},
		{name: "the signed entry rewritten, the chain recomputed", edit: func(c *chain) {
			c.entries[9].Event.Detail = "rewritten"
			rehash(c, 9)
		}, wantErr: "entry 10 was altered after its head was signed"},
		{name: "the chain truncated before the signed entry", edit: func(c *chain) { c.entries = c.entries[:8] }, wantErr: "the chain ends at entry 8, before the signed head of entry 10"},
		// What the check cannot tell: entries a database writer appends, or
		// rewrites after the signed one, with the links recomputed.
		{name: "unsigned entries rewritten with correct links (not detected)", edit: func(c *chain) {
			c.entries[12].Event.Detail = "rewritten"
			rehash(c, 12)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := &chain{now: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)}
			c.append(10)
			now := c.now
			s := &shiftsync.AuditSealer{Chain: c, StoreID: "store-1", Key: testAuditKey, Process: shiftsync.AuditProcessServe, Now: func() time.Time { return now }}
			if _, err := s.Open(ctx); err != nil {
				t.Fatal(err)
			}
			c.append(5)
			tt.edit(c)
			now = now.Add(shiftsync.AuditHeadInterval)
			signed, err := s.SealIfDue(ctx)
			if tt.wantErr == "" {
				if err != nil || !signed || c.heads[len(c.heads)-1].Seq != c.entries[len(c.entries)-1].Seq {
					t.Fatalf("SealIfDue() = %v, %v; want a head of the tip", signed, err)
				}
				return
			}
			if err == nil || !errors.Is(err, shiftsync.ErrAuditChainBroken) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("SealIfDue() = %v, %v; want refused, naming %q", signed, err, tt.wantErr)
			}
			c.append(1) // whatever follows, the sealer keeps refusing
			if _, err := s.Close(ctx); !errors.Is(err, shiftsync.ErrAuditChainBroken) {
				t.Errorf("Close() after a refusal = %v, want refused", err)
			}
			if len(c.heads) != 1 {
				t.Errorf("the sealer signed %d heads, want only its start head", len(c.heads))
			}
		})
	}
}
