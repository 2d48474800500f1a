package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testFindings checks the governance part of a transaction, and the
// [shiftsync.Governance] engine over it: the snapshot the rules read, the
// findings kept in place by rule and subject, an evaluation keeping when a
// finding was first seen and closing as met the ones no longer reported,
// and the organisations' thresholds, versioned and audited.
func testFindings(t *testing.T, open Factory) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	clock := start
	s := open(t, func() time.Time { return clock })
	ids := s.Identity()
	operator := shiftsync.Principal{UserID: "operator"}
	g := &shiftsync.Governance{Store: s, Now: func() time.Time { return clock }}
	findings := func(t *testing.T, serviceID string) map[string]shiftsync.Finding {
		t.Helper()
		byKey := map[string]shiftsync.Finding{}
		must(t, s.View(ctx, func(tx shiftsync.Tx) error {
			list, err := tx.Findings(ctx, serviceID)
			for _, f := range list {
				byKey[f.RuleID+" "+f.Subject] = f
			}
			return err
		}))
		return byKey
	}
	for _, err := range []error{
		ids.CreateOrganisation(ctx, operator, "org-1", "Org One"),
		ids.CreateService(ctx, operator, "house-a", "org-1", "House A"),
		ids.CreateService(ctx, operator, "house-p", "org-1", "House P"),
		ids.CreateUser(ctx, operator, "priya", "org-1", "Priya", ""),
		ids.CreateUser(ctx, operator, "lee", "org-1", "Lee", ""),
		ids.CreateUser(ctx, operator, "mo", "org-1", "Mo", ""),
	} {
		must(t, err)
	}

	t.Run("put and read", func(t *testing.T) {
		f := shiftsync.Finding{ServiceID: "house-p", PersonID: "sam", RuleID: "rule-x", RuleVersion: 1, ThresholdsVersion: 0, Subject: "s-1",
			RecordID: "rec-1", State: shiftsync.StateDue, DueAt: start.Add(time.Hour), Message: "due soon",
			FirstSeenAt: start, EvaluatedAt: start}
		must(t, s.Update(ctx, func(tx shiftsync.Tx) error { return tx.PutFinding(ctx, f) }))
		got := findings(t, "house-p")["rule-x s-1"]
		if got.ID <= 0 || !sameFinding(got, f) {
			t.Fatalf("Findings after PutFinding = %+v, want %+v with an id", got, f)
		}
		id := got.ID
		f.State, f.Message, f.RuleVersion, f.ThresholdsVersion, f.RecordID, f.PersonID = shiftsync.StateMet, "done", 2, 3, "rec-2", "alex"
		f.DueAt, f.EvaluatedAt, f.ClosedAt = start.Add(2*time.Hour), start.Add(time.Minute), start.Add(time.Minute)
		other := f
		other.Subject, other.State, other.ClosedAt = "s-2", shiftsync.StateBreach, time.Time{}
		must(t, s.Update(ctx, func(tx shiftsync.Tx) error {
			if err := tx.PutFinding(ctx, f); err != nil {
				return err
			}
			return tx.PutFinding(ctx, other)
		}))
		all := findings(t, "house-p")
		if got := all["rule-x s-1"]; got.ID != id || !sameFinding(got, f) {
			t.Errorf("Findings after a second PutFinding = %+v, want %+v in place (id %d)", got, f, id)
		}
		if got := all["rule-x s-2"]; len(all) != 2 || got.ID == id || !sameFinding(got, other) {
			t.Errorf("Findings = %+v, want a second finding %+v for the other subject", all, other)
		}
		if n := len(findings(t, "house-a")); n != 0 {
			t.Errorf("Findings of another service = %d findings, want none", n)
		}
	})

	t.Run("snapshot", func(t *testing.T) {
		from := start.Add(-72 * time.Hour)
		for _, m := range []shiftsync.Membership{
			{UserID: "priya", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker, Start: from, End: from.Add(time.Hour)},
			{UserID: "priya", ServiceID: "house-a", Role: shiftsync.RoleShiftLead, Start: from.Add(2 * time.Hour)},
			{UserID: "lee", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker, Start: from.Add(time.Hour), End: from.Add(5 * time.Hour)},
			{UserID: "lee", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker, Start: from.Add(6 * time.Hour), End: from.Add(9 * time.Hour)},
			{UserID: "mo", ServiceID: "house-a", Role: shiftsync.RoleManager, Start: from},
		} {
			_, err := ids.AddMembership(ctx, operator, m)
			must(t, err)
		}
		meeting(t, s, "rec-meeting", "house-a", start.Add(-time.Hour), start)
		var snap shiftsync.Snapshot
		must(t, s.View(ctx, func(tx shiftsync.Tx) (err error) {
			snap, err = tx.Snapshot(ctx, "house-a")
			return err
		}))
		want := []shiftsync.StaffMember{{UserID: "lee", Start: from.Add(time.Hour), End: from.Add(9 * time.Hour)}, {UserID: "priya", Start: from}}
		if !slices.EqualFunc(snap.Staff, want, func(a, b shiftsync.StaffMember) bool {
			return a.UserID == b.UserID && a.Start.Equal(b.Start) && a.End.Equal(b.End)
		}) {
			t.Errorf("Snapshot staff = %+v, want %+v: front-line roles only, earliest start, latest end, open-ended if any is", snap.Staff, want)
		}
		if len(snap.Records) != 1 || snap.Records[0].RecordID != "rec-meeting" || snap.Records[0].Text("meeting_type") != "MEETING_TYPE_MDT_REVIEW" ||
			!snap.Records[0].Time("ended_at").Equal(start.Add(-time.Hour)) {
			t.Errorf("Snapshot records = %+v, want the meeting with its fields", snap.Records)
		}
		var services []string
		must(t, s.View(ctx, func(tx shiftsync.Tx) (err error) {
			services, err = tx.ServicesWithRecords(ctx)
			return err
		}))
		if !slices.Equal(services, []string{"house-a"}) {
			t.Errorf("ServicesWithRecords = %v, want [house-a]", services)
		}
	})

	t.Run("evaluation keeps first seen and closes as met", func(t *testing.T) {
		stale := shiftsync.Finding{ServiceID: "house-a", RuleID: shiftsync.RuleOperationalisation, RuleVersion: 1, Subject: "rec-gone",
			RecordID: "rec-gone", State: shiftsync.StateDue, DueAt: start, Message: "still to issue", FirstSeenAt: start.Add(-2 * time.Hour), EvaluatedAt: start.Add(-2 * time.Hour)}
		must(t, s.Update(ctx, func(tx shiftsync.Tx) error { return tx.PutFinding(ctx, stale) }))

		if n, err := g.EvaluateAll(ctx); err != nil || n != 1 {
			t.Fatalf("EvaluateAll = %d, %v; want 1 service evaluated", n, err)
		}
		all := findings(t, "house-a")
		key := shiftsync.RuleOperationalisation + " rec-meeting"
		first := all[key]
		if first.State != shiftsync.StateDue || !first.FirstSeenAt.Equal(start) || !first.EvaluatedAt.Equal(start) || !first.ClosedAt.IsZero() {
			t.Fatalf("meeting finding = %+v, want due, first seen and evaluated at %v", first, start)
		}
		gone := all[shiftsync.RuleOperationalisation+" rec-gone"]
		if gone.State != shiftsync.StateMet || !gone.ClosedAt.Equal(start) || !gone.EvaluatedAt.Equal(start) || !gone.FirstSeenAt.Equal(stale.FirstSeenAt) ||
			gone.Message != stale.Message+" (no longer reported: resolved, or its record voided)" {
			t.Errorf("finding no longer reported = %+v, want met and closed at %v, first seen kept, its message noting why", gone, start)
		}

		clock = start.Add(time.Hour)
		must(t, g.Evaluate(ctx, "house-a"))
		all = findings(t, "house-a")
		later := all[key]
		if later.ID != first.ID || later.Message == first.Message || !later.FirstSeenAt.Equal(start) || !later.EvaluatedAt.Equal(clock) {
			t.Errorf("meeting finding an hour later = %+v, want its new message, first seen still %v, evaluated at %v", later, start, clock)
		}
		if again := all[shiftsync.RuleOperationalisation+" rec-gone"]; !sameFinding(again, gone) {
			t.Errorf("a met finding after another evaluation = %+v, want it as it was (%+v)", again, gone)
		}

		must(t, g.Evaluate(ctx, "house-a"))
		if same := findings(t, "house-a")[key]; !sameFinding(same, later) {
			t.Errorf("an unchanged finding after another evaluation = %+v, want it not rewritten (%+v)", same, later)
		}
		clock = start
	})

	t.Run("thresholds versions", func(t *testing.T) {
		must(t, ids.CreateOrganisation(ctx, operator, "org-t", "Org T"))
		must(t, ids.CreateService(ctx, operator, "house-t", "org-t", "House T"))
		stored := func() (int, int, shiftsync.Thresholds) {
			t.Helper()
			var (
				latest, version int
				encoded         []byte
			)
			must(t, s.View(ctx, func(tx shiftsync.Tx) (err error) {
				if latest, err = tx.ThresholdsVersion(ctx, "org-t"); err != nil {
					return err
				}
				version, encoded, err = tx.StoredThresholds(ctx, "house-t")
				return err
			}))
			th, err := shiftsync.DecodeThresholds(version, encoded)
			must(t, err)
			return latest, version, th
		}
		if latest, version, th := stored(); latest != 0 || version != 0 || th.Version != 0 {
			t.Errorf("thresholds before any were set: version %d, stored %d (%d); want 0, the defaults", latest, version, th.Version)
		}
		var exists [2]bool
		must(t, s.View(ctx, func(tx shiftsync.Tx) (err error) {
			if exists[0], err = tx.OrganisationExists(ctx, "org-t"); err != nil {
				return err
			}
			exists[1], err = tx.OrganisationExists(ctx, "org-none")
			return err
		}))
		if exists != [2]bool{true, false} {
			t.Errorf("OrganisationExists(org-t, org-none) = %v, want true, false", exists)
		}

		th := shiftsync.DefaultThresholds
		for want := 1; want <= 2; want++ {
			th.OperationaliseWarning = shiftsync.Duration(time.Duration(30+want) * time.Hour)
			th.OperationaliseDeadline = shiftsync.Duration(48 * time.Hour)
			var tipSeq int64
			var tipHash []byte
			must(t, s.View(ctx, func(tx shiftsync.Tx) (err error) {
				tipSeq, tipHash, err = tx.AuditTip(ctx)
				return err
			}))
			version, err := g.SetThresholds(ctx, operator, "org-t", th)
			if err != nil || version != want {
				t.Fatalf("SetThresholds = %d, %v; want version %d", version, err, want)
			}
			encoded, _ := json.Marshal(th)
			e := shiftsync.AuditEvent{Actor: operator, Action: shiftsync.AuditThresholdsSet, Subject: "org-t",
				Detail: fmt.Sprintf(`{"version":%d,"thresholds":%s}`, want, encoded)}
			must(t, s.View(ctx, func(tx shiftsync.Tx) error {
				seq, hash, err := tx.AuditTip(ctx)
				if err == nil && (seq != tipSeq+1 || !bytes.Equal(hash, shiftsync.AuditHash(tipHash, clock, e))) {
					t.Errorf("audit after SetThresholds: tip %d, want one entry %+v", seq, e)
				}
				return err
			}))
		}
		if latest, version, got := stored(); latest != 2 || version != 2 || got.Version != 2 || got.OperationaliseWarning != th.OperationaliseWarning {
			t.Errorf("thresholds after two versions: version %d, stored %d, %+v; want version 2 as set", latest, version, got)
		}
		_, err := g.SetThresholds(ctx, operator, "org-none", th)
		if shiftsync.ErrorCode(err) != shiftsync.CodeNotFound {
			t.Errorf("SetThresholds of an unknown organisation = %v, want not found", err)
		}
		bad := th
		bad.OperationaliseDeadline = -1
		if _, err := g.SetThresholds(ctx, operator, "org-t", bad); err == nil {
			t.Error("SetThresholds of invalid thresholds succeeded")
		}
		if latest, _, _ := stored(); latest != 2 {
			t.Errorf("thresholds version after refused sets = %d, want 2", latest)
		}
	})
}

// meeting stores a meeting record that ended at ended, through the
// change log, as a push would.
func meeting(t *testing.T, s Store, recordID, serviceID string, ended, now time.Time) {
	t.Helper()
	ctx := context.Background()
	m := &shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "meeting", ServiceID: serviceID, PersonID: "sam"},
		DeviceID:  "phone-m", UserID: "priya", Counter: 1,
		HLC: shiftsync.HLC{WallMS: now.UnixMilli()},
		Fields: []shiftsync.FieldEdit{
			{Field: "meeting_type", Value: shiftsync.Value{Kind: shiftsync.KindEnum, String: "MEETING_TYPE_MDT_REVIEW"}},
			{Field: "ended_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: ended}},
		},
	}
	if err := s.Update(ctx, func(tx shiftsync.Tx) error {
		if err := tx.CreateRecord(ctx, m, now); err != nil {
			return err
		}
		for _, e := range m.Fields {
			seq, err := tx.AppendVersion(ctx, m, e, now)
			if err != nil {
				return err
			}
			if err := tx.SetFieldHead(ctx, m, e.Field, seq, shiftsync.Digest{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// sameFinding reports whether two findings are equal, their times
// compared to the millisecond.
func sameFinding(a, b shiftsync.Finding) bool {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	return a.ServiceID == b.ServiceID && a.PersonID == b.PersonID && a.RuleID == b.RuleID && a.RuleVersion == b.RuleVersion &&
		a.ThresholdsVersion == b.ThresholdsVersion && a.Subject == b.Subject && a.RecordID == b.RecordID && a.State == b.State &&
		a.Message == b.Message && ms(a.DueAt) == ms(b.DueAt) && ms(a.FirstSeenAt) == ms(b.FirstSeenAt) &&
		ms(a.EvaluatedAt) == ms(b.EvaluatedAt) && ms(a.ClosedAt) == ms(b.ClosedAt)
}
