package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// auditEvents returns the events of the running server's audit log whose
// action is action, in order, read through its store's audit chain.
func auditEvents(t *testing.T, m *Main, action string) []shiftsync.AuditEvent {
	t.Helper()
	ctx := context.Background()
	tip, _, err := m.srv.Store.Audit.AuditTip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var events []shiftsync.AuditEvent
	err = m.srv.Store.Audit.AuditEntries(ctx, 1, tip, func(e shiftsync.AuditEntry) error {
		if e.Event.Action == action {
			events = append(events, e.Event)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// TestShiftsyncd_SlowBodies runs the real binary with its open-file limit at
// 1,024 and opens 1,100 connections without a token, each trickling the
// body of a push a byte at a time. The server answers each from its
// headers and closes it, so /healthz and an enrolled device's Pull, each
// on a new connection, still answer within a second.
func TestShiftsyncd_SlowBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,100 connections to a real process")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is needed to hold the server to 1,024 files")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "shiftsyncd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "shiftsync.db")
	if err := run(context.Background(), []string{"migrate", "-db", db}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	adminRun(t, db, "create-organisation", "-id", "oak", "-name", "Oak Care")
	adminRun(t, db, "create-service", "-id", "oak-house", "-organisation", "oak", "-name", "Oak House")
	adminRun(t, db, "create-user", "-id", "ana", "-organisation", "oak", "-name", "Ana")
	adminRun(t, db, "add-membership", "-user", "ana", "-service", "oak-house", "-role", "support_worker", "-start", "2020-01-01T00:00:00Z")

	s := start(t, exec.Command(prlimit, "--nofile=1024:1024", bin, "serve", "-db", db, "-addr", "127.0.0.1:0"))
	defer s.kill(t)
	ctx := context.Background()
	code := strings.TrimSpace(adminRun(t, db, "issue-code", "-user", "ana"))
	enrolled, err := authv1connect.NewAuthServiceClient(http.DefaultClient, s.url).Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "Ana's phone"})
	if err != nil {
		t.Fatal(err)
	}

	// Each slow request declares a 1 MiB push and sends it a byte a second
	// until the server closes the connection.
	const slow = 1100
	addr := strings.TrimPrefix(s.url, "http://")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() { close(stop); wg.Wait() }()
	for i := range slow {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		fmt.Fprintf(conn, "POST /%s/Push HTTP/1.1\r\nHost: shiftsync\r\nContent-Type: application/proto\r\nContent-Length: %d\r\n\r\n\x0a", syncv1connect.SyncServiceName, 1<<20)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			go func() { _, _ = io.Copy(io.Discard, conn) }()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte{0}); err != nil {
						return
					}
				}
			}
		}()
		time.Sleep(2 * time.Millisecond) // an attacker's pace: 500 a second
	}

	// New connections each time, with a second to answer.
	fresh := func() *http.Client {
		return &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	res, err := fresh().Get(s.url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz with %d slow bodies open: %v", slow, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("GET /healthz = %d %q", res.StatusCode, body)
	}
	pull := syncv1connect.NewSyncServiceClient(fresh(), s.url, shiftsynctest.WithToken(enrolled.GetAccessToken()))
	if _, err := pull.Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); err != nil {
		t.Errorf("Pull() with %d slow bodies open: %v", slow, err)
	}
}

// TestMain_TrustedProxies runs serve with -trusted-proxies and refuses a
// garbage token from a trusted proxy (127.0.0.2) forwarding for
// 203.0.113.9, and one from an untrusted peer (127.0.0.3) forging
// X-Forwarded-For: the audit log names the client behind the proxy and the
// forger's own address. A malformed CIDR is refused at start.
func TestMain_TrustedProxies(t *testing.T) {
	if err := NewMain(io.Discard, io.Discard).ParseFlags([]string{"-trusted-proxies", "10.0.0.0/8,proxy"}); err == nil {
		t.Error("-trusted-proxies with a malformed CIDR accepted")
	}
	db := filepath.Join(t.TempDir(), "shiftsync.db")
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"-db", db, "-addr", "127.0.0.1:0", "-trusted-proxies", "10.0.0.0/8, 127.0.0.2/32"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, peer := range []string{"127.0.0.2", "127.0.0.3"} {
		client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(peer)}}).DialContext}}
		req, _ := http.NewRequest(http.MethodPost, m.URL()+"/"+syncv1connect.SyncServiceName+"/Pull", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer garbage-from-"+peer)
		req.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("garbage token from %s: %s, want 401", peer, res.Status)
		}
	}
	var sources []string
	for _, e := range auditEvents(t, m, shiftsync.AuditTokenRefused) {
		var detail struct{ Source string }
		if err := json.Unmarshal([]byte(e.Detail), &detail); err != nil {
			t.Fatalf("refusal detail %s: %v", e.Detail, err)
		}
		sources = append(sources, detail.Source)
	}
	if want := []string{"203.0.113.9", "127.0.0.3"}; !slices.Equal(sources, want) {
		t.Errorf("refusals audited from %q, want %q", sources, want)
	}
}

// TestMain_SecureCookieBehindAProxy: behind a reverse proxy that ends TLS
// the console's cookies are still Secure, when a trusted proxy says the
// browser spoke HTTPS (X-Forwarded-Proto); the same header from any other
// peer changes nothing.
func TestMain_SecureCookieBehindAProxy(t *testing.T) {
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"-db", filepath.Join(t.TempDir(), "shiftsync.db"), "-addr", "127.0.0.1:0", "-trusted-proxies", "127.0.0.2/32"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for peer, want := range map[string]bool{"127.0.0.2": true, "127.0.0.3": false} {
		client := &http.Client{
			Transport:     &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(peer)}}).DialContext},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		req, _ := http.NewRequest(http.MethodPost, m.URL()+"/console/sign-out", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		cookies := res.Cookies()
		if len(cookies) != 1 || cookies[0].Secure != want {
			t.Errorf("sign-out through %s saying https: cookies %v, want one with Secure %v", peer, cookies, want)
		}
	}
}
