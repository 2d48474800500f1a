package rpc_test

import (
	"context"
	"testing"

	"net/http"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// TestSyncHandler_RoundTrip pushes an incident and pulls it back through
// every protocol and codec a device may use.
func TestSyncHandler_RoundTrip(t *testing.T) {
	protocols := []struct {
		name   string
		http11 bool
		opts   []connect.ClientOption
	}{
		{"connect binary", false, nil},
		{"connect JSON", false, []connect.ClientOption{connect.WithProtoJSON()}},
		{"connect binary over HTTP/1.1", true, nil},
		{"connect JSON over HTTP/1.1", true, []connect.ClientOption{connect.WithProtoJSON()}},
		{"gRPC", false, []connect.ClientOption{connect.WithGRPC()}},
		{"gRPC-Web", false, []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	for _, tt := range protocols {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := shiftsynctest.NewServer(t)
			token := s.AddDevice("u1", "d1", "house-a")
			client := s.Client(token, tt.opts...)
			if tt.http11 {
				client = syncv1connect.NewSyncServiceClient(http.DefaultClient, s.URL, append(tt.opts, shiftsynctest.WithToken(token))...)
			}
			ctx := context.Background()
			id := shiftsynctest.RecordID(t)
			push, err := client.Push(ctx, &syncv1.PushRequest{
				Client:    shiftsynctest.ClientInfo(),
				Mutations: []*syncv1.Mutation{shiftsynctest.Incident(1, id, "house-a", "p1", s.Clock.Now(), "kicked the door")},
			})
			if err != nil {
				t.Fatalf("Push() error = %v", err)
			}
			if got := push.GetAcknowledgedCounter(); got != 1 {
				t.Fatalf("AcknowledgedCounter = %d, want 1", got)
			}
			pull, err := client.Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
			if err != nil {
				t.Fatalf("Pull() error = %v", err)
			}
			if got := len(pull.GetChanges()); got != 2 {
				t.Fatalf("Pull() returned %d changes, want 2", got)
			}
			for _, c := range pull.GetChanges() {
				if c.GetRecordId() != id || c.GetVersion().GetDeviceId() != "d1" || c.GetAuthorUserId() != "u1" {
					t.Errorf("change %v: want record %s by u1 on d1", c, id)
				}
			}
		})
	}
}
