package contract_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// step is one exchange of a scenario.
type step struct {
	RPC      string          `json:"rpc"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
	Error    *struct {
		Code      string `json:"code"`
		ErrorInfo string `json:"errorInfo"`
	} `json:"error"`
}

const (
	cursorPlaceholder = "$cursor"
	anyCursor         = "$any"
)

// TestGoldenExchanges replays every scenario in testdata/ against a real
// server, over Connect with JSON and with binary protobuf.
func TestGoldenExchanges(t *testing.T) {
	scenarios, err := filepath.Glob("testdata/*")
	if err != nil || len(scenarios) == 0 {
		t.Fatalf("no scenarios in testdata/ (%v)", err)
	}
	codecs := map[string][]connect.ClientOption{
		"json":   {connect.WithProtoJSON()},
		"binary": nil,
	}
	for _, dir := range scenarios {
		for codec, opts := range codecs {
			t.Run(filepath.Base(dir)+"/"+codec, func(t *testing.T) {
				t.Parallel()
				s := shiftsynctest.NewServer(t)
				client := s.Client(s.AddDevice("worker-1", "phone-1", "house-a"), opts...)
				replay(t, client, dir)
			})
		}
	}
}

func replay(t *testing.T, client syncv1connect.SyncServiceClient, dir string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	cursor := ""
	for _, file := range files {
		name := filepath.Base(file)
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var st step
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		request := strings.ReplaceAll(string(st.Request), `"`+cursorPlaceholder+`"`, `"`+cursor+`"`)
		var got, want proto.Message
		var callErr error
		switch st.RPC {
		case "Push":
			req, res := &syncv1.PushRequest{}, &syncv1.PushResponse{}
			mustUnmarshal(t, name, request, req)
			want = res
			got, callErr = client.Push(context.Background(), req)
		case "Pull":
			req, res := &syncv1.PullRequest{}, &syncv1.PullResponse{}
			mustUnmarshal(t, name, request, req)
			want = res
			var pulled *syncv1.PullResponse
			pulled, callErr = client.Pull(context.Background(), req)
			got = pulled
			if callErr == nil {
				cursor = pulled.GetNextCursor()
			}
		default:
			t.Fatalf("%s: unknown rpc %q", name, st.RPC)
		}

		if st.Error != nil {
			checkError(t, name, callErr, st.Error.Code, st.Error.ErrorInfo)
			continue
		}
		if callErr != nil {
			t.Fatalf("%s: %s() error = %v", name, st.RPC, callErr)
		}
		mustUnmarshal(t, name, string(st.Response), want)
		if pull, ok := want.(*syncv1.PullResponse); ok && pull.GetNextCursor() == anyCursor {
			if got.(*syncv1.PullResponse).GetNextCursor() == "" {
				t.Errorf("%s: next_cursor is empty", name)
			}
			pull.NextCursor = got.(*syncv1.PullResponse).GetNextCursor()
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s: response mismatch (-golden +server):\n%s", name, diff)
		}
	}
}

func mustUnmarshal(t *testing.T, name, text string, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(text), m); err != nil {
		t.Fatalf("%s: %T: %v", name, m, err)
	}
}

func checkError(t *testing.T, name string, err error, code, info string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error = %v, want a Connect error %s", name, err, code)
	}
	if got := ce.Code().String(); got != code {
		t.Errorf("%s: code = %s, want %s", name, got, code)
	}
	if gotInfo := shiftsynctest.ErrorCode(err); gotInfo != info {
		t.Errorf("%s: ErrorInfo code = %q, want %q", name, gotInfo, info)
	}
}
