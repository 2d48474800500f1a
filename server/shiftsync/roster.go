package shiftsync

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RosterWindow is how long around each rostered shift a support worker's
// phone holds the people the shift covers (care-records.md §3.2).
type RosterWindow struct {
	// Before is how long before a shift starts its people reach the phone.
	Before time.Duration
	// After is how long after it ends they stay on it.
	After time.Duration
	// KeepWrites is how long after a window closes a write stamped inside
	// it is still accepted (flagged [FlagAccessEnded]); a later one is
	// quarantined "permission_denied", visible to managers.
	KeepWrites time.Duration
}

// DefaultRosterWindow: a day before, so that a phone synced at the end of
// one shift holds the next day's people even if it finds no signal again
// before that shift (a handover in a house with no coverage); twelve hours
// after, so that the debrief, reflection and late records of a shift are
// written and read beside the person's plan on the way home; writes kept
// for 90 days, far past the week after which a phone that has not synced
// is an alert of its own.
var DefaultRosterWindow = RosterWindow{Before: 24 * time.Hour, After: 12 * time.Hour, KeepWrites: 90 * 24 * time.Hour}

// RotaShift is a shift of a service's rota as the roster reads it.
type RotaShift struct {
	ShiftID    string
	Start, End time.Time
	// PersonIDs are the people it covers; none: the whole service.
	PersonIDs []string
	// Staff are the users assigned to it, by assignments not voided.
	Staff []string
}

// Rota is a service's shifts, voided ones left out. A service whose rota
// holds no shift keeps none: its support workers see the whole service.
type Rota []RotaShift

// Rostered narrows the scope of userID at now to the rota: each grant of a
// support worker for the whole of a service that keeps a rota (rotas, by
// service) becomes
//   - the service's own records for the grant's time ([Grant.ServiceOnly]),
//   - for each shift the user is on, the people it covers from
//     window.Before before the shift starts until window.After after it
//     ends, within the grant's time, for shifts whose window closed no
//     more than window.KeepWrites before now,
//   - and the whole service until the rota's first shift starts: the reach
//     the rota took over, which once over purges the service from the
//     phone except what the grants above keep ([Scope.Purges]).
//
// Every other grant, and every grant in a service without a rota, is kept
// as it is: managers and leads keep the whole service.
func (s Scope) Rostered(userID string, rotas map[string]Rota, window RosterWindow, now time.Time) Scope {
	var out Scope
	for _, g := range s.Grants {
		rota := rotas[g.ServiceID]
		if g.Role != RoleSupportWorker || !g.wholeService() || g.Agency != "" || len(rota) == 0 ||
			!g.End.IsZero() && !rota.start().Before(g.End) { // the grant ended before the rota began
			out.Grants = append(out.Grants, g)
			continue
		}
		own, before := g, g
		own.ServiceOnly = true
		before.End = rota.start()
		if before.End.Before(g.Start) {
			before.End = g.Start
		}
		out.Grants = append(out.Grants, before, own)
		for _, shift := range rota {
			if !slices.Contains(shift.Staff, userID) {
				continue
			}
			w := g
			w.Start, w.End = shift.Start.Add(-window.Before), shift.End.Add(window.After)
			if w.Start.Before(g.Start) {
				w.Start = g.Start
			}
			if !g.End.IsZero() && g.End.Before(w.End) {
				w.End = g.End
			}
			if !w.Start.Before(w.End) || w.End.Add(window.KeepWrites).Before(now) {
				continue
			}
			if len(shift.PersonIDs) == 0 {
				out.Grants = append(out.Grants, w)
			}
			for _, person := range shift.PersonIDs {
				w.PersonID = person
				out.Grants = append(out.Grants, w)
			}
		}
	}
	return out
}

// start returns when the rota's first shift starts.
func (r Rota) start() time.Time {
	first := r[0].Start
	for _, s := range r[1:] {
		if s.Start.Before(first) {
			first = s.Start
		}
	}
	return first
}

// RotaFeedKey is the name a push publishes on in the change feed when it
// accepts a change to a shift or a shift assignment, so every instance's
// [RosterScope] looks at its rotas again.
const RotaFeedKey = "shiftsync:rota"

// rotaTypes are the record types a rota is read from.
var rotaTypes = []string{"shift", "shift_assignment"}

// RosterScope is the [Authorizer] that narrows a support worker's scope
// to their rota ([Scope.Rostered]): its Next decides the grants, the
// store's shift and shift assignment records the rota. A service's rota
// is kept in memory and used as it is, with no store connection, until
// RotaFeedKey is published (by this instance or another) or it is a TTL
// old; then the service's change log since it was read is looked at, and
// the rota read again only if a shift or an assignment changed. It is safe
// for concurrent use.
type RosterScope struct {
	next   Authorizer
	store  Store
	window RosterWindow
	now    func() time.Time
	ttl    time.Duration

	generation atomic.Uint64 // counts the rota changes heard of
	mu         sync.Mutex
	rotas      map[string]cachedRota // by service
	stop       func()
}

// cachedRota is a service's rota as read at a position of its change log,
// and when and in which generation that was known to be current.
type cachedRota struct {
	rota       Rota
	seq        int64
	checked    time.Time
	generation uint64
}

// NewRosterScope returns a RosterScope over next and store whose rotas
// are checked again after ttl of real time (DefaultIdentityTTL if 0), and,
// with a feed, whenever RotaFeedKey is published there, until Close. now
// is the domain's clock, that of the windows.
func NewRosterScope(next Authorizer, store Store, feed ChangeFeed, window RosterWindow, now func() time.Time, ttl time.Duration) *RosterScope {
	r := &RosterScope{next: next, store: store, window: window, now: now, ttl: cmp.Or(ttl, DefaultIdentityTTL),
		rotas: map[string]cachedRota{}, stop: func() {}}
	if feed != nil {
		r.stop = listen(feed, RotaFeedKey, func() { r.generation.Add(1) })
	}
	return r
}

// Close stops listening to the feed.
func (r *RosterScope) Close() { r.stop() }

// maxCachedRotas bounds the rotas kept in memory.
const maxCachedRotas = 1024

// rotaChangesScanned bounds the change log scanned for changes to a
// cached rota; past it the rota is read again.
const rotaChangesScanned = 1000

// Scope implements [Authorizer].
func (r *RosterScope) Scope(ctx context.Context, p Principal) (Scope, error) {
	s, err := r.next.Scope(ctx, p)
	if err != nil {
		return s, err
	}
	var services []string
	for _, g := range s.Grants {
		if g.Role == RoleSupportWorker && g.wholeService() && g.Agency == "" {
			services = append(services, g.ServiceID)
		}
	}
	if len(services) == 0 {
		return s, nil
	}
	slices.Sort(services)
	rotas := make(map[string]Rota, len(services))
	for _, service := range slices.Compact(services) {
		if rotas[service], err = r.rota(ctx, service); err != nil {
			return Scope{}, err
		}
	}
	return s.Rostered(p.UserID, rotas, r.window, r.now()), nil
}

// rota returns the service's rota as the store holds it now.
func (r *RosterScope) rota(ctx context.Context, serviceID string) (Rota, error) {
	g := r.generation.Load() // before the store is read: a change heard of after is not missed
	r.mu.Lock()
	cached, ok := r.rotas[serviceID]
	r.mu.Unlock()
	if ok && cached.generation == g && time.Since(cached.checked) < r.ttl {
		return cached.rota, nil
	}
	fresh := cachedRota{checked: time.Now(), generation: g}
	err := r.store.View(ctx, func(tx Tx) error {
		head, err := tx.ServiceHead(ctx, serviceID)
		if err != nil {
			return err
		}
		fresh.seq = head
		if ok && head == cached.seq {
			fresh.rota = cached.rota
			return nil
		}
		if ok && head > cached.seq {
			changes, err := tx.Changes(ctx, serviceID, cached.seq, rotaChangesScanned)
			if err != nil {
				return err
			}
			if len(changes) < rotaChangesScanned && !slices.ContainsFunc(changes, func(c FieldChange) bool {
				return slices.Contains(rotaTypes, c.RecordType)
			}) {
				fresh.rota = cached.rota
				return nil
			}
		}
		fresh.rota, err = readRota(ctx, tx, serviceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rotas) >= maxCachedRotas {
		clear(r.rotas)
	}
	if prev, had := r.rotas[serviceID]; !had || fresh.seq >= prev.seq {
		r.rotas[serviceID] = fresh
	}
	return fresh.rota, nil
}

// readRota reads the service's shifts and their assignments, leaving out
// those voided, in shift order.
func readRota(ctx context.Context, tx Tx, serviceID string) (Rota, error) {
	shifts, err := tx.ServiceRecordFields(ctx, serviceID, "", "shift", []string{"starts_at", "ends_at", "person_ids", VoidReasonField})
	if err != nil {
		return nil, err
	}
	assignments, err := tx.ServiceRecordFields(ctx, serviceID, "", "shift_assignment", []string{"shift_id", "user_id", VoidReasonField})
	if err != nil {
		return nil, err
	}
	staff := map[string][]string{} // shift -> users on it
	for _, a := range assignments {
		if !a.Voided() {
			staff[a.Text("shift_id")] = append(staff[a.Text("shift_id")], a.Text("user_id"))
		}
	}
	var rota Rota
	for _, s := range shifts {
		if s.Voided() || s.Time("starts_at").IsZero() {
			continue
		}
		rota = append(rota, RotaShift{ShiftID: s.RecordID, Start: s.Time("starts_at"), End: s.Time("ends_at"),
			PersonIDs: s.Fields["person_ids"].List, Staff: staff[s.RecordID]})
	}
	return rota, nil
}
