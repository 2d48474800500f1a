package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
)

// run is one run of the generator against one server.
type run struct {
	cfg     config
	srv     *server
	manager *manager
	out     io.Writer
}

// enrolPhones enrols n phones through the admin API (the manager issues
// each a code) and AuthService.Enrol, eight at a time, and brings each to
// the end of its scope with a first pull, as phones in use the day before.
func (r *run) enrolPhones(ctx context.Context, first, n int) ([]*phone, error) {
	lat := newLatencies()
	phones := make([]*phone, n)
	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		failure atomic.Value
	)
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failure.Load() != nil {
					return
				}
				p := newPhone(first+i, r.srv.url, r.cfg.h2c)
				code, err := r.manager.issueCode(ctx, lat, r.cfg.timeout, workerOf(first+i))
				if err == nil {
					err = p.enrol(ctx, lat, r.cfg.timeout, code)
				}
				if err == nil {
					_, err = p.pullToEnd(ctx, lat, r.cfg.timeout)
				}
				if err != nil {
					failure.Store(fmt.Errorf("enrol phone %d: %w", first+i, err))
					return
				}
				phones[i] = p
			}
		})
	}
	wg.Wait()
	if err, _ := failure.Load().(error); err != nil {
		return nil, err
	}
	fmt.Fprintf(r.out, "enrolled %d phones in %.1fs\n", n, time.Since(start).Seconds())
	lat.print(r.out, "  ")
	return phones, nil
}

// storm: every phone starts within a second, and each does Refresh, a
// Push of 10 records and a Pull to the end.
func (r *run) storm(ctx context.Context, phones []*phone, floor float64) error {
	fmt.Fprintf(r.out, "\nstorm: %d phones start within 1s; each Refresh, Push of 10, Pull to the end (deadline %s a call, %s a sync)\n",
		len(phones), r.cfg.timeout, r.cfg.syncTimeout)
	lat, syncs := newLatencies(), newLatencies()
	var synced, pulled atomic.Int64
	cpu := startSampler(strconv.Itoa(r.srv.pid()))
	start := time.Now()
	var wg sync.WaitGroup
	for i, p := range phones {
		at := start.Add(time.Duration(i) * time.Second / time.Duration(len(phones)))
		wg.Go(func() {
			time.Sleep(time.Until(at))
			sctx, cancel := context.WithTimeout(ctx, r.cfg.syncTimeout)
			defer cancel()
			t := time.Now()
			err := p.refresh(sctx, lat, r.cfg.timeout)
			if err == nil {
				err = p.push(sctx, lat, r.cfg.timeout, 10)
			}
			if err == nil {
				var n int
				n, err = p.pullToEnd(sctx, lat, r.cfg.timeout)
				pulled.Add(int64(n))
			}
			syncs.add("device-sync", time.Since(t), err)
			if err == nil {
				synced.Add(1)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	use := cpu.end()
	calls := float64(lat.total()) / wall.Seconds()
	fmt.Fprintf(r.out, "  synced %d of %d phones in %.1fs; %d changes pulled\n", synced.Load(), len(phones), wall.Seconds(), pulled.Load())
	fmt.Fprintf(r.out, "  calls/s %.0f (%s of the empty-call floor %.0f/s)\n", calls, ratio(calls, floor), floor)
	syncs.print(r.out, "  ")
	lat.print(r.out, "  ")
	fmt.Fprintf(r.out, "  server: %s\n", use)
	return nil
}

// push: pushPhones phones each push pushRecords records in one call, all
// at once.
func (r *run) push(ctx context.Context, phones []*phone, dir string) error {
	fmt.Fprintf(r.out, "\npush: %d phones × %d records of ~300 B, one call each, at once\n", len(phones), r.cfg.pushRecords)
	raw, err := rawInsert(ctx, dir, len(phones)*r.cfg.pushRecords, r.cfg.pushRecords)
	if err != nil {
		return err
	}
	lat := newLatencies()
	for _, p := range phones {
		if err := p.refresh(ctx, lat, r.cfg.timeout); err != nil {
			return err
		}
	}
	lat = newLatencies()
	cpu := startSampler(strconv.Itoa(r.srv.pid()))
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for _, p := range phones {
		wg.Go(func() {
			if err := p.push(ctx, lat, r.cfg.timeout, r.cfg.pushRecords); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	use := cpu.end()
	rate := float64((int64(len(phones))-failed.Load())*int64(r.cfg.pushRecords)) / wall.Seconds()
	fmt.Fprintf(r.out, "  records/s %.0f (%s of raw SQLite inserts of the same rows, %.0f records/s, batch %d)\n", rate, ratio(rate, raw), raw, r.cfg.pushRecords)
	lat.print(r.out, "  ")
	fmt.Fprintf(r.out, "  server: %s\n", use)
	return nil
}

// freshPull: a phone pushes records records, then a new phone, with the
// reference replica library, enrols and pulls them all into a fresh
// replica file.
func (r *run) freshPull(ctx context.Context, writer *phone, newcomer int, dir string) error {
	fmt.Fprintf(r.out, "\nfresh-pull: a new replica pulls %d records of its service\n", r.cfg.records)
	lat := newLatencies()
	if err := writer.refresh(ctx, lat, r.cfg.timeout); err != nil {
		return err
	}
	for sent := 0; sent < r.cfg.records; sent += 1000 {
		if err := writer.push(ctx, lat, r.cfg.timeout, min(1000, r.cfg.records-sent)); err != nil {
			return err
		}
	}
	raw, err := rawInsert(ctx, dir, r.cfg.records, pullPageSize)
	if err != nil {
		return err
	}
	code, err := r.manager.issueCode(ctx, lat, r.cfg.timeout, workerOf(newcomer))
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "fresh-replica.db")
	rep, err := replica.Open(path, "fresh-phone") // Enrol gives it the id the server assigns
	if err != nil {
		return err
	}
	defer rep.Close()
	rep.SetPullPageSize(pullPageSize)
	rep.SetTimeoutMillis(r.cfg.timeout.Milliseconds())
	if err := rep.Enrol(r.srv.url, code, "fresh phone"); err != nil {
		return err
	}
	cpu := startSampler(strconv.Itoa(r.srv.pid()))
	self := startSampler("self")
	start := time.Now()
	rp, err := rep.SyncEnrolled()
	wall := time.Since(start)
	use, mine := cpu.end(), self.end()
	if err != nil {
		return err
	}
	rate := float64(r.cfg.records) / wall.Seconds()
	fmt.Fprintf(r.out, "  pulled %d field changes (%d records) in %.1fs: %.0f records/s (%s of raw SQLite inserts of the same rows, %.0f records/s, batch %d)\n",
		rp.Pulled, r.cfg.records, wall.Seconds(), rate, ratio(rate, raw), raw, pullPageSize)
	fmt.Fprintf(r.out, "  server: %s\n  phone (this process): %s\n", use, mine)
	if fi, err := os.Stat(path); err == nil {
		fmt.Fprintf(r.out, "  replica file %d MiB\n", fi.Size()>>20)
	}
	return nil
}
