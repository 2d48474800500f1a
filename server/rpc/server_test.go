package rpc_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// TestNewHandler_Discovery checks what grpcurl, buf curl and load balancers
// rely on: server reflection, gRPC health checking and GET /healthz.
func TestNewHandler_Discovery(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	h2 := shiftsynctest.HTTPClient()

	stream := grpcreflect.NewClient(h2, s.URL, connect.WithGRPC()).NewStream(context.Background())
	defer stream.Close()
	services, err := stream.ListServices()
	if err != nil {
		t.Fatalf("ListServices() error = %v", err)
	}
	if !slices.Contains(services, protoreflect.FullName(syncv1connect.SyncServiceName)) {
		t.Errorf("reflection lists %v, want %s", services, syncv1connect.SyncServiceName)
	}

	check, err := grpchealth.NewClient(h2, s.URL, connect.WithGRPC()).Check(context.Background(), &grpchealth.CheckRequest{Service: syncv1connect.SyncServiceName})
	if err != nil || check.Status != grpchealth.StatusServing {
		t.Errorf("health Check() = %+v, %v; want serving", check, err)
	}
	res, err := http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("GET /healthz = %d %q", res.StatusCode, body)
	}
}
