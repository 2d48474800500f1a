package shiftsync

import (
	"context"
	"time"
)

// GovernanceTx is the governance part of a [Tx]: what the rules read, the
// findings they leave and the organisations' thresholds. Times are given by
// the engine; the store keeps them to the millisecond.
type GovernanceTx interface {
	// Snapshot returns every record of the service as it stands, and its
	// front-line staff (support workers and shift leads): per user, their
	// earliest start and latest end, open-ended if any of their memberships
	// is, in user order.
	Snapshot(ctx context.Context, serviceID string) (Snapshot, error)
	// StoredThresholds returns the newest thresholds version of the
	// service's organisation and its encoding (see [DecodeThresholds]): 0
	// and nil when none was set.
	StoredThresholds(ctx context.Context, serviceID string) (int, []byte, error)
	// Findings returns every finding kept for the service, met or not.
	Findings(ctx context.Context, serviceID string) ([]Finding, error)
	// PutFinding keeps f under its service, rule and subject, in place of
	// the finding kept there (whose ID it keeps), with its times as given.
	PutFinding(ctx context.Context, f Finding) error
	// ServicesWithRecords returns the services that hold records, in order.
	ServicesWithRecords(ctx context.Context) ([]string, error)

	// OrganisationExists reports whether the organisation exists.
	OrganisationExists(ctx context.Context, id string) (bool, error)
	// ThresholdsVersion returns the newest thresholds version set for the
	// organisation: 0 when none.
	ThresholdsVersion(ctx context.Context, organisationID string) (int, error)
	// InsertThresholds keeps a version of an organisation's thresholds,
	// encoded, set by setBy at at.
	InsertThresholds(ctx context.Context, organisationID string, version int, encoded []byte, setBy string, at time.Time) error
}
