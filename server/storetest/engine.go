package storetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// engineEpoch is the engine tests' fixed clock.
var engineEpoch = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

// testEngine runs the push and pull engine ([shiftsync.Sync]) over the
// store, validating against the real record schema and granting principals
// the services on their tokens: what a device sees of push (replay, counter
// reuse, conflicts, validation, skew, gaps, batch bounds) and pull (pages,
// cursors, scope, resync, a widened scope, latest) must not depend on the
// store.
func testEngine(t *testing.T, open Factory) {
	t.Run("Push", func(t *testing.T) { testEnginePush(t, open) })
	t.Run("Pull", func(t *testing.T) { testEnginePull(t, open) })
	t.Run("References", func(t *testing.T) { testEngineReferences(t, open) })
	t.Run("Reasons", func(t *testing.T) { testEngineReasons(t, open) })
	t.Run("Corrections", func(t *testing.T) { testEngineCorrections(t, open) })
	t.Run("BackupReachAndEpoch", func(t *testing.T) { testEngineBackupReach(t, open) })
	t.Run("CounterGap", func(t *testing.T) { testEngineCounterGap(t, open) })
	t.Run("Digests", func(t *testing.T) { testEngineDigests(t, open) })
	t.Run("DigestDeltas", func(t *testing.T) { testDigestDeltas(t, open) })
}

var (
	enginePhone1 = shiftsync.Principal{UserID: "worker-1", DeviceID: "phone-1", Services: []string{"house-a"}}
	enginePhone2 = shiftsync.Principal{UserID: "worker-2", DeviceID: "phone-2", Services: []string{"house-a"}}
)

func testEnginePush(t *testing.T, open Factory) {
	phone1, phone2 := enginePhone1, enginePhone2

	t.Run("OK", func(t *testing.T) {
		e := newEngine(t, open)
		id := e.id(t)
		res := e.push(t, phone1,
			e.incident(1, id, "house-a", e.at(-3*time.Minute), "hit the door"),
			e.edit(2, id, "house-a", e.at(-2*time.Minute), "place", "hallway", shiftsync.Version{}),
		)
		if res.Acknowledged != 2 {
			t.Fatalf("Acknowledged = %d, want 2", res.Acknowledged)
		}
		for _, r := range res.Results {
			if r.Status != shiftsync.StatusAccepted || r.Replayed {
				t.Errorf("result %+v, want accepted, not replayed", r)
			}
		}
		if got := len(e.current(t, "house-a")); got != 3 {
			t.Errorf("%d current fields, want 3", got)
		}
	})

	t.Run("ReplayChangesNothing", func(t *testing.T) {
		e := newEngine(t, open)
		ids := []string{e.id(t), e.id(t)}
		batch := []shiftsync.Mutation{
			e.incident(1, ids[0], "house-a", e.at(-5*time.Minute), "first"),
			e.incident(2, ids[1], "house-a", e.at(-4*time.Minute), "second"),
			e.edit(3, ids[0], "house-a", e.at(-3*time.Minute), "place", "garden", shiftsync.Version{}),
			{RecordRef: e.incident(0, ids[1], "house-a", e.at(0), "").RecordRef, Counter: 4, HLC: e.at(-2 * time.Minute),
				Fields: []shiftsync.FieldEdit{{Field: "no_such_field", Value: shiftsync.Value{Kind: shiftsync.KindBool}}}},
		}
		first := e.push(t, phone1, slices.Clone(batch)...)
		before := e.state(t, []string{"house-a"}, []string{phone1.DeviceID})

		replays := map[string][]shiftsync.Mutation{
			"whole batch":     batch,
			"prefix of one":   batch[:1],
			"prefix of three": batch[:3],
			"one duplicate":   batch[2:3],
			"quarantined one": batch[3:],
			"same twice over": append(slices.Clone(batch[1:2]), batch[3:]...),
		}
		for name, replay := range replays {
			res := e.push(t, phone1, slices.Clone(replay)...)
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
			if diff := cmp.Diff(before, e.state(t, []string{"house-a"}, []string{phone1.DeviceID})); diff != "" {
				t.Fatalf("%s: replay changed the store (-before +after):\n%s", name, diff)
			}
		}
	})

	t.Run("CounterReusedIsQuarantined", func(t *testing.T) {
		e := newEngine(t, open)
		e.push(t, phone1, e.incident(1, e.id(t), "house-a", e.at(-time.Minute), "original"))
		fields := e.current(t, "house-a")
		// A reinstalled app that lost its counter reuses 1 for a new record.
		reused := e.incident(1, e.id(t), "house-a", e.at(-30*time.Second), "written after a reinstall")
		res := e.push(t, phone1, reused)
		if r := res.Results[0]; r.Status != shiftsync.StatusQuarantined || r.Reason != shiftsync.ReasonCounterReused {
			t.Fatalf("result %+v, want quarantined counter_reused", r)
		}
		if diff := cmp.Diff(fields, e.current(t, "house-a")); diff != "" {
			t.Errorf("fields changed (-want +got):\n%s", diff)
		}
		n := 0
		for _, q := range e.quarantined(t, "house-a") {
			if q.Reason == shiftsync.ReasonCounterReused && strings.Contains(q.Payload, "written after a reinstall") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d quarantined changes keep the reused mutation, want 1", n)
		}
	})

	t.Run("ConcurrentEditKeepsBothAndOpensOneConflict", func(t *testing.T) {
		for _, phone1First := range []bool{true, false} {
			e := newEngine(t, open)
			id := e.id(t)
			e.push(t, phone1, e.incident(1, id, "house-a", e.at(-10*time.Minute), "created"))
			base := shiftsync.Version{HLC: e.at(-10 * time.Minute), DeviceID: "phone-1"}
			// Both devices saw the same base; phone-2's edit is later.
			a := e.edit(2, id, "house-a", e.at(-5*time.Minute), "behaviour_description", "phone 1 says", base)
			b := e.edit(1, id, "house-a", e.at(-4*time.Minute), "behaviour_description", "phone 2 says", base)
			var second shiftsync.PushResult
			if phone1First {
				e.push(t, phone1, a)
				second = e.push(t, phone2, b)
			} else {
				e.push(t, phone2, b)
				second = e.push(t, phone1, a)
			}
			if got := second.Results[0].ConflictedFields; !slices.Equal(got, []string{"behaviour_description"}) {
				t.Errorf("phone1First=%v: ConflictedFields = %v", phone1First, got)
			}
			if got := e.current(t, "house-a"); !slices.ContainsFunc(got, func(f string) bool { return strings.Contains(f, `"phone 2 says"`) }) {
				t.Errorf("phone1First=%v: the later edit did not win: %v", phone1First, got)
			}
			var conflicts []string
			for _, c := range e.conflicts(t, "house-a") {
				st := "open"
				if !c.ResolvedAt.IsZero() {
					st = "resolved"
				}
				winner := c.Current.Version.DeviceID
				if c.IncomingWins {
					winner = c.Incoming.Version.DeviceID
				}
				side := func(v shiftsync.ConflictVersion) string {
					value, err := shiftsync.MarshalValue(v.Value)
					if err != nil {
						t.Fatal(err)
					}
					return v.UserID + "/" + v.Version.DeviceID + "=" + string(value)
				}
				pair := []string{side(c.Current), side(c.Incoming)}
				slices.Sort(pair)
				conflicts = append(conflicts, st+" "+strings.Join(pair, " vs ")+" winner "+winner)
			}
			want := []string{`open worker-1/phone-1={"s":"phone 1 says"} vs worker-2/phone-2={"s":"phone 2 says"} winner phone-2`}
			if diff := cmp.Diff(want, conflicts); diff != "" {
				t.Errorf("phone1First=%v: conflicts (-want +got):\n%s", phone1First, diff)
			}
			n := 0
			for _, v := range e.versions(t, id) {
				if v.Field == "behaviour_description" {
					n++
				}
			}
			if n != 3 {
				t.Errorf("phone1First=%v: %d versions of the field kept, want 3", phone1First, n)
			}
		}
	})

	t.Run("DifferentFieldsDoNotConflict", func(t *testing.T) {
		e := newEngine(t, open)
		id := e.id(t)
		e.push(t, phone1, e.incident(1, id, "house-a", e.at(-10*time.Minute), "created"))
		e.push(t, phone1, e.edit(2, id, "house-a", e.at(-5*time.Minute), "place", "kitchen", shiftsync.Version{}))
		res := e.push(t, phone2, e.edit(1, id, "house-a", e.at(-4*time.Minute), "antecedent", "bus late", shiftsync.Version{}))
		if len(res.Results[0].ConflictedFields) != 0 {
			t.Errorf("ConflictedFields = %v, want none", res.Results[0].ConflictedFields)
		}
		if n := len(e.conflicts(t, "house-a")); n != 0 {
			t.Errorf("%d conflicts, want 0", n)
		}
	})

	t.Run("InvalidMutationsAreQuarantinedBesideValidOnes", func(t *testing.T) {
		e := newEngine(t, open)
		set := func(field string, v shiftsync.Value) shiftsync.FieldEdit {
			return shiftsync.FieldEdit{Field: field, Value: v}
		}
		str := func(s string) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindString, String: s} }
		withField := func(counter uint64, fe shiftsync.FieldEdit) shiftsync.Mutation {
			m := e.incident(counter, e.id(t), "house-a", e.at(-time.Minute), "base")
			m.Fields = append(m.Fields, fe)
			return m
		}
		missing := e.incident(6, e.id(t), "house-a", e.at(-time.Minute), "no start")
		missing.Fields = missing.Fields[1:]
		tests := []struct {
			m    shiftsync.Mutation
			want shiftsync.Reason
		}{
			{e.incident(1, e.id(t), "house-a", e.at(-time.Minute), "valid"), ""},
			{withField(2, set("mood", str("low"))), shiftsync.ReasonUnknownField},
			{withField(3, set("place", shiftsync.Value{Kind: shiftsync.KindInt, Int: 4})), shiftsync.ReasonWrongType},
			{withField(4, set("harm_to_person", shiftsync.Value{Kind: shiftsync.KindEnum, String: "HARM_LEVEL_CATASTROPHIC"})), shiftsync.ReasonInvalidValue},
			{withField(5, set("intensity_self", shiftsync.Value{Kind: shiftsync.KindInt, Int: 9})), shiftsync.ReasonInvalidValue},
			{missing, shiftsync.ReasonMissingRequired},
			{e.incident(7, e.id(t), "house-b", e.at(-time.Minute), "another service"), shiftsync.ReasonPermissionDenied},
			{e.incident(8, e.id(t), "house-a", e.at(-time.Minute), "valid too"), ""},
		}
		var batch []shiftsync.Mutation
		for _, tt := range tests {
			batch = append(batch, tt.m)
		}
		res := e.push(t, phone1, batch...)
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
		kept := map[int64]bool{}
		for _, service := range []string{"house-a", "house-b"} {
			for _, q := range e.quarantined(t, service) {
				if q.Payload != "" && q.Message != "" {
					kept[q.ID] = true
				}
			}
		}
		if n := len(kept); n != 6 {
			t.Errorf("%d quarantined changes, want 6", n)
		}
		if n := len(e.records(t, "house-a")) + len(e.records(t, "house-b")); n != 2 {
			t.Errorf("%d records stored, want the 2 valid ones", n)
		}
	})

	t.Run("ClockAheadIsRefusedForRestamp", func(t *testing.T) {
		e := newEngine(t, open)
		id := e.id(t)
		e.push(t, phone1, e.incident(1, id, "house-a", e.at(-10*time.Minute), "created"))
		base := shiftsync.Version{HLC: e.at(-10 * time.Minute), DeviceID: "phone-1"}
		ahead := e.edit(2, id, "house-a", e.at(3*time.Hour), "place", "from the future", base)
		after := e.edit(3, id, "house-a", e.at(3*time.Hour+time.Second), "antecedent", "also ahead", shiftsync.Version{})
		res := e.push(t, phone1, ahead, after)
		if res.Acknowledged != 1 {
			t.Errorf("Acknowledged = %d, want 1", res.Acknowledged)
		}
		if r := res.Results[0]; r.Status != shiftsync.StatusRestampRequired || r.Reason != shiftsync.ReasonClockAhead {
			t.Errorf("result %+v, want restamp_required clock_ahead", r)
		}
		if r := res.Results[1]; r.Status != shiftsync.StatusNotProcessed {
			t.Errorf("result %+v, want not processed", r)
		}
		if !res.ServerTime.Equal(e.now()) {
			t.Errorf("ServerTime = %v, want %v", res.ServerTime, e.now())
		}
		if got := e.current(t, "house-a"); slices.ContainsFunc(got, func(f string) bool { return strings.Contains(f, "future") }) {
			t.Fatalf("refused edit became current: %v", got)
		}
		// Re-stamped from the server's clock, the same counters go through.
		ahead.HLC, after.HLC = e.at(0), e.at(time.Millisecond)
		res = e.push(t, phone1, ahead, after)
		if res.Acknowledged != 3 || res.Results[0].Status != shiftsync.StatusAccepted || res.Results[1].Status != shiftsync.StatusAccepted {
			t.Errorf("re-stamped push: %+v, want both accepted", res)
		}
	})

	t.Run("CounterGapIsNotProcessed", func(t *testing.T) {
		e := newEngine(t, open)
		res := e.push(t, phone1, e.incident(2, e.id(t), "house-a", e.at(-time.Minute), "skipped one"))
		if res.Acknowledged != 0 || res.Results[0].Status != shiftsync.StatusNotProcessed {
			t.Errorf("push with a gap: %+v, want nothing acknowledged, not processed", res)
		}
	})

	t.Run("ErrInvalidBatch", func(t *testing.T) {
		e := newEngine(t, open)
		m := e.incident(1, e.id(t), "house-a", e.at(-time.Minute), "x")
		_, err := e.sync.Push(context.Background(), phone1, []shiftsync.Mutation{m, m})
		if code := shiftsync.ErrorCode(err); code != shiftsync.CodeInvalid {
			t.Errorf("counters not increasing: code = %q, want invalid", code)
		}
		big := make([]shiftsync.Mutation, shiftsync.MaxMutationsPerPush+1)
		for i := range big {
			big[i] = e.incident(uint64(i+1), e.id(t), "house-a", e.at(-time.Minute), "x")
		}
		_, err = e.sync.Push(context.Background(), phone1, big)
		if code := shiftsync.ErrorCode(err); code != shiftsync.CodeResourceExhausted {
			t.Errorf("too many mutations: code = %q, want resource_exhausted", code)
		}
	})
}

func testEnginePull(t *testing.T, open Factory) {
	e := newEngine(t, open)
	both := shiftsync.Principal{UserID: "lead", DeviceID: "tablet", Services: []string{"house-a", "house-b"}}
	var ids []string
	var n uint64
	for i := range 7 {
		id := e.id(t)
		ids = append(ids, id)
		service := "house-a"
		if i%3 == 2 {
			service = "house-b"
		}
		n++
		e.push(t, both, e.incident(n, id, service, e.at(time.Duration(i-60)*time.Minute), "incident"))
	}
	all, _ := e.pullAll(t, both, shiftsync.Cursor{}, 1000)
	if len(all) != 14 {
		t.Fatalf("pulled %d changes, want 14", len(all))
	}

	t.Run("PagesNeverSplitOrDrop", func(t *testing.T) {
		for _, size := range []int{1, 2, 3, 7, 13, 1000} {
			got, _ := e.pullAll(t, both, shiftsync.Cursor{}, size)
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
		_, cursor := e.pullAll(t, both, shiftsync.Cursor{}, 5)
		n++
		e.push(t, both, e.edit(n, ids[0], "house-a", e.at(0), "place", "lounge", shiftsync.Version{}))
		n++
		e.push(t, both, e.edit(n, ids[0], "house-a", e.at(time.Second), "behaviour_description", "corrected",
			shiftsync.Version{HLC: e.at(-60 * time.Minute), DeviceID: "tablet"}))
		for _, size := range []int{1, 2, 1000} {
			got, _ := e.pullAll(t, both, cursor, size)
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
		got, _ := e.pullAll(t, onlyB, shiftsync.Cursor{}, 2)
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
		_, cursor := e.pullAll(t, both, shiftsync.Cursor{}, 1000)
		for name, c := range map[string]shiftsync.Cursor{
			"another store":     {StoreID: "0123456789abcdef", Seq: cursor.Seq},
			"ahead of the head": {StoreID: cursor.StoreID, Seq: cursor.Seq + 1},
		} {
			_, err := e.sync.Pull(context.Background(), both, c, 10)
			if code := shiftsync.ErrorCode(err); code != shiftsync.CodeResyncRequired {
				t.Errorf("%s: code = %q, want resync_required", name, code)
			}
		}
	})

	// The scope a device was served is kept by the store: a cursor is
	// honoured only from a device that pulled before, and only while its
	// scope has not grown since.
	t.Run("WidenedScopeRequiresResync", func(t *testing.T) {
		onlyA := shiftsync.Principal{UserID: "w", DeviceID: "tablet-2", Services: []string{"house-a"}}
		_, cursor := e.pullAll(t, onlyA, shiftsync.Cursor{}, 1000)
		if _, err := e.sync.Pull(context.Background(), onlyA, cursor, 10); err != nil {
			t.Errorf("pull after the cursor in the same scope: %v", err)
		}
		stranger := onlyA
		stranger.DeviceID = "tablet-3"
		if _, err := e.sync.Pull(context.Background(), stranger, cursor, 10); shiftsync.ErrorCode(err) != shiftsync.CodeResyncRequired {
			t.Errorf("cursor from a device that never pulled: %v, want resync_required", err)
		}
		wider := onlyA
		wider.Services = []string{"house-a", "house-b"}
		if _, err := e.sync.Pull(context.Background(), wider, cursor, 10); shiftsync.ErrorCode(err) != shiftsync.CodeResyncRequired {
			t.Errorf("cursor after the scope grew: %v, want resync_required", err)
		}
		_, cursor = e.pullAll(t, wider, shiftsync.Cursor{}, 1000)
		if _, err := e.sync.Pull(context.Background(), onlyA, cursor, 10); err != nil {
			t.Errorf("cursor after the scope narrowed: %v, want it honoured", err)
		}
	})

	t.Run("Latest", func(t *testing.T) {
		_, end := e.pullAll(t, both, shiftsync.Cursor{}, 1000)
		got, err := e.sync.Latest(context.Background(), both, shiftsync.Cursor{})
		if err != nil || got != end {
			t.Errorf("Latest() = %v, %v; want %v", got, err, end)
		}
		none := shiftsync.Principal{UserID: "x", DeviceID: "y", Services: []string{"house-z"}}
		got, err = e.sync.Latest(context.Background(), none, end)
		if err != nil || got != end {
			t.Errorf("Latest() with nothing in scope = %v, %v; want the cursor back", got, err)
		}
	})
}

// engine is the push and pull engine over a store from the factory, with
// its clock fixed at engineEpoch.
type engine struct {
	store Store
	sync  *shiftsync.Sync
	now   func() time.Time
}

// newEngine opens a store and runs the engine over it, validating against
// the real record schema and granting principals the services on their
// tokens.
func newEngine(t *testing.T, open Factory) *engine {
	t.Helper()
	records, err := schema.Records()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return engineEpoch }
	s := open(t, now)
	ctx, operator := context.Background(), shiftsync.Principal{UserID: "operator"}
	must(t, s.Identity().CreateOrganisation(ctx, operator, "org-engine", "Engine Care"))
	for _, service := range []string{"house-a", "house-b"} {
		must(t, s.Identity().CreateService(ctx, operator, service, "org-engine", service))
	}
	for person, service := range enginePeople {
		must(t, s.Identity().CreatePerson(ctx, operator, person, service, person))
	}
	return &engine{store: s, now: now, sync: &shiftsync.Sync{Store: s, Schema: records, Access: shiftsync.TokenScope{}, Now: now}}
}

// enginePeople are the people supported in the engine's directory, by
// id, with their services.
var enginePeople = map[string]string{"person-ada": "house-a", "person-bob": "house-a", "person-b-lou": "house-b"}

// personIn returns the person [engine.incident] and [engine.edit] write
// about in the service.
func personIn(service string) string {
	if service == "house-b" {
		return "person-b-lou"
	}
	return "person-ada"
}

// id returns a fresh UUIDv7.
func (e *engine) id(tb testing.TB) string {
	tb.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		tb.Fatal(err)
	}
	return id.String()
}

// at returns the HLC d after the epoch.
func (e *engine) at(d time.Duration) shiftsync.HLC {
	return shiftsync.HLC{WallMS: engineEpoch.Add(d).UnixMilli()}
}

// incident returns a mutation creating an incident at hlc with its
// required fields.
func (e *engine) incident(counter uint64, recordID, service string, hlc shiftsync.HLC, description string) shiftsync.Mutation {
	return shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "incident", ServiceID: service, PersonID: personIn(service)},
		Counter:   counter,
		HLC:       hlc,
		Fields: []shiftsync.FieldEdit{
			{Field: "started_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: hlc.Time().Add(-time.Minute)}},
			{Field: "behaviour_description", Value: shiftsync.Value{Kind: shiftsync.KindString, String: description}},
		},
	}
}

// edit returns a mutation setting a string field of an existing incident,
// on top of base.
func (e *engine) edit(counter uint64, recordID, service string, hlc shiftsync.HLC, field, value string, base shiftsync.Version) shiftsync.Mutation {
	return shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "incident", ServiceID: service, PersonID: personIn(service)},
		Counter:   counter,
		HLC:       hlc,
		Fields:    []shiftsync.FieldEdit{{Field: field, Value: shiftsync.Value{Kind: shiftsync.KindString, String: value}, Base: base}},
	}
}

// push pushes and fails the test on a request-level error.
func (e *engine) push(tb testing.TB, p shiftsync.Principal, ms ...shiftsync.Mutation) shiftsync.PushResult {
	tb.Helper()
	res, err := e.sync.Push(context.Background(), p, ms)
	if err != nil {
		tb.Fatalf("Push() error = %v", err)
	}
	return res
}

// pullAll pulls every page after the cursor with the given page size.
func (e *engine) pullAll(tb testing.TB, p shiftsync.Principal, after shiftsync.Cursor, pageSize int) ([]shiftsync.FieldChange, shiftsync.Cursor) {
	tb.Helper()
	return PullAll(tb, e.sync, p, after, pageSize)
}

// PullAll pulls from s every page after the cursor with the given page
// size, failing the test if a page is larger or the pages never end, and
// returns the changes and the last cursor.
func PullAll(tb testing.TB, s *shiftsync.Sync, p shiftsync.Principal, after shiftsync.Cursor, pageSize int) ([]shiftsync.FieldChange, shiftsync.Cursor) {
	tb.Helper()
	var all []shiftsync.FieldChange
	for range 100000 {
		page, err := s.Pull(context.Background(), p, after, pageSize)
		if err != nil {
			tb.Fatalf("Pull() error = %v", err)
		}
		if len(page.Changes) > pageSize {
			tb.Fatalf("Pull() returned %d changes, page size %d", len(page.Changes), pageSize)
		}
		all = append(all, page.Changes...)
		after = page.Next
		if !page.HasMore {
			return all, after
		}
	}
	tb.Fatal("Pull() never reached the end")
	return nil, after
}

// current returns "record.field=value@version" for every current field,
// sorted: the state replicas must converge on.
func (e *engine) current(tb testing.TB, services ...string) []string {
	tb.Helper()
	changes, _ := e.pullAll(tb, shiftsync.Principal{UserID: "reader", DeviceID: "reader", Services: services}, shiftsync.Cursor{}, 1000)
	var out []string
	for _, c := range changes {
		v, err := shiftsync.MarshalValue(c.Value)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s.%s=%s@%d.%d/%s", c.RecordID, c.Field, v, c.Version.HLC.WallMS, c.Version.HLC.Logical, c.Version.DeviceID))
	}
	sort.Strings(out)
	return out
}

// view runs fn in a View and fails the test on its error.
func (e *engine) view(tb testing.TB, fn func(tx shiftsync.Tx) error) {
	tb.Helper()
	if err := e.store.View(context.Background(), fn); err != nil {
		tb.Fatal(err)
	}
}

// quarantined returns the changes quarantined under the service.
func (e *engine) quarantined(tb testing.TB, service string) (qs []shiftsync.QuarantinedChange) {
	tb.Helper()
	e.view(tb, func(tx shiftsync.Tx) (err error) {
		qs, err = tx.QuarantinedChanges(context.Background(), service)
		return err
	})
	return qs
}

// conflicts returns the conflicts about the service's records.
func (e *engine) conflicts(tb testing.TB, service string) (cs []shiftsync.Conflict) {
	tb.Helper()
	e.view(tb, func(tx shiftsync.Tx) (err error) {
		cs, err = tx.Conflicts(context.Background(), service)
		return err
	})
	return cs
}

// versions returns every version of every field of the record.
func (e *engine) versions(tb testing.TB, recordID string) (vs []shiftsync.FieldVersion) {
	tb.Helper()
	e.view(tb, func(tx shiftsync.Tx) (err error) {
		vs, err = tx.FieldVersions(context.Background(), recordID)
		return err
	})
	return vs
}

// records returns the service's records as they stand.
func (e *engine) records(tb testing.TB, service string) (rs []*shiftsync.Record) {
	tb.Helper()
	e.view(tb, func(tx shiftsync.Tx) (err error) {
		rs, err = tx.ServiceRecords(context.Background(), service, "", "")
		return err
	})
	return rs
}

// storeState is what the store holds for some services and devices, read
// through the store's interfaces, to compare whole store states: the
// records, every field version, the current states, the conflicts, the
// quarantine, the counters and the processed mutations.
type storeState struct {
	Head     int64
	Services map[string]serviceState
	Devices  map[string]deviceState
}

type serviceState struct {
	Head       int64
	Records    []*shiftsync.Record
	Versions   map[string][]shiftsync.FieldVersion
	Changes    []shiftsync.FieldChange
	Conflicts  []shiftsync.Conflict
	Quarantine []shiftsync.QuarantinedChange
	Overflows  []shiftsync.QuarantineOverflow
}

type deviceState struct {
	Acknowledged uint64
	Processed    []*shiftsync.ProcessedMutation // counters 1 to Acknowledged+1
}

// state reads the store's state for the services and devices.
func (e *engine) state(tb testing.TB, services, devices []string) storeState {
	tb.Helper()
	ctx := context.Background()
	st := storeState{Services: map[string]serviceState{}, Devices: map[string]deviceState{}}
	e.view(tb, func(tx shiftsync.Tx) (err error) {
		if st.Head, err = tx.Head(ctx); err != nil {
			return err
		}
		for _, service := range services {
			ss := serviceState{Versions: map[string][]shiftsync.FieldVersion{}}
			if ss.Head, err = tx.ServiceHead(ctx, service); err != nil {
				return err
			}
			if ss.Records, err = tx.ServiceRecords(ctx, service, "", ""); err != nil {
				return err
			}
			for _, r := range ss.Records {
				if ss.Versions[r.RecordID], err = tx.FieldVersions(ctx, r.RecordID); err != nil {
					return err
				}
			}
			if ss.Changes, err = tx.Changes(ctx, service, 0, 1<<20); err != nil {
				return err
			}
			if ss.Conflicts, err = tx.Conflicts(ctx, service); err != nil {
				return err
			}
			if ss.Quarantine, err = tx.QuarantinedChanges(ctx, service); err != nil {
				return err
			}
			if ss.Overflows, err = tx.QuarantineOverflows(ctx, service); err != nil {
				return err
			}
			st.Services[service] = ss
		}
		for _, device := range devices {
			var ds deviceState
			if ds.Acknowledged, err = tx.Acknowledged(ctx, device); err != nil {
				return err
			}
			for c := uint64(1); c <= ds.Acknowledged+1; c++ {
				pm, err := tx.ProcessedMutation(ctx, device, c)
				if err != nil {
					return err
				}
				ds.Processed = append(ds.Processed, pm)
			}
			st.Devices[device] = ds
		}
		return nil
	})
	return st
}
