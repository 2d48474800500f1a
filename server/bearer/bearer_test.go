package bearer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/bearer"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

func TestTokens(t *testing.T) {
	var tokens bearer.Tokens
	p := shiftsync.Principal{UserID: "worker-1", DeviceID: "phone-1", Services: []string{"house-a"}}
	token := bearer.NewToken()
	tokens.Add(token, p)
	got, err := tokens.Verify(context.Background(), token)
	want := p
	want.Kind = shiftsync.KindTool // a static token is a tool's, never a phone's
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("Verify() = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"", token[:len(token)-1], token + "x", bearer.NewToken()} {
		if _, err := tokens.Verify(context.Background(), bad); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
			t.Errorf("Verify(%q) = %v, want unauthenticated", bad, err)
		}
	}
	if a, b := bearer.NewToken(), bearer.NewToken(); a == b || len(a) != 43 {
		t.Errorf("NewToken() gave %q and %q", a, b)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tokens, err := bearer.Load(write("ok.json", `[{"token":"t1","user_id":"u1","device_id":"d1","services":["s1","s2"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := tokens.Verify(context.Background(), "t1"); err != nil || p.DeviceID != "d1" || len(p.Services) != 2 {
		t.Errorf("Verify(t1) = %+v, %v", p, err)
	}
	for name, body := range map[string]string{
		"bad.json":       `{"token":`,
		"no-device.json": `[{"token":"t1","user_id":"u1"}]`,
		"no-token.json":  `[{"user_id":"u1","device_id":"d1"}]`,
	} {
		if _, err := bearer.Load(write(name, body)); err == nil {
			t.Errorf("Load(%s) succeeded", name)
		}
	}
	if _, err := bearer.Load(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}
