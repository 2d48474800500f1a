package rpc

import (
	"context"
	"strconv"
	"sync/atomic"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Overload settings.
const (
	// DefaultMaxInFlight bounds the calls being answered at once. On two
	// cores a call holds a store connection for a few milliseconds, so 128
	// calls in hand are well under a second of work; beyond them a call
	// would only wait, and a storm of phones would wait past their
	// deadlines, so it is refused at once instead.
	DefaultMaxInFlight = 128
	// RetryAfterSeconds is the retry delay an overload refusal gives, as
	// its Retry-After header; phones add their backoff and jitter.
	RetryAfterSeconds = 1
)

// overload refuses unary calls beyond a bound of calls in flight with
// unavailable, a Retry-After and an ErrorInfo, at once, before the handler
// does anything, so an overloaded server answers every phone fast rather
// than letting calls queue for the store until their deadlines. A call
// counts from when its request has been read (the edge bounds slow bodies
// apart, so strangers sending slowly cannot take the places of phones)
// until it is answered. Subscribe streams, which wait on the change feed
// rather than work, are not counted. One overload is shared by every
// service of a handler.
type overload struct {
	max     int64
	n       atomic.Int64
	metrics *Metrics
}

func newOverload(maxInFlight int, m *Metrics) *overload {
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	return &overload{max: int64(maxInFlight), metrics: m}
}

// WrapUnary implements [connect.Interceptor].
func (o *overload) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if o.n.Add(1) > o.max {
			o.n.Add(-1)
			o.metrics.overloaded()
			err := newError(shiftsync.CodeUnavailable, "the server is answering too many calls; retry after "+strconv.Itoa(RetryAfterSeconds)+" s with backoff")
			err.Meta().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
			return nil, err
		}
		o.metrics.inFlightAdd(1)
		defer func() {
			o.metrics.inFlightAdd(-1)
			o.n.Add(-1)
		}()
		return next(ctx, req)
	}
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
