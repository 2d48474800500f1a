package rpc_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
)

// authClientFrom returns an AuthService client whose connections leave
// from the loopback address ip (Linux routes all of 127/8 to lo), so the
// server sees each as a different source.
func authClientFrom(s *shiftsynctest.Server, ip string) authv1connect.AuthServiceClient {
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return authv1connect.NewAuthServiceClient(&http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}, s.URL)
}

// TestAuthService_EnrolThrottlesPerSource: 200 failed enrolments from one
// source address throttle that source, even with a valid code, while a
// valid code from another source still enrols; the refusals are audited
// with the source, and no more of them than the limit.
func TestAuthService_EnrolThrottlesPerSource(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	operator := shiftsync.Principal{UserID: "operator"}
	if err := s.Identity.CreateOrganisation(ctx, operator, "org-1", "Oak Care"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ana", "ben"} {
		if err := s.Identity.CreateUser(ctx, operator, u, "org-1", u, ""); err != nil {
			t.Fatal(err)
		}
	}
	issue := func(user string) string {
		t.Helper()
		code, _, err := s.Identity.IssueEnrolmentCode(ctx, operator, user)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	guesser, other := authClientFrom(s, "127.0.0.2"), authClientFrom(s, "127.0.0.3")

	for i := range 200 {
		_, err := guesser.Enrol(ctx, &authv1.EnrolRequest{Code: shiftsync.NewEnrolmentCode(), DeviceLabel: "guess"})
		want := shiftsync.CodeUnauthenticated
		if i >= shiftsync.MaxEnrolmentFailuresPerSource {
			want = shiftsync.CodeResourceExhausted
		}
		if got := shiftsynctest.ErrorCode(err); got != string(want) {
			t.Fatalf("guess %d: ErrorInfo code %q (%v), want %q", i+1, got, err, want)
		}
	}

	res, err := other.Enrol(ctx, &authv1.EnrolRequest{Code: issue("ana"), DeviceLabel: "Ana's phone"})
	if err != nil || res.GetUserId() != "ana" {
		t.Fatalf("Enrol from another source after 200 failures = %v, %v; want ana enrolled", res, err)
	}
	_, err = guesser.Enrol(ctx, &authv1.EnrolRequest{Code: issue("ben"), DeviceLabel: "Ben's phone"})
	if connect.CodeOf(err) != connect.CodeResourceExhausted || shiftsynctest.ErrorCode(err) != string(shiftsync.CodeResourceExhausted) {
		t.Errorf("Enrol with a valid code from the throttled source = %v, want resource_exhausted with ErrorInfo", err)
	}
	if n := s.AuditCount(t, shiftsync.AuditEnrolRefused); n != shiftsync.MaxEnrolmentFailuresPerSource {
		t.Errorf("%d refusals audited, want %d: each counted failure, none of the throttled attempts", n, shiftsync.MaxEnrolmentFailuresPerSource)
	}
	var sources []string
	for _, e := range s.AuditEvents(t, shiftsync.AuditEnrolRefused) {
		var detail struct{ Source string }
		if err := json.Unmarshal([]byte(e.Detail), &detail); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(sources, detail.Source) {
			sources = append(sources, detail.Source)
		}
	}
	if len(sources) != 1 || sources[0] != "127.0.0.2" {
		t.Errorf("refusals audited with sources %q, want [127.0.0.2]", sources)
	}

	// Once the failures leave the window, the source may try again.
	s.Clock.Advance(shiftsync.EnrolmentFailureWindow + time.Second)
	if _, err := guesser.Enrol(ctx, &authv1.EnrolRequest{Code: issue("ben"), DeviceLabel: "Ben's phone"}); err != nil {
		t.Errorf("Enrol from the source after the window = %v, want enrolled", err)
	}
}
