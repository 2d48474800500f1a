// Package jwt issues and verifies shiftsync's short-lived access tokens with
// golang-jwt/jwt/v5. Tokens are signed with Ed25519 ("EdDSA", the only
// algorithm accepted), name their key with `kid` so keys rotate without
// logging anyone out, carry type "at+jwt", and bind one user to one device.
// Issuer, audience, expiry and not-before are required and checked on every
// request. No jwt types leak out of this package.
package jwt

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Defaults for Config.
const (
	DefaultAccessTTL = 5 * time.Minute
	DefaultLeeway    = 30 * time.Second
	tokenType        = "at+jwt"
	method           = "EdDSA"
)

// NewKey returns a new random signing key.
func NewKey() (shiftsync.SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return shiftsync.SigningKey{}, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return shiftsync.SigningKey{}, err
	}
	return shiftsync.SigningKey{ID: hex.EncodeToString(id), Private: priv}, nil
}

// DeviceChecker says whether a device may still use its tokens. It is
// consulted on every request, so a revocation takes effect on the next one.
// [shiftsync.IdentityService] is one.
type DeviceChecker interface {
	// CheckDevice returns nil if deviceID is enrolled to userID and not
	// revoked, CodeDeviceRevoked if it was revoked, or CodeUnauthenticated.
	CheckDevice(ctx context.Context, userID, deviceID string) error
}

// Config configures Tokens.
type Config struct {
	Issuer   string // required
	Audience string // required
	Keys     shiftsync.KeyStore
	Devices  DeviceChecker
	// AccessTTL is how long an access token lives; defaults to 5 minutes.
	AccessTTL time.Duration
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// claims are the access token's claims: sub is the user, did the device.
type claims struct {
	gojwt.RegisteredClaims
	DeviceID string `json:"did"`
}

var (
	_ shiftsync.TokenVerifier = (*Tokens)(nil)
	_ shiftsync.TokenIssuer   = (*Tokens)(nil)
)

// Tokens issues and verifies access tokens. It is safe for concurrent use.
type Tokens struct {
	cfg    Config
	parser *gojwt.Parser
}

// New returns Tokens for cfg.
func New(cfg Config) *Tokens {
	cfg.AccessTTL = cmp.Or(cfg.AccessTTL, DefaultAccessTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tokens{cfg: cfg, parser: gojwt.NewParser(
		gojwt.WithValidMethods([]string{method}),
		gojwt.WithIssuer(cfg.Issuer),
		gojwt.WithAudience(cfg.Audience),
		gojwt.WithExpirationRequired(),
		gojwt.WithNotBeforeRequired(),
		gojwt.WithIssuedAt(),
		gojwt.WithLeeway(DefaultLeeway),
		gojwt.WithTimeFunc(cfg.Now),
		gojwt.WithStrictDecoding(),
	)}
}

// Issue implements [shiftsync.TokenIssuer].
func (t *Tokens) Issue(ctx context.Context, userID, deviceID string) (string, time.Time, error) {
	key, err := t.cfg.Keys.ActiveKey(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	now := t.cfg.Now().UTC().Truncate(time.Second)
	exp := now.Add(t.cfg.AccessTTL)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, err
	}
	tok := gojwt.NewWithClaims(gojwt.SigningMethodEdDSA, claims{
		RegisteredClaims: gojwt.RegisteredClaims{
			Issuer:    t.cfg.Issuer,
			Subject:   userID,
			Audience:  gojwt.ClaimStrings{t.cfg.Audience},
			ExpiresAt: gojwt.NewNumericDate(exp),
			NotBefore: gojwt.NewNumericDate(now),
			IssuedAt:  gojwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti),
		},
		DeviceID: deviceID,
	})
	tok.Header["kid"] = key.ID
	tok.Header["typ"] = tokenType
	signed, err := tok.SignedString(key.Private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("jwt: sign: %w", err)
	}
	return signed, exp, nil
}

// Verify implements [shiftsync.TokenVerifier]. Any failure is
// CodeUnauthenticated with a reason safe to show, except a token whose
// signature, issuer and audience check but whose expiry (plus the leeway)
// has passed, which is CodeTokenExpired, and a revoked device, which is
// CodeDeviceRevoked.
func (t *Tokens) Verify(ctx context.Context, token string) (shiftsync.Principal, error) {
	var c claims
	_, err := t.parser.ParseWithClaims(token, &c, func(tok *gojwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != tokenType {
			return nil, errors.New("not an access token")
		}
		kid, _ := tok.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no key id")
		}
		return t.cfg.Keys.PublicKey(ctx, kid)
	})
	if onlyExpired(err) {
		return shiftsync.Principal{}, &shiftsync.Error{Code: shiftsync.CodeTokenExpired, Message: "access token expired; get a new one with the device credential", Err: err}
	}
	if err != nil {
		return shiftsync.Principal{}, &shiftsync.Error{Code: shiftsync.CodeUnauthenticated, Message: "invalid access token", Err: err}
	}
	if c.Subject == "" || c.DeviceID == "" {
		return shiftsync.Principal{}, shiftsync.Errorf(shiftsync.CodeUnauthenticated, "invalid access token")
	}
	if err := t.cfg.Devices.CheckDevice(ctx, c.Subject, c.DeviceID); err != nil {
		return shiftsync.Principal{}, err
	}
	return shiftsync.Principal{UserID: c.Subject, DeviceID: c.DeviceID, Kind: shiftsync.KindPhone}, nil
}

// onlyExpired says whether err says that a token is expired and nothing
// else: its signature verified (the parser checks it before the claims)
// and every other claim held. Any other fault makes a token invalid, not
// expired, so "token_expired" never vouches for a forged token.
func onlyExpired(err error) bool {
	if !errors.Is(err, gojwt.ErrTokenExpired) {
		return false
	}
	for _, other := range []error{
		gojwt.ErrTokenMalformed, gojwt.ErrTokenUnverifiable, gojwt.ErrTokenSignatureInvalid,
		gojwt.ErrTokenRequiredClaimMissing, gojwt.ErrTokenInvalidAudience, gojwt.ErrTokenUsedBeforeIssued,
		gojwt.ErrTokenInvalidIssuer, gojwt.ErrTokenInvalidSubject, gojwt.ErrTokenNotValidYet,
		gojwt.ErrTokenInvalidId,
	} {
		if errors.Is(err, other) {
			return false
		}
	}
	return true
}
