package replica_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// pullHook is a transparent proxy in front of a server that runs a function
// once, just before it forwards the next Pull: a way to make a local change
// land while a sync is pulling, as a user's would.
type pullHook struct {
	URL string

	mu     sync.Mutex
	before func()
}

func newPullHook(t *testing.T, upstream string) *pullHook {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	h := &pullHook{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Pull") {
			h.mu.Lock()
			fn := h.before
			h.before = nil
			h.mu.Unlock()
			if fn != nil {
				fn()
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// beforeNextPull arms the hook.
func (h *pullHook) beforeNextPull(fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.before = fn
}

// listed returns the ids and services of the records on the replica.
func listed(t *testing.T, r *replica.Replica) map[string]string {
	t.Helper()
	s, err := r.ListJSON()
	if err != nil {
		t.Fatal(err)
	}
	var items []struct {
		ID        string `json:"id"`
		ServiceID string `json:"serviceId"`
		PersonID  string `json:"personId"`
	}
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		out[it.ID] = it.ServiceID + "/" + it.PersonID
	}
	return out
}

// TestReplica_PurgeWhenAccessEnds ends a support worker's membership of
// house-a while she keeps a caseload there (person p2) and her membership of
// house-b. Her phone holds an incident about p1 written before the change
// and not yet sent, and writes another while its sync pulls. The purge
// waits while that change is unsent; the next sync pushes it (refused: it
// was written after her access ended, and kept in quarantine), then purges
// every house-a record but p2's, with the rejected change, and keeps
// house-b. Purging again changes nothing, and nothing accepted was lost.
func TestReplica_PurgeWhenAccessEnds(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	ids := addUser(t, s, "ana",
		membership{"house-a", "", shiftsync.RoleSupportWorker},
		membership{"house-a", "p2", shiftsync.RoleSupportWorker},
		membership{"house-b", "", shiftsync.RoleSupportWorker})
	ben := s.EnrolDevice(t, "ben", shiftsync.RoleManager, "house-a", "house-b")
	s.AddPerson(t, "house-a", "p2")
	benPhone := openDevice(t, s, ben.DeviceID, filepath.Join(t.TempDir(), "ben.db"))
	benPhone.token = ben.Token
	create := func(r *replica.Replica, service, person, description string) string {
		t.Helper()
		id, err := r.Create("incident", service, person,
			`{"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"behaviour_description":{"stringValue":"`+description+`"}}`)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	aP1 := create(benPhone.Replica, "house-a", "p1", "in house-a about p1")
	aP2 := create(benPhone.Replica, "house-a", "p2", "in house-a about p2")
	bP1 := create(benPhone.Replica, "house-b", "person-b-lou", "in house-b about Lou")
	benPhone.sync()

	hook := newPullHook(t, s.URL)
	ana, _ := enrolReplica(t, s, hook.URL, "ana")
	ana.SetPullPageSize(1) // every page repeats the purges
	mustSyncEnrolled(t, ana)
	if got := listed(t, ana); len(got) != 3 {
		t.Fatalf("records before the change = %v, want ben's 3", got)
	}
	offline := create(ana, "house-a", "p1", "written before the change, sent after")

	s.Clock.Advance(time.Minute)
	if err := s.Identity.EndMembership(ctx, manager, ids[0], s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Minute)

	// The sync pushes the offline incident, and the user logs another about
	// p1 while it pulls: the purge must wait for it.
	var during string
	hook.beforeNextPull(func() { during = create(ana, "house-a", "p1", "written while the sync pulled") })
	rep := mustSyncEnrolled(t, ana)
	if rep.Accepted != 1 || rep.Purged != 0 || rep.PurgesDeferred != 1 {
		t.Errorf("sync with a change made while pulling = %+v, want 1 accepted, the purge deferred", rep)
	}
	if got := listed(t, ana); len(got) != 5 {
		t.Errorf("records while the purge waits = %v, want all 5 kept", got)
	}

	// The next sync sends it, then purges.
	rep = mustSyncEnrolled(t, ana)
	if rep.Quarantined != 1 || rep.Purged != 3 || rep.PurgesDeferred != 0 {
		t.Errorf("sync after = %+v, want the late change quarantined, 3 records purged (ben's about p1 and both of hers)", rep)
	}
	var purged []struct {
		ServiceID string   `json:"serviceId"`
		PersonID  string   `json:"personId"`
		Keep      []string `json:"keepPersonIds"`
		Records   int64    `json:"records"`
	}
	if err := json.Unmarshal([]byte(rep.PurgedJSON), &purged); err != nil || len(purged) != 1 ||
		purged[0].ServiceID != "house-a" || purged[0].PersonID != "" || !slices.Equal(purged[0].Keep, []string{"p2"}) || purged[0].Records != 3 {
		t.Errorf("PurgedJSON = %s, want house-a keeping p2, 3 records", rep.PurgedJSON)
	}
	want := map[string]string{aP2: "house-a/p2", bP1: "house-b/person-b-lou"}
	got := listed(t, ana)
	if len(got) != len(want) || got[aP2] != want[aP2] || got[bP1] != want[bP1] {
		t.Errorf("records after the purge = %v, want only %v", got, want)
	}
	for _, id := range []string{aP1, offline, during} {
		if _, err := ana.RecordJSON(id); replica.ErrorCode(err) != replica.CodeNotFound {
			t.Errorf("RecordJSON(%s) after the purge: %v, want not_found", id, err)
		}
	}
	if outbox, err := ana.OutboxJSON(); err != nil || outbox != "[]" {
		t.Errorf("outbox after the purge = %s, %v; want the rejected change gone with its record", outbox, err)
	}

	// Purges repeat at every pull; a second one finds nothing to do.
	if rep := mustSyncEnrolled(t, ana); rep.Purged != 0 || rep.PurgesDeferred != 0 || rep.PurgedJSON != "[]" {
		t.Errorf("sync after the purge = %+v, want nothing purged", rep)
	}
	if got := listed(t, ana); len(got) != 2 {
		t.Errorf("records after purging twice = %v, want %v", got, want)
	}

	// Nothing accepted was lost: the server kept the offline incident.
	benPhone.token = mustIssue(t, s, "ben", ben.DeviceID)
	benPhone.sync()
	if _, err := benPhone.RecordJSON(offline); err != nil {
		t.Errorf("the offline incident did not reach another device: %v", err)
	}
}

// mustIssue returns a fresh access token for an enrolled device.
func mustIssue(t *testing.T, s *shiftsynctest.Server, userID, deviceID string) string {
	t.Helper()
	token, _, err := s.Issuer.Issue(context.Background(), userID, deviceID)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// TestReplica_StalledPushStillPulls: a change the server will not take (too
// large to quarantine) stalls the push, and the sync still pulls before it
// reports the stall: a colleague's new record arrives, and the records of a
// service whose membership ended are purged, while the stalled change stays
// in the outbox.
func TestReplica_StalledPushStillPulls(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	ids := addUser(t, s, "ana",
		membership{"house-a", "", shiftsync.RoleSupportWorker},
		membership{"house-b", "", shiftsync.RoleSupportWorker})
	ben := s.EnrolDevice(t, "ben", shiftsync.RoleManager, "house-a", "house-b")
	benPhone := openDevice(t, s, ben.DeviceID, filepath.Join(t.TempDir(), "ben.db"))
	benPhone.token = ben.Token
	create := func(r *replica.Replica, service, description string) string {
		t.Helper()
		id, err := r.Create("incident", service, map[string]string{"house-a": "p1", "house-b": "person-b-lou"}[service],
			`{"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"behaviour_description":{"stringValue":"`+description+`"}}`)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	inB := create(benPhone.Replica, "house-b", "in house-b")
	benPhone.sync()
	ana, _ := enrolReplica(t, s, s.URL, "ana")
	mustSyncEnrolled(t, ana)
	if got := listed(t, ana); len(got) != 1 || got[inB] == "" {
		t.Fatalf("records before = %v, want ben's %s", got, inB)
	}

	ana.SetSchemaChecks(false) // the replica itself refuses it as too long
	huge := create(ana, "house-a", strings.Repeat("x", 7_000_000))
	ana.SetSchemaChecks(true)
	s.Clock.Advance(time.Minute)
	if err := s.Identity.EndMembership(ctx, manager, ids[1], s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	newInA := create(benPhone.Replica, "house-a", "a new record for house-a")
	benPhone.sync()
	s.Clock.Advance(time.Minute)

	rep, err := ana.SyncEnrolled()
	if replica.ErrorCode(err) != replica.CodeStalled || !strings.Contains(err.Error(), "too_large_to_quarantine") {
		t.Fatalf("SyncEnrolled() = %v, want stalled, saying too_large_to_quarantine", err)
	}
	if rep.PullPages == 0 || rep.Purged != 1 {
		t.Errorf("stalled sync = %+v, want it to pull, purging house-b's record", rep)
	}
	got := listed(t, ana)
	if _, ok := got[newInA]; !ok || got[inB] != "" || got[huge] == "" {
		t.Errorf("records after the stalled sync = %v, want ben's new %s, %s purged, the stalled %s kept", got, newInA, inB, huge)
	}
	if st := mustStatus(t, ana); st.OutboxDepth != 1 {
		t.Errorf("Status() = %+v, want the stalled change still pending", st)
	}
}
