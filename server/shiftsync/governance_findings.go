package shiftsync

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Governance evaluates the governance rules over a [Store] and keeps their
// findings, and sets the organisations' thresholds. Use one Governance per
// store: its evaluations run one at a time, so one that read an older
// snapshot never writes its findings over a newer one's.
type Governance struct {
	Store Store
	// Now is the clock; defaults to time.Now.
	Now func() time.Time

	evaluating sync.Mutex
}

// closedNote is added to the message of an open finding the rules no
// longer report, as it is closed.
const closedNote = " (no longer reported: resolved, or its record voided)"

func (g *Governance) now() time.Time {
	if g.Now == nil {
		return time.Now().UTC()
	}
	return g.Now().UTC()
}

// Evaluate runs the governance rules over a service now and keeps their
// findings. The records are read in a transaction of their own before the
// write, so pushes wait only for the findings to be written: a finding
// whose state, message, deadline, person, record or versions changed is
// kept anew (keeping when it was first seen, and when it was met), and an
// open finding the rules no longer report is closed as met. Unchanged
// findings are not rewritten.
func (g *Governance) Evaluate(ctx context.Context, serviceID string) error {
	g.evaluating.Lock()
	defer g.evaluating.Unlock()
	var (
		snap Snapshot
		th   Thresholds
	)
	if err := g.Store.View(ctx, func(tx Tx) error {
		var err error
		if snap, err = tx.Snapshot(ctx, serviceID); err != nil {
			return err
		}
		th, err = thresholdsOf(ctx, tx, serviceID)
		return err
	}); err != nil {
		return err
	}
	findings := Evaluate(snap, th, g.now())
	return g.Store.Update(ctx, func(tx Tx) error {
		stored, err := tx.Findings(ctx, serviceID)
		if err != nil {
			return err
		}
		type key struct{ rule, subject string }
		existing := make(map[key]Finding, len(stored))
		for _, f := range stored {
			existing[key{f.RuleID, f.Subject}] = f
		}
		now := g.now()
		for _, f := range findings {
			k := key{f.RuleID, f.Subject}
			old, seen := existing[k]
			delete(existing, k)
			if seen && sameFinding(old, f) {
				continue
			}
			f.ServiceID, f.EvaluatedAt, f.FirstSeenAt, f.ClosedAt = serviceID, now, now, time.Time{}
			if seen {
				f.FirstSeenAt = old.FirstSeenAt
			}
			if f.State == StateMet {
				f.ClosedAt = now
				if seen && !old.ClosedAt.IsZero() {
					f.ClosedAt = old.ClosedAt
				}
			}
			if err := tx.PutFinding(ctx, f); err != nil {
				return err
			}
		}
		for _, old := range existing {
			if old.State == StateMet {
				continue
			}
			old.State, old.Message, old.ClosedAt, old.EvaluatedAt = StateMet, old.Message+closedNote, now, now
			if err := tx.PutFinding(ctx, old); err != nil {
				return err
			}
		}
		return nil
	})
}

// sameFinding reports whether a kept finding says what a new evaluation
// of its rule and subject says, to the millisecond.
func sameFinding(old, f Finding) bool {
	return old.State == f.State && old.Message == f.Message && old.PersonID == f.PersonID && old.RecordID == f.RecordID &&
		old.DueAt.UnixMilli() == f.DueAt.UnixMilli() && old.RuleVersion == f.RuleVersion && old.ThresholdsVersion == f.ThresholdsVersion
}

// EvaluateAll evaluates the governance rules of every service that holds
// records, so findings are found (and their first-seen time kept) even
// when nobody is looking, and returns how many services it evaluated. It
// stops at the first error.
func (g *Governance) EvaluateAll(ctx context.Context) (int, error) {
	var services []string
	if err := g.Store.View(ctx, func(tx Tx) error {
		var err error
		services, err = tx.ServicesWithRecords(ctx)
		return err
	}); err != nil {
		return 0, err
	}
	for i, id := range services {
		if err := g.Evaluate(ctx, id); err != nil {
			return i, fmt.Errorf("evaluate governance of %s: %w", id, err)
		}
	}
	return len(services), nil
}

// SetThresholds keeps a new version of an organisation's governance
// thresholds, audited as actor's, and returns the version. Fields left out
// of th keep their defaults. Returns CodeInvalid for thresholds that do not
// validate and CodeNotFound for an unknown organisation.
func (g *Governance) SetThresholds(ctx context.Context, actor Principal, organisationID string, th Thresholds) (int, error) {
	if err := th.Validate(); err != nil {
		return 0, err
	}
	encoded, err := json.Marshal(th)
	if err != nil {
		return 0, err
	}
	var version int
	err = g.Store.Update(ctx, func(tx Tx) error {
		exists, err := tx.OrganisationExists(ctx, organisationID)
		if err != nil {
			return err
		}
		if !exists {
			return Errorf(CodeNotFound, "no organisation %q", organisationID)
		}
		latest, err := tx.ThresholdsVersion(ctx, organisationID)
		if err != nil {
			return err
		}
		version = latest + 1
		at := g.now()
		if err := tx.InsertThresholds(ctx, organisationID, version, encoded, actor.UserID, at); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, at, AuditEvent{Actor: actor, Action: AuditThresholdsSet, Subject: organisationID,
			Detail: fmt.Sprintf(`{"version":%d,"thresholds":%s}`, version, encoded)})
	})
	return version, err
}

// thresholdsOf returns the thresholds the service's organisation set last,
// or the defaults (version 0).
func thresholdsOf(ctx context.Context, tx GovernanceTx, serviceID string) (Thresholds, error) {
	version, encoded, err := tx.StoredThresholds(ctx, serviceID)
	if err != nil {
		return DefaultThresholds, err
	}
	return DecodeThresholds(version, encoded)
}

// DecodeThresholds returns the thresholds stored as version: their JSON
// encoding over [DefaultThresholds], so a field left out keeps its
// default. Version 0 is the defaults.
func DecodeThresholds(version int, encoded []byte) (Thresholds, error) {
	th := DefaultThresholds
	if version == 0 {
		return th, nil
	}
	if err := json.Unmarshal(encoded, &th); err != nil {
		return th, fmt.Errorf("thresholds version %d: %w", version, err)
	}
	th.Version = version
	return th, nil
}
