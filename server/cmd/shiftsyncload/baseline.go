package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	_ "github.com/mattn/go-sqlite3" // the raw baseline's driver, as the store's
	"google.golang.org/protobuf/encoding/protojson"
)

// rawInsert is the storage baseline: plain INSERTs of records rows, one row
// per field in the shape the generated records have (id, field, value as
// the store's JSON, hlc, device; time-ordered keys), batch records to a
// transaction, into a fresh file with the store's durability (WAL,
// synchronous=FULL). It returns the records inserted per second.
func rawInsert(ctx context.Context, dir string, records, batch int) (float64, error) {
	path := filepath.Join(dir, fmt.Sprintf("raw-%d.db", time.Now().UnixNano()))
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE rows (id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, hlc INTEGER NOT NULL, device TEXT NOT NULL, PRIMARY KEY (id, field)) WITHOUT ROWID`); err != nil {
		return 0, err
	}
	fields := fieldsOf(time.Now())
	values := make([]string, len(fields))
	for i, f := range fields {
		b, err := protojson.Marshal(f.GetValue())
		if err != nil {
			return 0, err
		}
		values[i] = string(b)
	}
	ids := make([]string, records)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	start := time.Now()
	for from := 0; from < records; from += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO rows (id, field, value, hlc, device) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			_ = tx.Rollback()
			return 0, err
		}
		for i, id := range ids[from:min(records, from+batch)] {
			for f, field := range fields {
				if _, err := stmt.ExecContext(ctx, id, field.GetField(), values[f], int64(from+i), "phone-1"); err != nil {
					_ = tx.Rollback()
					return 0, err
				}
			}
		}
		_ = stmt.Close()
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(records) / time.Since(start).Seconds(), nil
}

// rpcFloor is the transport baseline: callers concurrent callers, each on
// its own connection, make empty Connect unary calls (the gRPC health
// check, binary protobuf, an empty message each way) for d. It returns the
// calls per second and their latencies.
func rpcFloor(ctx context.Context, url string, h2c bool, callers int, d time.Duration) (float64, summary, error) {
	lat := newLatencies()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for range callers {
		wg.Go(func() {
			c := newHTTPClient(h2c)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := emptyCall(ctx, c, url); err != nil {
					errs <- err
					return
				}
				lat.add("empty", time.Since(t), nil)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, summary{}, err
	}
	return float64(lat.total()) / time.Since(start).Seconds(), summarise(lat.calls["empty"]), nil
}

// emptyCall makes one Connect unary call with an empty protobuf message.
func emptyCall(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/grpc.health.v1.Health/Check", http.NoBody)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/proto")
	req.Header.Set("Connect-Protocol-Version", "1")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("empty call: %s", res.Status)
	}
	return nil
}
