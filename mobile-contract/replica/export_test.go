package replica

import (
	"context"
	"maps"
)

// SetNegativeControls turns the deliberately broken behaviours on or off, for
// the property test to prove it catches them.
func SetNegativeControls(brokenMerge, lossyOutbox bool) {
	invertMerge, forgetOnError = brokenMerge, lossyOutbox
}

// SetSchemaChecks turns the schema check of local changes off or on, so a
// test can save a change the server will quarantine, as an app built with
// other declarations than the server's would.
func (r *Replica) SetSchemaChecks(on bool) { r.skipChecks.Store(!on) }

// SetDropReceipts turns the lossy-receipts negative control on or off: an
// acknowledged mutation leaves no receipt, so a restore of the server from
// a backup loses what was acknowledged after it. The restore drill must
// catch it.
func SetDropReceipts(on bool) { dropReceipts = on }

// DigestsKept reports whether the digests the replica kept through its
// writes equal the sums over the fields it holds.
func (r *Replica) DigestsKept() (bool, error) {
	ctx := context.Background()
	held, err := heldDigests(ctx, r.read)
	if err != nil {
		return false, err
	}
	stored, err := storedDigests(ctx, r.read)
	if err != nil {
		return false, err
	}
	for k, d := range held {
		if d.IsZero() {
			delete(held, k)
		}
	}
	return maps.Equal(held, stored), nil
}
