package rpc_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shiftsync/shiftsync/server/rpc"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// rpcCase is one request through a real client and the error it must get.
type rpcCase struct {
	name     string
	token    string // "" for none; "valid" for the device's token
	push     *syncv1.PushRequest
	pull     *syncv1.PullRequest
	wantCode connect.Code
	wantInfo string // ErrorInfo code
}

func TestSyncHandler_Errors(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	valid := s.AddDevice("worker-1", "phone-1", "house-a")
	info := shiftsynctest.ClientInfo()
	now := s.Clock.Now()
	huge := shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", now, strings.Repeat("x", rpc.DefaultMaxRequestBytes))
	var many []*syncv1.Mutation
	for i := range 1001 {
		many = append(many, shiftsynctest.Incident(uint64(i+1), shiftsynctest.RecordID(t), "house-a", "p1", now, "x"))
	}
	m := shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", now, "x")
	otherStore := func() string {
		other := shiftsynctest.NewServer(t)
		c := other.Client(other.AddDevice("u", "d", "house-a"))
		res, err := c.Pull(context.Background(), &syncv1.PullRequest{Client: info})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetNextCursor()
	}()

	tests := []rpcCase{
		{name: "no token", pull: &syncv1.PullRequest{Client: info}, wantCode: connect.CodeUnauthenticated, wantInfo: "unauthenticated"},
		{name: "unknown token", token: "not-a-token", pull: &syncv1.PullRequest{Client: info}, wantCode: connect.CodeUnauthenticated, wantInfo: "unauthenticated"},
		{name: "a token of dots", token: strings.Repeat(".", 4<<10), pull: &syncv1.PullRequest{Client: info}, wantCode: connect.CodeUnauthenticated, wantInfo: "unauthenticated"},
		{name: "a token over the length limit", token: strings.Repeat("a", 9<<10), pull: &syncv1.PullRequest{Client: info}, wantCode: connect.CodeUnauthenticated, wantInfo: "unauthenticated"},
		{name: "over the size limit", token: "valid", push: &syncv1.PushRequest{Client: info, Mutations: []*syncv1.Mutation{huge}}, wantCode: connect.CodeResourceExhausted},
		{name: "more than 1000 mutations", token: "valid", push: &syncv1.PushRequest{Client: info, Mutations: many}, wantCode: connect.CodeResourceExhausted, wantInfo: "resource_exhausted"},
		{name: "counters not increasing", token: "valid", push: &syncv1.PushRequest{Client: info, Mutations: []*syncv1.Mutation{m, m}}, wantCode: connect.CodeInvalidArgument, wantInfo: "invalid"},
		{name: "no client info", token: "valid", pull: &syncv1.PullRequest{}, wantCode: connect.CodeFailedPrecondition, wantInfo: "unsupported_version"},
		{name: "unsupported protocol", token: "valid", push: &syncv1.PushRequest{Client: &syncv1.ClientInfo{ProtocolVersion: 9, SchemaVersion: 1}}, wantCode: connect.CodeFailedPrecondition, wantInfo: "unsupported_version"},
		{name: "bad cursor", token: "valid", pull: &syncv1.PullRequest{Client: info, Cursor: "c1.???"}, wantCode: connect.CodeInvalidArgument, wantInfo: "invalid"},
		{name: "cursor of another store", token: "valid", pull: &syncv1.PullRequest{Client: info, Cursor: otherStore}, wantCode: connect.CodeFailedPrecondition, wantInfo: "resync_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			if token == "valid" {
				token = valid
			}
			for _, proto := range []struct {
				name string
				opts []connect.ClientOption
			}{{"connect", nil}, {"grpc", []connect.ClientOption{connect.WithGRPC()}}} {
				client := s.Client(token, proto.opts...)
				var err error
				if tt.push != nil {
					_, err = client.Push(context.Background(), tt.push)
				} else {
					_, err = client.Pull(context.Background(), tt.pull)
				}
				checkError(t, proto.name, err, tt.wantCode, tt.wantInfo)
			}
		})
	}
}

func checkError(t *testing.T, label string, err error, code connect.Code, info string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error = %v, want a Connect error", label, err)
	}
	if ce.Code() != code {
		t.Errorf("%s: code = %v (%v), want %v", label, ce.Code(), ce.Message(), code)
	}
	if info == "" {
		return
	}
	if got := shiftsynctest.ErrorCode(err); got != info {
		t.Errorf("%s: ErrorInfo code = %q, want %q", label, got, info)
	}
}

// TestSyncHandler_MalformedBodies posts bodies no client would send, with
// plain HTTP, and expects clean Connect errors, not a crash or a 500.
func TestSyncHandler_MalformedBodies(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	token := s.AddDevice("worker-1", "phone-1", "house-a")
	valid, err := proto.Marshal(&syncv1.PushRequest{Client: shiftsynctest.ClientInfo()})
	if err != nil {
		t.Fatal(err)
	}
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zeros := make([]byte, 1<<20)
	for range (rpc.DefaultMaxRequestBytes >> 20) + 2 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()

	tests := []struct {
		name        string
		contentType string
		encoding    string
		body        []byte
		wantStatus  int
		wantCode    string
	}{
		{"truncated protobuf", "application/proto", "", valid[:len(valid)-1], http.StatusBadRequest, "invalid_argument"},
		{"garbage protobuf", "application/proto", "", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, http.StatusBadRequest, "invalid_argument"},
		{"malformed JSON", "application/json", "", []byte(`{"client": {`), http.StatusBadRequest, "invalid_argument"},
		{"duplicate JSON keys", "application/json", "", []byte(`{"client":{"protocolVersion":1},"client":{"protocolVersion":1}}`), http.StatusBadRequest, "invalid_argument"},
		{"wrong JSON type", "application/json", "", []byte(`{"mutations":"all of them"}`), http.StatusBadRequest, "invalid_argument"},
		{"gzip bomb", "application/proto", "gzip", bomb.Bytes(), http.StatusTooManyRequests, "resource_exhausted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, s.URL+"/shiftsync.sync.v1.SyncService/Push", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Authorization", "Bearer "+token)
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			hc := &http.Client{Timeout: 10 * time.Second}
			res, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.wantStatus || !strings.Contains(string(body), `"code":"`+tt.wantCode+`"`) {
				t.Errorf("status %d body %s, want %d with code %s", res.StatusCode, body, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

// TestSyncHandler_Restamp checks that a clock far ahead is answered per
// mutation with the re-stamp status and the server's time.
func TestSyncHandler_Restamp(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	client := s.Client(s.AddDevice("worker-1", "phone-1", "house-a"))
	m := shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now().Add(time.Hour), "ahead")
	res, err := client.Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}})
	if err != nil {
		t.Fatal(err)
	}
	r := res.GetResults()[0]
	if r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_RESTAMP_REQUIRED || r.GetReasonCode() != "clock_ahead" || r.GetReason() == "" {
		t.Errorf("result %v, want RESTAMP_REQUIRED clock_ahead with a reason", r)
	}
	if res.GetServerTimeMs() != s.Clock.Now().UnixMilli() || res.GetAcknowledgedCounter() != 0 {
		t.Errorf("server_time_ms = %d, acknowledged = %d; want %d, 0", res.GetServerTimeMs(), res.GetAcknowledgedCounter(), s.Clock.Now().UnixMilli())
	}
}
