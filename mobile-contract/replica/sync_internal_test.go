package replica

import (
	"context"
	"path/filepath"
	"testing"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

type fixedClock struct{ ms int64 }

func (c *fixedClock) NowUnixMilli() int64 { return c.ms }

func openTest(t *testing.T, deviceID string, ms int64) (*Replica, *fixedClock) {
	t.Helper()
	r, err := Open(filepath.Join(t.TempDir(), "r.db"), deviceID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	c := &fixedClock{ms: ms}
	r.SetClock(c)
	// These tests drive the sync internals with bare records on a clock
	// near 1970, which the schema check refuses; it has its own tests.
	r.skipChecks.Store(true)
	return r, c
}

func fieldVersion(t *testing.T, r *Replica, id, field string) (string, version) {
	t.Helper()
	var (
		value string
		v     version
	)
	err := r.read.QueryRow(`SELECT value, wall_ms, logical, device_id FROM fields WHERE record_id = ? AND field = ?`, id, field).
		Scan(&value, &v.hlc.wallMS, &v.hlc.logical, &v.deviceID)
	if err != nil {
		t.Fatalf("field %s.%s: %v", id, field, err)
	}
	return value, v
}

func change(id, field, value string, v version) *syncv1.FieldChange {
	return &syncv1.FieldChange{
		RecordId: id, RecordType: "incident", ServiceId: "house-a", PersonId: "p", Field: field,
		Value: &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: value}}, Version: v.proto(), AuthorUserId: "u-" + v.deviceID,
	}
}

// TestApplyPage is the merge rule on pull: an older pulled value never
// replaces a newer local one, a newer one does, the outbox is never touched,
// and the HLC moves past what it saw.
func TestApplyPage(t *testing.T) {
	ctx := context.Background()
	r, _ := openTest(t, "phone-m", 1000)
	id, err := r.Create("incident", "house-a", "p", `{"place":{"stringValue":"local"}}`)
	if err != nil {
		t.Fatal(err)
	}
	local := version{hlc{1000, 0}, "phone-m"}
	depth := func() int {
		var n int
		if err := r.read.QueryRow(`SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	tests := []struct {
		name      string
		pulled    version
		wantValue string
		wantVer   version
		applied   int64
	}{
		{"older wall", version{hlc{999, 5}, "phone-z"}, `{"stringValue":"local"}`, local, 0},
		{"same hlc, smaller device id", version{hlc{1000, 0}, "phone-a"}, `{"stringValue":"local"}`, local, 0},
		{"same hlc, greater device id", version{hlc{1000, 0}, "phone-z"}, `{"stringValue":"same hlc, greater device id"}`, version{hlc{1000, 0}, "phone-z"}, 1},
		{"newer", version{hlc{2000, 1}, "phone-a"}, `{"stringValue":"newer"}`, version{hlc{2000, 1}, "phone-a"}, 1},
		{"older than the newer", version{hlc{1500, 0}, "phone-z"}, `{"stringValue":"newer"}`, version{hlc{2000, 1}, "phone-a"}, 0},
	}
	for _, tt := range tests {
		page := &syncv1.PullResponse{Changes: []*syncv1.FieldChange{change(id, "place", tt.name, tt.pulled)}, NextCursor: tt.name}
		res, err := r.applyPage(ctx, page)
		if err != nil {
			t.Fatalf("%s: applyPage() error = %v", tt.name, err)
		}
		value, v := fieldVersion(t, r, id, "place")
		if value != tt.wantValue || v != tt.wantVer || res.applied != tt.applied {
			t.Errorf("%s: place = %s @%+v (applied %d), want %s @%+v (applied %d)", tt.name, value, v, res.applied, tt.wantValue, tt.wantVer, tt.applied)
		}
		if n := depth(); n != 1 {
			t.Errorf("%s: outbox depth = %d, want 1: a pull never touches the outbox", tt.name, n)
		}
		st, err := loadState(ctx, r.read)
		if err != nil {
			t.Fatal(err)
		}
		if st.cursor != tt.name {
			t.Errorf("%s: cursor = %q, want the page's", tt.name, st.cursor)
		}
		if st.last.compare(tt.pulled.hlc) <= 0 || st.observed.compare(tt.pulled.hlc) < 0 {
			t.Errorf("%s: hlc %+v observed %+v, want past the pulled %+v", tt.name, st.last, st.observed, tt.pulled.hlc)
		}
	}

	// A new record arrives whole, with its envelope.
	other := "019c9d2e-7a00-7000-8000-000000000042"
	if _, err := r.applyPage(ctx, &syncv1.PullResponse{Changes: []*syncv1.FieldChange{change(other, "place", "hall", version{hlc{10, 0}, "phone-z"})}}); err != nil {
		t.Fatal(err)
	}
	if env, err := loadEnvelope(ctx, r.read, other); err != nil || env.recordType != "incident" || env.personID != "p" {
		t.Errorf("pulled record envelope = %+v, %v", env, err)
	}
	// The next local edit comes after everything seen.
	if err := r.Edit(id, `{"place":{"stringValue":"again"}}`); err != nil {
		t.Fatal(err)
	}
	if _, v := fieldVersion(t, r, id, "place"); v.compare(version{hlc{2000, 1}, "phone-a"}) <= 0 {
		t.Errorf("edit after pull stamped %+v, want after the pulled 2000.1", v)
	}
}

func outboxBase(t *testing.T, r *Replica, counter int64, field string) version {
	t.Helper()
	var v version
	if err := r.read.QueryRow(`SELECT base_wall_ms, base_logical, base_device_id FROM outbox_fields WHERE counter = ? AND field = ?`, counter, field).
		Scan(&v.hlc.wallMS, &v.hlc.logical, &v.deviceID); err != nil {
		t.Fatal(err)
	}
	return v
}

func outboxHLC(t *testing.T, r *Replica, counter int64) hlc {
	t.Helper()
	var h hlc
	if err := r.read.QueryRow(`SELECT wall_ms, logical FROM outbox WHERE counter = ?`, counter).Scan(&h.wallMS, &h.logical); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestApplyPush_QuarantineRewritesLaterBases quarantines an edit while a
// later edit of the same field waits in the outbox (not in the same push):
// the later edit's base becomes the version the server holds.
func TestApplyPush_QuarantineRewritesLaterBases(t *testing.T) {
	ctx := context.Background()
	r, c := openTest(t, "phone-q", 1000)
	id, err := r.Create("incident", "house-a", "p", `{"place":{"stringValue":"a"}}`)
	if err != nil {
		t.Fatal(err)
	}
	c.ms = 2000
	if err := r.Edit(id, `{"place":{"stringValue":"b"}}`); err != nil {
		t.Fatal(err)
	}
	c.ms = 3000
	if err := r.Edit(id, `{"place":{"stringValue":"c"}}`); err != nil {
		t.Fatal(err)
	}
	if got, want := outboxBase(t, r, 3, "place"), (version{hlc{2000, 0}, "phone-q"}); got != want {
		t.Fatalf("base of counter 3 = %+v, want %+v", got, want)
	}
	batch, err := pendingEntries(ctx, r.read, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	s := &syncer{r: r, rep: &SyncReport{}}
	res := &syncv1.PushResponse{AcknowledgedCounter: 2, ServerTimeMs: 3000, Results: []*syncv1.MutationResult{
		{Counter: 1, Status: syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED},
		{Counter: 2, Status: syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED, ReasonCode: "invalid_value", Reason: "no"},
	}}
	if _, _, err := s.applyPush(ctx, batch, make([][]byte, len(batch)), res, 3000); err != nil {
		t.Fatal(err)
	}
	if got, want := outboxBase(t, r, 3, "place"), (version{hlc{1000, 0}, "phone-q"}); got != want {
		t.Errorf("base of counter 3 after counter 2 was quarantined = %+v, want counter 1's %+v", got, want)
	}
	if value, _ := fieldVersion(t, r, id, "place"); value != `{"stringValue":"c"}` {
		t.Errorf("place = %s, want the latest local edit", value)
	}
	var status string
	if err := r.read.QueryRow(`SELECT status FROM outbox WHERE counter = 2`).Scan(&status); err != nil || status != "rejected" {
		t.Errorf("counter 2 status = %q (%v), want rejected", status, err)
	}
	var left int
	if err := r.read.QueryRow(`SELECT count(*) FROM outbox WHERE counter = 1`).Scan(&left); err != nil || left != 0 {
		t.Errorf("accepted counter 1 still in the outbox (%d rows, %v)", left, err)
	}
}

// TestApplyPush_Restamp refuses the first of two pending mutations for
// re-stamping: both get new HLCs after the greatest the server holds, the
// second's base follows the first's new stamp, and the local field versions
// move with them.
func TestApplyPush_Restamp(t *testing.T) {
	ctx := context.Background()
	const hour = 3600_000
	r, c := openTest(t, "phone-r", 5000+3*hour)
	// The server holds a version at 4000 for another record.
	other := "019c9d2e-7a00-7000-8000-000000000043"
	if _, err := r.applyPage(ctx, &syncv1.PullResponse{Changes: []*syncv1.FieldChange{change(other, "place", "x", version{hlc{4000, 0}, "phone-z"})}}); err != nil {
		t.Fatal(err)
	}
	id, err := r.Create("incident", "house-a", "p", `{"place":{"stringValue":"a"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Edit(id, `{"place":{"stringValue":"b"}}`); err != nil {
		t.Fatal(err)
	}
	batch, err := pendingEntries(ctx, r.read, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &syncer{r: r, rep: &SyncReport{}}
	res := &syncv1.PushResponse{ServerTimeMs: 5000, Results: []*syncv1.MutationResult{
		{Counter: 1, Status: syncv1.MutationStatus_MUTATION_STATUS_RESTAMP_REQUIRED, ReasonCode: "clock_ahead"},
		{Counter: 2, Status: syncv1.MutationStatus_MUTATION_STATUS_NOT_PROCESSED},
	}}
	progress, restamped, err := s.applyPush(ctx, batch, make([][]byte, len(batch)), res, c.ms)
	if err != nil || progress || !restamped {
		t.Fatalf("applyPush() = %v, %v, %v; want no progress, restamped", progress, restamped, err)
	}
	first, second := outboxHLC(t, r, 1), outboxHLC(t, r, 2)
	if first != (hlc{5000, 0}) || second != (hlc{5000, 1}) {
		t.Errorf("new stamps = %+v, %+v; want 5000.0 and 5000.1", first, second)
	}
	if got := outboxBase(t, r, 2, "place"); got != (version{first, "phone-r"}) {
		t.Errorf("base of counter 2 = %+v, want counter 1's new stamp", got)
	}
	if _, v := fieldVersion(t, r, id, "place"); v != (version{second, "phone-r"}) {
		t.Errorf("place version = %+v, want counter 2's new stamp", v)
	}
	st, err := loadState(ctx, r.read)
	if err != nil {
		t.Fatal(err)
	}
	if st.offsetMS != -3*hour || st.last != second {
		t.Errorf("state offset %d, hlc %+v; want -3h and the last new stamp", st.offsetMS, st.last)
	}
	var n int
	if err := r.read.QueryRow(`SELECT count(*) FROM field_history WHERE record_id = ? AND wall_ms > 5000`, id).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d history rows keep the refused stamps (%v), want 0", n, err)
	}
	// A later local edit uses the corrected clock.
	c.ms += 1000
	if err := r.Edit(id, `{"place":{"stringValue":"c"}}`); err != nil {
		t.Fatal(err)
	}
	if got := outboxHLC(t, r, 3); got != (hlc{6000, 0}) {
		t.Errorf("next edit stamped %+v, want 6000.0 (device clock corrected by the offset)", got)
	}
}
