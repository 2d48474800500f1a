package storetest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testSync checks the push and pull part of a transaction: counters,
// processed mutations for replay, records, field heads and the change log,
// the pull ranges, served scopes and the quarantine's counts.
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
				if err := tx.SetFieldHead(ctx, m, "place", seq); err != nil {
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
			if err := tx.SetFieldHead(ctx, later, "place", seq); err != nil {
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
				if err := tx.CreateRecord(ctx, m, now); err != nil {
					return err
				}
				seq, err := tx.AppendVersion(ctx, m, m.Fields[0], now)
				if err != nil {
					return err
				}
				if err := tx.SetFieldHead(ctx, m, "place", seq); err != nil {
					return err
				}
				created = append(created, seq)
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
}
