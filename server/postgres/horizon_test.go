package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// write stores one field of a new record of house-a as its winner, inside
// tx, and returns its change log position.
func write(ctx context.Context, tx shiftsync.Tx, recordID string, counter uint64) (int64, error) {
	m := &shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "incident", ServiceID: "house-a", PersonID: "sam"},
		DeviceID:  "phone-1", UserID: "priya", Counter: counter,
		HLC:    shiftsync.HLC{WallMS: shiftsynctest.Epoch.UnixMilli(), Logical: uint32(counter)},
		Fields: []shiftsync.FieldEdit{{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindString, String: recordID}}},
	}
	if err := tx.CreateRecord(ctx, m, shiftsynctest.Epoch); err != nil {
		return 0, err
	}
	seq, err := tx.AppendVersion(ctx, m, m.Fields[0], shiftsynctest.Epoch)
	if err != nil {
		return 0, err
	}
	return seq, tx.SetFieldHead(ctx, m, "place", seq, shiftsync.Digest{})
}

// pull returns the records whose changes follow after, in order, and the
// last position read (after when none), waiting up to wait for the write
// transactions in flight (those of other tests of the cluster too).
func pull(t *testing.T, db *postgres.DB, after int64, wait time.Duration) ([]string, int64) {
	t.Helper()
	db.HorizonWait = wait
	var records []string
	err := db.View(context.Background(), func(tx shiftsync.Tx) error {
		changes, err := tx.Changes(context.Background(), "house-a", after, 100)
		for _, c := range changes {
			records, after = append(records, c.RecordID), c.Seq
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return records, after
}

// holdOpen runs a write transaction that writes recordID, then waits until
// release is closed before it commits; it returns once the write is done,
// and the channel reports the commit.
func holdOpen(t *testing.T, db *postgres.DB, recordID string, release <-chan struct{}) <-chan error {
	t.Helper()
	written, committed := make(chan struct{}), make(chan error, 1)
	go func() {
		committed <- db.Update(context.Background(), func(tx shiftsync.Tx) error {
			if _, err := write(context.Background(), tx, recordID, 1); err != nil {
				return err
			}
			close(written)
			<-release
			return nil
		})
	}()
	select {
	case <-written:
	case err := <-committed:
		t.Fatalf("the held transaction ended early: %v", err)
	}
	return committed
}

// TestHorizon_PullNeverPassesAnOpenTransaction holds a push transaction open
// after its insert while a later one commits: a pull returns neither, never
// moving its cursor past the open one, and returns both, in order, once it
// commits. A write transaction open in another database of the cluster
// stalls pulls the same way, and never makes them skip.
func TestHorizon_PullNeverPassesAnOpenTransaction(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	const stalled, settled = 200 * time.Millisecond, 10 * time.Second // waits of a pull kept behind an open transaction, and of one after it ended

	release := make(chan struct{})
	committedA := holdOpen(t, db, "rec-a", release)
	if err := db.Update(ctx, func(tx shiftsync.Tx) error { _, err := write(ctx, tx, "rec-b", 2); return err }); err != nil {
		t.Fatal(err)
	}
	if got, cursor := pull(t, db, 0, stalled); len(got) != 0 || cursor != 0 {
		t.Fatalf("pull while rec-a's transaction is open = %v up to %d; want nothing, the cursor kept at 0", got, cursor)
	}
	close(release)
	if err := <-committedA; err != nil {
		t.Fatal(err)
	}
	got, cursor := pull(t, db, 0, settled)
	if !slices.Equal(got, []string{"rec-a", "rec-b"}) {
		t.Fatalf("pull after rec-a committed = %v; want rec-a (the earlier transaction), then rec-b", got)
	}

	other, err := pgx.Connect(ctx, shiftsynctest.PostgresServer())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	elsewhere, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := elsewhere.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // a write transaction: it holds an xid
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx shiftsync.Tx) error { _, err := write(ctx, tx, "rec-c", 3); return err }); err != nil {
		t.Fatal(err)
	}
	if got, next := pull(t, db, cursor, stalled); len(got) != 0 || next != cursor {
		t.Fatalf("pull while another database's write transaction is open = %v up to %d; want nothing, the cursor kept at %d", got, next, cursor)
	}
	if err := elsewhere.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := pull(t, db, cursor, settled); !slices.Equal(got, []string{"rec-c"}) {
		t.Fatalf("pull once the other transaction ended = %v; want rec-c", got)
	}
}

// TestHorizon_ViewWaitsForTransactionsInFlight checks that a pull begun
// while a push is about to commit waits for it, and so answers what one
// writer would: every change committed before it returns.
func TestHorizon_ViewWaitsForTransactionsInFlight(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	release := make(chan struct{})
	committedA := holdOpen(t, db, "rec-a", release)
	if err := db.Update(ctx, func(tx shiftsync.Tx) error { _, err := write(ctx, tx, "rec-b", 2); return err }); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { close(release) })
	started := time.Now()
	got, _ := pull(t, db, 0, 10*time.Second)
	if !slices.Equal(got, []string{"rec-a", "rec-b"}) {
		t.Errorf("pull begun while rec-a's transaction was in flight = %v; want rec-a, then rec-b", got)
	}
	if waited := time.Since(started); waited < 100*time.Millisecond || waited > 5*time.Second {
		t.Errorf("pull waited %v; want about the 100ms rec-a's transaction stayed open", waited)
	}
	if err := <-committedA; err != nil {
		t.Fatal(err)
	}
}

// TestHorizon_Lag: while a write transaction is held open, the store
// reports a horizon lag at least as long as it has been held.
func TestHorizon_Lag(t *testing.T) {
	db, _ := MustOpenDB(t)
	release := make(chan struct{})
	committed := holdOpen(t, db, shiftsynctest.RecordID(t), release)
	time.Sleep(20 * time.Millisecond)
	c, err := db.OpsCounts(context.Background())
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if c.HorizonLag < 20*time.Millisecond {
		t.Errorf("HorizonLag = %v with a transaction held open for over 20ms", c.HorizonLag)
	}
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
}
