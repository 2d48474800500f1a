// Package inmem implements shiftsync services that live in the server's
// memory: the change feed that wakes Subscribe streams in this process.
package inmem

import (
	"slices"
	"sync"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var _ shiftsync.ChangeFeed = (*Feed)(nil)

// Feed is a [shiftsync.ChangeFeed] for one process. The zero Feed is ready to
// use and safe for concurrent use.
type Feed struct {
	mu     sync.Mutex
	subs   map[chan struct{}][]string // a subscriber's services
	closed bool
}

// Publish implements [shiftsync.ChangeFeed]. It never blocks: a subscriber
// that has not read its last wake-up keeps that one.
func (f *Feed) Publish(services ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch, subscribed := range f.subs {
		if !slices.ContainsFunc(services, func(s string) bool { return slices.Contains(subscribed, s) }) {
			continue
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// WakeAll wakes every subscriber, whatever its services: for a feed that
// may have missed changes (a relay that reconnected), or that polls.
func (f *Feed) WakeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribe implements [shiftsync.ChangeFeed].
func (f *Feed) Subscribe(services []string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(ch)
		return ch, func() {}
	}
	if f.subs == nil {
		f.subs = make(map[chan struct{}][]string)
	}
	f.subs[ch] = slices.Clone(services)
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok {
			delete(f.subs, ch)
			close(ch)
		}
	}
}

// Close ends every subscription: their channels are closed, and later
// subscriptions get a closed channel. The server calls it when it shuts down,
// so Subscribe streams end instead of holding the shutdown up.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for ch := range f.subs {
		close(ch)
	}
	f.subs = nil
}
