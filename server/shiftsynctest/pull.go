package shiftsynctest

import (
	"context"
	"testing"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// PullFrom pulls with client from cursor, page after page, until the server
// says it has no more. It returns every change served, in order, and the
// last page (for its purges and next cursor); on an error it returns the
// error and the changes and last page pulled before it.
func PullFrom(ctx context.Context, client syncv1connect.SyncServiceClient, cursor string) ([]*syncv1.FieldChange, *syncv1.PullResponse, error) {
	var changes []*syncv1.FieldChange
	var last *syncv1.PullResponse
	for {
		res, err := client.Pull(ctx, &syncv1.PullRequest{Client: ClientInfo(), Cursor: cursor})
		if err != nil {
			return changes, last, err
		}
		last = res
		changes = append(changes, res.GetChanges()...)
		cursor = res.GetNextCursor()
		if !res.GetHasMore() {
			return changes, last, nil
		}
	}
}

// PullAll pulls everything client may see, from the start, and returns the
// changes served. It fails tb on any error.
func PullAll(tb testing.TB, client syncv1connect.SyncServiceClient) []*syncv1.FieldChange {
	tb.Helper()
	changes, _, err := PullFrom(tb.Context(), client, "")
	if err != nil {
		tb.Fatalf("pull everything: %v", err)
	}
	return changes
}
