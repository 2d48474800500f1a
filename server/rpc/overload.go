package rpc

import (
	"context"
	"strconv"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Overload settings.
const (
	// DefaultMaxInFlight bounds the calls being answered at once. On two
	// cores a call holds a store connection for a few milliseconds, so 128
	// calls in hand are well under a second of work; more would only
	// contend for the store's connections.
	DefaultMaxInFlight = 128
	// MaxQueueWait is how long a call beyond the bound waits for a place
	// (first come, first served) before it is refused: long enough to keep
	// the server busy through a storm, short enough that no call waits
	// past its deadline, which phones set at seconds.
	MaxQueueWait = 500 * time.Millisecond
	// RetryAfterSeconds is the retry delay an overload refusal gives, as
	// its Retry-After header; phones add their backoff and jitter.
	RetryAfterSeconds = 1
	// EnrolShare is the share of the bound that Enrol calls have places
	// of their own in, at least one: Enrol takes a code anyone may send,
	// so strangers guessing codes must not take the places of phones
	// syncing. A storm of phones refreshing tokens is the phones' own.
	EnrolShare = 8
)

// overload bounds the unary calls answered at once: a call beyond the
// bound waits for a place up to MaxQueueWait (or half the time left before
// its deadline, if less), then is refused unavailable with a Retry-After
// and an ErrorInfo, before the handler does anything. So an overloaded
// server stays busy and answers every phone within a bounded time,
// rather than letting calls queue for the store until their deadlines. A
// call counts from when its request has been read (the edge bounds slow
// bodies apart, so strangers sending slowly cannot take the places of
// phones) until it is answered. Subscribe streams, which wait on the
// change feed rather than work, are not counted. One overload is shared by
// every service of a handler.
type overload struct {
	places  chan struct{}
	metrics *Metrics
}

// newOverload returns an overload of maxInFlight places, which must be
// positive.
func newOverload(maxInFlight int, m *Metrics) *overload {
	return &overload{places: make(chan struct{}, maxInFlight), metrics: m}
}

// take waits for a place for the call of ctx, and reports whether it got
// one.
func (o *overload) take(ctx context.Context) bool {
	select {
	case o.places <- struct{}{}:
		return true
	default:
	}
	wait := MaxQueueWait
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline)/2)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case o.places <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// WrapUnary implements [connect.Interceptor].
func (o *overload) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !o.take(ctx) {
			o.metrics.overloaded()
			err := newError(shiftsync.CodeUnavailable, "the server is answering too many calls; retry after "+strconv.Itoa(RetryAfterSeconds)+" s with backoff")
			err.Meta().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
			return nil, err
		}
		o.metrics.inFlightAdd(1)
		defer func() {
			o.metrics.inFlightAdd(-1)
			<-o.places
		}()
		return next(ctx, req)
	}
}

// perProcedure is the overload of each procedure named, and rest's for
// the others: an interceptor choosing the bound of each call.
type perProcedure struct {
	procedures map[string]*overload
	rest       *overload
}

// WrapUnary implements [connect.Interceptor].
func (p perProcedure) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	bounded := map[*overload]connect.UnaryFunc{p.rest: p.rest.WrapUnary(next)}
	for _, o := range p.procedures {
		bounded[o] = o.WrapUnary(next)
	}
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		o, ok := p.procedures[req.Spec().Procedure]
		if !ok {
			o = p.rest
		}
		return bounded[o](ctx, req)
	}
}

// WrapStreamingClient implements [connect.Interceptor]; clients are not
// intercepted.
func (p perProcedure) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements [connect.Interceptor]: streams are not
// counted.
func (p perProcedure) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// WrapStreamingClient implements [connect.Interceptor]; clients are not
// intercepted.
func (o *overload) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements [connect.Interceptor]: streams are not
// counted.
func (o *overload) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
