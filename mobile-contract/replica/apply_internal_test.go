package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// applyPageRowByRow is the merge of a pulled page as the replica did it
// before batching, one change after another with a statement each (the
// stored form written by protojson, the digests kept by reading each row
// back): the reference applyPage must leave every table exactly as it
// does.
func (r *Replica) applyPageRowByRow(ctx context.Context, page *syncv1.PullResponse) (int64, error) {
	var applied int64
	err := r.writeTx(ctx, func(tx *sql.Tx) error {
		applied = 0
		st, err := loadState(ctx, tx)
		if err != nil {
			return err
		}
		now := r.nowMS()
		digests := newDigester(tx)
		var newest hlc
		for _, c := range page.GetChanges() {
			v := versionFromProto(c.GetVersion())
			value, err := protojsonValue(c.GetValue())
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO records (record_id, record_type, service_id, person_id, created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (record_id) DO NOTHING`, c.GetRecordId(), c.GetRecordType(), c.GetServiceId(), c.GetPersonId(), now); err != nil {
				return err
			}
			var local version
			err = tx.QueryRowContext(ctx, `SELECT wall_ms, logical, device_id FROM fields WHERE record_id = ? AND field = ?`, c.GetRecordId(), c.GetField()).
				Scan(&local.hlc.wallMS, &local.hlc.logical, &local.deviceID)
			missing := errors.Is(err, sql.ErrNoRows)
			if err != nil && !missing {
				return err
			}
			switch cmp := v.compare(local); {
			case missing || cmp > 0:
				if err := digests.remove(ctx, c.GetRecordId(), c.GetField()); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO fields (record_id, field, value, wall_ms, logical, device_id, author_user_id) VALUES (?, ?, ?, ?, ?, ?, ?)
					ON CONFLICT (record_id, field) DO UPDATE SET value = excluded.value, wall_ms = excluded.wall_ms,
					  logical = excluded.logical, device_id = excluded.device_id, author_user_id = excluded.author_user_id`,
					c.GetRecordId(), c.GetField(), value, v.hlc.wallMS, v.hlc.logical, v.deviceID, c.GetAuthorUserId()); err != nil {
					return err
				}
				if err := digests.add(ctx, c.GetRecordId(), c.GetField()); err != nil {
					return err
				}
				applied++
			case cmp == 0:
				if _, err := tx.ExecContext(ctx, `UPDATE fields SET author_user_id = ? WHERE record_id = ? AND field = ?`,
					c.GetAuthorUserId(), c.GetRecordId(), c.GetField()); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO field_history (record_id, field, wall_ms, logical, device_id, value, origin, author_user_id, recorded_at)
				VALUES (?, ?, ?, ?, ?, ?, 'pulled', ?, ?)
				ON CONFLICT (record_id, field, wall_ms, logical, device_id) DO UPDATE SET author_user_id = excluded.author_user_id`,
				c.GetRecordId(), c.GetField(), v.hlc.wallMS, v.hlc.logical, v.deviceID, value, c.GetAuthorUserId(), now); err != nil {
				return err
			}
			newest = maxHLC(newest, v.hlc)
		}
		if newest != (hlc{}) {
			st.observed = maxHLC(st.observed, newest)
			st.last = st.last.observe(newest, now+st.offsetMS)
			if err := saveClock(ctx, tx, st); err != nil {
				return err
			}
		}
		if err := digests.flush(ctx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE device SET pull_cursor = ? WHERE id = 1`, page.GetNextCursor())
		return err
	})
	return applied, err
}

// dumpReplica returns every row of the tables a pull writes, in key order.
func dumpReplica(t *testing.T, r *Replica) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, query := range map[string]string{
		"records":       `SELECT * FROM records ORDER BY record_id`,
		"fields":        `SELECT * FROM fields ORDER BY record_id, field`,
		"field_history": `SELECT * FROM field_history ORDER BY record_id, field, wall_ms, logical, device_id`,
		"digests":       `SELECT service_id, person_id, record_type, bucket, hex(digest) FROM digests ORDER BY 1, 2, 3, 4`,
		"device":        `SELECT hlc_wall_ms, hlc_logical, observed_wall_ms, observed_logical, pull_cursor FROM device`,
		"outbox":        `SELECT * FROM outbox ORDER BY counter`,
		"outbox_fields": `SELECT * FROM outbox_fields ORDER BY counter, position`,
	} {
		rows, err := r.read.Query(query)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprintf("%q", vals))
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestApplyPage_SameAsRowByRow applies the same pages to two replicas,
// one with applyPage and one with applyPageRowByRow, and compares every
// table after each page. The pages hold what the merge must get right: a
// field changed twice in a page (newer then older, older then newer, the
// same change twice), a change equal to a pending local edit (its author
// learnt), older and newer than one, a record with a field that has no
// history (repaired), a held record named with another
// envelope (its own unit kept), a new record named with two envelopes,
// values of every kind, and more rows than one statement writes.
func TestApplyPage_SameAsRowByRow(t *testing.T) {
	ctx := context.Background()
	batched, _ := openTest(t, "phone-m", 100_000)
	rowByRow, _ := openTest(t, "phone-m", 100_000)
	id := func(i int) string { return fmt.Sprintf("019c9d2e-7a00-7000-8000-%012d", i) }
	pulled := func(i int, field string, value *syncv1.Value, wallMS int64, device string) *syncv1.FieldChange {
		c := &syncv1.FieldChange{RecordId: id(i), RecordType: "incident", ServiceId: "house-a", PersonId: "p", Field: field,
			Value: value, Version: version{hlc{wallMS, 0}, device}.proto(), AuthorUserId: "u-" + device}
		if i%3 == 1 {
			c.ServiceId, c.PersonId = "house-b", ""
		}
		return c
	}
	kinds := valueKinds()
	var first, second []*syncv1.FieldChange
	for i := range 300 {
		first = append(first, pulled(i, "place", stringValue(fmt.Sprintf("room %d", i)), 1000, "phone-z"),
			pulled(i, "note", kinds[i%len(kinds)], 1000+int64(i), "phone-y"))
	}
	// The local edits are made on both replicas after the first page.
	local := version{hlc{100_000, 1}, "phone-m"} // the first page ticked the clock to 100000.0
	back := pulled(0, "place", stringValue("local"), local.hlc.wallMS, local.deviceID)
	back.Version = local.proto()
	second = append(second,
		pulled(0, "place", stringValue("older than local"), 99_999, "phone-z"),
		back,
		pulled(1, "place", stringValue("newer than local"), 100_001, "phone-a"),
		pulled(2, "place", stringValue("newer"), 2000, "phone-a"),
		pulled(2, "place", stringValue("older after newer"), 1500, "phone-a"),
		pulled(3, "place", stringValue("older"), 1500, "phone-a"),
		pulled(3, "place", stringValue("newer after older"), 2500, "phone-a"),
		pulled(4, "place", stringValue("twice"), 3000, "phone-a"),
		pulled(4, "place", stringValue("twice"), 3000, "phone-a"),
		pulled(5, "place", stringValue("same version, other value"), 1000, "phone-z"),
	)
	moved := pulled(6, "place", stringValue("moved?"), 4000, "phone-a")
	moved.ServiceId, moved.PersonId, moved.RecordType = "house-z", "q", "shift"
	second = append(second, moved)
	for i := 1000; i < 1700; i++ {
		for j, k := range kinds[:4] {
			second = append(second, pulled(i, fmt.Sprintf("f%d", j), k, int64(5000+i), "phone-x"))
		}
	}
	renamed := pulled(1000, "extra", stringValue("x"), 9000, "phone-x")
	renamed.ServiceId = "house-q"
	nan := pulled(1001, "score", &syncv1.Value{Kind: &syncv1.Value_DoubleValue{DoubleValue: math.Float64frombits(0x7ff8_0000_dead_beef)}}, 9000, "phone-x")
	second = append(second, renamed, nan, pulled(1001, "score", kinds[len(kinds)-1], 9001, "phone-x"))

	var kept []*syncv1.FieldChange
	for _, c := range first {
		if _, err := protojsonValue(c.GetValue()); err == nil {
			kept = append(kept, c) // a page with a value that has no stored form is refused whole
		}
	}
	pages := []*syncv1.PullResponse{{Changes: kept, NextCursor: "c1"}, {Changes: second, NextCursor: "c2"}, {Changes: second[:40], NextCursor: "c3"}}
	for i, page := range pages {
		if i == 1 {
			for _, r := range []*Replica{batched, rowByRow} {
				// A repair writes a field with no history row.
				if err := r.applyRepair(ctx, []*syncv1.FieldChange{pulled(4, "repaired", stringValue("r"), 1000, "phone-z")}); err != nil {
					t.Fatal(err)
				}
				for _, rec := range []int{0, 1} {
					if err := r.Edit(id(rec), `{"place":{"stringValue":"local"}}`); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, v := fieldVersion(t, batched, id(0), "place"); v != local {
				t.Fatalf("local edit stamped %+v, want %+v", v, local)
			}
		}
		got, err := batched.applyPage(ctx, page)
		if err != nil {
			t.Fatalf("page %d: applyPage() error = %v", i, err)
		}
		want, err := rowByRow.applyPageRowByRow(ctx, page)
		if err != nil {
			t.Fatalf("page %d: applyPageRowByRow() error = %v", i, err)
		}
		if got.applied != want {
			t.Errorf("page %d: applied %d, want %d", i, got.applied, want)
		}
		if diff := cmp.Diff(dumpReplica(t, rowByRow), dumpReplica(t, batched)); diff != "" {
			t.Errorf("page %d: tables differ from the row-by-row merge (-want +got):\n%s", i, diff)
		}
		if ok, err := batched.DigestsKept(); err != nil || !ok {
			t.Errorf("page %d: digests kept %v, %v", i, ok, err)
		}
	}
}

// TestApplyPage_RefusesAValueWithoutStoredForm: a page with a value
// protojson cannot write (invalid UTF-8) is refused whole, and leaves the
// replica as it was.
func TestApplyPage_RefusesAValueWithoutStoredForm(t *testing.T) {
	ctx := context.Background()
	r, _ := openTest(t, "phone-m", 1000)
	page := &syncv1.PullResponse{NextCursor: "c1", Changes: []*syncv1.FieldChange{
		change("019c9d2e-7a00-7000-8000-000000000001", "place", "fine", version{hlc{10, 0}, "phone-z"}),
		change("019c9d2e-7a00-7000-8000-000000000002", "place", "bad \xff", version{hlc{10, 0}, "phone-z"}),
	}}
	if _, err := r.applyPage(ctx, page); err == nil {
		t.Fatal("applyPage() of a page with invalid UTF-8 succeeded")
	}
	if d := dumpReplica(t, r); len(d["records"]) != 0 || len(d["fields"]) != 0 || d["device"][0] != fmt.Sprintf("%q", []any{int64(0), int64(0), int64(0), int64(0), ""}) {
		t.Errorf("replica after a refused page = %v, want it untouched", d)
	}
}
