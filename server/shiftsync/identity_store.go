package shiftsync

import (
	"context"
	"time"
)

// IdentityTx is the enrolment part of a [Tx]: the enrolment codes, the
// failed attempts counted against guessing, and the devices. Codes and
// credentials are kept only as their hashes ([HashSecret]). Times are given
// by the engine; the store keeps them to the millisecond.
type IdentityTx interface {
	// UserExists reports whether the user exists.
	UserExists(ctx context.Context, id string) (bool, error)
	// InsertEnrolmentCode keeps an issued enrolment code.
	InsertEnrolmentCode(ctx context.Context, c EnrolmentCode) error
	// PendingEnrolmentCode returns the code under the hash if it is unused
	// and expires after now: nil when there is none.
	PendingEnrolmentCode(ctx context.Context, hash []byte, now time.Time) (*EnrolmentCode, error)
	// SpendEnrolmentCode marks the code under the hash used at at, by the
	// device it enrolled ("" when it enrolled none).
	SpendEnrolmentCode(ctx context.Context, hash []byte, at time.Time, deviceID string) error

	// EnrolmentFailures counts the failed attempts after since from the
	// source, and those presenting the code under the hash.
	EnrolmentFailures(ctx context.Context, source string, codeHash []byte, since time.Time) (EnrolmentFailures, error)
	// InsertEnrolmentFailure counts a failed attempt from the source,
	// presenting the code under the hash, at at.
	InsertEnrolmentFailure(ctx context.Context, source string, codeHash []byte, at time.Time) error
	// PruneEnrolmentFailures forgets the failed attempts at or before
	// before.
	PruneEnrolmentFailures(ctx context.Context, before time.Time) error

	// InsertDevice keeps an enrolled device and the hash of its credential.
	InsertDevice(ctx context.Context, d Device, credentialHash []byte) error
}

// EnrolmentCode is an issued enrolment code, by its hash.
type EnrolmentCode struct {
	Hash      []byte
	UserID    string
	IssuedBy  string
	IssuedAt  time.Time
	ExpiresAt time.Time
}
