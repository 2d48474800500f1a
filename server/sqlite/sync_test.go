package sqlite_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

var (
	phone1 = shiftsync.Principal{UserID: "worker-1", DeviceID: "phone-1", Services: []string{"house-a"}}
	phone2 = shiftsync.Principal{UserID: "worker-2", DeviceID: "phone-2", Services: []string{"house-a"}}
)

// The push and pull engine's tests run over every store in storetest's
// Engine suite (TestConformance). What stays here is SQLite's own.

// TestSyncService_ReplayKeepsEveryRow replays pushes and checks that not
// one row of the sync tables changes, to the column: the suite compares
// what the store interfaces read back; this also pins the columns they do
// not expose.
func TestSyncService_ReplayKeepsEveryRow(t *testing.T) {
	db, _ := MustOpenDB(t)
	s := MustSyncService(t, db)
	ids := []string{newID(t), newID(t)}
	batch := []shiftsync.Mutation{
		incident(1, ids[0], "house-a", at(-5*time.Minute), "first"),
		incident(2, ids[1], "house-a", at(-4*time.Minute), "second"),
		edit(3, ids[0], "house-a", at(-3*time.Minute), "place", "garden", shiftsync.Version{}),
		{RecordRef: incident(0, ids[1], "house-a", at(0), "").RecordRef, Counter: 4, HLC: at(-2 * time.Minute),
			Fields: []shiftsync.FieldEdit{{Field: "no_such_field", Value: shiftsync.Value{Kind: shiftsync.KindBool}}}},
	}
	mustPush(t, s, phone1, slices.Clone(batch)...)
	before := dumpTables(t, db.Path)
	for name, replay := range map[string][]shiftsync.Mutation{
		"whole batch":     batch,
		"prefix of one":   batch[:1],
		"prefix of three": batch[:3],
		"one duplicate":   batch[2:3],
		"quarantined one": batch[3:],
		"same twice over": append(slices.Clone(batch[1:2]), batch[3:]...),
	} {
		mustPush(t, s, phone1, slices.Clone(replay)...)
		if diff := cmp.Diff(before, dumpTables(t, db.Path)); diff != "" {
			t.Fatalf("%s: replay changed the store (-before +after):\n%s", name, diff)
		}
	}
}

// TestSyncService_PushConverges delivers the same mutations from two devices
// in every interleaving the devices' outboxes allow (each device pushes its
// own mutations in counter order, singly or in batches) and checks that the
// current values are the same every time.
func TestSyncService_PushConverges(t *testing.T) {
	r1, r2 := "019c9d2e-7a00-7000-8000-0000000000a1", "019c9d2e-7a00-7000-8000-0000000000a2"
	created := shiftsync.Version{HLC: at(-60 * time.Minute), DeviceID: "phone-1"}
	setup := []shiftsync.Mutation{incident(1, r1, "house-a", created.HLC, "one"), incident(2, r2, "house-a", at(-59*time.Minute), "two")}
	// Concurrent edits of the same fields from the same bases, in HLC orders
	// that differ from any arrival order.
	dev1 := []shiftsync.Mutation{
		edit(3, r1, "house-a", at(-30*time.Minute), "place", "p1-early", shiftsync.Version{}),
		edit(4, r1, "house-a", at(-10*time.Minute), "behaviour_description", "p1-late", created),
		edit(5, r2, "house-a", at(-20*time.Minute), "antecedent", "p1", shiftsync.Version{}),
	}
	dev2 := []shiftsync.Mutation{
		edit(1, r1, "house-a", at(-25*time.Minute), "place", "p2-mid", shiftsync.Version{}),
		edit(2, r1, "house-a", at(-40*time.Minute), "behaviour_description", "p2-early", created),
		edit(3, r2, "house-a", at(-20*time.Minute), "antecedent", "p2", shiftsync.Version{}),
	}
	var want []string
	runs := 0
	for _, order := range interleavings(len(dev1), len(dev2)) {
		for _, batched := range []bool{false, true} {
			db, _ := MustOpenDB(t)
			s := MustSyncService(t, db)
			mustPush(t, s, phone1, setup...)
			var i, j int
			for step, fromDev1 := range order {
				next := i
				if !fromDev1 {
					next = j
				}
				n := 1
				if batched && step%2 == 0 { // sometimes a device sends two at once
					n = 2
				}
				if fromDev1 {
					n = min(n, len(dev1)-i)
					mustPush(t, s, phone1, dev1[next:next+n]...)
					i += n
				} else {
					n = min(n, len(dev2)-j)
					mustPush(t, s, phone2, dev2[next:next+n]...)
					j += n
				}
			}
			// Whatever is left (a batch can run a device ahead of the order).
			mustPush(t, s, phone1, dev1[i:]...)
			mustPush(t, s, phone2, dev2[j:]...)
			got := current(t, s, "house-a")
			if want == nil {
				want = got
			} else if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("order %v batched=%v diverged (-first +this):\n%s", order, batched, diff)
			}
			db.Close()
			runs++
		}
	}
	for _, w := range []string{`"p2-mid"`, `"p1-late"`, `{"s":"p2"}@`} {
		if !slices.ContainsFunc(want, func(f string) bool { return strings.Contains(f, w) }) {
			t.Errorf("converged state lacks %s: %v", w, want)
		}
	}
	t.Logf("%d interleavings converged", runs)
}

// interleavings returns every way to merge a sequence of n items from one
// device with m from another, as "true = the first device's next".
func interleavings(n, m int) [][]bool {
	if n == 0 && m == 0 {
		return [][]bool{{}}
	}
	var out [][]bool
	if n > 0 {
		for _, rest := range interleavings(n-1, m) {
			out = append(out, append([]bool{true}, rest...))
		}
	}
	if m > 0 {
		for _, rest := range interleavings(n, m-1) {
			out = append(out, append([]bool{false}, rest...))
		}
	}
	return out
}

func countRows(tb testing.TB, db *sqlite.DB, query string) int {
	tb.Helper()
	var n int
	if err := rawDB(tb, db).QueryRow(query).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}
