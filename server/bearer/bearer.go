// Package bearer verifies static bearer tokens: a table of opaque tokens,
// each standing for a user on a device with the services it may use. It is
// the minimal [shiftsync.TokenVerifier] for development and tests, until
// devices enrol and receive signed tokens.
package bearer

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var _ shiftsync.TokenVerifier = (*Tokens)(nil)

// Tokens is a table of bearer tokens. Only their SHA-256 hashes are held, so
// a lookup takes the same time whatever prefix of a token an attacker knows.
// The zero Tokens is empty and ready; it is safe for concurrent use.
type Tokens struct {
	// Next, if set, verifies the tokens that are not in the table: the
	// signed access tokens of enrolled devices.
	Next shiftsync.TokenVerifier

	mu     sync.RWMutex
	byHash map[[sha256.Size]byte]shiftsync.Principal
}

// Add makes token stand for p. A static token is a tool's, never a
// phone's: p's Kind is [shiftsync.KindTool] unless it says otherwise.
func (t *Tokens) Add(token string, p shiftsync.Principal) {
	p.Kind = cmp.Or(p.Kind, shiftsync.KindTool)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byHash == nil {
		t.byHash = make(map[[sha256.Size]byte]shiftsync.Principal)
	}
	t.byHash[sha256.Sum256([]byte(token))] = p
}

// Verify implements [shiftsync.TokenVerifier].
func (t *Tokens) Verify(ctx context.Context, token string) (shiftsync.Principal, error) {
	t.mu.RLock()
	p, ok := t.byHash[sha256.Sum256([]byte(token))]
	t.mu.RUnlock()
	switch {
	case ok:
		return p, nil
	case t.Next != nil:
		return t.Next.Verify(ctx, token)
	}
	return shiftsync.Principal{}, shiftsync.Errorf(shiftsync.CodeUnauthenticated, "unknown or revoked token")
}

// entry is one token in a tokens file.
type entry struct {
	Token    string   `json:"token"`
	UserID   string   `json:"user_id"`
	DeviceID string   `json:"device_id"`
	Services []string `json:"services"`
}

// Load reads a JSON tokens file: an array of
// {"token", "user_id", "device_id", "services"} objects.
func Load(path string) (*Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bearer: %w", err)
	}
	var entries []entry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("bearer: %s: %w", path, err)
	}
	t := &Tokens{}
	for i, e := range entries {
		if e.Token == "" || e.UserID == "" || e.DeviceID == "" {
			return nil, fmt.Errorf("bearer: %s: entry %d needs token, user_id and device_id", path, i)
		}
		t.Add(e.Token, shiftsync.Principal{UserID: e.UserID, DeviceID: e.DeviceID, Services: e.Services})
	}
	return t, nil
}

// NewToken returns a random token: 32 bytes, base64url.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}
