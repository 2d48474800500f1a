package sqlite_test

import (
	"context"
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

func TestSyncService_Push(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := MustSyncService(t, db)
		id := newID(t)
		res := mustPush(t, s, phone1,
			incident(1, id, "house-a", at(-3*time.Minute), "hit the door"),
			edit(2, id, "house-a", at(-2*time.Minute), "place", "hallway", shiftsync.Version{}),
		)
		if res.Acknowledged != 2 {
			t.Fatalf("Acknowledged = %d, want 2", res.Acknowledged)
		}
		for _, r := range res.Results {
			if r.Status != shiftsync.StatusAccepted || r.Replayed {
				t.Errorf("result %+v, want accepted, not replayed", r)
			}
		}
		if got := len(current(t, s, "house-a")); got != 3 {
			t.Errorf("%d current fields, want 3", got)
		}
	})

	t.Run("ReplayChangesNothing", func(t *testing.T) {
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
		first := mustPush(t, s, phone1, slices.Clone(batch)...)
		before := dumpTables(t, db.Path)

		replays := map[string][]shiftsync.Mutation{
			"whole batch":     batch,
			"prefix of one":   batch[:1],
			"prefix of three": batch[:3],
			"one duplicate":   batch[2:3],
			"quarantined one": batch[3:],
			"same twice over": append(slices.Clone(batch[1:2]), batch[3:]...),
		}
		for name, replay := range replays {
			res := mustPush(t, s, phone1, slices.Clone(replay)...)
			if res.Acknowledged != 4 {
				t.Errorf("%s: Acknowledged = %d, want 4", name, res.Acknowledged)
			}
			for i, r := range res.Results {
				orig := first.Results[replay[i].Counter-1]
				orig.Replayed = true
				if diff := cmp.Diff(orig, r); diff != "" {
					t.Errorf("%s: result for counter %d differs from the original (-want +got):\n%s", name, replay[i].Counter, diff)
				}
			}
			if diff := cmp.Diff(before, dumpTables(t, db.Path)); diff != "" {
				t.Fatalf("%s: replay changed the store (-before +after):\n%s", name, diff)
			}
		}
	})

	t.Run("CounterReusedIsQuarantined", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := MustSyncService(t, db)
		mustPush(t, s, phone1, incident(1, newID(t), "house-a", at(-time.Minute), "original"))
		fields := current(t, s, "house-a")
		// A reinstalled app that lost its counter reuses 1 for a new record.
		reused := incident(1, newID(t), "house-a", at(-30*time.Second), "written after a reinstall")
		res := mustPush(t, s, phone1, reused)
		if r := res.Results[0]; r.Status != shiftsync.StatusQuarantined || r.Reason != shiftsync.ReasonCounterReused {
			t.Fatalf("result %+v, want quarantined counter_reused", r)
		}
		if diff := cmp.Diff(fields, current(t, s, "house-a")); diff != "" {
			t.Errorf("fields changed (-want +got):\n%s", diff)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM quarantine WHERE reason = 'counter_reused' AND payload LIKE '%written after a reinstall%'`); n != 1 {
			t.Errorf("%d quarantine rows keep the reused mutation, want 1", n)
		}
	})

	t.Run("ConcurrentEditKeepsBothAndOpensOneConflict", func(t *testing.T) {
		for _, phone1First := range []bool{true, false} {
			db, _ := MustOpenDB(t)
			s := MustSyncService(t, db)
			id := newID(t)
			mustPush(t, s, phone1, incident(1, id, "house-a", at(-10*time.Minute), "created"))
			base := shiftsync.Version{HLC: at(-10 * time.Minute), DeviceID: "phone-1"}
			// Both devices saw the same base; phone-2's edit is later.
			a := edit(2, id, "house-a", at(-5*time.Minute), "behaviour_description", "phone 1 says", base)
			b := edit(1, id, "house-a", at(-4*time.Minute), "behaviour_description", "phone 2 says", base)
			var second shiftsync.PushResult
			if phone1First {
				mustPush(t, s, phone1, a)
				second = mustPush(t, s, phone2, b)
			} else {
				mustPush(t, s, phone2, b)
				second = mustPush(t, s, phone1, a)
			}
			if got := second.Results[0].ConflictedFields; !slices.Equal(got, []string{"behaviour_description"}) {
				t.Errorf("phone1First=%v: ConflictedFields = %v", phone1First, got)
			}
			if got := current(t, s, "house-a"); !slices.ContainsFunc(got, func(f string) bool { return strings.Contains(f, `"phone 2 says"`) }) {
				t.Errorf("phone1First=%v: the later edit did not win: %v", phone1First, got)
			}
			var conflicts []string
			rows, err := rawDB(t, db).Query(`
				SELECT c.status, a.user_id, a.device_id, a.value, b.user_id, b.device_id, b.value, w.device_id
				FROM conflicts c
				JOIN field_versions a ON a.seq = c.current_seq
				JOIN field_versions b ON b.seq = c.incoming_seq
				JOIN field_versions w ON w.seq = c.winner_seq`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var st, au, ad, av, bu, bd, bv, wd string
				if err := rows.Scan(&st, &au, &ad, &av, &bu, &bd, &bv, &wd); err != nil {
					t.Fatal(err)
				}
				pair := []string{au + "/" + ad + "=" + av, bu + "/" + bd + "=" + bv}
				slices.Sort(pair)
				conflicts = append(conflicts, st+" "+strings.Join(pair, " vs ")+" winner "+wd)
			}
			rows.Close()
			want := []string{`open worker-1/phone-1={"s":"phone 1 says"} vs worker-2/phone-2={"s":"phone 2 says"} winner phone-2`}
			if diff := cmp.Diff(want, conflicts); diff != "" {
				t.Errorf("phone1First=%v: conflicts (-want +got):\n%s", phone1First, diff)
			}
			if n := countRows(t, db, `SELECT COUNT(*) FROM field_versions WHERE field = 'behaviour_description'`); n != 3 {
				t.Errorf("phone1First=%v: %d versions of the field kept, want 3", phone1First, n)
			}
		}
	})

	t.Run("DifferentFieldsDoNotConflict", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := MustSyncService(t, db)
		id := newID(t)
		mustPush(t, s, phone1, incident(1, id, "house-a", at(-10*time.Minute), "created"))
		mustPush(t, s, phone1, edit(2, id, "house-a", at(-5*time.Minute), "place", "kitchen", shiftsync.Version{}))
		res := mustPush(t, s, phone2, edit(1, id, "house-a", at(-4*time.Minute), "antecedent", "bus late", shiftsync.Version{}))
		if len(res.Results[0].ConflictedFields) != 0 {
			t.Errorf("ConflictedFields = %v, want none", res.Results[0].ConflictedFields)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM conflicts`); n != 0 {
			t.Errorf("%d conflicts, want 0", n)
		}
	})

	t.Run("InvalidMutationsAreQuarantinedBesideValidOnes", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := MustSyncService(t, db)
		set := func(field string, v shiftsync.Value) shiftsync.FieldEdit {
			return shiftsync.FieldEdit{Field: field, Value: v}
		}
		str := func(s string) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindString, String: s} }
		withField := func(counter uint64, e shiftsync.FieldEdit) shiftsync.Mutation {
			m := incident(counter, newID(t), "house-a", at(-time.Minute), "base")
			m.Fields = append(m.Fields, e)
			return m
		}
		missing := incident(6, newID(t), "house-a", at(-time.Minute), "no start")
		missing.Fields = missing.Fields[1:]
		tests := []struct {
			m    shiftsync.Mutation
			want shiftsync.Reason
		}{
			{incident(1, newID(t), "house-a", at(-time.Minute), "valid"), ""},
			{withField(2, set("mood", str("low"))), shiftsync.ReasonUnknownField},
			{withField(3, set("place", shiftsync.Value{Kind: shiftsync.KindInt, Int: 4})), shiftsync.ReasonWrongType},
			{withField(4, set("harm_to_person", shiftsync.Value{Kind: shiftsync.KindEnum, String: "HARM_LEVEL_CATASTROPHIC"})), shiftsync.ReasonInvalidValue},
			{withField(5, set("intensity_self", shiftsync.Value{Kind: shiftsync.KindInt, Int: 9})), shiftsync.ReasonInvalidValue},
			{missing, shiftsync.ReasonMissingRequired},
			{incident(7, newID(t), "house-b", at(-time.Minute), "another service"), shiftsync.ReasonPermissionDenied},
			{incident(8, newID(t), "house-a", at(-time.Minute), "valid too"), ""},
		}
		var batch []shiftsync.Mutation
		for _, tt := range tests {
			batch = append(batch, tt.m)
		}
		res := mustPush(t, s, phone1, batch...)
		if res.Acknowledged != 8 {
			t.Errorf("Acknowledged = %d, want 8: quarantined mutations are stored too", res.Acknowledged)
		}
		for i, tt := range tests {
			r := res.Results[i]
			wantStatus := shiftsync.StatusAccepted
			if tt.want != "" {
				wantStatus = shiftsync.StatusQuarantined
			}
			if r.Status != wantStatus || r.Reason != tt.want || (tt.want != "" && r.Message == "") {
				t.Errorf("counter %d: result %+v, want status %d reason %q with a message", tt.m.Counter, r, wantStatus, tt.want)
			}
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM quarantine WHERE payload <> '' AND message <> ''`); n != 6 {
			t.Errorf("%d quarantine rows, want 6", n)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM records`); n != 2 {
			t.Errorf("%d records stored, want the 2 valid ones", n)
		}
	})

	t.Run("ClockAheadIsRefusedForRestamp", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		s := MustSyncService(t, db)
		id := newID(t)
		mustPush(t, s, phone1, incident(1, id, "house-a", at(-10*time.Minute), "created"))
		base := shiftsync.Version{HLC: at(-10 * time.Minute), DeviceID: "phone-1"}
		ahead := edit(2, id, "house-a", at(3*time.Hour), "place", "from the future", base)
		after := edit(3, id, "house-a", at(3*time.Hour+time.Second), "antecedent", "also ahead", shiftsync.Version{})
		res := mustPush(t, s, phone1, ahead, after)
		if res.Acknowledged != 1 {
			t.Errorf("Acknowledged = %d, want 1", res.Acknowledged)
		}
		if r := res.Results[0]; r.Status != shiftsync.StatusRestampRequired || r.Reason != shiftsync.ReasonClockAhead {
			t.Errorf("result %+v, want restamp_required clock_ahead", r)
		}
		if r := res.Results[1]; r.Status != shiftsync.StatusNotProcessed {
			t.Errorf("result %+v, want not processed", r)
		}
		if !res.ServerTime.Equal(clock.Now()) {
			t.Errorf("ServerTime = %v, want %v", res.ServerTime, clock.Now())
		}
		if got := current(t, s, "house-a"); slices.ContainsFunc(got, func(f string) bool { return strings.Contains(f, "future") }) {
			t.Fatalf("refused edit became current: %v", got)
		}
		// Re-stamped from the server's clock, the same counters go through.
		ahead.HLC, after.HLC = at(0), at(time.Millisecond)
		res = mustPush(t, s, phone1, ahead, after)
		if res.Acknowledged != 3 || res.Results[0].Status != shiftsync.StatusAccepted || res.Results[1].Status != shiftsync.StatusAccepted {
			t.Errorf("re-stamped push: %+v, want both accepted", res)
		}
	})

	t.Run("CounterGapIsNotProcessed", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := MustSyncService(t, db)
		res := mustPush(t, s, phone1, incident(2, newID(t), "house-a", at(-time.Minute), "skipped one"))
		if res.Acknowledged != 0 || res.Results[0].Status != shiftsync.StatusNotProcessed {
			t.Errorf("push with a gap: %+v, want nothing acknowledged, not processed", res)
		}
	})

	t.Run("ErrInvalidBatch", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := MustSyncService(t, db)
		m := incident(1, newID(t), "house-a", at(-time.Minute), "x")
		_, err := s.Push(context.Background(), phone1, []shiftsync.Mutation{m, m})
		if code := shiftsync.ErrorCode(err); code != shiftsync.CodeInvalid {
			t.Errorf("counters not increasing: code = %q, want invalid", code)
		}
		big := make([]shiftsync.Mutation, shiftsync.MaxMutationsPerPush+1)
		for i := range big {
			big[i] = incident(uint64(i+1), newID(t), "house-a", at(-time.Minute), "x")
		}
		_, err = s.Push(context.Background(), phone1, big)
		if code := shiftsync.ErrorCode(err); code != shiftsync.CodeResourceExhausted {
			t.Errorf("too many mutations: code = %q, want resource_exhausted", code)
		}
	})
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

func TestSyncService_Pull(t *testing.T) {
	db, _ := MustOpenDB(t)
	s := MustSyncService(t, db)
	both := shiftsync.Principal{UserID: "lead", DeviceID: "tablet", Services: []string{"house-a", "house-b"}}
	var ids []string
	var n uint64
	for i := range 7 {
		id := newID(t)
		ids = append(ids, id)
		service := "house-a"
		if i%3 == 2 {
			service = "house-b"
		}
		n++
		mustPush(t, s, both, incident(n, id, service, at(time.Duration(i-60)*time.Minute), "incident"))
	}
	all, _ := pullAll(t, s, both, shiftsync.Cursor{}, 1000)
	if len(all) != 14 {
		t.Fatalf("pulled %d changes, want 14", len(all))
	}

	t.Run("PagesNeverSplitOrDrop", func(t *testing.T) {
		for _, size := range []int{1, 2, 3, 7, 13, 1000} {
			got, _ := pullAll(t, s, both, shiftsync.Cursor{}, size)
			if diff := cmp.Diff(all, got); diff != "" {
				t.Errorf("page size %d (-one page +pages):\n%s", size, diff)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Seq <= got[i-1].Seq {
					t.Errorf("page size %d: seq %d after %d", size, got[i].Seq, got[i-1].Seq)
				}
			}
		}
	})

	t.Run("AfterCursorOnlyLaterChanges", func(t *testing.T) {
		_, cursor := pullAll(t, s, both, shiftsync.Cursor{}, 5)
		n++
		mustPush(t, s, both, edit(n, ids[0], "house-a", at(0), "place", "lounge", shiftsync.Version{}))
		n++
		mustPush(t, s, both, edit(n, ids[0], "house-a", at(time.Second), "behaviour_description", "corrected",
			shiftsync.Version{HLC: at(-60 * time.Minute), DeviceID: "tablet"}))
		for _, size := range []int{1, 2, 1000} {
			got, _ := pullAll(t, s, both, cursor, size)
			var fields []string
			for _, c := range got {
				fields = append(fields, c.RecordID+"."+c.Field)
			}
			want := []string{ids[0] + ".place", ids[0] + ".behaviour_description"}
			if diff := cmp.Diff(want, fields); diff != "" {
				t.Errorf("page size %d after cursor (-want +got):\n%s", size, diff)
			}
		}
	})

	t.Run("OnlyServicesInScope", func(t *testing.T) {
		onlyB := shiftsync.Principal{UserID: "w", DeviceID: "d", Services: []string{"house-b"}}
		got, _ := pullAll(t, s, onlyB, shiftsync.Cursor{}, 2)
		if len(got) != 4 {
			t.Errorf("house-b pulled %d changes, want 4", len(got))
		}
		for _, c := range got {
			if c.ServiceID != "house-b" {
				t.Errorf("pulled %s of %s", c.RecordID, c.ServiceID)
			}
		}
	})

	t.Run("ErrResyncRequired", func(t *testing.T) {
		_, cursor := pullAll(t, s, both, shiftsync.Cursor{}, 1000)
		for name, c := range map[string]shiftsync.Cursor{
			"another store":     {StoreID: "0123456789abcdef", Seq: cursor.Seq},
			"ahead of the head": {StoreID: cursor.StoreID, Seq: cursor.Seq + 1},
		} {
			_, err := s.Pull(context.Background(), both, c, 10)
			if code := shiftsync.ErrorCode(err); code != shiftsync.CodeResyncRequired {
				t.Errorf("%s: code = %q, want resync_required", name, code)
			}
		}
	})

	t.Run("Latest", func(t *testing.T) {
		_, end := pullAll(t, s, both, shiftsync.Cursor{}, 1000)
		got, err := s.Latest(context.Background(), both, shiftsync.Cursor{})
		if err != nil || got != end {
			t.Errorf("Latest() = %v, %v; want %v", got, err, end)
		}
		none := shiftsync.Principal{UserID: "x", DeviceID: "y", Services: []string{"house-z"}}
		got, err = s.Latest(context.Background(), none, end)
		if err != nil || got != end {
			t.Errorf("Latest() with nothing in scope = %v, %v; want the cursor back", got, err)
		}
	})
}

func countRows(tb testing.TB, db *sqlite.DB, query string) int {
	tb.Helper()
	var n int
	if err := rawDB(tb, db).QueryRow(query).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}
