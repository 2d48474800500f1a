package rpc_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// fuzzServer is one real server for all the inputs of a fuzz target.
func fuzzServer(f *testing.F) (url, token string, post func(t *testing.T, path, contentType, auth string, body []byte) (int, string)) {
	s := shiftsynctest.NewServer(f)
	token = s.AddDevice("worker-1", "phone-1", "house-a")
	hc := &http.Client{Timeout: 10 * time.Second}
	post = func(t *testing.T, path, contentType, auth string, body []byte) (int, string) {
		req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("request failed: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	return s.URL, token, post
}

// seedRequests returns valid requests to start fuzzing from, in binary and
// JSON form.
func seedRequests(f *testing.F, msgs ...proto.Message) {
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		j, err := protojson.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(j, true)
	}
}

// checkAnswer fails on anything but a success or a clean client error:
// untrusted bytes must never crash the server or reach an internal error.
func checkAnswer(t *testing.T, status int, body string) {
	t.Helper()
	if status == http.StatusOK {
		return
	}
	if status >= 500 || !strings.Contains(body, `"code":"`) {
		t.Fatalf("status %d, body %q", status, body)
	}
}

func FuzzPushRequest(f *testing.F) {
	now := shiftsynctest.Epoch
	seedRequests(f,
		&syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
			shiftsynctest.Incident(1, "019c9d2e-7a00-7000-8000-000000000001", "house-a", "p1", now, "seed"),
		}},
		&syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{{
			Counter: 2, RecordId: "019c9d2e-7a00-7000-8000-000000000001", RecordType: "incident", ServiceId: "house-a", PersonId: "p1",
			Hlc: shiftsynctest.HLC(now, 1), Fields: []*syncv1.FieldEdit{
				shiftsynctest.Edit("setting_events", shiftsynctest.List("SETTING_EVENT_HUNGER"), &syncv1.Version{Hlc: shiftsynctest.HLC(now, 0), DeviceId: "phone-1"}),
				shiftsynctest.Set("intensity_self", shiftsynctest.Int(3)),
				shiftsynctest.Set("harm_to_person", shiftsynctest.Enum("HARM_LEVEL_LOW")),
			},
		}}},
	)
	_, token, post := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		contentType := "application/proto"
		if asJSON {
			contentType = "application/json"
		}
		status, answer := post(t, "/shiftsync.sync.v1.SyncService/Push", contentType, "Bearer "+token, body)
		checkAnswer(t, status, answer)
	})
}

func FuzzPullRequest(f *testing.F) {
	seedRequests(f,
		&syncv1.PullRequest{Client: shiftsynctest.ClientInfo()},
		&syncv1.PullRequest{Client: shiftsynctest.ClientInfo(), Cursor: "c1.MzBlYWE3ODEwZTRlMGM5MzRmNDUyNjI1ZmU4MTRhNjk6NA", PageSize: 3},
	)
	_, token, post := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		contentType := "application/proto"
		if asJSON {
			contentType = "application/json"
		}
		status, answer := post(t, "/shiftsync.sync.v1.SyncService/Pull", contentType, "Bearer "+token, body)
		checkAnswer(t, status, answer)
	})
}

// FuzzAuthorization sends arbitrary Authorization headers: only the real
// token may pass.
func FuzzAuthorization(f *testing.F) {
	_, token, post := fuzzServer(f)
	f.Add("Bearer " + token)
	f.Add("Bearer ")
	f.Add("bearer " + token)
	f.Add("Basic dXNlcjpwYXNz")
	f.Add("Bearer " + strings.Repeat("a.", 100))
	body, err := proto.Marshal(&syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		if strings.ContainsFunc(auth, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return // not a header value an HTTP client can send
		}
		status, answer := post(t, "/shiftsync.sync.v1.SyncService/Pull", "application/proto", auth, body)
		if auth == "Bearer "+token {
			if status != http.StatusOK {
				t.Fatalf("the real token was refused: %d %s", status, answer)
			}
			return
		}
		if status != http.StatusUnauthorized || !strings.Contains(answer, `"code":"unauthenticated"`) {
			t.Fatalf("Authorization %q: status %d %s, want 401 unauthenticated", auth, status, answer)
		}
	})
}
