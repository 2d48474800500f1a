package postgres

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// changesChannel is the channel of the notifications that tell the
// instances sharing the database which services changed.
const changesChannel = "shiftsync_changes"

// Feed timings; a Feed's fields default to them.
const (
	// DefaultCoalesce is how long a Feed gathers the services published
	// before it notifies the other instances once for all of them.
	DefaultCoalesce = 50 * time.Millisecond
	// DefaultPollEvery is how often, on average, a Feed wakes every local
	// stream whatever it heard, so a notification lost (a listener
	// reconnecting, a notifying instance that died) costs a stream at most
	// one poll: hints are never the truth, cursors are.
	DefaultPollEvery = 7 * time.Second
	// maxPayload bounds a notification's payload (PostgreSQL refuses 8000
	// bytes and more).
	maxPayload = 7000
)

// Feed is the change feed of an instance sharing the database with others:
// it wakes the instance's own streams at once (Local), tells the other
// instances, after the push committed, which services changed (one
// pg_notify per DefaultCoalesce at most, under 8000 bytes a notification),
// and wakes local streams for what the others publish. It listens on one
// dedicated connection, not the pool's, which it opens again when it is
// lost, waking every local stream then (WakeAll) since notifications were
// missed; and it wakes them all every PollEvery or so. Run does the
// listening and notifying.
type Feed struct {
	// Local is the instance's own feed, whose subscribers are its streams.
	Local shiftsync.ChangeFeed
	// WakeAll wakes every subscriber of Local.
	WakeAll func()
	// Coalesce and PollEvery default to DefaultCoalesce and DefaultPollEvery.
	Coalesce, PollEvery time.Duration
	// ReconnectDelay is the pause before the listener connects again; 1 s
	// unless set.
	ReconnectDelay time.Duration

	db       *DB
	instance string // tells this instance's own notifications apart
	kick     chan struct{}
	mu       sync.Mutex
	pending  map[string]bool
	// listening is closed once the listener has listened for the first
	// time, for tests.
	listening     chan struct{}
	listeningOnce sync.Once
}

var _ shiftsync.ChangeFeed = (*Feed)(nil)

// NewFeed returns the feed of this instance over local, whose subscribers
// wakeAll wakes; call Run to relay.
func (db *DB) NewFeed(local shiftsync.ChangeFeed, wakeAll func()) *Feed {
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	return &Feed{Local: local, WakeAll: wakeAll, db: db, instance: hex.EncodeToString(b),
		kick: make(chan struct{}, 1), pending: map[string]bool{}, listening: make(chan struct{})}
}

// Publish implements [shiftsync.ChangeFeed]: it wakes the local
// subscribers of the services and queues them for the other instances.
func (f *Feed) Publish(services ...string) {
	f.Local.Publish(services...)
	f.mu.Lock()
	for _, s := range services {
		f.pending[s] = true
	}
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Subscribe implements [shiftsync.ChangeFeed] with Local.
func (f *Feed) Subscribe(services []string) (<-chan struct{}, func()) {
	return f.Local.Subscribe(services)
}

// Listening is closed once the feed listens for the other instances.
func (f *Feed) Listening() <-chan struct{} { return f.listening }

// notification is a notification's payload.
type notification struct {
	Instance string   `json:"i"`
	Services []string `json:"s"`
}

// Run listens for the other instances' notifications, sends this
// instance's and polls, until ctx ends.
func (f *Feed) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.listen(ctx) }()
	go func() { defer wg.Done(); f.notify(ctx) }()
	wg.Wait()
}

func (f *Feed) listen(ctx context.Context) {
	l := &pgxlisten.Listener{
		// A new connection each time, never the pool's: the pool hands
		// connections out to transactions, and a lost one must not come
		// back.
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, f.db.pool.Config().ConnConfig.Copy())
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil {
				f.db.Logger.WarnContext(ctx, "postgres: change notifications", "err", err)
			}
		},
		ReconnectDelay: cmpOr(f.ReconnectDelay, time.Second),
	}
	l.Handle(changesChannel, f)
	go func() {
		poll := cmpOr(f.PollEvery, DefaultPollEvery)
		for {
			jittered := poll/2 + rand.N(poll) // on average poll
			select {
			case <-ctx.Done():
				return
			case <-time.After(jittered):
				f.WakeAll()
			}
		}
	}()
	_ = l.Listen(ctx) // returns only when ctx ends
}

// HandleBacklog wakes every local stream: the listener has just (re)started
// listening, so notifications sent before may have been missed.
func (f *Feed) HandleBacklog(context.Context, string, *pgx.Conn) error {
	f.WakeAll()
	f.listeningOnce.Do(func() { close(f.listening) })
	return nil
}

// HandleNotification wakes the local subscribers of the services another
// instance published.
func (f *Feed) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	var p notification
	if err := json.Unmarshal([]byte(n.Payload), &p); err != nil {
		f.WakeAll() // a hint we cannot read: wake everyone rather than miss one
		return err
	}
	if p.Instance != f.instance {
		f.Local.Publish(p.Services...)
	}
	return nil
}

// notify sends the services published, gathered over Coalesce, as
// notifications.
func (f *Feed) notify(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cmpOr(f.Coalesce, DefaultCoalesce)):
		}
		f.mu.Lock()
		services := make([]string, 0, len(f.pending))
		for s := range f.pending {
			services = append(services, s)
		}
		clear(f.pending)
		f.mu.Unlock()
		slices.Sort(services)
		for _, payload := range f.payloads(services) {
			if _, err := f.db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, changesChannel, payload); err != nil && ctx.Err() == nil {
				// The other instances' streams still poll.
				f.db.Logger.WarnContext(ctx, "postgres: notifying the other instances failed", "err", err)
			}
		}
	}
}

// payloads splits the services into notification payloads under
// maxPayload bytes.
func (f *Feed) payloads(services []string) []string {
	var (
		out   []string
		batch []string
		size  int
	)
	flush := func() {
		if len(batch) > 0 {
			b, _ := json.Marshal(notification{Instance: f.instance, Services: batch})
			out = append(out, string(b))
			batch, size = nil, 0
		}
	}
	for _, s := range services {
		if size+len(s)+4 > maxPayload-64 {
			flush()
		}
		batch, size = append(batch, s), size+len(s)+4 // quotes, comma, escapes of the common case
	}
	flush()
	return out
}

// cmpOr returns d, or def when d is not positive.
func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
