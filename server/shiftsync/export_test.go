package shiftsync

import "context"

// PermissionsDeclared reports whether the permissions table has a row,
// possibly empty, for the role and record type.
func PermissionsDeclared(role Role, recordType string) bool {
	_, ok := permissions[role][recordType]
	return ok
}

// PushWithoutDigests is Push leaving the integrity accumulators as they
// are: the baseline of the digest benchmark, which measures what keeping
// them costs a push.
func (s *Sync) PushWithoutDigests(ctx context.Context, p Principal, batch []Mutation) (PushResult, error) {
	return s.push(ctx, p, batch, func() digestKeeper { return noDigests{} })
}

// noDigests keeps no accumulators.
type noDigests struct{}

func (noDigests) count(context.Context, SyncTx, *Mutation, RecordRef, []FieldOutcome, map[string]FieldHead) ([]Digest, error) {
	return nil, nil
}

func (noDigests) apply(context.Context, DigestTx) error { return nil }

// DurationWords is how findings write a duration.
var DurationWords = durationWords
