package rpc_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/shiftsync/shiftsync/server/jwt"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestSyncService_RefusesBadTokens sends every kind of bad access token to
// the running server: each is refused with Unauthenticated before it
// reaches a handler, and the refusals are in the audit log in aggregate:
// the first of the minute at once, then the minute's count by code.
func TestSyncService_RefusesBadTokens(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	dev := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	lost := s.EnrolDevice(t, "ben", shiftsync.RoleSupportWorker, "house-a")
	if _, err := s.Identity.RevokeDevice(ctx, shiftsync.Principal{UserID: "manager"}, lost.DeviceID, "phone lost"); err != nil {
		t.Fatal(err)
	}
	active, err := s.Identity.ActiveKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := jwt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	now := s.Clock.Now()
	claims := func(edits ...any) gojwt.MapClaims {
		c := gojwt.MapClaims{
			"iss": shiftsynctest.TokenIssuer, "aud": shiftsynctest.TokenAudience, "sub": dev.UserID, "did": dev.DeviceID,
			"exp": now.Add(time.Minute).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
		}
		for i := 0; i < len(edits); i += 2 {
			c[edits[i].(string)] = edits[i+1]
		}
		return c
	}
	header := map[string]any{"kid": active.ID, "typ": "at+jwt"}
	sign := func(m gojwt.SigningMethod, header map[string]any, c gojwt.MapClaims, key any) string {
		tok := gojwt.NewWithClaims(m, c)
		for k, v := range header {
			tok.Header[k] = v
		}
		signed, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	if _, err := s.Client(sign(gojwt.SigningMethodEdDSA, header, claims(), active.Private)).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); err != nil {
		t.Fatalf("control: a well-formed token is refused: %v", err)
	}

	tests := []struct {
		name, token, code string
	}{
		{"no token", "", "unauthenticated"},
		{"forged: signed by another key under the right kid", sign(gojwt.SigningMethodEdDSA, header, claims(), other.Private), "unauthenticated"},
		{"expired", sign(gojwt.SigningMethodEdDSA, header, claims("exp", now.Add(-time.Minute).Unix()), active.Private), "token_expired"},
		{"expired and forged", sign(gojwt.SigningMethodEdDSA, header, claims("exp", now.Add(-time.Minute).Unix()), other.Private), "unauthenticated"},
		{"not yet valid", sign(gojwt.SigningMethodEdDSA, header, claims("nbf", now.Add(time.Hour).Unix()), active.Private), "unauthenticated"},
		{"wrong audience", sign(gojwt.SigningMethodEdDSA, header, claims("aud", "billing"), active.Private), "unauthenticated"},
		{"wrong issuer", sign(gojwt.SigningMethodEdDSA, header, claims("iss", "https://evil.test"), active.Private), "unauthenticated"},
		{"alg none", sign(gojwt.SigningMethodNone, header, claims(), gojwt.UnsafeAllowNoneSignatureType), "unauthenticated"},
		{"HS256 keyed with the public key", sign(gojwt.SigningMethodHS256, header, claims(), []byte(active.Private.Public().(ed25519.PublicKey))), "unauthenticated"},
		{"unknown kid", sign(gojwt.SigningMethodEdDSA, map[string]any{"kid": other.ID, "typ": "at+jwt"}, claims(), other.Private), "unauthenticated"},
		{"another user's device", sign(gojwt.SigningMethodEdDSA, header, claims("did", lost.DeviceID), active.Private), "unauthenticated"},
		{"revoked device", lost.Token, "device_revoked"},
		{"garbage", strings.Repeat("x.", 4000), "unauthenticated"},
	}
	codes := map[string]int{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Client(tt.token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodeUnauthenticated {
				t.Fatalf("Pull() error = %v, want Unauthenticated", err)
			}
			if got := shiftsynctest.ErrorCode(err); got != tt.code {
				t.Errorf("ErrorInfo code = %q, want %q", got, tt.code)
			}
		})
		codes[tt.code]++
	}
	entries := s.AuditEvents(t, shiftsync.AuditTokenRefused)
	if len(entries) != 1 || entries[0].Subject != "" || entries[0].Detail != `{"code":"unauthenticated","source":"127.0.0.1"}` {
		t.Fatalf("audit entries during the minute = %+v, want only the first refusal (no token, from 127.0.0.1)", entries)
	}
	// The first refusal of the next minute writes the count of this one.
	s.Clock.Advance(time.Minute)
	if _, err := s.Client("garbage").Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("Pull() error = %v, want Unauthenticated", err)
	}
	entries = s.AuditEvents(t, shiftsync.AuditTokenRefused)
	if len(entries) != 3 {
		t.Fatalf("audit entries after the minute = %+v, want the first refusal, the count and the next minute's first", entries)
	}
	var count struct {
		Sources  map[string]int
		From, To time.Time
		Refused  int
		Codes    map[string]int
	}
	if err := json.Unmarshal([]byte(entries[1].Detail), &count); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(count.Sources, map[string]int{"127.0.0.1": len(tests)}) || entries[1].Subject != "summary" || !count.From.Equal(shiftsynctest.Epoch) || !count.To.Equal(shiftsynctest.Epoch.Add(time.Minute)) ||
		count.Refused != len(tests) || !maps.Equal(count.Codes, codes) {
		t.Errorf("count entry %s, want %d refusals from 127.0.0.1 in the first minute, by code %v", entries[1].Detail, len(tests), codes)
	}
	if want := sha256Fingerprint("garbage"); entries[2].Subject != want {
		t.Errorf("next minute's first refusal names %q, want the token's fingerprint %q", entries[2].Subject, want)
	}
	if n, err := s.Store.Audit.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain after %d entries: %v", n, err)
	}
}

// sha256Fingerprint is how the audit log names a refused token.
func sha256Fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// TestEdge_RefusalFlood sends 500 garbage tokens from one source: the
// audit log gets one entry at once and one count when the server stops,
// not 500.
func TestEdge_RefusalFlood(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	for i := range 500 {
		_, err := s.Client(fmt.Sprintf("garbage-%d", i)).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
		if shiftsynctest.ErrorCode(err) != string(shiftsync.CodeUnauthenticated) {
			t.Fatalf("garbage token %d: %v, want unauthenticated", i, err)
		}
	}
	if n := s.AuditCount(t, shiftsync.AuditTokenRefused); n != 1 {
		t.Errorf("%d audit entries for 500 refusals in a minute, want 1", n)
	}
	s.Stop() // writes the minute's count
	entries := s.AuditEvents(t, shiftsync.AuditTokenRefused)
	if len(entries) != 2 || !strings.Contains(entries[1].Detail, `"refused":500`) {
		t.Errorf("%d audit entries after the server stopped, want 2: the first refusal and a count of 500", len(entries))
	}
}

// TestSyncService_AuthorshipFromToken checks that authorship comes from the
// token: a mutation on the wire has no author or device field to claim, and
// the stored versions name the token's user and device.
func TestSyncService_AuthorshipFromToken(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	ana := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	s.EnrolDevice(t, "ben", shiftsync.RoleSupportWorker, "house-a")
	id := shiftsynctest.RecordID(t)
	m := shiftsynctest.Incident(1, id, "house-a", "p1", s.Clock.Now(), "written on Ana's phone")
	if _, err := s.Client(ana.Token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Client(ana.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetChanges()) == 0 {
		t.Fatal("nothing pulled")
	}
	for _, c := range res.GetChanges() {
		if c.GetAuthorUserId() != "ana" || c.GetVersion().GetDeviceId() != ana.DeviceID {
			t.Errorf("field %s: author %q on device %q, want ana on %q", c.GetField(), c.GetAuthorUserId(), c.GetVersion().GetDeviceId(), ana.DeviceID)
		}
	}
}
