package shiftsync

import (
	"context"
	"crypto/ed25519"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultIdentityTTL is how long an [IdentityCache] trusts what it read:
// the bound on how late it sees a change that no instance published (one
// made by another process, such as shiftsyncd admin, on the same store).
const DefaultIdentityTTL = 2 * time.Second

// IdentityFeedKey is the name an [IdentityCache] publishes on, and listens
// to, in the change feed, so the instances sharing a store drop what they
// cached when one of them changes a device, a membership or a key.
const IdentityFeedKey = "shiftsync:identity"

// maxCachedIdentities bounds each of an [IdentityCache]'s maps; a full map
// is emptied, not grown, whoever calls.
const maxCachedIdentities = 100_000

// IdentityCache is an [IdentityStore] that answers what every request
// asks but whether its device is still enrolled (what is this user's
// scope, which public key has this kid, which key signs new tokens) from
// memory, so deriving a scope, checking a token's signature and signing
// one take no store connection in the common case. It caches answers,
// never errors: a key it does not know is asked of the store every time.
// Whether a device is still enrolled (CheckDevice) is always asked of the
// store, so a revocation made anywhere, by any process, refuses the
// device's next call; a store answers it without waiting for a pooled
// connection (SQLite keeps a connection for it).
//
// Everything it cached is dropped at once when a change that can narrow
// access (a membership added or ended, a device revoked, a key rotated) is
// made through it, before that call returns, and when another instance
// publishes one on the feed (IdentityFeedKey); a change made elsewhere
// (shiftsyncd admin in another process) is seen within TTL. It is safe
// for concurrent use.
type IdentityCache struct {
	IdentityStore
	feed ChangeFeed // optional
	ttl  time.Duration

	// generation counts the changes seen; an entry read in an earlier
	// generation is not used.
	generation atomic.Uint64
	mu         sync.Mutex
	scopes     map[string]cached[Scope] // by user id
	keys       map[string]cached[ed25519.PublicKey]
	active     map[struct{}]cached[SigningKey] // the active key, or none
	stop       func()
}

// cached is an answer of the store, and when and in which generation it
// was read.
type cached[T any] struct {
	value      T
	read       time.Time
	generation uint64
}

// NewIdentityCache returns a cache over store whose entries last ttl of
// real time (DefaultIdentityTTL if 0): the domain's clock, which tests
// stop, does not age them. With a feed, it drops its entries whenever
// IdentityFeedKey is published there, by this instance or another, until
// Close.
func NewIdentityCache(store IdentityStore, feed ChangeFeed, ttl time.Duration) *IdentityCache {
	if ttl <= 0 {
		ttl = DefaultIdentityTTL
	}
	c := &IdentityCache{IdentityStore: store, feed: feed, ttl: ttl, stop: func() {},
		scopes: map[string]cached[Scope]{}, keys: map[string]cached[ed25519.PublicKey]{}, active: map[struct{}]cached[SigningKey]{}}
	if feed != nil {
		c.stop = listen(feed, IdentityFeedKey, c.drop)
	}
	return c
}

// listen calls fn after each wake-up of a subscription to key on the feed,
// one call at a time, until the feed shuts down or the returned stop is
// called (any number of times).
func listen(feed ChangeFeed, key string, fn func()) (stop func()) {
	wake, unsubscribe := feed.Subscribe([]string{key})
	done := make(chan struct{})
	go func() {
		for {
			select {
			case _, open := <-wake:
				if !open {
					return
				}
				fn()
			case <-done:
				return
			}
		}
	}()
	return sync.OnceFunc(func() { unsubscribe(); close(done) })
}

// Close stops listening to the feed.
func (c *IdentityCache) Close() { c.stop() }

// drop forgets every entry: those read before now are of an older
// generation. The maps are emptied, never replaced, so the fields that
// hold them are only ever read (lookup and keep take the maps under mu).
func (c *IdentityCache) drop() {
	c.generation.Add(1)
	c.mu.Lock()
	clear(c.scopes)
	clear(c.keys)
	clear(c.active)
	c.mu.Unlock()
}

// changed drops every entry after a change made through the cache, and
// tells the other instances.
func (c *IdentityCache) changed() {
	c.drop()
	if c.feed != nil {
		c.feed.Publish(IdentityFeedKey)
	}
}

// lookup returns the entry of key in m if it is of this generation and
// fresh.
func lookup[K comparable, T any](c *IdentityCache, m map[K]cached[T], key K) (T, bool) {
	c.mu.Lock()
	e, ok := m[key]
	c.mu.Unlock()
	if !ok || e.generation != c.generation.Load() || time.Since(e.read) >= c.ttl {
		var zero T
		return zero, false
	}
	return e.value, true
}

// keep stores an answer read in generation g, unless a change has been
// seen since.
func keep[K comparable, T any](c *IdentityCache, m map[K]cached[T], key K, value T, g uint64, read time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g != c.generation.Load() {
		return
	}
	if len(m) >= maxCachedIdentities {
		clear(m)
	}
	m[key] = cached[T]{value: value, read: read, generation: g}
}

// Scope implements [Authorizer]. The grants are the store's for the
// principal's user, with their times, so a cached scope is judged at each
// moment as the store's would be.
func (c *IdentityCache) Scope(ctx context.Context, p Principal) (Scope, error) {
	if s, ok := lookup(c, c.scopes, p.UserID); ok {
		return Scope{Grants: slices.Clone(s.Grants)}, nil
	}
	// The generation is read before the store is: an answer read before a
	// change is then never kept after it.
	g, read := c.generation.Load(), time.Now()
	s, err := c.IdentityStore.Scope(ctx, p)
	if err != nil {
		return s, err
	}
	keep(c, c.scopes, p.UserID, Scope{Grants: slices.Clone(s.Grants)}, g, read)
	return s, nil
}

// PublicKey implements [KeyStore].
func (c *IdentityCache) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := lookup(c, c.keys, kid); ok {
		return k, nil
	}
	g, read := c.generation.Load(), time.Now()
	k, err := c.IdentityStore.PublicKey(ctx, kid)
	if err != nil {
		return k, err
	}
	keep(c, c.keys, kid, k, g, read)
	return k, nil
}

// ActiveKey implements [KeyStore].
func (c *IdentityCache) ActiveKey(ctx context.Context) (SigningKey, error) {
	if k, ok := lookup(c, c.active, struct{}{}); ok {
		return k, nil
	}
	g, read := c.generation.Load(), time.Now()
	k, err := c.IdentityStore.ActiveKey(ctx)
	if err != nil {
		return k, err
	}
	keep(c, c.active, struct{}{}, k, g, read)
	return k, nil
}

// RevokeDevice implements [IdentityService]: the device's tokens are
// refused from the moment it returns.
func (c *IdentityCache) RevokeDevice(ctx context.Context, actor Principal, deviceID, reason string) (time.Time, error) {
	at, err := c.IdentityStore.RevokeDevice(ctx, actor, deviceID, reason)
	c.changed() // on error too: the store may have changed before it failed
	return at, err
}

// AddMembership implements [AdminStore].
func (c *IdentityCache) AddMembership(ctx context.Context, actor Principal, m Membership) (int64, error) {
	id, err := c.IdentityStore.AddMembership(ctx, actor, m)
	c.changed()
	return id, err
}

// EndMembership implements [AdminStore]: the scopes it narrows are
// narrowed from the moment it returns.
func (c *IdentityCache) EndMembership(ctx context.Context, actor Principal, id int64, at time.Time) error {
	err := c.IdentityStore.EndMembership(ctx, actor, id, at)
	c.changed()
	return err
}

// RotateKey implements [IdentityStore]: the keys it retires stop
// verifying from the moment it returns.
func (c *IdentityCache) RotateKey(ctx context.Context, actor Principal) (SigningKey, error) {
	k, err := c.IdentityStore.RotateKey(ctx, actor)
	c.changed()
	return k, err
}
