package shiftsync

import (
	"context"
	"time"
)

// HealthReport is what a device says of its own sync health with each
// request (ClientInfo), and what the request did.
type HealthReport struct {
	AppVersion        string
	OutboxDepth       int
	OldestUnsyncedAge time.Duration
	Pushed, Pulled    bool // the request was a push, or a pull, that succeeded
}

// DeviceHealth is a device's sync health as the server knows it: what the
// device last reported and when it last pushed and pulled. Zero times mean
// never.
type DeviceHealth struct {
	DeviceID, UserID, Label, AppVersion string
	Kind                                DeviceKind
	OutboxDepth                         int
	OldestUnsyncedAge                   time.Duration
	ReportedAt, LastPushAt, LastPullAt  time.Time
	EnrolledAt, RevokedAt               time.Time
}

// HealthRecorder keeps the devices' health reports. A report that cannot
// be stored must not fail the request that carried it.
type HealthRecorder interface {
	RecordHealth(ctx context.Context, p Principal, r HealthReport) error
}

// HealthService shows reviewers the sync health of a service's devices.
type HealthService interface {
	// DeviceHealth lists the phones ([KindPhone]) of the users with a
	// membership in the service in force now, oldest sync first: browsers
	// and tools hold no outbox, so they are left out. It needs [OpReview] on
	// the service's restrictive interventions.
	DeviceHealth(ctx context.Context, p Principal, serviceID string) ([]DeviceHealth, error)
}
