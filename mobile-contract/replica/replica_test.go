package replica_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1/reviewv1connect"
)

// deviceClock reads a test server's fake clock plus a skew, as a phone whose
// clock is set wrong would.
type deviceClock struct {
	server *shiftsynctest.Clock
	skew   time.Duration
}

func (c *deviceClock) NowUnixMilli() int64 { return c.server.Now().Add(c.skew).UnixMilli() }

// device is a replica under test with the token its server knows it by.
type device struct {
	*replica.Replica
	t     testing.TB
	id    string
	token string
	url   string
	clock *deviceClock
}

// newDevice opens a replica in a temporary directory for a device of user
// worker-<id> with access to house-a, reading the server's clock.
func newDevice(t testing.TB, s *shiftsynctest.Server, id string) *device {
	t.Helper()
	return openDevice(t, s, id, filepath.Join(t.TempDir(), id+".db"))
}

func openDevice(t testing.TB, s *shiftsynctest.Server, id, path string) *device {
	t.Helper()
	r, err := replica.Open(path, id)
	if err != nil {
		t.Fatalf("Open(%s) error = %v", id, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	d := &device{Replica: r, t: t, id: id, token: s.AddDevice("worker-"+id, id, "house-a"), url: s.URL,
		clock: &deviceClock{server: s.Clock}}
	r.SetClock(d.clock)
	return d
}

// sync syncs and fails the test on error.
func (d *device) sync() *replica.SyncReport {
	d.t.Helper()
	rep, err := d.Sync(d.url, d.token)
	if err != nil {
		d.t.Fatalf("%s: Sync() error = %v (code %q)", d.id, err, replica.ErrorCode(err))
	}
	return rep
}

// logIncident creates an incident with its required fields plus extra.
func (d *device) logIncident(description string, extra string) string {
	d.t.Helper()
	fields := `{"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"behaviour_description":{"stringValue":"` + description + `"}` + extra + `}`
	id, err := d.Create("incident", "house-a", "person-ada", fields)
	if err != nil {
		d.t.Fatalf("%s: Create() error = %v", d.id, err)
	}
	return id
}

func (d *device) edit(recordID, fieldsJSON string) {
	d.t.Helper()
	if err := d.Edit(recordID, fieldsJSON); err != nil {
		d.t.Fatalf("%s: Edit(%s) error = %v", d.id, fieldsJSON, err)
	}
}

// record is RecordJSON decoded.
type record struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	ServiceID string `json:"serviceId"`
	PersonID  string `json:"personId"`
	Pending   int    `json:"pendingMutations"`
	Rejected  *struct {
		Code   string `json:"code"`
		Reason string `json:"reason"`
	} `json:"rejected"`
	Fields map[string]struct {
		Value    map[string]any `json:"value"`
		Version  versionJSON    `json:"version"`
		Author   string         `json:"authorUserId"`
		Pending  bool           `json:"pending"`
		Conflict bool           `json:"conflict"`
	} `json:"fields"`
	History []struct {
		Field  string `json:"field"`
		Origin string `json:"origin"`
	} `json:"history"`
	Outbox []struct {
		Counter    int64    `json:"counter"`
		Status     string   `json:"status"`
		ReasonCode string   `json:"reasonCode"`
		Fields     []string `json:"fields"`
	} `json:"outbox"`
}

type versionJSON struct {
	HLC struct {
		WallMS  string `json:"wallMs"`
		Logical int    `json:"logical"`
	} `json:"hlc"`
	DeviceID string `json:"deviceId"`
}

func (d *device) record(id string) record {
	d.t.Helper()
	s, err := d.RecordJSON(id)
	if err != nil {
		d.t.Fatalf("%s: RecordJSON(%s) error = %v", d.id, id, err)
	}
	var r record
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		d.t.Fatalf("RecordJSON: %v\n%s", err, s)
	}
	return r
}

// state is what must be equal on every converged replica: each record's
// envelope and each field's value and version.
func (d *device) state() map[string]string {
	d.t.Helper()
	list, err := d.ListJSON()
	if err != nil {
		d.t.Fatalf("ListJSON() error = %v", err)
	}
	var items []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(list), &items); err != nil {
		d.t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		r := d.record(it.ID)
		out[it.ID+" envelope"] = r.Type + "/" + r.ServiceID + "/" + r.PersonID
		for name, f := range r.Fields {
			v, _ := json.Marshal(f.Value)
			out[it.ID+" "+name] = fmt.Sprintf("%s @%s.%d/%s", v, f.Version.HLC.WallMS, f.Version.HLC.Logical, f.Version.DeviceID)
		}
	}
	return out
}

func (d *device) status() *replica.Status {
	d.t.Helper()
	st, err := d.Status()
	if err != nil {
		d.t.Fatalf("Status() error = %v", err)
	}
	return st
}

func value(r record, field string) any {
	f, ok := r.Fields[field]
	if !ok {
		return nil
	}
	for _, v := range f.Value {
		return v
	}
	return nil
}

func TestReplica_LocalWriteVisibleAndQueued(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")

	id := d.logIncident("Threw a cup", `,"place":{"stringValue":"kitchen"},"intensity_verbal":{"intValue":"2"}`)
	r := d.record(id)
	if r.Type != "incident" || r.ServiceID != "house-a" || r.PersonID != "person-ada" {
		t.Errorf("envelope = %s/%s/%s, want incident/house-a/person-ada", r.Type, r.ServiceID, r.PersonID)
	}
	if got := value(r, "place"); got != "kitchen" {
		t.Errorf("place = %v, want kitchen", got)
	}
	if got := value(r, "intensity_verbal"); got != "2" {
		t.Errorf("intensity_verbal = %v, want \"2\"", got)
	}
	f := r.Fields["place"]
	if f.Version.DeviceID != "phone-1" || f.Version.HLC.WallMS != fmt.Sprint(s.Clock.Now().UnixMilli()) || !f.Pending {
		t.Errorf("place version = %+v pending %v, want phone-1 at the device clock, pending", f.Version, f.Pending)
	}
	if len(r.Outbox) != 1 || r.Outbox[0].Counter != 1 || r.Outbox[0].Status != "pending" || len(r.Outbox[0].Fields) != 4 {
		t.Errorf("outbox = %+v, want counter 1 pending with 4 fields", r.Outbox)
	}
	st := d.status()
	if st.OutboxDepth != 1 || st.LastCounter != 1 || st.Records != 1 || st.LastSyncUnixMs != 0 {
		t.Errorf("Status() = %+v, want depth 1, counter 1, 1 record, never synced", st)
	}

	s.Clock.Advance(90 * time.Second)
	d.edit(id, `{"place":{"stringValue":"garden"}}`)
	r = d.record(id)
	if got := value(r, "place"); got != "garden" {
		t.Errorf("place after edit = %v, want garden", got)
	}
	if st := d.status(); st.OutboxDepth != 2 || st.LastCounter != 2 || st.OldestUnsyncedAgeSeconds != 90 {
		t.Errorf("Status() = %+v, want depth 2, counter 2, oldest 90 s old", st)
	}
	var outbox []struct {
		Counter int64    `json:"counter"`
		Fields  []string `json:"fields"`
	}
	s2, err := d.OutboxJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(s2), &outbox); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`1 [behaviour_description intensity_verbal place started_at] 2 [place]`,
		fmt.Sprint(outbox[0].Counter, outbox[0].Fields)+" "+fmt.Sprint(outbox[1].Counter, outbox[1].Fields)); len(outbox) != 2 || diff != "" {
		t.Errorf("OutboxJSON() = %s", s2)
	}
}

func TestReplica_InvalidArguments(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	tests := []struct {
		name                 string
		typ, service, fields string
	}{
		{"no type", "", "house-a", `{"place":{"stringValue":"x"}}`},
		{"no service", "incident", "", `{"place":{"stringValue":"x"}}`},
		{"not JSON", "incident", "house-a", `place=x`},
		{"no fields", "incident", "house-a", `{}`},
		{"no kind", "incident", "house-a", `{"place":{}}`},
		{"unknown kind", "incident", "house-a", `{"place":{"colourValue":"red"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Create(tt.typ, tt.service, "p", tt.fields)
			if got := replica.ErrorCode(err); got != replica.CodeInvalid {
				t.Errorf("Create() error = %v (code %q), want code invalid", err, got)
			}
		})
	}
	if err := d.Edit("019c9d2e-7a00-7000-8000-000000000099", `{"place":{"stringValue":"x"}}`); replica.ErrorCode(err) != replica.CodeNotFound {
		t.Errorf("Edit(unknown) error = %v, want code not_found", err)
	}
	if _, err := d.RecordJSON("nope"); replica.ErrorCode(err) != replica.CodeNotFound {
		t.Errorf("RecordJSON(unknown) error = %v, want code not_found", err)
	}
	if st := d.status(); st.OutboxDepth != 0 || st.LastCounter != 0 || st.Records != 0 {
		t.Errorf("Status() after refused calls = %+v, want nothing written", st)
	}
}

// TestReplica_OutboxSameTransaction makes one half of a local write fail
// (a trigger on the file) and checks the other half was not kept: a change
// is never visible without being queued, nor queued without being visible.
func TestReplica_OutboxSameTransaction(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	for _, table := range []string{"outbox", "outbox_fields", "fields", "field_history"} {
		t.Run(table, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "phone.db")
			d := openDevice(t, s, "phone-"+table, path)
			id := d.logIncident("before", "")
			db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`CREATE TRIGGER fail_` + table + ` BEFORE INSERT ON ` + table + ` BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Create("incident", "house-a", "person-ada", `{"place":{"stringValue":"x"},"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"behaviour_description":{"stringValue":"x"}}`); err == nil {
				t.Fatal("Create() succeeded despite the injected failure")
			}
			if err := d.Edit(id, `{"place":{"stringValue":"y"}}`); err == nil {
				t.Fatal("Edit() succeeded despite the injected failure")
			}
			st := d.status()
			if st.Records != 1 || st.OutboxDepth != 1 || st.LastCounter != 1 {
				t.Errorf("Status() = %+v, want the first record only, counter 1", st)
			}
			if r := d.record(id); value(r, "place") != nil || len(r.Outbox) != 1 {
				t.Errorf("record after failed edit = %+v, want no place and one outbox entry", r)
			}
			if _, err := db.Exec(`DROP TRIGGER fail_` + table); err != nil {
				t.Fatal(err)
			}
			d.edit(id, `{"place":{"stringValue":"y"}}`)
			if st := d.status(); st.LastCounter != 2 || st.OutboxDepth != 2 {
				t.Errorf("Status() after recovery = %+v, want counter 2 (no gap), depth 2", st)
			}
		})
	}
}

func TestReplica_SyncRoundTrip(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	a, b := newDevice(t, s, "phone-a"), newDevice(t, s, "phone-b")

	id := a.logIncident("Threw a cup", `,"place":{"stringValue":"kitchen"},"setting_events":{"listValue":{"values":["SETTING_EVENT_POOR_SLEEP"]}},"harm_to_person":{"enumValue":"HARM_LEVEL_LOW"}`)
	rep := a.sync()
	if rep.Accepted != 1 || rep.Quarantined != 0 || rep.PushRounds != 1 || rep.Pulled != 5 || rep.Applied != 0 {
		t.Errorf("a.Sync() = %+v, want 1 accepted in 1 round, its 5 fields pulled back and none applied", rep)
	}
	if st := a.status(); st.OutboxDepth != 0 || st.LastSyncUnixMs != s.Clock.Now().UnixMilli() || st.Cursor == "" || st.LastError != "" {
		t.Errorf("a.Status() = %+v, want an empty outbox, synced now, a cursor", st)
	}
	ra := a.record(id)
	if f := ra.Fields["place"]; f.Pending || f.Author != "worker-phone-a" {
		t.Errorf("a's place = %+v, want accepted (not pending) with its author from the server", f)
	}

	if rep := b.sync(); rep.Pushed != 0 || rep.Pulled != 5 || rep.Applied != 5 {
		t.Errorf("b.Sync() = %+v, want nothing pushed and 5 changes applied", rep)
	}
	if diff := cmp.Diff(a.state(), b.state()); diff != "" {
		t.Errorf("b differs from a after sync (-a +b):\n%s", diff)
	}

	s.Clock.Advance(time.Minute)
	b.edit(id, `{"consequence":{"stringValue":"Went for a walk"}}`)
	b.sync()
	if rep := a.sync(); rep.Applied != 1 {
		t.Errorf("a.Sync() applied %d changes, want 1", rep.Applied)
	}
	if got := value(a.record(id), "consequence"); got != "Went for a walk" {
		t.Errorf("a's consequence = %v, want b's edit", got)
	}
	if diff := cmp.Diff(a.state(), b.state()); diff != "" {
		t.Errorf("replicas differ (-a +b):\n%s", diff)
	}
	if rep := a.sync(); rep.Pushed != 0 || rep.Pulled != 0 {
		t.Errorf("idle Sync() = %+v, want nothing moved", rep)
	}
}

// TestReplica_ConcurrentEdit edits one field on two offline devices; the
// later edit (by HLC) wins everywhere, whichever syncs first, and the second
// push reports the conflict.
func TestReplica_ConcurrentEdit(t *testing.T) {
	tests := []struct {
		name       string
		laterFirst bool // the device with the later edit syncs first
	}{
		{"later edit synced first", true},
		{"later edit synced last", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := shiftsynctest.NewServer(t)
			a, b, c := newDevice(t, s, "phone-a"), newDevice(t, s, "phone-b"), newDevice(t, s, "phone-c")
			id := a.logIncident("Shouted", `,"place":{"stringValue":"hall"}`)
			a.sync()
			b.sync()

			s.Clock.Advance(time.Minute)
			a.edit(id, `{"place":{"stringValue":"kitchen"}}`)
			s.Clock.Advance(time.Minute)
			b.edit(id, `{"place":{"stringValue":"garden"}}`) // later: wins

			first, second := b, a
			if !tt.laterFirst {
				first, second = a, b
			}
			if rep := first.sync(); rep.Conflicts != 0 {
				t.Errorf("first Sync() = %+v, want no conflict", rep)
			}
			rep := second.sync()
			if rep.Accepted != 1 || rep.Conflicts != 1 || !strings.Contains(rep.ConflictsJSON, `"field":"place"`) || !strings.Contains(rep.ConflictsJSON, id) {
				t.Errorf("second Sync() = %+v, want 1 accepted with a conflict on place", rep)
			}
			if f := second.record(id).Fields["place"]; !f.Conflict {
				t.Errorf("second device's place = %+v, want marked conflicted", f)
			}
			first.sync()
			c.sync()
			for _, d := range []*device{a, b, c} {
				if got := value(d.record(id), "place"); got != "garden" {
					t.Errorf("%s: place = %v, want garden (the later edit)", d.id, got)
				}
			}
			if diff := cmp.Diff(a.state(), b.state()); diff != "" {
				t.Errorf("a and b differ (-a +b):\n%s", diff)
			}
			if diff := cmp.Diff(a.state(), c.state()); diff != "" {
				t.Errorf("a and the server (as pulled by c) differ (-a +c):\n%s", diff)
			}
		})
	}
}

// TestReplica_Quarantine creates an incident with a field the server does
// not know: the device keeps it, the server quarantines it, and the device
// keeps it marked rejected and never resends it.
func TestReplica_Quarantine(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	d.SetSchemaChecks(false) // as an app built with a field the server does not declare
	bad := d.logIncident("Threw a cup", `,"mood":{"stringValue":"low"}`)
	d.SetSchemaChecks(true)
	good := d.logIncident("Kicked the door", "")
	if got := value(d.record(bad), "mood"); got != "low" {
		t.Fatalf("mood = %v, want the local value kept before sync", got)
	}

	rep := d.sync()
	if rep.Accepted != 1 || rep.Quarantined != 1 || !strings.Contains(rep.RejectedJSON, `"reasonCode":"unknown_field"`) {
		t.Errorf("Sync() = %+v, want 1 accepted and 1 quarantined with unknown_field", rep)
	}
	st := d.status()
	if st.OutboxDepth != 0 || st.Rejected != 1 || st.RejectedRecords != 1 {
		t.Errorf("Status() = %+v, want nothing pending, 1 rejected mutation on 1 record", st)
	}
	r := d.record(bad)
	if r.Rejected == nil || r.Rejected.Code != "unknown_field" || !strings.Contains(r.Rejected.Reason, "mood") {
		t.Errorf("rejected = %+v, want unknown_field naming mood", r.Rejected)
	}
	if len(r.Outbox) != 1 || r.Outbox[0].Status != "rejected" || r.Outbox[0].ReasonCode != "unknown_field" {
		t.Errorf("outbox = %+v, want the entry kept as rejected", r.Outbox)
	}
	if got := value(r, "mood"); got != "low" {
		t.Errorf("mood = %v, want the rejected value still shown", got)
	}
	if r := d.record(good); r.Rejected != nil {
		t.Errorf("good record rejected = %+v, want not rejected", r.Rejected)
	}

	// Not resent, and later changes still flow.
	s.Clock.Advance(time.Minute)
	d.edit(good, `{"place":{"stringValue":"hall"}}`)
	rep = d.sync()
	if rep.Pushed != 1 || rep.Accepted != 1 || rep.Quarantined != 0 {
		t.Errorf("next Sync() = %+v, want only the new edit pushed", rep)
	}
	if rep := d.sync(); rep.Pushed != 0 {
		t.Errorf("third Sync() pushed %d, want 0", rep.Pushed)
	}
	if st := d.status(); st.Rejected != 1 || st.OutboxDepth != 0 {
		t.Errorf("Status() = %+v, want the rejection still visible", st)
	}
}

// TestReplica_TooLargeToQuarantine syncs an incident with a 7 MB field,
// which fails validation and is too large for the server to keep in its
// quarantine: the sync stalls saying so, the incident and the change after
// it stay in the outbox, nothing reaches the server's quarantine, and the
// refusal is counted for the device's managers.
func TestReplica_TooLargeToQuarantine(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	d.SetSchemaChecks(false) // the replica itself refuses it as too long
	huge := d.logIncident(strings.Repeat("x", 7_000_000), "")
	d.SetSchemaChecks(true)
	d.logIncident("Kicked the door", "")

	for range 2 {
		_, err := d.Sync(d.url, d.token)
		if replica.ErrorCode(err) != replica.CodeStalled || !strings.Contains(err.Error(), "too_large_to_quarantine") {
			t.Fatalf("Sync() = %v, want stalled, saying too_large_to_quarantine", err)
		}
		if st := d.status(); st.OutboxDepth != 2 || st.Rejected != 0 {
			t.Errorf("Status() = %+v, want both changes still pending, none rejected", st)
		}
		if r := d.record(huge); r.Rejected != nil || len(r.Outbox) != 1 || r.Outbox[0].Status != "pending" {
			t.Errorf("record = %+v, %+v; want it kept pending", r.Rejected, r.Outbox)
		}
	}
	review := reviewv1connect.NewReviewServiceClient(shiftsynctest.HTTPClient(), s.URL, shiftsynctest.WithToken(s.AddDevice("manager", "manager-phone", "house-a")))
	list, err := review.ListQuarantine(context.Background(), &reviewv1.ListQuarantineRequest{ServiceId: "house-a"})
	if err != nil {
		t.Fatal(err)
	}
	if over := list.GetOverflows(); len(list.GetChanges()) != 0 || len(over) != 1 || over[0].GetDeviceId() != "phone-1" || over[0].GetRefused() != 2 {
		t.Errorf("quarantine = %d changes, overflow %v; want none, and phone-1's two refusals counted", len(list.GetChanges()), over)
	}
}

// TestReplica_QuarantinedEditBase edits a field on top of a value the server
// quarantined: the edit's base must be the version the server holds, or the
// server would see a conflict that is not one.
func TestReplica_QuarantinedEditBase(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	id := d.logIncident("Shouted", `,"place":{"stringValue":"hall"}`)
	d.sync()
	s.Clock.Advance(time.Second)
	d.SetSchemaChecks(false)                                                              // the replica itself refuses it
	d.edit(id, `{"place":{"stringValue":"kitchen"},"intensity_verbal":{"intValue":"9"}}`) // out of range: quarantined
	d.SetSchemaChecks(true)
	if rep := d.sync(); rep.Quarantined != 1 {
		t.Fatalf("Sync() = %+v, want 1 quarantined", rep)
	}
	s.Clock.Advance(time.Second)
	d.edit(id, `{"place":{"stringValue":"garden"},"intensity_verbal":{"intValue":"3"}}`) // on top of the rejected values
	if rep := d.sync(); rep.Accepted != 1 || rep.Conflicts != 0 {
		t.Errorf("Sync() = %+v, want accepted without conflict", rep)
	}
	r := d.record(id)
	if value(r, "place") != "garden" || value(r, "intensity_verbal") != "3" {
		t.Errorf("record = %+v, want garden and 3", r.Fields)
	}
	e := newDevice(t, s, "phone-2")
	e.sync()
	if diff := cmp.Diff(d.state(), e.state()); diff != "" {
		t.Errorf("replicas differ (-d +e):\n%s", diff)
	}
}

// TestReplica_ClockAhead runs a device whose clock is three hours fast: its
// push is refused for re-stamping, it re-stamps and syncs, and its edit does
// not beat a later edit from a device with a correct clock.
func TestReplica_ClockAhead(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	fast, ok := newDevice(t, s, "phone-fast"), newDevice(t, s, "phone-ok")
	fast.clock.skew = 3 * time.Hour

	id := ok.logIncident("Shouted", `,"place":{"stringValue":"hall"}`)
	ok.sync()
	fast.sync()

	s.Clock.Advance(time.Minute)
	fast.edit(id, `{"place":{"stringValue":"kitchen"}}`)
	fast.edit(id, `{"place":{"stringValue":"lounge"}}`) // its base is the first edit's stamp
	other := fast.logIncident("Ran off", "")
	if w := fast.record(id).Fields["place"].Version.HLC.WallMS; w != fmt.Sprint(s.Clock.Now().Add(3*time.Hour).UnixMilli()) {
		t.Fatalf("fast device stamped place at %s, want its skewed clock", w)
	}

	rep := fast.sync()
	if rep.Restamped != 3 || rep.Accepted != 3 || rep.Conflicts != 0 || rep.Quarantined != 0 {
		t.Errorf("fast.Sync() = %+v, want 3 re-stamped and accepted, no conflict", rep)
	}
	if want := -(3 * time.Hour).Milliseconds(); rep.ClockOffsetMs != want {
		t.Errorf("ClockOffsetMs = %d, want %d", rep.ClockOffsetMs, want)
	}
	limit := s.Clock.Now().Add(5 * time.Minute).UnixMilli()
	for _, rid := range []string{id, other} {
		for name, f := range fast.record(rid).Fields {
			var w int64
			fmt.Sscan(f.Version.HLC.WallMS, &w)
			if f.Version.DeviceID == "phone-fast" && w > limit {
				t.Errorf("%s.%s still stamped %d, after the server's limit %d", rid, name, w, limit)
			}
		}
	}
	if got := value(ok.record(id), "place"); got != "hall" {
		t.Fatalf("ok device's place = %v before pulling", got)
	}

	// A later edit from the correct clock wins.
	s.Clock.Advance(time.Minute)
	ok.edit(id, `{"place":{"stringValue":"garden"}}`)
	ok.sync()
	fast.sync()
	for _, d := range []*device{fast, ok} {
		if got := value(d.record(id), "place"); got != "garden" {
			t.Errorf("%s: place = %v, want garden (the later edit from the correct clock)", d.id, got)
		}
	}

	// The corrected clock is kept: the next edit needs no re-stamp.
	s.Clock.Advance(time.Minute)
	fast.edit(id, `{"consequence":{"stringValue":"Calmed down"}}`)
	if rep := fast.sync(); rep.Restamped != 0 || rep.Accepted != 1 {
		t.Errorf("fast.Sync() after correction = %+v, want accepted without re-stamp", rep)
	}
	ok.sync()
	if diff := cmp.Diff(fast.state(), ok.state()); diff != "" {
		t.Errorf("replicas differ (-fast +ok):\n%s", diff)
	}
}

// TestReplica_ServerUnreachable syncs against a stopped server: the sync
// fails, everything stays queued, and a server started again on the same
// database takes it all.
func TestReplica_ServerUnreachable(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	id := d.logIncident("Threw a cup", "")
	d.sync()
	s.Clock.Advance(time.Minute)
	d.edit(id, `{"place":{"stringValue":"kitchen"}}`)
	other := d.logIncident("Kicked the door", "")
	before, err := d.OutboxJSON()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	_, err = d.Sync(d.url, d.token)
	if err == nil {
		t.Fatal("Sync() to a stopped server succeeded")
	}
	if got := replica.ErrorCode(err); got != replica.CodeUnavailable {
		t.Errorf("ErrorCode(%v) = %q, want unavailable", err, got)
	}
	after, err := d.OutboxJSON()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("outbox changed by a failed sync (-before +after):\n%s", diff)
	}
	if st := d.status(); st.OutboxDepth != 2 || st.LastError == "" {
		t.Errorf("Status() = %+v, want 2 pending and the error", st)
	}
	if got := value(d.record(id), "place"); got != "kitchen" {
		t.Errorf("place = %v, want the local edit kept", got)
	}

	s2 := s.Restart(t)
	s2.Clock.Advance(s.Clock.Now().Sub(s2.Clock.Now()))
	d.url, d.token = s2.URL, s2.AddDevice("worker-phone-1", "phone-1", "house-a")
	rep := d.sync()
	if rep.Accepted != 2 {
		t.Errorf("Sync() after restart = %+v, want 2 accepted", rep)
	}
	if st := d.status(); st.OutboxDepth != 0 || st.LastError != "" {
		t.Errorf("Status() = %+v, want nothing pending, no error", st)
	}
	e := newDevice(t, s2, "phone-2")
	e.sync()
	if got := value(e.record(id), "place"); got != "kitchen" {
		t.Errorf("another device sees place = %v, want kitchen", got)
	}
	if got := value(e.record(other), "behaviour_description"); got != "Kicked the door" {
		t.Errorf("another device sees %v, want the incident logged offline", got)
	}
}

// TestReplica_Resync pulls with a cursor the server did not issue (another
// store): the replica pulls again from the start and keeps its outbox.
func TestReplica_Resync(t *testing.T) {
	s1, s2 := shiftsynctest.NewServer(t), shiftsynctest.NewServer(t)
	d := newDevice(t, s1, "phone-1")
	d.logIncident("Threw a cup", "")
	d.sync()
	cursor := d.status().Cursor

	other := newDevice(t, s2, "phone-2")
	id := other.logIncident("Ran off", "")
	other.sync()
	d.url, d.token = s2.URL, s2.AddDevice("worker-phone-1", "phone-1", "house-a")
	rep := d.sync()
	if rep.Applied != 2 || rep.Cursor == cursor {
		t.Errorf("Sync() = %+v, want the new store's 2 changes from an empty cursor", rep)
	}
	if got := value(d.record(id), "behaviour_description"); got != "Ran off" {
		t.Errorf("pulled %v, want the new store's record", got)
	}
}

// TestReplica_LargeOutbox pushes more than one batch.
func TestReplica_LargeOutbox(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: writes more than a thousand local changes")
	}
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	const n = replica.MaxPushBatch + 5
	for i := range n {
		d.logIncident(fmt.Sprintf("incident %d", i), "")
	}
	rep := d.sync()
	if rep.Accepted != n || rep.PushRounds != 2 {
		t.Errorf("Sync() = %+v, want %d accepted in 2 rounds", rep, n)
	}
	e := newDevice(t, s, "phone-2")
	e.SetPullPageSize(500)
	if rep := e.sync(); rep.Applied != 2*n || rep.PullPages < 2*n/500 {
		t.Errorf("second device Sync() = %+v, want %d changes over several pages", rep, 2*n)
	}
}

func TestOpen_DeviceID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phone.db")
	if _, err := replica.Open(path, ""); replica.ErrorCode(err) != replica.CodeInvalid {
		t.Fatalf("Open(new, \"\") error = %v, want code invalid", err)
	}
	r, err := replica.Open(path, "phone-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create("incident", "house-a", "p", `{"place":{"stringValue":"x"},"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"behaviour_description":{"stringValue":"x"}}`); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Open(path, "phone-2"); replica.ErrorCode(err) != replica.CodeInvalid {
		t.Errorf("Open(existing, other id) error = %v, want code invalid", err)
	}
	r, err = replica.Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.Status()
	if err != nil {
		t.Fatal(err)
	}
	if r.DeviceID() != "phone-1" || st.OutboxDepth != 1 || st.LastCounter != 1 {
		t.Errorf("reopened: device %q, %+v; want phone-1 with its outbox", r.DeviceID(), st)
	}
}
