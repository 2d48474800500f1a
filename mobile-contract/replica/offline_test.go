package replica_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// TestReplica_SixtyDaysOffline: a phone left in a locker for 60 days with
// hundreds of changes syncs them all, and its edits merge by when they were
// made (HLC), not by when they arrived.
func TestReplica_SixtyDaysOffline(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	offline, online := newDevice(t, s, "phone-locker"), newDevice(t, s, "phone-shift")
	day := 24 * time.Hour

	shared := online.logIncident("created on shift", "")
	online.sync()
	offline.sync() // the last sync before the phone goes in the locker

	// Day 1, offline: hundreds of records and an edit of the shared one.
	s.Clock.Advance(day)
	var ids []string
	for i := range 300 {
		ids = append(ids, offline.logIncident(fmt.Sprintf("offline %d", i), ""))
		if i%50 == 0 {
			s.Clock.Advance(time.Minute)
		}
	}
	offline.edit(shared, `{"place":{"stringValue":"written on day 1, offline"}}`)
	// Day 30, online: a later edit of the same field, synced at once.
	s.Clock.Advance(29 * day)
	online.edit(shared, `{"place":{"stringValue":"written on day 30, online"}}`)
	online.sync()
	// Day 60: the phone comes back and syncs everything.
	s.Clock.Advance(30 * day)
	rep := offline.sync()
	if rep.Accepted != 301 || rep.Restamped != 0 {
		t.Errorf("day 60 sync accepted %d (re-stamped %d), want 301 (0)", rep.Accepted, rep.Restamped)
	}
	online.sync()

	for _, d := range []*device{offline, online} {
		st, err := d.Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.OutboxDepth != 0 || st.Records != 301 {
			t.Errorf("%s: outbox %d, records %d; want 0, 301", d.id, st.OutboxDepth, st.Records)
		}
		place := d.record(shared).Fields["place"].Value["stringValue"]
		if place != "written on day 30, online" {
			t.Errorf("%s: place = %v; the day-30 edit must win over the day-1 edit that arrived later", d.id, place)
		}
		if !d.record(shared).Fields["place"].Conflict && d == offline {
			t.Errorf("%s: the concurrent edit of place is not shown as a conflict", d.id)
		}
	}
	if got := len(online.record(ids[299]).Fields); got != 2 {
		t.Errorf("the last offline record reached the other phone with %d fields, want 2", got)
	}
}
