package rpc

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Bounds of the refusal log.
const (
	// refusalWindow is the period whose refusals are counted into one
	// audit entry.
	refusalWindow = time.Minute
	// maxImmediateRefusals bounds the entries written at once in one
	// window, whatever the number of sources.
	maxImmediateRefusals = 64
	// maxRefusalSources bounds the sources counted apart in one window;
	// the refusals of any further source are counted together under
	// otherSources.
	maxRefusalSources = 1024
	otherSources      = "other"
	// refusalSummarySubject is the subject of a window's count.
	refusalSummarySubject = "summary"
)

// RefusalLog writes refused tokens and credentials to the audit log in
// aggregate, so a flood of garbage from strangers cannot flood the log. Per
// source (see [shiftsync.SourceKey]) it writes the first refusal of each
// minute at once, naming what was refused, up to 64 such entries a minute
// from all sources together; when the minute is over, if any of its
// refusals was not written at once, it writes one entry counting them all,
// by code and by source. It counts at most 1,024 sources apart in a minute;
// beyond that, refusals are counted under the source "other". So its memory
// and the entries it writes per minute (at most 65) are bounded whoever
// calls. A minute's count is written by FlushEvery once the minute is over,
// at the next refusal after it, or by Flush. It is safe for concurrent use.
type RefusalLog struct {
	audit shiftsync.AuditLog
	log   *slog.Logger
	now   func() time.Time

	mu     sync.Mutex
	window *refusalWindowCount // nil when nothing was refused this minute
}

// refusalWindowCount is the refusals of the minute starting at start.
type refusalWindowCount struct {
	start     time.Time
	total     int
	immediate int // refusals written at once
	codes     map[shiftsync.Code]int
	sources   map[string]int
}

// NewRefusalLog returns a RefusalLog writing to audit, logging its own
// failures to log, and timing windows by now (time.Now if nil).
func NewRefusalLog(audit shiftsync.AuditLog, log *slog.Logger, now func() time.Time) *RefusalLog {
	if now == nil {
		now = time.Now
	}
	return &RefusalLog{audit: audit, log: cmp.Or(log, slog.Default()), now: now}
}

// Refused records that the request in ctx was refused for cause. subject
// names what was refused without being usable (a token's fingerprint, a
// device id), or is empty. A failure to write is logged; the caller is
// refused anyway.
func (l *RefusalLog) Refused(ctx context.Context, subject string, cause error) {
	code := shiftsync.ErrorCode(cause)
	start := l.now().Truncate(refusalWindow)
	source := cmp.Or(shiftsync.SourceFromContext(ctx), "unknown")

	l.mu.Lock()
	ended := l.endedLocked(start)
	w := l.window
	if w == nil {
		w = &refusalWindowCount{start: start, codes: map[shiftsync.Code]int{}, sources: map[string]int{}}
		l.window = w
	}
	if _, ok := w.sources[source]; !ok && len(w.sources) >= maxRefusalSources {
		source = otherSources
	}
	immediate := w.sources[source] == 0 && w.immediate < maxImmediateRefusals
	if immediate {
		w.immediate++
	}
	w.total++
	w.codes[code]++
	w.sources[source]++
	l.mu.Unlock()

	l.write(ctx, ended)
	if immediate {
		l.audit1(ctx, subject, map[string]any{"code": code, "source": source})
	}
}

// FlushEvery writes each minute's count soon after the minute is over,
// checking every d, until ctx ends, so counts do not wait for the next
// refusal.
func (l *RefusalLog) FlushEvery(ctx context.Context, d time.Duration) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		l.mu.Lock()
		ended := l.endedLocked(l.now().Truncate(refusalWindow))
		l.mu.Unlock()
		l.write(context.WithoutCancel(ctx), ended)
	}
}

// Flush writes the count of the current minute, ended or not, and forgets
// it. Call it when the server stops.
func (l *RefusalLog) Flush(ctx context.Context) {
	l.mu.Lock()
	ended := l.window
	l.window = nil
	l.mu.Unlock()
	l.write(ctx, ended)
}

// endedLocked removes the window if it started before start, and returns
// it.
func (l *RefusalLog) endedLocked(start time.Time) *refusalWindowCount {
	w := l.window
	if w == nil || !w.start.Before(start) {
		return nil
	}
	l.window = nil
	return w
}

// write audits the count of an ended window (nil: none) if some of its
// refusals were not written at once.
func (l *RefusalLog) write(ctx context.Context, w *refusalWindowCount) {
	if w == nil || w.total == w.immediate {
		return
	}
	l.audit1(ctx, refusalSummarySubject, map[string]any{
		"from":    w.start.UTC().Format(time.RFC3339),
		"to":      w.start.Add(refusalWindow).UTC().Format(time.RFC3339),
		"refused": w.total,
		"codes":   w.codes,
		"sources": w.sources,
	})
}

// audit1 writes one token.refused entry; the detail holds only codes,
// counts, sources and times.
func (l *RefusalLog) audit1(ctx context.Context, subject string, detail map[string]any) {
	b, _ := json.Marshal(detail) // strings, ints and maps of them
	// Not the caller's context: a refused caller that hangs up must not
	// take the minute's count, already out of memory, with it.
	ctx = context.WithoutCancel(ctx)
	if err := l.audit.Audit(ctx, shiftsync.AuditEvent{Action: shiftsync.AuditTokenRefused, Subject: subject, Detail: string(b)}); err != nil {
		l.log.ErrorContext(ctx, "audit of a refused token failed", "err", err)
	}
}
