package shiftsync

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// Pull implements [SyncService]. Its cost is one range of the change log
// per service in scope, bounded by limit: it grows with the changes after
// the cursor, not with the size of the store. A page with changes is
// answered only once its audit entry is committed; a page without any,
// whose scope was served before, writes nothing.
func (s *Sync) Pull(ctx context.Context, p Principal, after Cursor, limit int) (PullPage, error) {
	limit = clampPageSize(limit)
	scope, err := s.Access.Scope(ctx, p)
	if err != nil {
		return PullPage{}, err
	}
	now := s.now()
	keys := scope.Keys(now)
	var (
		page   PullPage
		served []string
		known  bool
	)
	err = s.Store.View(ctx, func(tx Tx) error {
		if err := s.checkCursor(ctx, tx, after); err != nil {
			return err
		}
		if page.BackedUpThrough, page.Epoch, err = backupReach(ctx, tx, p.DeviceID); err != nil {
			return err
		}
		if served, known, err = tx.ServedScope(ctx, p.DeviceID); err != nil {
			return err
		}
		if after != (Cursor{}) && (!known || Widened(served, keys)) {
			return Errorf(CodeResyncRequired,
				"your access has grown since your last pull; pull again from an empty cursor to receive the records now in scope")
		}
		// Each service in scope is one range; limit+1 rows of each, merged in
		// seq order, show every change up to the limit-th and whether more
		// follow. Rows the principal may not see are skipped, but still move
		// the cursor on, so a page costs at most limit rows whatever is
		// filtered.
		var window []FieldChange
		for _, service := range scope.Services(now) {
			cs, err := tx.Changes(ctx, service, after.Seq, limit+1)
			if err != nil {
				return err
			}
			window = append(window, cs...)
		}
		slices.SortFunc(window, func(a, b FieldChange) int { return cmp.Compare(a.Seq, b.Seq) })
		page.Next = Cursor{StoreID: s.Store.StoreID(), Epoch: page.Epoch, Seq: after.Seq}
		if len(window) > limit {
			window, page.HasMore = window[:limit], true
		}
		if len(window) > 0 {
			page.Next.Seq = window[len(window)-1].Seq
		}
		changes := window[:0:0]
		for _, c := range window {
			if scope.Allows(OpPull, c.RecordRef, now) {
				changes = append(changes, c)
			}
		}
		page.Changes, page.Purges = changes, scope.Purges(now, s.Schema.TypeNames())
		return nil
	})
	if err != nil {
		return PullPage{}, err
	}
	// Who read what: the page's range of the change log names exactly the
	// records sent, given the scope, without listing them. A page that
	// sends no record reads nothing to audit, so a device that is caught
	// up costs no write, unless the scope it was served changed.
	scopeChanged := !known || !slices.Equal(served, keys)
	if len(page.Changes) == 0 && !scopeChanged {
		return page, nil
	}
	err = s.Store.Update(ctx, func(tx Tx) error {
		at := s.now()
		if scopeChanged {
			if err := tx.SetServedScope(ctx, p.DeviceID, keys, at); err != nil {
				return err
			}
		}
		return AppendAudit(ctx, tx, at, AuditEvent{Actor: p, Action: AuditPull, Subject: p.DeviceID,
			Detail: fmt.Sprintf(`{"changes":%d,"after":%d,"through":%d,"purges":%d}`, len(page.Changes), after.Seq, page.Next.Seq, len(page.Purges))})
	})
	if err != nil {
		return PullPage{}, err
	}
	return page, nil
}

// Latest implements [SyncService].
func (s *Sync) Latest(ctx context.Context, p Principal, after Cursor) (Cursor, error) {
	scope, err := s.Access.Scope(ctx, p)
	if err != nil {
		return Cursor{}, err
	}
	latest := Cursor{StoreID: s.Store.StoreID(), Seq: after.Seq}
	err = s.Store.View(ctx, func(tx Tx) error {
		if err := s.checkCursor(ctx, tx, after); err != nil {
			return err
		}
		if latest.Epoch, err = tx.Epoch(ctx); err != nil {
			return err
		}
		for _, service := range scope.Services(s.now()) {
			seq, err := tx.ServiceHead(ctx, service)
			if err != nil {
				return err
			}
			latest.Seq = max(latest.Seq, seq)
		}
		return nil
	})
	if err != nil {
		return Cursor{}, err
	}
	return latest, nil
}

// checkCursor refuses cursors this store did not issue, issued in an
// earlier epoch, or that point past its end (the store was restored from an
// older copy): following them would skip changes.
func (s *Sync) checkCursor(ctx context.Context, tx Tx, c Cursor) error {
	if c == (Cursor{}) {
		return nil
	}
	if c.StoreID != s.Store.StoreID() {
		return Errorf(CodeResyncRequired, "cursor is from another store; pull again from an empty cursor")
	}
	epoch, err := tx.Epoch(ctx)
	if err != nil {
		return err
	}
	if c.Epoch != epoch {
		return Errorf(CodeResyncRequired, "cursor is from before this store was restored from a backup; pull again from an empty cursor")
	}
	head, err := tx.Head(ctx)
	if err != nil {
		return err
	}
	if c.Seq > head {
		return Errorf(CodeResyncRequired, "cursor is ahead of this store; pull again from an empty cursor")
	}
	return nil
}

func clampPageSize(n int) int {
	switch {
	case n <= 0:
		return DefaultPullPageSize
	case n > MaxPullPageSize:
		return MaxPullPageSize
	}
	return n
}
