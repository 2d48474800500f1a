// Package inmem implements shiftsync services that live in the server's
// memory: the change feed that wakes Subscribe streams in this process.
package inmem

import (
	"sync"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var _ shiftsync.ChangeFeed = (*Feed)(nil)

// Feed is a [shiftsync.ChangeFeed] for one process. The zero Feed is ready to
// use and safe for concurrent use.
type Feed struct {
	mu     sync.Mutex
	subs   map[chan struct{}]struct{}
	closed bool
}

// Publish implements [shiftsync.ChangeFeed]. It never blocks: a subscriber
// that has not read its last wake-up keeps that one.
func (f *Feed) Publish() {
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
func (f *Feed) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(ch)
		return ch, func() {}
	}
	if f.subs == nil {
		f.subs = make(map[chan struct{}]struct{})
	}
	f.subs[ch] = struct{}{}
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
