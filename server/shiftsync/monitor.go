package shiftsync

import (
	"context"
	"time"
)

// UnsyncedThresholds are the ages after which the person on call counts a
// phone as unsynced: [OpsStats].UnsyncedOver has one count for each.
var UnsyncedThresholds = []time.Duration{4 * time.Hour, 24 * time.Hour}

// OpsStore counts, over the whole store, what [Monitor] reports. It
// finds and counts only; it names no service, person, user or device.
type OpsStore interface {
	// OpsCounts returns the open alerts and conflicts, the findings, the
	// sync health of every phone not revoked and the last backup's time.
	OpsCounts(ctx context.Context) (OpsCounts, error)
}

// OpsCounts is what an [OpsStore] counts.
type OpsCounts struct {
	OpenAlerts    map[string]int     // alerts not acknowledged, by rule id
	OpenConflicts int                // conflicts not resolved
	Findings      map[FindingKey]int // findings, by rule id and state
	// Phones are the phones ([KindPhone]) not revoked, with their health.
	Phones []DeviceHealth
	// LastBackup is when the newest backup recorded was taken: zero when
	// none is (see [Backup]).
	LastBackup time.Time
	// HorizonLag is how long the oldest write transaction still open on the
	// database has run: a pull sees nothing committed after it began until
	// it ends. Zero for a store with one writer.
	HorizonLag time.Duration
}

// FindingKey is a governance rule and a state, the key of a count of
// findings.
type FindingKey struct {
	RuleID string
	State  FindingState
}

// OpsStats is what the person on call watches of a server as a whole: no
// figure names a service, person, user or device.
type OpsStats struct {
	OpenAlerts    map[string]int // by alert rule id; see OpsCounts
	OpenConflicts int
	Findings      map[FindingKey]int
	// UnsyncedOver counts, for each of [UnsyncedThresholds], the phones
	// whose last sync (the later of their last push and pull, or their
	// enrolment if they never synced) is older than it.
	UnsyncedOver map[time.Duration]int
	// OldestUnsyncedAge is the age of the oldest change a phone holds
	// unsynced, the greatest over the phones: what the phone last reported,
	// plus the time since it reported, while its outbox was not empty.
	OldestUnsyncedAge time.Duration
	// LastBackup is when the newest backup recorded, by any process, was
	// taken: zero when none is.
	LastBackup time.Time
	// HorizonLag is as in [OpsCounts].
	HorizonLag time.Duration
}

// Monitor computes the [OpsStats] of a store. It is for the server's
// operator (metrics), not reviewers: it reads no record and decides no
// access. It is safe for concurrent use.
type Monitor struct {
	Store OpsStore
	Now   func() time.Time
}

// Stats returns the store's figures now.
func (o *Monitor) Stats(ctx context.Context) (OpsStats, error) {
	c, err := o.Store.OpsCounts(ctx)
	if err != nil {
		return OpsStats{}, err
	}
	now := o.Now()
	s := OpsStats{OpenAlerts: c.OpenAlerts, OpenConflicts: c.OpenConflicts, Findings: c.Findings, UnsyncedOver: map[time.Duration]int{}, LastBackup: c.LastBackup, HorizonLag: c.HorizonLag}
	for _, d := range c.Phones {
		synced := d.LastPushAt
		if d.LastPullAt.After(synced) {
			synced = d.LastPullAt
		}
		if synced.IsZero() {
			synced = d.EnrolledAt
		}
		for _, threshold := range UnsyncedThresholds {
			if now.Sub(synced) > threshold {
				s.UnsyncedOver[threshold]++
			}
		}
		if d.OutboxDepth > 0 && !d.ReportedAt.IsZero() {
			s.OldestUnsyncedAge = max(s.OldestUnsyncedAge, d.OldestUnsyncedAge+max(0, now.Sub(d.ReportedAt)))
		}
	}
	return s, nil
}
