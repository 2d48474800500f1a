package rpc_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/protobuf/proto"

	"github.com/shiftsync/shiftsync/server/rpc"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// protocols are the ways a device may call, each over HTTP/2 and the
// Connect ones over HTTP/1.1 too.
var protocols = []struct {
	name   string
	http11 bool
	opts   []connect.ClientOption
}{
	{"connect binary", false, nil},
	{"connect JSON", false, []connect.ClientOption{connect.WithProtoJSON()}},
	{"connect binary over HTTP/1.1", true, nil},
	{"connect JSON over HTTP/1.1", true, []connect.ClientOption{connect.WithProtoJSON()}},
	{"gRPC", false, []connect.ClientOption{connect.WithGRPC()}},
	{"gRPC-Web", false, []connect.ClientOption{connect.WithGRPCWeb()}},
}

// client returns a SyncService client speaking the protocol.
func client(s *shiftsynctest.Server, token string, http11 bool, opts ...connect.ClientOption) syncv1connect.SyncServiceClient {
	if http11 {
		return syncv1connect.NewSyncServiceClient(http.DefaultClient, s.URL, append(opts, shiftsynctest.WithToken(token))...)
	}
	return s.Client(token, opts...)
}

// TestEdge_TooLarge pushes a 9 MiB request in every protocol: each is
// refused resource_exhausted with the ErrorInfo a device splits its batch
// on, and a push just under the limit is accepted.
func TestEdge_TooLarge(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	token := s.AddDevice("u1", "d1", "house-a")
	ctx := context.Background()
	for _, tt := range protocols {
		t.Run(tt.name, func(t *testing.T) {
			m := shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(), strings.Repeat("x", 9<<20))
			_, err := client(s, token, tt.http11, tt.opts...).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}})
			if connect.CodeOf(err) != connect.CodeResourceExhausted || shiftsynctest.ErrorCode(err) != string(shiftsync.CodeResourceExhausted) {
				t.Errorf("9 MiB Push() error = %v (ErrorInfo %q), want resource_exhausted with ErrorInfo", err, shiftsynctest.ErrorCode(err))
			}
		})
	}
	t.Run("just under the limit", func(t *testing.T) {
		m := shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(), strings.Repeat("x", 8<<20-1024))
		if _, err := s.Client(token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}}); err != nil {
			t.Errorf("Push() of just under 8 MiB: %v", err)
		}
	})
}

// gzipBomb returns gzip members that inflate to n MiB of zeros in all: 8
// GiB is about 8.3 MB, under the 8 MiB body limit, so only the bound on
// decompression can stop it.
func gzipBomb(tb testing.TB, n int) []byte {
	tb.Helper()
	const member = 64 // MiB
	var one bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&one, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range member {
		_, _ = zw.Write(zeros)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return bytes.Repeat(one.Bytes(), n/member)
}

// bombCompressor is a client "gzip" compressor that sends a fixed gzip body
// whatever the message: how an attacker's bomb reaches the server through
// a well-formed request in every protocol.
type bombCompressor struct {
	bomb []byte
	w    io.Writer
}

func (c *bombCompressor) Write(p []byte) (int, error) { return len(p), nil }
func (c *bombCompressor) Close() error                { _, err := c.w.Write(c.bomb); return err }
func (c *bombCompressor) Reset(w io.Writer)           { c.w = w }

// TestEdge_GzipBomb sends an 8 GiB gzip bomb (8.3 MB on the wire) from an
// authenticated device in every protocol: each is refused
// resource_exhausted with ErrorInfo. The server inflates at most 8 MiB of it
// (TestBoundedGzip counts the bytes).
func TestEdge_GzipBomb(t *testing.T) {
	bomb := gzipBomb(t, 8<<10)
	if len(bomb) >= rpc.DefaultMaxRequestBytes {
		t.Fatalf("the bomb is %d bytes, over the body limit: it would not reach the decompressor", len(bomb))
	}
	s := shiftsynctest.NewServer(t)
	token := s.AddDevice("u1", "d1", "house-a")
	for _, tt := range protocols {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]connect.ClientOption{
				connect.WithAcceptCompression("gzip", func() connect.Decompressor { return &gzip.Reader{} }, func() connect.Compressor { return &bombCompressor{bomb: bomb} }),
				connect.WithSendCompression("gzip"),
			}, tt.opts...)
			_, err := client(s, token, tt.http11, opts...).Pull(context.Background(), &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
			if connect.CodeOf(err) != connect.CodeResourceExhausted || shiftsynctest.ErrorCode(err) != string(shiftsync.CodeResourceExhausted) {
				t.Errorf("Pull() with a gzip bomb: %v (ErrorInfo %q), want resource_exhausted with ErrorInfo", err, shiftsynctest.ErrorCode(err))
			}
		})
	}
	t.Run("an honest gzipped push", func(t *testing.T) {
		m := shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(), strings.Repeat("hit the wall ", 1<<16))
		if _, err := s.Client(token, connect.WithSendGzip()).Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}}); err != nil {
			t.Errorf("gzipped Push(): %v", err)
		}
	})
}

// rawRequest writes an HTTP/1.1 request's head and the first bytes of its
// body on a new connection, and returns the connection and its reader.
func rawRequest(t *testing.T, url, path, header string, contentLength int, first string) (net.Conn, *bufio.Reader) {
	t.Helper()
	return rawRequestFrom(t, "", url, path, header, contentLength, first)
}

// rawRequestFrom is rawRequest on a connection from the loopback address
// local ("" for any).
func rawRequestFrom(t *testing.T, local, url, path, header string, contentLength int, first string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := dialer(local).Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: shiftsync\r\nContent-Type: application/proto\r\nContent-Length: %d\r\n%s\r\n%s", path, contentLength, header, first)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return conn, bufio.NewReader(conn)
}

// dialer dials from the loopback address local ("" for any), so a test can
// call as several sources.
func dialer(local string) *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	return d
}

// clientFrom is an HTTP client (unencrypted HTTP/2, as gRPC needs) whose
// connections come from the loopback address local.
func clientFrom(local string) *http.Client {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: protocols, DialContext: dialer(local).DialContext}}
}

// errorInfo returns the ErrorInfo code of a Connect unary error body.
func errorInfo(t *testing.T, body []byte) string {
	t.Helper()
	var wire struct {
		Code    string
		Details []struct{ Type, Value string }
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	for _, d := range wire.Details {
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d.Value, "="))
		var info syncv1.ErrorInfo
		if err == nil && d.Type == "shiftsync.sync.v1.ErrorInfo" && proto.Unmarshal(b, &info) == nil {
			return info.GetCode()
		}
	}
	return ""
}

// TestEdge_RefusesBeforeTheBody sends the head of a push without a token and
// none of its body: the answer comes at once, unauthenticated with
// ErrorInfo, and the connection is closed rather than read.
func TestEdge_RefusesBeforeTheBody(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	for _, header := range []string{"", "Authorization: Bearer garbage\r\n"} {
		conn, r := rawRequest(t, s.URL, "/"+syncv1connect.SyncServiceName+"/Push", header, 1<<20, "\x0a")
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("%q: no answer before the body was sent: %v", header, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusUnauthorized || errorInfo(t, body) != string(shiftsync.CodeUnauthenticated) {
			t.Errorf("%q: answer %s %s, want 401 with ErrorInfo unauthenticated", header, res.Status, body)
		}
		if !res.Close {
			t.Errorf("%q: the connection is kept open for the unread body", header)
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Errorf("%q: after the refusal, read %v, want the connection closed", header, err)
		}
		conn.Close()
	}
}

// TestEdge_CapsPublicRequests holds every slot for requests without a token
// with slow enrolment bodies from eight sources, each its share: the next
// public request, from any source, is refused resource_exhausted at once,
// and public calls work again once they are gone; authenticated calls are
// not held up meanwhile.
func TestEdge_CapsPublicRequests(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	var slow []net.Conn
	for i := range rpc.DefaultMaxPublicRequests {
		source := fmt.Sprintf("127.0.0.%d", 10+i/rpc.DefaultMaxPublicPerSource)
		conn, _ := rawRequestFrom(t, source, s.URL, "/"+authv1connect.AuthServiceName+"/Enrol", "", 100, "\x0a")
		slow = append(slow, conn)
	}
	health := grpchealth.NewClient(shiftsynctest.HTTPClient(), s.URL, connect.WithGRPC())
	check := func() error {
		_, err := health.Check(ctx, &grpchealth.CheckRequest{Service: syncv1connect.SyncServiceName})
		return err
	}
	// The slow requests take their slots as the server reads their heads.
	deadline := time.Now().Add(10 * time.Second)
	err := check()
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		err = check()
	}
	if connect.CodeOf(err) != connect.CodeResourceExhausted || shiftsynctest.ErrorCode(err) != string(shiftsync.CodeResourceExhausted) {
		t.Fatalf("health Check() with every public slot held: %v, want resource_exhausted with ErrorInfo", err)
	}
	auth := authv1connect.NewAuthServiceClient(shiftsynctest.HTTPClient(), s.URL)
	_, err = auth.Enrol(ctx, &authv1.EnrolRequest{Code: "AAAA-BBBB-CCCCC", DeviceLabel: "phone"})
	if shiftsynctest.ErrorCode(err) != string(shiftsync.CodeResourceExhausted) || !strings.Contains(err.Error(), "without a token") {
		t.Errorf("Enrol() with every public slot held: %v, want resource_exhausted for too many requests without a token", err)
	}
	token := s.AddDevice("u1", "d1", "house-a")
	if _, err := s.Client(token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); err != nil {
		t.Errorf("Pull() while the public slots are held: %v", err)
	}
	for _, conn := range slow {
		conn.Close()
	}
	for err = check(); err != nil && time.Now().Before(deadline); err = check() {
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("health Check() after the slow requests left: %v", err)
	}
}

// TestEdge_OneSourceCannotStopEnrolment has one stranger (127.0.0.2) open
// 64 health Watch streams and 64 slow enrolment bodies, as many as the
// server serves without a token at once: a phone elsewhere (127.0.0.3)
// still enrols with a valid code. Watch is not served (a static status
// never changes), and the stranger is held to its share of the public
// requests.
func TestEdge_OneSourceCannotStopEnrolment(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	code, _, err := s.Identity.IssueEnrolmentCode(ctx, shiftsync.Principal{UserID: "shiftsynctest"}, "ana")
	if err != nil {
		t.Fatal(err)
	}

	stranger := grpchealth.NewClient(clientFrom("127.0.0.2"), s.URL, connect.WithGRPC())
	var watchErr error
	for i := range rpc.DefaultMaxPublicRequests {
		// The first event is the status, or the error that ends the stream.
		event := <-stranger.Watch(ctx, &grpchealth.CheckRequest{Service: syncv1connect.SyncServiceName})
		if event.Err == nil {
			watchErr = fmt.Errorf("watch %d: a status, and the stream stays open", i)
		} else if connect.CodeOf(event.Err) != connect.CodeUnimplemented {
			t.Fatalf("watch %d: %v", i, event.Err)
		}
	}
	for range rpc.DefaultMaxPublicRequests {
		rawRequestFrom(t, "127.0.0.2", s.URL, "/"+authv1connect.AuthServiceName+"/Enrol", "", 100, "\x0a")
	}
	// The stranger's share is full once a Check of theirs is refused.
	deadline := time.Now().Add(10 * time.Second)
	_, err = stranger.Check(ctx, &grpchealth.CheckRequest{Service: syncv1connect.SyncServiceName})
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		_, err = stranger.Check(ctx, &grpchealth.CheckRequest{Service: syncv1connect.SyncServiceName})
	}
	if shiftsynctest.ErrorCode(err) != string(shiftsync.CodeResourceExhausted) {
		t.Fatalf("the stranger's Check() with their share held: %v, want resource_exhausted", err)
	}

	phone := authv1connect.NewAuthServiceClient(clientFrom("127.0.0.3"), s.URL)
	if _, err := phone.Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "Ana's new phone"}); err != nil {
		t.Errorf("Enrol() from another source while the stranger holds what they can: %v, want enrolled", err)
	}
	if watchErr != nil {
		t.Errorf("health Watch is served: %v; want unimplemented", watchErr)
	}
}

// TestEdge_StreamHoldsNoPublicSlot opens twice as many health Watch
// streams from one source as there are public slots, behind an edge that
// serves Watch: each gives its slot back once its request has been read, so
// each is answered and a Check still is.
func TestEdge_StreamHoldsNoPublicSlot(t *testing.T) {
	h := http.NewServeMux()
	h.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker()))
	edge := rpc.Edge{Refusals: rpc.NewRefusalLog(nil, nil, nil)}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = rpc.NewServer(edge.Wrap(h))
	srv.Start()
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	health := grpchealth.NewClient(shiftsynctest.HTTPClient(), srv.URL, connect.WithGRPC())
	for i := range 2 * rpc.DefaultMaxPublicRequests {
		if event := <-health.Watch(ctx, &grpchealth.CheckRequest{}); event.Err != nil {
			t.Fatalf("watch %d with %d open: %v", i+1, i, event.Err)
		}
	}
	if _, err := health.Check(ctx, &grpchealth.CheckRequest{}); err != nil {
		t.Errorf("Check() with %d Watch streams open: %v", 2*rpc.DefaultMaxPublicRequests, err)
	}
}

// TestEdge_TrustedProxies checks the source of requests: the peer's
// address, whatever X-Forwarded-For claims, unless the peer is a trusted
// proxy; then the right-most forwarded address not of a trusted proxy.
func TestEdge_TrustedProxies(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, shiftsync.SourceFromContext(r.Context()))
	})
	edge := rpc.Edge{Refusals: rpc.NewRefusalLog(nil, nil, nil), TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8"),
	}}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = rpc.NewServer(edge.Wrap(h))
	srv.Start()
	defer srv.Close()

	for _, tt := range []struct {
		name, peer string
		forwarded  []string
		want       string
	}{
		{"untrusted peer, forged header", "127.0.0.1", []string{"203.0.113.9"}, "127.0.0.1"},
		{"untrusted peer, trusted-looking header", "127.0.0.3", []string{"203.0.113.9, 10.1.2.3"}, "127.0.0.3"},
		{"trusted peer, no header", "127.0.0.2", nil, "127.0.0.2"},
		{"trusted peer", "127.0.0.2", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client's own claims to the left", "127.0.0.2", []string{"198.51.100.7, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops skipped", "127.0.0.2", []string{"198.51.100.7, 203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"several headers", "127.0.0.2", []string{"198.51.100.7", "203.0.113.9", "10.1.2.3"}, "203.0.113.9"},
		{"IPv6 client", "127.0.0.2", []string{"2001:db8:1:2::7"}, "2001:db8:1:2::/64"},
		{"client with a port", "127.0.0.2", []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"IPv6 client with a port", "127.0.0.2", []string{"[2001:db8:1:2::7]:443"}, "2001:db8:1:2::/64"},
		{"garbage before a trusted hop", "127.0.0.2", []string{"198.51.100.7, evil, 10.1.2.3"}, "127.0.0.2"},
		{"only trusted hops", "127.0.0.2", []string{"10.9.9.9"}, "127.0.0.2"},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		for _, v := range tt.forwarded {
			req.Header.Add("X-Forwarded-For", v)
		}
		res, err := (&http.Client{Transport: &http.Transport{DialContext: dialer(tt.peer).DialContext}}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(got) != tt.want {
			t.Errorf("%s: from %s with X-Forwarded-For %q: source %q, want %q", tt.name, tt.peer, tt.forwarded, got, tt.want)
		}
	}
}

// TestEdge_SlowBody trickles a body slower than the edge's deadline: the
// request is answered unavailable, with ErrorInfo, and the connection
// closed.
func TestEdge_SlowBody(t *testing.T) {
	h := http.NewServeMux()
	h.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker()))
	edge := rpc.Edge{Refusals: rpc.NewRefusalLog(nil, nil, nil), PublicBodyTimeout: 200 * time.Millisecond}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = rpc.NewServer(edge.Wrap(h))
	srv.Start()
	defer srv.Close()

	_, r := rawRequest(t, srv.URL, "/grpc.health.v1.Health/Check", "", 100, "\x0a")
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer to a body that stopped: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || errorInfo(t, body) != string(shiftsync.CodeUnavailable) || !res.Close {
		t.Errorf("answer %s %s (close %v), want 503 with ErrorInfo unavailable, closing", res.Status, body, res.Close)
	}
}
