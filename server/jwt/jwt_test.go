package jwt_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"sync"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/shiftsync/shiftsync/server/jwt"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// keyRing is an in-memory shiftsync.SigningKeyStore for these unit tests; the store's own
// key table is tested with the store.
type keyRing struct {
	mu      sync.Mutex
	active  shiftsync.SigningKey
	keys    map[string]ed25519.PublicKey
	retired map[string]bool
}

func newKeyRing(t testing.TB) *keyRing {
	r := &keyRing{keys: map[string]ed25519.PublicKey{}, retired: map[string]bool{}}
	r.rotate(t)
	return r
}

func (r *keyRing) rotate(t testing.TB) shiftsync.SigningKey {
	t.Helper()
	k, err := jwt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active = k
	r.keys[k.ID] = k.Private.Public().(ed25519.PublicKey)
	return k
}

func (r *keyRing) ActiveKey(context.Context) (shiftsync.SigningKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active, nil
}

func (r *keyRing) PublicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[kid]
	if !ok || r.retired[kid] {
		return nil, shiftsync.Errorf(shiftsync.CodeUnauthenticated, "unknown key")
	}
	return k, nil
}

// devices revokes the device ids in the set.
type devices map[string]bool

func (d devices) CheckDevice(_ context.Context, _, deviceID string) error {
	if d[deviceID] {
		return shiftsync.Errorf(shiftsync.CodeDeviceRevoked, "device revoked: wipe it")
	}
	return nil
}

var now = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

func newTokens(t testing.TB) (*jwt.Tokens, *keyRing, devices) {
	ring, revoked := newKeyRing(t), devices{}
	return jwt.New(jwt.Config{
		Issuer: "https://shiftsync.test", Audience: "shiftsync-sync",
		Keys: ring, Devices: revoked, Now: func() time.Time { return now },
	}), ring, revoked
}

// sign makes a token with arbitrary header and claims, signed by key with
// the given method (nil key: unsigned).
func sign(t *testing.T, m gojwt.SigningMethod, header map[string]any, c gojwt.MapClaims, key any) string {
	t.Helper()
	tok := gojwt.NewWithClaims(m, c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func goodClaims() gojwt.MapClaims {
	return gojwt.MapClaims{
		"iss": "https://shiftsync.test", "aud": "shiftsync-sync", "sub": "u1", "did": "d1",
		"exp": now.Add(time.Minute).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
	}
}

func with(c gojwt.MapClaims, key string, v any) gojwt.MapClaims {
	out := gojwt.MapClaims{}
	for k, x := range c {
		out[k] = x
	}
	if v == nil {
		delete(out, key)
	} else {
		out[key] = v
	}
	return out
}

func TestTokens_IssueVerify(t *testing.T) {
	tokens, ring, _ := newTokens(t)
	ctx := context.Background()
	tok, exp, err := tokens.Issue(ctx, "u1", "d1")
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(jwt.DefaultAccessTTL); !exp.Equal(want) {
		t.Errorf("expires = %v, want %v", exp, want)
	}
	p, err := tokens.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("Verify() error = %v", err)
	}
	if p.UserID != "u1" || p.DeviceID != "d1" {
		t.Errorf("Verify() = %+v, want u1 on d1", p)
	}

	t.Run("key rotation keeps old tokens valid", func(t *testing.T) {
		ring.rotate(t)
		if _, err := tokens.Verify(ctx, tok); err != nil {
			t.Fatalf("token signed by the previous key: %v", err)
		}
		fresh, _, err := tokens.Issue(ctx, "u1", "d1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.Verify(ctx, fresh); err != nil {
			t.Fatalf("token signed by the new key: %v", err)
		}
	})
}

func TestTokens_VerifyRefuses(t *testing.T) {
	tokens, ring, revoked := newTokens(t)
	ctx := context.Background()
	active, _ := ring.ActiveKey(ctx)
	good := map[string]any{"kid": active.ID, "typ": "at+jwt"}
	other, err := jwt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := []byte(active.Private.Public().(ed25519.PublicKey))
	retired := ring.rotate(t)
	ring.retired[retired.ID] = true
	revoked["d-lost"] = true

	tests := []struct {
		name  string
		token string
		want  shiftsync.Code
	}{
		{"empty", "", shiftsync.CodeUnauthenticated},
		{"not a jwt", "hello", shiftsync.CodeUnauthenticated},
		{"a megabyte of dots", strings.Repeat(".", 1<<20), shiftsync.CodeUnauthenticated},
		{"invalid base64 in three parts", "a$b.c$d.e$f", shiftsync.CodeUnauthenticated},
		{"forged: signed by another key under the right kid", sign(t, gojwt.SigningMethodEdDSA, good, goodClaims(), other.Private), shiftsync.CodeUnauthenticated},
		{"expired", sign(t, gojwt.SigningMethodEdDSA, good, with(goodClaims(), "exp", now.Add(-time.Minute).Unix()), active.Private), shiftsync.CodeTokenExpired},
		{"expired and forged", sign(t, gojwt.SigningMethodEdDSA, good, with(goodClaims(), "exp", now.Add(-time.Minute).Unix()), other.Private), shiftsync.CodeUnauthenticated},
		{"expired, wrong audience", sign(t, gojwt.SigningMethodEdDSA, good, with(with(goodClaims(), "exp", now.Add(-time.Minute).Unix()), "aud", "billing"), active.Private), shiftsync.CodeUnauthenticated},
		{"expired, wrong issuer", sign(t, gojwt.SigningMethodEdDSA, good, with(with(goodClaims(), "exp", now.Add(-time.Minute).Unix()), "iss", "https://evil.test"), active.Private), shiftsync.CodeUnauthenticated},
		{"no expiry", sign(t, gojwt.SigningMethodEdDSA, good, with(goodClaims(), "exp", nil), active.Private), shiftsync.CodeUnauthenticated},
		{"not yet valid", sign(t, gojwt.SigningMethodEdDSA, good, with(goodClaims(), "nbf", now.Add(time.Hour).Unix()), active.Private), shiftsync.CodeUnauthenticated},
		{"no not-before", sign(t, gojwt.SigningMethodEdDSA, good, with(goodClaims(), "nbf", nil), active.Private), shiftsync.CodeUnauthenticated},
		{"wrong audience", sign(t, gojwt.SigningMethodEdDSA, good, with(goodClaims(), "aud", "billing"), active.Private), shiftsync.CodeUnauthenticated},
		{"wrong issuer", sign(t, gojwt.SigningMethodEdDSA, good, with(goodClaims(), "iss", "https://evil.test"), active.Private), shiftsync.CodeUnauthenticated},
		{"no device", sign(t, gojwt.SigningMethodEdDSA, good, with(goodClaims(), "did", nil), active.Private), shiftsync.CodeUnauthenticated},
		{"not an access token", sign(t, gojwt.SigningMethodEdDSA, map[string]any{"kid": active.ID, "typ": "refresh+jwt"}, goodClaims(), active.Private), shiftsync.CodeUnauthenticated},
		{"alg none", sign(t, gojwt.SigningMethodNone, good, goodClaims(), gojwt.UnsafeAllowNoneSignatureType), shiftsync.CodeUnauthenticated},
		{"HS256 keyed with the public key", sign(t, gojwt.SigningMethodHS256, good, goodClaims(), pub), shiftsync.CodeUnauthenticated},
		{"unknown kid", sign(t, gojwt.SigningMethodEdDSA, map[string]any{"kid": "nope", "typ": "at+jwt"}, goodClaims(), active.Private), shiftsync.CodeUnauthenticated},
		{"retired kid", sign(t, gojwt.SigningMethodEdDSA, map[string]any{"kid": retired.ID, "typ": "at+jwt"}, goodClaims(), retired.Private), shiftsync.CodeUnauthenticated},
		{"revoked device", sign(t, gojwt.SigningMethodEdDSA, good, with(goodClaims(), "did", "d-lost"), active.Private), shiftsync.CodeDeviceRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tokens.Verify(ctx, tt.token)
			if got := shiftsync.ErrorCode(err); got != tt.want {
				t.Errorf("Verify() code = %q (err %v), want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	tokens, _, _ := newTokens(f)
	ctx := context.Background()
	tok, _, err := tokens.Issue(ctx, "u1", "d1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, token string) {
		p, err := tokens.Verify(ctx, token)
		if err == nil && token != tok {
			// Only the issued token (or an equivalent re-encoding of it) may pass.
			if p.UserID != "u1" || p.DeviceID != "d1" {
				t.Fatalf("Verify(%q) accepted %+v", token, p)
			}
		}
		if err != nil && shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
			t.Fatalf("Verify(%q) code = %v", token, shiftsync.ErrorCode(err))
		}
	})
}
