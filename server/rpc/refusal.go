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
	// refusalWindow is the period over which one source's refusals are
	// counted into one audit entry.
	refusalWindow = time.Minute
	// maxRefusalSources bounds the sources counted apart in one window;
	// the refusals of any further source are counted together under
	// otherSources.
	maxRefusalSources = 1024
	otherSources      = "other"
)

// RefusalLog writes refused tokens and credentials to the audit log in
// aggregate, so a flood of garbage from strangers cannot flood the log. Per
// source (see [shiftsync.SourceKey]) and minute it writes the first refusal
// at once, naming what was refused, and when the minute is over, if more
// followed, one entry counting them all by code. A minute's count is written
// at the next refusal after the minute (from any source) or by Flush. It
// holds at most 1,024 sources at a time; beyond that, refusals are counted
// under the source "other", so its memory and the entries it writes per
// minute are bounded whoever calls. It is safe for concurrent use.
type RefusalLog struct {
	audit shiftsync.AuditLog
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	windows map[string]*refusalCount // by source
	swept   time.Time                // no window started before this
}

// refusalCount is one source's refusals in the minute starting at start.
type refusalCount struct {
	start time.Time
	total int
	codes map[shiftsync.Code]int
}

// NewRefusalLog returns a RefusalLog writing to audit, logging its own
// failures to log, and timing windows by now (time.Now if nil).
func NewRefusalLog(audit shiftsync.AuditLog, log *slog.Logger, now func() time.Time) *RefusalLog {
	if now == nil {
		now = time.Now
	}
	return &RefusalLog{audit: audit, log: cmp.Or(log, slog.Default()), now: now, windows: map[string]*refusalCount{}}
}

// Refused records that the request in ctx was refused for cause. subject
// names what was refused without being usable (a token's fingerprint, a
// device id), or is empty. A failure to write is logged; the caller is
// refused anyway.
func (l *RefusalLog) Refused(ctx context.Context, subject string, cause error) {
	code := shiftsync.ErrorCode(cause)
	now := l.now()
	start := now.Truncate(refusalWindow)
	source := cmp.Or(shiftsync.SourceFromContext(ctx), "unknown")

	l.mu.Lock()
	ended := l.endedLocked(start, false)
	w, ok := l.windows[source]
	if !ok && len(l.windows) >= maxRefusalSources {
		source = otherSources
		w, ok = l.windows[source]
	}
	first := !ok
	if first {
		w = &refusalCount{start: start, codes: map[shiftsync.Code]int{}}
		l.windows[source] = w
	}
	w.total++
	w.codes[code]++
	l.mu.Unlock()

	l.write(ctx, ended)
	if first {
		l.audit1(ctx, subject, map[string]any{"code": code, "source": source})
	}
}

// Flush writes the counts of every window, ended or not, and forgets them.
// Call it when the server stops.
func (l *RefusalLog) Flush(ctx context.Context) {
	l.mu.Lock()
	ended := l.endedLocked(time.Time{}, true)
	l.mu.Unlock()
	l.write(ctx, ended)
}

// endedLocked removes the windows that started before start (all of them,
// if all) and returns those with more than their first refusal to count.
func (l *RefusalLog) endedLocked(start time.Time, all bool) map[string]*refusalCount {
	var ended map[string]*refusalCount
	if !all {
		if !start.After(l.swept) {
			return nil
		}
		l.swept = start
	}
	for source, w := range l.windows {
		if !all && !w.start.Before(start) {
			continue
		}
		delete(l.windows, source)
		if w.total > 1 {
			if ended == nil {
				ended = map[string]*refusalCount{}
			}
			ended[source] = w
		}
	}
	return ended
}

// write audits the count of each ended window.
func (l *RefusalLog) write(ctx context.Context, ended map[string]*refusalCount) {
	for source, w := range ended {
		l.audit1(ctx, source, map[string]any{
			"source":  source,
			"from":    w.start.UTC().Format(time.RFC3339),
			"to":      w.start.Add(refusalWindow).UTC().Format(time.RFC3339),
			"refused": w.total,
			"codes":   w.codes,
		})
	}
}

// audit1 writes one token.refused entry; the detail holds only codes,
// counts, sources and times.
func (l *RefusalLog) audit1(ctx context.Context, subject string, detail map[string]any) {
	b, _ := json.Marshal(detail) // strings, ints and a map of them
	if err := l.audit.Audit(ctx, shiftsync.AuditEvent{Action: shiftsync.AuditTokenRefused, Subject: subject, Detail: string(b)}); err != nil {
		l.log.ErrorContext(ctx, "audit of a refused token failed", "err", err)
	}
}
