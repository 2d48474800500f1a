package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testSync checks the push and pull part of a transaction: counters,
// processed mutations for replay (by device), records, field heads and the
// change log with its history of losing versions, the pull ranges, served
// scopes (an empty one is still known), the quarantine's counts by device
// and day, and that a failed Update keeps none of it and a View writes
// nothing.
func testSync(t *testing.T, open Factory) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	s := open(t, func() time.Time { return now })
	update := func(fn func(tx shiftsync.Tx) error) {
		t.Helper()
		if err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	view := func(fn func(tx shiftsync.Tx) error) {
		t.Helper()
		if err := s.View(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	text := func(s string) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindString, String: s} }
	mutation := func(counter uint64, recordID, service string, fields ...shiftsync.FieldEdit) *shiftsync.Mutation {
		return &shiftsync.Mutation{
			RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "incident", ServiceID: service, PersonID: "sam"},
			DeviceID:  "phone-1", UserID: "priya", Counter: counter,
			HLC:    shiftsync.HLC{WallMS: now.UnixMilli(), Logical: uint32(counter)},
			Fields: fields,
		}
	}

	t.Run("empty store", func(t *testing.T) {
		view(func(tx shiftsync.Tx) error {
			if head, err := tx.Head(ctx); err != nil || head != 0 {
				t.Errorf("Head of an empty store = %d, %v; want 0", head, err)
			}
			if none, err := tx.Changes(ctx, "house-a", 0, 10); err != nil || len(none) != 0 {
				t.Errorf("Changes of an empty store = %+v, %v; want none", none, err)
			}
			if r, err := tx.Record(ctx, "rec-a"); err != nil || r != nil {
				t.Errorf("Record of an empty store = %+v, %v; want nil", r, err)
			}
			if heads, err := tx.FieldHeads(ctx, "rec-a"); err != nil || len(heads) != 0 {
				t.Errorf("FieldHeads of an unknown record = %+v, %v; want none", heads, err)
			}
			return nil
		})
	})

	t.Run("counters", func(t *testing.T) {
		view(func(tx shiftsync.Tx) error {
			if n, err := tx.Acknowledged(ctx, "phone-1"); err != nil || n != 0 {
				t.Errorf("Acknowledged of a device that never pushed = %d, %v; want 0", n, err)
			}
			return nil
		})
		update(func(tx shiftsync.Tx) error { return tx.Acknowledge(ctx, "phone-1", 7, now) })
		update(func(tx shiftsync.Tx) error { return tx.Acknowledge(ctx, "phone-1", 9, now) })
		view(func(tx shiftsync.Tx) error {
			if n, err := tx.Acknowledged(ctx, "phone-1"); err != nil || n != 9 {
				t.Errorf("Acknowledged = %d, %v; want 9, the last acknowledged", n, err)
			}
			if n, err := tx.Acknowledged(ctx, "phone-2"); err != nil || n != 0 {
				t.Errorf("Acknowledged of another device = %d, %v; want 0", n, err)
			}
			return nil
		})
	})

	t.Run("processed mutations replay as first answered", func(t *testing.T) {
		m := mutation(3, "rec-processed", "house-a", shiftsync.FieldEdit{Field: "place", Value: text("kitchen")})
		digest := []byte("0123456789abcdef0123456789abcdef")
		want := shiftsync.MutationResult{Counter: 3, Status: shiftsync.StatusAccepted, ConflictedFields: []string{"place", "time"}}
		update(func(tx shiftsync.Tx) error {
			return tx.RecordProcessed(ctx, shiftsync.ProcessedMutation{Mutation: m, Digest: digest, Result: want, Flag: shiftsync.Flag("access_ended"), ReceivedAt: now})
		})
		view(func(tx shiftsync.Tx) error {
			got, err := tx.ProcessedMutation(ctx, "phone-1", 3)
			if err != nil || got == nil {
				t.Fatalf("ProcessedMutation = %v, %v; want the one recorded", got, err)
			}
			if !bytes.Equal(got.Digest, digest) || got.Result.Status != want.Status || got.Result.Counter != 3 ||
				!slices.Equal(got.Result.ConflictedFields, want.ConflictedFields) || got.Flag != "access_ended" || !got.ReceivedAt.Equal(now) {
				t.Errorf("ProcessedMutation = %+v, want digest %x result %+v flag access_ended at %v", got, digest, want, now)
			}
			if none, err := tx.ProcessedMutation(ctx, "phone-1", 4); err != nil || none != nil {
				t.Errorf("ProcessedMutation of an unused counter = %v, %v; want nil", none, err)
			}
			if none, err := tx.ProcessedMutation(ctx, "phone-2", 3); err != nil || none != nil {
				t.Errorf("ProcessedMutation of another device's counter = %v, %v; want nil: counters are the device's own", none, err)
			}
			return nil
		})
	})

	// Two services' records, edited in turn: the change log positions
	// increase, the heads follow the winners, and each service's range
	// returns its own current fields in order.
	var seqs []int64
	t.Run("records, versions and heads", func(t *testing.T) {
		a := mutation(10, "rec-a", "house-a", shiftsync.FieldEdit{Field: "place", Value: text("garden")})
		b := mutation(11, "rec-b", "house-b", shiftsync.FieldEdit{Field: "place", Value: text("hall")})
		update(func(tx shiftsync.Tx) error {
			for _, m := range []*shiftsync.Mutation{a, b} {
				if held, err := tx.Record(ctx, m.RecordID); err != nil || held != nil {
					t.Errorf("Record(%s) before it was created = %v, %v; want nil", m.RecordID, held, err)
				}
				if err := tx.CreateRecord(ctx, m, now); err != nil {
					return err
				}
				seq, err := tx.AppendVersion(ctx, m, m.Fields[0], now)
				if err != nil {
					return err
				}
				seqs = append(seqs, seq)
				if err := tx.SetFieldHead(ctx, m, "place", seq, shiftsync.Digest{}); err != nil {
					return err
				}
			}
			return nil
		})
		later := mutation(12, "rec-a", "house-a", shiftsync.FieldEdit{Field: "place", Value: text("lounge")})
		later.DeviceID = "phone-2"
		update(func(tx shiftsync.Tx) error {
			seq, err := tx.AppendVersion(ctx, later, later.Fields[0], now)
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
			if err := tx.SetFieldHead(ctx, later, "place", seq, shiftsync.Digest{}); err != nil {
				return err
			}
			return tx.OpenConflict(ctx, shiftsync.FieldConflict{RecordID: "rec-a", Field: "place", CurrentSeq: seqs[0], IncomingSeq: seq, WinnerSeq: seq, OpenedAt: now})
		})
		if len(seqs) != 3 || seqs[0] <= 0 || seqs[0] >= seqs[1] || seqs[1] >= seqs[2] {
			t.Fatalf("change log positions %v: want three positive, strictly increasing positions", seqs)
		}
		view(func(tx shiftsync.Tx) error {
			r, err := tx.Record(ctx, "rec-a")
			if err != nil || r == nil || r.RecordType != "incident" || r.ServiceID != "house-a" || r.PersonID != "sam" ||
				r.CreatedByDevice != "phone-1" || !r.ReceivedAt.Equal(now) {
				t.Errorf("Record(rec-a) = %+v, %v; want the incident of house-a created by phone-1 at %v", r, err, now)
			}
			heads, err := tx.FieldHeads(ctx, "rec-a")
			if err != nil || len(heads) != 1 || heads["place"].Seq != seqs[2] || heads["place"].Version.DeviceID != "phone-2" || heads["place"].Version.HLC != later.HLC {
				t.Errorf("FieldHeads(rec-a) = %+v, %v; want place at %d by phone-2", heads, err, seqs[2])
			}
			values, err := tx.FieldValues(ctx, "rec-a", []string{"place", "time"})
			if err != nil || len(values) != 1 || values["place"].String != "lounge" {
				t.Errorf("FieldValues(rec-a) = %+v, %v; want place=lounge only", values, err)
			}
			if head, err := tx.Head(ctx); err != nil || head != seqs[2] {
				t.Errorf("Head = %d, %v; want %d", head, err, seqs[2])
			}
			if head, err := tx.ServiceHead(ctx, "house-b"); err != nil || head != seqs[1] {
				t.Errorf("ServiceHead(house-b) = %d, %v; want %d", head, err, seqs[1])
			}
			if head, err := tx.ServiceHead(ctx, "house-z"); err != nil || head != 0 {
				t.Errorf("ServiceHead of a service with nothing = %d, %v; want 0", head, err)
			}
			changes, err := tx.Changes(ctx, "house-a", 0, 10)
			if err != nil || len(changes) != 1 || changes[0].Seq != seqs[2] || changes[0].Value.String != "lounge" || changes[0].RecordType != "incident" {
				t.Errorf("Changes(house-a) = %+v, %v; want the current place only, at %d", changes, err, seqs[2])
			}
			if none, err := tx.Changes(ctx, "house-a", seqs[2], 10); err != nil || len(none) != 0 {
				t.Errorf("Changes after the head = %+v, %v; want none", none, err)
			}
			return nil
		})
	})

	t.Run("pull ranges page in order", func(t *testing.T) {
		var created []int64
		update(func(tx shiftsync.Tx) error {
			for i := range 5 {
				m := mutation(uint64(20+i), "rec-page-"+string(rune('a'+i)), "house-c", shiftsync.FieldEdit{Field: "place", Value: text("room")})
				seqs, err := writeRecord(ctx, tx, m, now, true)
				if err != nil {
					return err
				}
				created = append(created, seqs...)
			}
			return nil
		})
		var got []int64
		after := int64(0)
		view(func(tx shiftsync.Tx) error {
			for range 10 {
				page, err := tx.Changes(ctx, "house-c", after, 2)
				if err != nil {
					return err
				}
				if len(page) > 2 {
					t.Fatalf("Changes returned %d rows, limit 2", len(page))
				}
				if len(page) == 0 {
					break
				}
				for _, c := range page {
					got = append(got, c.Seq)
				}
				after = page[len(page)-1].Seq
			}
			return nil
		})
		if !slices.Equal(got, created) {
			t.Errorf("paged positions %v, want %v", got, created)
		}
	})

	t.Run("served scopes", func(t *testing.T) {
		view(func(tx shiftsync.Tx) error {
			if keys, known, err := tx.ServedScope(ctx, "phone-1"); err != nil || known || keys != nil {
				t.Errorf("ServedScope before any pull = %v, %v, %v; want unknown", keys, known, err)
			}
			return nil
		})
		update(func(tx shiftsync.Tx) error {
			return tx.SetServedScope(ctx, "phone-1", []string{"house-a/all", "house-b/all"}, now)
		})
		update(func(tx shiftsync.Tx) error { return tx.SetServedScope(ctx, "phone-1", []string{"house-b/all"}, now) })
		view(func(tx shiftsync.Tx) error {
			if keys, known, err := tx.ServedScope(ctx, "phone-1"); err != nil || !known || !slices.Equal(keys, []string{"house-b/all"}) {
				t.Errorf("ServedScope = %v, %v, %v; want the last served", keys, known, err)
			}
			return nil
		})
		// A device served nothing has still pulled: a later, wider scope
		// is recognised as widened rather than as a first pull.
		update(func(tx shiftsync.Tx) error { return tx.SetServedScope(ctx, "phone-3", nil, now) })
		view(func(tx shiftsync.Tx) error {
			if keys, known, err := tx.ServedScope(ctx, "phone-3"); err != nil || !known || len(keys) != 0 {
				t.Errorf("ServedScope after serving nothing = %v, %v, %v; want known and empty", keys, known, err)
			}
			if keys, known, err := tx.ServedScope(ctx, "phone-2"); err != nil || known || keys != nil {
				t.Errorf("ServedScope of another device = %v, %v, %v; want unknown", keys, known, err)
			}
			return nil
		})
	})

	t.Run("quarantine counts", func(t *testing.T) {
		day := shiftsync.QuarantineDay(now)
		m := mutation(30, "rec-q", "house-a", shiftsync.FieldEdit{Field: "place", Value: text("x")})
		update(func(tx shiftsync.Tx) error {
			for range 2 {
				if err := tx.Quarantine(ctx, shiftsync.QuarantinedMutation{Mutation: m, Reason: shiftsync.ReasonCounterReused, Message: "m",
					Payload: []byte(`{}`), Size: 100, Services: []string{"house-a", "house-b"}, ReceivedAt: now}); err != nil {
					return err
				}
			}
			return tx.CountQuarantineOverflow(ctx, shiftsync.OverflowedMutation{Mutation: m, Reason: shiftsync.ReasonQuarantineFull, Size: 5, Services: []string{""}, RefusedAt: now})
		})
		view(func(tx shiftsync.Tx) error {
			if n, err := tx.QuarantinedBytes(ctx, "phone-1", day); err != nil || n != 200 {
				t.Errorf("QuarantinedBytes = %d, %v; want 200 (overflow not counted)", n, err)
			}
			if n, err := tx.QuarantinedBytes(ctx, "phone-1", day.AddDate(0, 0, 1)); err != nil || n != 0 {
				t.Errorf("QuarantinedBytes of the next day = %d, %v; want 0", n, err)
			}
			if n, err := tx.QuarantinedBytes(ctx, "phone-2", day); err != nil || n != 0 {
				t.Errorf("QuarantinedBytes of another device = %d, %v; want 0", n, err)
			}
			return nil
		})
		// The next day starts a new count; the first day's stays.
		next := now.Add(24 * time.Hour)
		update(func(tx shiftsync.Tx) error {
			return tx.Quarantine(ctx, shiftsync.QuarantinedMutation{Mutation: m, Reason: shiftsync.ReasonCounterReused, Message: "m",
				Payload: []byte(`{}`), Size: 40, Services: []string{"house-a"}, ReceivedAt: next})
		})
		view(func(tx shiftsync.Tx) error {
			if n, err := tx.QuarantinedBytes(ctx, "phone-1", shiftsync.QuarantineDay(next)); err != nil || n != 40 {
				t.Errorf("QuarantinedBytes of the next day = %d, %v; want 40", n, err)
			}
			if n, err := tx.QuarantinedBytes(ctx, "phone-1", day); err != nil || n != 200 {
				t.Errorf("QuarantinedBytes of the first day = %d, %v; want 200 still", n, err)
			}
			return nil
		})
	})

	t.Run("locks and alerts", func(t *testing.T) {
		view(func(tx shiftsync.Tx) error {
			if locked, err := tx.Locked(ctx, "rec-a"); err != nil || locked {
				t.Errorf("Locked of an unlocked record = %v, %v", locked, err)
			}
			return nil
		})
		a := shiftsync.Alert{RuleID: "rule", RuleVersion: 1, Record: shiftsync.RecordRef{RecordID: "rec-a", RecordType: "incident", ServiceID: "house-a", PersonID: "sam"},
			Summary: "s", UserID: "priya", DeviceID: "phone-1", RaisedAt: now}
		update(func(tx shiftsync.Tx) error { return tx.RaiseAlert(ctx, a) })
		update(func(tx shiftsync.Tx) error { return tx.RaiseAlert(ctx, a) }) // kept as it is, no error
	})

	// A concurrent edit that loses arrives after the winner: it is kept in
	// the history at a later position, but the head, the pull range and the
	// current values stay the winner's.
	t.Run("a losing version is history, not head", func(t *testing.T) {
		create := mutation(40, "rec-d", "house-d", shiftsync.FieldEdit{Field: "place", Value: text("winner")}, shiftsync.FieldEdit{Field: "time", Value: text("noon")})
		loser := mutation(41, "rec-d", "house-d", shiftsync.FieldEdit{Field: "place", Value: text("loser")})
		loser.DeviceID, loser.HLC = "phone-2", shiftsync.HLC{WallMS: now.Add(-time.Hour).UnixMilli()}
		var winner, lost, timeSeq int64
		update(func(tx shiftsync.Tx) (err error) {
			if err := tx.CreateRecord(ctx, create, now); err != nil {
				return err
			}
			if winner, err = tx.AppendVersion(ctx, create, create.Fields[0], now); err != nil {
				return err
			}
			if err := tx.SetFieldHead(ctx, create, "place", winner, shiftsync.Digest{}); err != nil {
				return err
			}
			if timeSeq, err = tx.AppendVersion(ctx, create, create.Fields[1], now); err != nil {
				return err
			}
			return tx.SetFieldHead(ctx, create, "time", timeSeq, shiftsync.Digest{})
		})
		update(func(tx shiftsync.Tx) (err error) {
			lost, err = tx.AppendVersion(ctx, loser, loser.Fields[0], now)
			return err
		})
		if lost <= timeSeq || timeSeq <= winner {
			t.Fatalf("positions winner %d, time %d, loser %d: want increasing", winner, timeSeq, lost)
		}
		view(func(tx shiftsync.Tx) error {
			heads, err := tx.FieldHeads(ctx, "rec-d")
			if err != nil || len(heads) != 2 || heads["place"].Seq != winner || heads["place"].Version.DeviceID != "phone-1" || heads["time"].Seq != timeSeq {
				t.Errorf("FieldHeads(rec-d) = %+v, %v; want place at %d by phone-1 and time at %d", heads, err, winner, timeSeq)
			}
			values, err := tx.FieldValues(ctx, "rec-d", []string{"place", "time", "other"})
			if err != nil || len(values) != 2 || values["place"].String != "winner" || values["time"].String != "noon" {
				t.Errorf("FieldValues(rec-d) = %+v, %v; want place=winner, time=noon", values, err)
			}
			changes, err := tx.Changes(ctx, "house-d", 0, 10)
			if err != nil || len(changes) != 2 || changes[0].Seq != winner || changes[0].Value.String != "winner" || changes[1].Seq != timeSeq {
				t.Errorf("Changes(house-d) = %+v, %v; want the winner at %d, then time at %d", changes, err, winner, timeSeq)
			}
			if head, err := tx.ServiceHead(ctx, "house-d"); err != nil || head != timeSeq {
				t.Errorf("ServiceHead(house-d) = %d, %v; want %d: the loser is no current state", head, err, timeSeq)
			}
			if head, err := tx.Head(ctx); err != nil || head != lost {
				t.Errorf("Head = %d, %v; want %d, the loser's position", head, err, lost)
			}
			versions, err := tx.FieldVersions(ctx, "rec-d")
			var place []string
			for _, v := range versions {
				if v.Field == "place" {
					place = append(place, fmt.Sprintf("%s/%s/%v", v.Value.String, v.Version.DeviceID, v.Current))
				}
			}
			if want := []string{"loser/phone-2/false", "winner/phone-1/true"}; err != nil || !slices.Equal(place, want) {
				t.Errorf("FieldVersions(rec-d) of place = %v, %v; want %v (by HLC, the winner current)", place, err, want)
			}
			return nil
		})
	})

	t.Run("a failed Update leaves nothing", func(t *testing.T) {
		var head int64
		view(func(tx shiftsync.Tx) (err error) {
			head, err = tx.Head(ctx)
			return err
		})
		m := mutation(50, "rec-rollback", "house-e", shiftsync.FieldEdit{Field: "place", Value: text("gone")})
		m.DeviceID = "phone-9"
		rollback := errors.New("roll back")
		err := s.Update(ctx, func(tx shiftsync.Tx) error {
			if _, err := writeRecord(ctx, tx, m, now, true); err != nil {
				return err
			}
			if err := tx.Acknowledge(ctx, "phone-9", 50, now); err != nil {
				return err
			}
			if err := tx.RecordProcessed(ctx, shiftsync.ProcessedMutation{Mutation: m, Digest: []byte("d"), Result: shiftsync.MutationResult{Counter: 50, Status: shiftsync.StatusAccepted}, ReceivedAt: now}); err != nil {
				return err
			}
			if err := tx.SetServedScope(ctx, "phone-9", []string{"house-e/all"}, now); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("Update returned %v, want the function's error", err)
		}
		view(func(tx shiftsync.Tx) error {
			if got, err := tx.Head(ctx); err != nil || got != head {
				t.Errorf("Head after a rolled-back append = %d, %v; want %d", got, err, head)
			}
			if r, err := tx.Record(ctx, "rec-rollback"); err != nil || r != nil {
				t.Errorf("Record after a rolled-back create = %+v, %v; want nil", r, err)
			}
			if changes, err := tx.Changes(ctx, "house-e", 0, 10); err != nil || len(changes) != 0 {
				t.Errorf("Changes after a rollback = %+v, %v; want none", changes, err)
			}
			if n, err := tx.Acknowledged(ctx, "phone-9"); err != nil || n != 0 {
				t.Errorf("Acknowledged after a rollback = %d, %v; want 0", n, err)
			}
			if pm, err := tx.ProcessedMutation(ctx, "phone-9", 50); err != nil || pm != nil {
				t.Errorf("ProcessedMutation after a rollback = %+v, %v; want nil", pm, err)
			}
			if _, known, err := tx.ServedScope(ctx, "phone-9"); err != nil || known {
				t.Errorf("ServedScope after a rollback: known = %v, %v; want unknown", known, err)
			}
			return nil
		})
	})

	t.Run("View cannot write", func(t *testing.T) {
		m := mutation(60, "rec-view", "house-e", shiftsync.FieldEdit{Field: "place", Value: text("x")})
		for name, write := range map[string]func(tx shiftsync.Tx) error{
			"Acknowledge":   func(tx shiftsync.Tx) error { return tx.Acknowledge(ctx, "phone-8", 1, now) },
			"CreateRecord":  func(tx shiftsync.Tx) error { return tx.CreateRecord(ctx, m, now) },
			"AppendVersion": func(tx shiftsync.Tx) error { _, err := tx.AppendVersion(ctx, m, m.Fields[0], now); return err },
			"SetServedScope": func(tx shiftsync.Tx) error {
				return tx.SetServedScope(ctx, "phone-8", []string{"k"}, now)
			},
		} {
			if err := s.View(ctx, write); err == nil {
				t.Errorf("%s inside View succeeded; View must be read-only", name)
			}
		}
		view(func(tx shiftsync.Tx) error {
			if n, err := tx.Acknowledged(ctx, "phone-8"); err != nil || n != 0 {
				t.Errorf("Acknowledged after a write in View = %d, %v; want 0", n, err)
			}
			if r, err := tx.Record(ctx, "rec-view"); err != nil || r != nil {
				t.Errorf("Record after a write in View = %+v, %v; want nil", r, err)
			}
			return nil
		})
	})
}
