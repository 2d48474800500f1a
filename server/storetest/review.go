package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testReview checks the review part of a transaction: alerts and their
// acknowledgement, conflicts open and resolved, the quarantine's listing
// and overflow by service, records as they stand with their versions,
// locks and addenda, evidence packs, and device health. The store only
// finds and keeps; what a reviewer may see is the engine's to decide.
func testReview(t *testing.T, open Factory) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	s := open(t, func() time.Time { return now })
	update := func(t *testing.T, fn func(tx shiftsync.Tx) error) {
		t.Helper()
		if err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	view := func(t *testing.T, fn func(tx shiftsync.Tx) error) {
		t.Helper()
		if err := s.View(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	text := func(s string) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindString, String: s} }
	counter := uint64(0)
	mutation := func(recordID, recordType, service, person string, at time.Time, fields ...shiftsync.FieldEdit) *shiftsync.Mutation {
		counter++
		return &shiftsync.Mutation{
			RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: recordType, ServiceID: service, PersonID: person, Agency: "acme"},
			DeviceID:  "phone-1", UserID: "priya", Counter: counter,
			HLC:    shiftsync.HLC{WallMS: at.UnixMilli(), Logical: uint32(counter)},
			Fields: fields,
		}
	}
	// write stores m's edits as the fields' winners (creating the record
	// first when create is set) and returns their change log positions.
	write := func(tx shiftsync.Tx, m *shiftsync.Mutation, create bool) ([]int64, error) {
		return writeRecord(ctx, tx, m, now, create)
	}

	t.Run("alerts", func(t *testing.T) {
		ref := func(id string) shiftsync.RecordRef {
			return shiftsync.RecordRef{RecordID: id, RecordType: "incident", ServiceID: "house-a", PersonID: "sam"}
		}
		update(t, func(tx shiftsync.Tx) error {
			for _, m := range []*shiftsync.Mutation{
				mutation("rec-alert-1", "incident", "house-a", "sam", now, shiftsync.FieldEdit{Field: "place", Value: text("hall")}),
				mutation("rec-alert-2", "incident", "house-a", "sam", now, shiftsync.FieldEdit{Field: "place", Value: text("hall")}),
				mutation("rec-alert-b", "incident", "house-b", "", now, shiftsync.FieldEdit{Field: "place", Value: text("hall")}),
			} {
				if _, err := write(tx, m, true); err != nil {
					return err
				}
			}
			for i, id := range []string{"rec-alert-1", "rec-alert-2"} {
				if err := tx.RaiseAlert(ctx, shiftsync.Alert{RuleID: "rule-" + id, RuleVersion: 2, Record: ref(id), Summary: "summary " + id,
					UserID: "priya", DeviceID: "phone-1", RaisedAt: now.Add(time.Duration(i) * time.Minute)}); err != nil {
					return err
				}
			}
			return tx.RaiseAlert(ctx, shiftsync.Alert{RuleID: "rule-b", RuleVersion: 1, Record: shiftsync.RecordRef{RecordID: "rec-alert-b", RecordType: "incident", ServiceID: "house-b"}, RaisedAt: now})
		})
		var alerts []shiftsync.Alert
		view(t, func(tx shiftsync.Tx) (err error) {
			alerts, err = tx.Alerts(ctx, "house-a", false)
			return err
		})
		if len(alerts) != 2 || alerts[0].Record.RecordID != "rec-alert-2" || alerts[1].Record.RecordID != "rec-alert-1" {
			t.Fatalf("Alerts(house-a) = %+v; want the two alerts of house-a, newest raised first", alerts)
		}
		if a := alerts[1]; a.RuleID != "rule-rec-alert-1" || a.RuleVersion != 2 || a.Record != ref("rec-alert-1") || a.Summary != "summary rec-alert-1" ||
			a.UserID != "priya" || a.DeviceID != "phone-1" || !a.RaisedAt.Equal(now) || !a.AcknowledgedAt.IsZero() {
			t.Errorf("alert = %+v; want it as raised, open", a)
		}
		acked := now.Add(time.Hour)
		update(t, func(tx shiftsync.Tx) error { return tx.AcknowledgeAlert(ctx, alerts[1].ID, "manager", "seen", acked) })
		view(t, func(tx shiftsync.Tx) error {
			a, err := tx.Alert(ctx, alerts[1].ID)
			if err != nil || a == nil || !a.AcknowledgedAt.Equal(acked) || a.AcknowledgedBy != "manager" || a.Note != "seen" {
				t.Errorf("Alert after AcknowledgeAlert = %+v, %v; want acknowledged by manager at %v", a, err, acked)
			}
			if none, err := tx.Alert(ctx, 1<<40); err != nil || none != nil {
				t.Errorf("Alert of an unknown id = %+v, %v; want nil", none, err)
			}
			if open, err := tx.Alerts(ctx, "house-a", false); err != nil || len(open) != 1 || open[0].ID != alerts[0].ID {
				t.Errorf("open Alerts = %+v, %v; want only the unacknowledged one", open, err)
			}
			if all, err := tx.Alerts(ctx, "house-a", true); err != nil || len(all) != 2 {
				t.Errorf("Alerts including acknowledged = %+v, %v; want both", all, err)
			}
			return nil
		})
	})

	t.Run("conflicts", func(t *testing.T) {
		var first, second []int64
		update(t, func(tx shiftsync.Tx) error {
			m := mutation("rec-conflict", "incident", "house-a", "sam", now, shiftsync.FieldEdit{Field: "place", Value: text("hall")}, shiftsync.FieldEdit{Field: "time", Value: text("9")})
			var err error
			if first, err = write(tx, m, true); err != nil {
				return err
			}
			edit := mutation("rec-conflict", "incident", "house-a", "sam", now, shiftsync.FieldEdit{Field: "place", Value: text("garden")}, shiftsync.FieldEdit{Field: "time", Value: text("10")})
			edit.DeviceID, edit.UserID = "phone-2", "sam-worker"
			if second, err = write(tx, edit, false); err != nil {
				return err
			}
			for i, field := range []string{"place", "time"} {
				if err := tx.OpenConflict(ctx, shiftsync.FieldConflict{RecordID: "rec-conflict", Field: field, CurrentSeq: first[i], IncomingSeq: second[i],
					WinnerSeq: second[i], OpenedAt: now.Add(time.Duration(i) * time.Minute)}); err != nil {
					return err
				}
			}
			return nil
		})
		var conflicts []shiftsync.Conflict
		view(t, func(tx shiftsync.Tx) (err error) {
			conflicts, err = tx.Conflicts(ctx, "house-a")
			return err
		})
		if len(conflicts) != 2 || conflicts[0].Field != "time" || conflicts[1].Field != "place" {
			t.Fatalf("Conflicts(house-a) = %+v; want time then place, newest opened first", conflicts)
		}
		c := conflicts[1]
		if c.Record.RecordID != "rec-conflict" || c.Record.ServiceID != "house-a" || c.Record.Agency != "acme" || c.Current.Value.String != "hall" ||
			c.Incoming.Value.String != "garden" || c.Incoming.UserID != "sam-worker" || c.Incoming.Version.DeviceID != "phone-2" || !c.IncomingWins ||
			!c.OpenedAt.Equal(now) || !c.ResolvedAt.IsZero() {
			t.Errorf("place conflict = %+v; want hall against garden, incoming winning, open", c)
		}
		resolved := now.Add(time.Hour)
		update(t, func(tx shiftsync.Tx) error {
			return tx.ResolveConflict(ctx, conflicts[0].ID, "manager", "kept the later time", resolved)
		})
		view(t, func(tx shiftsync.Tx) error {
			got, err := tx.Conflict(ctx, conflicts[0].ID)
			if err != nil || got == nil || !got.ResolvedAt.Equal(resolved) || got.ResolvedBy != "manager" || got.Resolution != "kept the later time" {
				t.Errorf("Conflict after ResolveConflict = %+v, %v; want resolved by manager", got, err)
			}
			if none, err := tx.Conflict(ctx, 1<<40); err != nil || none != nil {
				t.Errorf("Conflict of an unknown id = %+v, %v; want nil", none, err)
			}
			list, err := tx.Conflicts(ctx, "house-a")
			if err != nil || len(list) != 2 || list[0].ID != conflicts[1].ID || list[1].ID != conflicts[0].ID {
				t.Errorf("Conflicts after resolving the newest = %+v, %v; want the open one first", list, err)
			}
			if none, err := tx.Conflicts(ctx, "house-b"); err != nil || len(none) != 0 {
				t.Errorf("Conflicts of another service = %+v, %v; want none", none, err)
			}
			return nil
		})
	})

	t.Run("quarantine listing and overflow", func(t *testing.T) {
		older := mutation("rec-q-1", "incident", "house-q", "sam", now, shiftsync.FieldEdit{Field: "place", Value: text("x")})
		newer := mutation("rec-q-2", "incident", "house-q", "alex", now, shiftsync.FieldEdit{Field: "place", Value: text("y")})
		newer.Agency = "partner"
		update(t, func(tx shiftsync.Tx) error {
			for i, m := range []*shiftsync.Mutation{older, newer} {
				payload, err := shiftsync.QuarantinePayload(m)
				if err != nil {
					return err
				}
				if err := tx.Quarantine(ctx, shiftsync.QuarantinedMutation{Mutation: m, Reason: shiftsync.ReasonUnknownField, Message: "refused",
					Payload: payload, PayloadFormat: shiftsync.QuarantinePayloadFormat, Size: shiftsync.QuarantineSize(m), Services: []string{"house-q", "house-r"}, ReceivedAt: now.Add(time.Duration(i) * time.Minute)}); err != nil {
					return err
				}
			}
			if err := tx.CountQuarantineOverflow(ctx, shiftsync.OverflowedMutation{Mutation: older, Reason: shiftsync.ReasonQuarantineFull, Size: 7,
				Services: []string{"house-q"}, RefusedAt: now}); err != nil {
				return err
			}
			return tx.CountQuarantineOverflow(ctx, shiftsync.OverflowedMutation{Mutation: older, Reason: shiftsync.ReasonQuarantineFull, Size: 7,
				Services: []string{"house-q"}, RefusedAt: now.Add(time.Minute)})
		})
		view(t, func(tx shiftsync.Tx) error {
			for _, service := range []string{"house-q", "house-r"} {
				changes, err := tx.QuarantinedChanges(ctx, service)
				if err != nil || len(changes) != 2 || changes[0].Record.RecordID != "rec-q-2" || changes[1].Record.RecordID != "rec-q-1" {
					t.Fatalf("QuarantinedChanges(%s) = %+v, %v; want both changes, newest first", service, changes, err)
				}
				q := changes[0]
				if q.Record.PersonID != "alex" || q.Record.Agency != "partner" || q.Record.ServiceID != "house-q" || q.Record.RecordType != "incident" ||
					q.DeviceID != "phone-1" || q.UserID != "priya" || q.Counter != newer.Counter || q.Reason != shiftsync.ReasonUnknownField ||
					q.Message != "refused" || q.Payload == "" || !q.ReceivedAt.Equal(now.Add(time.Minute)) {
					t.Errorf("QuarantinedChanges(%s)[0] = %+v; want the change as received, naming alex of partner", service, q)
				}
			}
			overflows, err := tx.QuarantineOverflows(ctx, "house-q")
			if err != nil || len(overflows) != 1 {
				t.Fatalf("QuarantineOverflows(house-q) = %+v, %v; want one day's count", overflows, err)
			}
			if o := overflows[0]; o.DeviceID != "phone-1" || o.UserID != "priya" || !o.Day.Equal(shiftsync.QuarantineDay(now)) || o.Reason != shiftsync.ReasonQuarantineFull ||
				o.Refused != 2 || o.Bytes != 14 || o.LastCounter != older.Counter || !o.LastRefusedAt.Equal(now.Add(time.Minute)) {
				t.Errorf("overflow = %+v; want two refusals of 7 bytes, the last at %v", o, now.Add(time.Minute))
			}
			if none, err := tx.QuarantineOverflows(ctx, "house-r"); err != nil || len(none) != 0 {
				t.Errorf("QuarantineOverflows of a service not counted = %+v, %v; want none", none, err)
			}
			if none, err := tx.QuarantinedChanges(ctx, "house-z"); err != nil || len(none) != 0 {
				t.Errorf("QuarantinedChanges of another service = %+v, %v; want none", none, err)
			}
			return nil
		})
	})

	t.Run("records and history", func(t *testing.T) {
		recorded := now.Add(-2 * time.Hour)
		var seqs []int64
		update(t, func(tx shiftsync.Tx) error {
			for _, m := range []*shiftsync.Mutation{
				mutation("rec-h-1", "incident", "house-h", "sam", recorded, shiftsync.FieldEdit{Field: "place", Value: text("hall")}),
				mutation("rec-h-2", "action", "house-h", "sam", recorded, shiftsync.FieldEdit{Field: "owner_role", Value: text("manager")}),
				mutation("rec-h-3", "incident", "house-h", "alex", recorded, shiftsync.FieldEdit{Field: "place", Value: text("garden")}),
				mutation("rec-h-4", "incident", "house-i", "sam", recorded, shiftsync.FieldEdit{Field: "place", Value: text("yard")}),
			} {
				written, err := write(tx, m, true)
				if err != nil {
					return err
				}
				seqs = append(seqs, written...)
			}
			edit := mutation("rec-h-1", "incident", "house-h", "sam", now, shiftsync.FieldEdit{Field: "place", Value: text("lounge")})
			written, err := write(tx, edit, false)
			seqs = append(seqs, written...)
			if err != nil {
				return err
			}
			for _, id := range []string{"rec-add-2", "rec-add-1"} {
				add := mutation(id, shiftsync.AddendumType, "house-h", "sam", now, shiftsync.FieldEdit{Field: shiftsync.AddendumTarget, Value: text("rec-h-1")})
				if _, err := write(tx, add, true); err != nil {
					return err
				}
			}
			return nil
		})
		ids := func(records []*shiftsync.Record) []string {
			var out []string
			for _, r := range records {
				out = append(out, r.RecordID)
			}
			return out
		}
		view(t, func(tx shiftsync.Tx) error {
			all, err := tx.ServiceRecords(ctx, "house-h", "", "incident")
			if err != nil || !slices.Equal(ids(all), []string{"rec-h-1", "rec-h-3"}) {
				t.Errorf("ServiceRecords(house-h, incident) = %v, %v; want rec-h-1 and rec-h-3 by id", ids(all), err)
			}
			sams, err := tx.ServiceRecords(ctx, "house-h", "sam", "")
			if err != nil || !slices.Equal(ids(sams), []string{"rec-add-1", "rec-add-2", "rec-h-1", "rec-h-2"}) {
				t.Errorf("ServiceRecords(house-h, sam) = %v, %v; want sam's four records by id", ids(sams), err)
			}
			heads, err := tx.ServiceRecordFields(ctx, "house-h", "", "incident", []string{"place", "no_such_field"})
			if err != nil || !slices.Equal(ids(heads), []string{"rec-h-1", "rec-h-3"}) {
				t.Errorf("ServiceRecordFields(house-h, incident, place) = %v, %v; want rec-h-1 and rec-h-3 by id", ids(heads), err)
			} else if h := heads[0]; len(h.Fields) != 1 || h.Text("place") != "lounge" || h.Seqs["place"] != seqs[4] || h.VersionSeq != seqs[4] || h.CreatedBy != "priya" || !h.RecordedAt.Equal(recorded) {
				t.Errorf("ServiceRecordFields: rec-h-1 = %+v; want place=lounge alone, at %d", h, seqs[4])
			}
			bare, err := tx.ServiceRecordFields(ctx, "house-h", "sam", "", nil)
			if err != nil || !slices.Equal(ids(bare), []string{"rec-add-1", "rec-add-2", "rec-h-1", "rec-h-2"}) || len(bare[0].Fields) != 0 {
				t.Errorf("ServiceRecordFields(house-h, sam, no fields) = %v, %v; want sam's four records by id, with no field", ids(bare), err)
			}
			r, err := tx.CurrentRecord(ctx, "rec-h-1")
			if err != nil || r == nil || r.Text("place") != "lounge" || r.Agency != "acme" || r.CreatedBy != "priya" || r.Seqs["place"] != seqs[4] ||
				r.VersionSeq != seqs[4] || !r.RecordedAt.Equal(recorded) || !r.ReceivedAt.Equal(now) {
				t.Errorf("CurrentRecord(rec-h-1) = %+v, %v; want it as it stands, place=lounge at %d", r, err, seqs[4])
			}
			if none, err := tx.CurrentRecord(ctx, "rec-none"); err != nil || none != nil {
				t.Errorf("CurrentRecord of an unknown id = %+v, %v; want nil", none, err)
			}
			versions, err := tx.FieldVersions(ctx, "rec-h-1")
			if err != nil || len(versions) != 2 || versions[0].Value.String != "hall" || versions[0].Current ||
				versions[1].Value.String != "lounge" || !versions[1].Current || versions[1].UserID != "priya" || !versions[1].ReceivedAt.Equal(now) {
				t.Errorf("FieldVersions(rec-h-1) = %+v, %v; want hall then the current lounge", versions, err)
			}
			addenda, err := tx.Addenda(ctx, "house-h", "rec-h-1")
			slices.SortFunc(addenda, func(a, b *shiftsync.Record) int { return strings.Compare(a.RecordID, b.RecordID) })
			if err != nil || !slices.Equal(ids(addenda), []string{"rec-add-1", "rec-add-2"}) {
				t.Errorf("Addenda(rec-h-1) = %v, %v; want both addenda", ids(addenda), err)
			}
			if none, err := tx.Addenda(ctx, "house-i", "rec-h-1"); err != nil || len(none) != 0 {
				t.Errorf("Addenda in another service = %v, %v; want none", ids(none), err)
			}
			if by, at, err := tx.RecordLock(ctx, "rec-h-1"); err != nil || by != "" || !at.IsZero() {
				t.Errorf("RecordLock of an unlocked record = %q, %v, %v", by, at, err)
			}
			if th, err := tx.Thresholds(ctx, "house-h"); err != nil || th.Version != 0 || th.LateEntryAfter != shiftsync.DefaultThresholds.LateEntryAfter {
				t.Errorf("Thresholds of a service without any = %+v, %v; want the defaults", th, err)
			}
			return nil
		})
		update(t, func(tx shiftsync.Tx) error {
			if locked, err := tx.LockRecord(ctx, "rec-h-1", "manager", now); err != nil || !locked {
				t.Errorf("LockRecord = %v, %v; want locked", locked, err)
			}
			if locked, err := tx.LockRecord(ctx, "rec-h-1", "other", now.Add(time.Hour)); err != nil || locked {
				t.Errorf("LockRecord of a locked record = %v, %v; want false", locked, err)
			}
			return nil
		})
		view(t, func(tx shiftsync.Tx) error {
			if by, at, err := tx.RecordLock(ctx, "rec-h-1"); err != nil || by != "manager" || !at.Equal(now) {
				t.Errorf("RecordLock = %q, %v, %v; want the first lock, manager's at %v", by, at, err, now)
			}
			if locked, err := tx.Locked(ctx, "rec-h-1"); err != nil || !locked {
				t.Errorf("Locked after LockRecord = %v, %v", locked, err)
			}
			if none, err := tx.StoredFindings(ctx, "house-h", "", true); err != nil || len(none) != 0 {
				t.Errorf("StoredFindings of a service never evaluated = %+v, %v; want none", none, err)
			}
			return nil
		})

		t.Run("evidence packs", func(t *testing.T) {
			manifest := []byte(`{"entries":[]}`)
			var id string
			update(t, func(tx shiftsync.Tx) (err error) {
				id, err = tx.InsertEvidencePack(ctx, shiftsync.StoredPack{ServiceID: "house-h", PersonID: "sam", From: recorded, To: now,
					Manifest: manifest, ManifestSHA256: "abc", ExportedBy: "manager", ExportedAt: now})
				if err != nil {
					return err
				}
				return shiftsync.AppendAudit(ctx, tx, now, shiftsync.AuditEvent{Actor: shiftsync.Principal{UserID: "manager"}, Action: shiftsync.AuditEvidenceExport,
					Subject: id, Detail: `{"manifest_sha256":"abc"}`})
			})
			view(t, func(tx shiftsync.Tx) error {
				p, err := tx.EvidencePack(ctx, id)
				if err != nil || p == nil || p.ID != id || p.ServiceID != "house-h" || p.PersonID != "sam" || !p.From.Equal(recorded) || !p.To.Equal(now) ||
					string(p.Manifest) != string(manifest) || p.ManifestSHA256 != "abc" || p.ExportedBy != "manager" || !p.ExportedAt.Equal(now) {
					t.Errorf("EvidencePack(%s) = %+v, %v; want it as kept", id, p, err)
				}
				if none, err := tx.EvidencePack(ctx, "no-such-pack"); err != nil || none != nil {
					t.Errorf("EvidencePack of an unknown id = %+v, %v; want nil", none, err)
				}
				if d, ok, err := tx.AuditDetail(ctx, shiftsync.AuditEvidenceExport, id); err != nil || !ok || d != `{"manifest_sha256":"abc"}` {
					t.Errorf("AuditDetail = %q, %v, %v; want the export's detail", d, ok, err)
				}
				if _, ok, err := tx.AuditDetail(ctx, shiftsync.AuditEvidenceExport, "no-such-pack"); err != nil || ok {
					t.Errorf("AuditDetail of no entry = %v, %v; want false", ok, err)
				}
				versions, err := tx.VersionsAt(ctx, []int64{seqs[0], seqs[4], 1 << 40})
				slices.SortFunc(versions, func(a, b shiftsync.StoredVersion) int { return int(a.Seq - b.Seq) })
				if err != nil || len(versions) != 2 || versions[0].Seq != seqs[0] || versions[0].RecordID != "rec-h-1" || versions[0].Field != "place" ||
					versions[1].Seq != seqs[4] {
					t.Fatalf("VersionsAt = %+v, %v; want the two versions that exist", versions, err)
				}
				if v, err := shiftsync.UnmarshalValue(versions[1].Value); err != nil || v.String != "lounge" {
					t.Errorf("VersionsAt value = %+v, %v; want lounge in its stored form", v, err)
				}
				return nil
			})
		})
	})

	t.Run("flagged writes", func(t *testing.T) {
		late := mutation("rec-late-1", "incident", "house-l", "sam", now.Add(-time.Hour), shiftsync.FieldEdit{Field: "place", Value: text("hall")})
		later := mutation("rec-late-2", "incident", "house-l", "", now.Add(-30*time.Minute), shiftsync.FieldEdit{Field: "place", Value: text("hall")})
		onTime := mutation("rec-late-3", "incident", "house-l", "sam", now, shiftsync.FieldEdit{Field: "place", Value: text("hall")})
		elsewhere := mutation("rec-late-4", "incident", "house-m", "sam", now.Add(-time.Hour), shiftsync.FieldEdit{Field: "place", Value: text("hall")})
		update(t, func(tx shiftsync.Tx) error {
			for i, m := range []*shiftsync.Mutation{late, later, onTime, elsewhere} {
				if _, err := write(tx, m, true); err != nil {
					return err
				}
				flag := shiftsync.FlagAccessEnded
				switch m {
				case onTime:
					flag = ""
				case later:
					flag = shiftsync.FlagReferencePending
				}
				if err := tx.RecordProcessed(ctx, shiftsync.ProcessedMutation{Mutation: m, Digest: []byte{byte(i)},
					Result: shiftsync.MutationResult{Counter: m.Counter, Status: shiftsync.StatusAccepted}, Flag: flag, ReceivedAt: now.Add(time.Duration(i) * time.Minute)}); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, func(tx shiftsync.Tx) error {
			writes, err := tx.FlaggedWrites(ctx, "house-l")
			if err != nil || len(writes) != 2 {
				t.Fatalf("FlaggedWrites(house-l) = %+v, %v; want the two flagged writes of house-l, not the unflagged one", writes, err)
			}
			w := writes[1]
			if writes[0].Record.RecordID != later.RecordID || writes[0].Flag != shiftsync.FlagReferencePending || w.Flag != shiftsync.FlagAccessEnded || w.Record != late.RecordRef || w.UserID != "priya" || w.DeviceID != "phone-1" ||
				w.Counter != late.Counter || w.HLC != late.HLC || !w.ReceivedAt.Equal(now) {
				t.Errorf("FlaggedWrites(house-l) = %+v; want %s (newest arrival, reference_pending) then %s (access_ended) as written", writes, later.RecordID, late.RecordID)
			}
			return nil
		})
	})

	t.Run("device health", func(t *testing.T) {
		view(t, func(tx shiftsync.Tx) error {
			if none, err := tx.DeviceHealth(ctx, "house-a", now); err != nil || len(none) != 0 {
				t.Errorf("DeviceHealth of a service without members = %+v, %v; want none", none, err)
			}
			return nil
		})
	})
}
