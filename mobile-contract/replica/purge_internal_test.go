package replica

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// pulledRecord returns a pulled change creating a record of a service and
// person.
func pulledRecord(id, service, person string, wallMS int64) *syncv1.FieldChange {
	c := change(id, "place", "pulled", version{hlc{wallMS, 0}, "phone-z"})
	c.ServiceId, c.PersonId = service, person
	return c
}

// scopeRecords returns the ids of the records on the replica, sorted, and
// fails the test if any field, history row, conflict or outbox entry is left
// of a record that is gone.
func scopeRecords(t *testing.T, r *Replica) []string {
	t.Helper()
	var ids []string
	rows, err := r.read.Query(`SELECT record_id FROM records ORDER BY record_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, table := range []string{"fields", "field_history", "conflicts", "outbox"} {
		var orphans int
		if err := r.read.QueryRow(`SELECT count(*) FROM ` + table + ` WHERE record_id NOT IN (SELECT record_id FROM records)`).Scan(&orphans); err != nil {
			t.Fatal(err)
		}
		if orphans != 0 {
			t.Errorf("%d row(s) of %s belong to purged records", orphans, table)
		}
	}
	var orphans int
	if err := r.read.QueryRow(`SELECT count(*) FROM outbox_fields WHERE counter NOT IN (SELECT counter FROM outbox)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d outbox field(s) belong to purged outbox entries", orphans)
	}
	return ids
}

// TestApplyPage_Purge applies pulled pages carrying purges: a purge waits
// while the outbox holds an unsent change to its scope, then deletes the
// scope's records with their fields, history, conflicts and rejected outbox
// entries, keeps the people named in keep_person_ids and every other scope,
// stores the page's cursor with it, and does nothing the second time.
func TestApplyPage_Purge(t *testing.T) {
	ctx := context.Background()
	r, _ := openTest(t, "phone-p", 5000)
	const (
		aP1   = "019c9d2e-7a00-7000-8000-0000000000a1"
		aP2   = "019c9d2e-7a00-7000-8000-0000000000a2"
		aNone = "019c9d2e-7a00-7000-8000-0000000000a0"
		bP1   = "019c9d2e-7a00-7000-8000-0000000000b1"
		bSafe = "019c9d2e-7a00-7000-8000-0000000000b2"
	)
	safeguarding := pulledRecord(bSafe, "house-b", "p1", 104)
	safeguarding.RecordType = "safeguarding_concern"
	if _, err := r.applyPage(ctx, &syncv1.PullResponse{NextCursor: "c0", Changes: []*syncv1.FieldChange{
		pulledRecord(aP1, "house-a", "p1", 100), pulledRecord(aP2, "house-a", "p2", 101),
		pulledRecord(aNone, "house-a", "", 102), pulledRecord(bP1, "house-b", "p1", 103), safeguarding,
	}}); err != nil {
		t.Fatal(err)
	}
	// A conflict the server reported on a house-a record, and a change to it
	// the server quarantined: both go with the record.
	if _, err := r.write.Exec(`INSERT INTO conflicts (record_id, field, counter, reported_at) VALUES (?, 'place', 1, 1)`, aP1); err != nil {
		t.Fatal(err)
	}
	rejected, err := r.Create("incident", "house-a", "p1", `{"place":{"stringValue":"refused"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.write.Exec(`UPDATE outbox SET status = 'rejected', reason_code = 'permission_denied' WHERE record_id = ?`, rejected); err != nil {
		t.Fatal(err)
	}
	// An unsent change to a house-a record about p1.
	pending, err := r.Create("incident", "house-a", "p1", `{"place":{"stringValue":"unsent"}}`)
	if err != nil {
		t.Fatal(err)
	}
	// Unsent changes outside the purged scope never hold a purge back.
	if _, err := r.Create("incident", "house-b", "p1", `{"place":{"stringValue":"elsewhere"}}`); err != nil {
		t.Fatal(err)
	}
	keptCaseload, err := r.Create("incident", "house-a", "p2", `{"place":{"stringValue":"still in the caseload"}}`)
	if err != nil {
		t.Fatal(err)
	}
	all := scopeRecords(t, r)

	lostA := &syncv1.Purge{ServiceId: "house-a", KeepPersonIds: []string{"p2"}}
	tests := []struct {
		name       string
		purges     []*syncv1.Purge
		before     func(t *testing.T)
		want       []purgeResult
		wantGone   []string
		wantCursor string
	}{
		{
			name:   "unsent change in the scope: deferred",
			purges: []*syncv1.Purge{lostA},
			want:   []purgeResult{{ServiceID: "house-a", KeepPersonIDs: []string{"p2"}, Deferred: true, Unsent: 1}},
		},
		{
			name:   "pushed: purged, keeping p2 and house-b",
			purges: []*syncv1.Purge{lostA},
			before: func(t *testing.T) {
				// The change is acknowledged: it leaves the outbox.
				var counter int64
				if err := r.read.QueryRow(`SELECT counter FROM outbox WHERE record_id = ?`, pending).Scan(&counter); err != nil {
					t.Fatal(err)
				}
				tx, err := r.write.Begin()
				if err != nil {
					t.Fatal(err)
				}
				if err := deleteEntry(ctx, tx, counter); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			},
			want:     []purgeResult{{ServiceID: "house-a", KeepPersonIDs: []string{"p2"}, Records: 4}},
			wantGone: []string{aP1, aNone, rejected, pending},
		},
		{
			name:   "purged again: nothing to do",
			purges: []*syncv1.Purge{lostA},
			want:   []purgeResult{{ServiceID: "house-a", KeepPersonIDs: []string{"p2"}}},
		},
		{
			name:   "one person of another service",
			purges: []*syncv1.Purge{{ServiceId: "house-b", PersonId: "p9"}, {ServiceId: "house-a", PersonId: "p2"}},
			want:   []purgeResult{{ServiceID: "house-b", PersonID: "p9"}, {ServiceID: "house-a", PersonID: "p2", Deferred: true, Unsent: 1}},
		},
		{
			// A manager who becomes a support worker keeps house-b's
			// incidents, with their unsent change, and loses its
			// safeguarding concerns.
			name:     "record types a narrower role lost",
			purges:   []*syncv1.Purge{{ServiceId: "house-b", RecordTypes: []string{"safeguarding_concern", "debrief"}}},
			want:     []purgeResult{{ServiceID: "house-b", RecordTypes: []string{"safeguarding_concern", "debrief"}, Records: 1}},
			wantGone: []string{bSafe},
		},
		{
			name:   "a purge with no service is ignored",
			purges: []*syncv1.Purge{{PersonId: "p1"}},
		},
	}
	gone := map[string]bool{}
	for i, tt := range tests {
		if tt.before != nil {
			tt.before(t)
		}
		cursor := "c" + string(rune('1'+i))
		res, err := r.applyPage(ctx, &syncv1.PullResponse{NextCursor: cursor, Purges: tt.purges})
		if err != nil {
			t.Fatalf("%s: applyPage() error = %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, res.purges); diff != "" {
			t.Errorf("%s: purges (-want +got)\n%s", tt.name, diff)
		}
		for _, id := range tt.wantGone {
			gone[id] = true
		}
		var want []string
		for _, id := range all {
			if !gone[id] {
				want = append(want, id)
			}
		}
		if diff := cmp.Diff(want, scopeRecords(t, r)); diff != "" {
			t.Errorf("%s: records left (-want +got)\n%s", tt.name, diff)
		}
		if st, err := loadState(ctx, r.read); err != nil || st.cursor != cursor {
			t.Errorf("%s: cursor = %q, %v; want the page's %q", tt.name, st.cursor, err, cursor)
		}
	}
	if !slices.Contains(scopeRecords(t, r), keptCaseload) {
		t.Errorf("the unsent change to %s in the kept caseload was purged", keptCaseload)
	}
	var rejectedLeft int
	if err := r.read.QueryRow(`SELECT count(*) FROM outbox WHERE status = 'rejected'`).Scan(&rejectedLeft); err != nil || rejectedLeft != 0 {
		t.Errorf("rejected outbox entries left: %d, %v; want the purged record's gone", rejectedLeft, err)
	}
}

// TestApplyPage_PurgeAfterChanges checks that a page's changes are applied
// before its purges, so a record of a purged scope never survives the page.
func TestApplyPage_PurgeAfterChanges(t *testing.T) {
	ctx := context.Background()
	r, _ := openTest(t, "phone-p", 5000)
	const id = "019c9d2e-7a00-7000-8000-0000000000c1"
	res, err := r.applyPage(ctx, &syncv1.PullResponse{
		Changes: []*syncv1.FieldChange{pulledRecord(id, "house-a", "p1", 100)},
		Purges:  []*syncv1.Purge{{ServiceId: "house-a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := scopeRecords(t, r); len(got) != 0 || res.purges[0].Records != 1 {
		t.Errorf("records after the page = %v, purged %d; want none left, 1 purged", got, res.purges[0].Records)
	}
}

// TestSyncReport_AddPurges counts a purge that every page repeats once.
func TestSyncReport_AddPurges(t *testing.T) {
	rep := &SyncReport{}
	a := purgeResult{ServiceID: "house-a", KeepPersonIDs: []string{"p2"}}
	b := purgeResult{ServiceID: "house-b", PersonID: "p1"}
	rep.addPurges([]purgeResult{{ServiceID: a.ServiceID, KeepPersonIDs: a.KeepPersonIDs, Records: 3}, {ServiceID: "house-b", PersonID: "p1", Deferred: true, Unsent: 2}})
	rep.addPurges([]purgeResult{a, {ServiceID: "house-b", PersonID: "p1", Deferred: true, Unsent: 2}})
	rep.addPurges([]purgeResult{a, b, {ServiceID: "house-c"}})
	if rep.Purged != 3 || rep.PurgesDeferred != 0 {
		t.Errorf("Purged %d, PurgesDeferred %d; want 3, 0", rep.Purged, rep.PurgesDeferred)
	}
	if got, want := rep.purgedJSON(), `[{"serviceId":"house-a","keepPersonIds":["p2"],"records":3}]`; got != want {
		t.Errorf("purgedJSON() = %s, want %s", got, want)
	}
	rep.addPurges([]purgeResult{{ServiceID: "house-b", PersonID: "p1", Deferred: true, Unsent: 1}})
	if rep.PurgesDeferred != 1 {
		t.Errorf("PurgesDeferred = %d, want 1", rep.PurgesDeferred)
	}

	// A purge of the types a narrower role lost, repeated by every page.
	typed := &SyncReport{}
	for range 3 {
		typed.addPurges([]purgeResult{{ServiceID: "house-a", RecordTypes: []string{"safeguarding_concern"}, Deferred: true, Unsent: 1}})
	}
	if got, want := typed.purgedJSON(), `[{"serviceId":"house-a","recordTypes":["safeguarding_concern"],"records":0,"deferred":true,"unsent":1}]`; got != want || typed.PurgesDeferred != 1 {
		t.Errorf("purgedJSON() = %s, PurgesDeferred %d; want %s, 1", got, typed.PurgesDeferred, want)
	}
}
