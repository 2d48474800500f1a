package rpc

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Edge limits and settings.
const (
	// DefaultMaxPublicBytes bounds the body of a request without a token
	// (enrolment, refresh, health, reflection), after decompression too:
	// theirs are a few hundred bytes.
	DefaultMaxPublicBytes = 64 << 10
	// DefaultBodyTimeout is how long an authenticated request's body may
	// take to arrive: a full 8 MiB push at 1.1 Mbit/s.
	DefaultBodyTimeout = time.Minute
	// DefaultPublicBodyTimeout is how long the body of a request without a
	// token may take to arrive.
	DefaultPublicBodyTimeout = 10 * time.Second
	// DefaultMaxPublicRequests bounds the requests without a token whose
	// bodies are being read at once; beyond it they are refused at once.
	// At DefaultMaxPublicBytes each they hold at most 16 MiB, and it takes
	// 32 sources each holding its share to fill them.
	DefaultMaxPublicRequests = 256
	// DefaultMaxPublicPerSource is the share of those one source (see
	// [shiftsync.SourceKey]) may hold, so one stranger cannot take them all.
	DefaultMaxPublicPerSource = 8
	// maxTokenBytes bounds the bearer token read from a request, so a huge
	// header costs nothing to refuse.
	maxTokenBytes = 8 << 10
	// envelopeBytes is the prefix of each message in the gRPC, gRPC-Web and
	// Connect streaming protocols.
	envelopeBytes = 5
)

// Edge is what the server checks of a request before any handler reads its
// body: it is net/http middleware, so every handler behind it (the RPC
// services, and any console served beside them) shares it.
//
// A request to a Protected path must carry a valid bearer token in its
// Authorization header: the edge verifies it from the headers alone and
// puts the principal in the request's context
// ([shiftsync.PrincipalFromContext]); otherwise it answers at once, in the
// Connect, gRPC or gRPC-Web format the caller spoke, with an ErrorInfo
// detail, records the refusal in Refusals, and closes an HTTP/1 connection
// without reading the body. Other paths are public: their bodies are held
// to MaxPublicBodyBytes and PublicBodyTimeout, and at most
// MaxPublicRequests of them, MaxPublicPerSource from one source, are read
// at once (the next is answered resource_exhausted at once), so strangers
// cannot hold the server's connections with slow bodies. A request holds
// its place only while its body is being read: it is given back when the
// body reaches its end or is closed, or the handler returns, whichever is
// first, so a long-lived stream holds none.
//
// Every request's context carries its source: [shiftsync.SourceKey] of the
// peer's address or, when the peer is in TrustedProxies, of the right-most
// X-Forwarded-For address not in TrustedProxies (the client the nearest
// untrusted hop saw); the header of any other peer is ignored, so a
// stranger cannot choose their source. Likewise its URL's Scheme is the
// scheme the client spoke: "https" over TLS or when a trusted proxy's
// X-Forwarded-Proto says so, else "http". A body that is too large or too slow is refused with
// resource_exhausted or unavailable, with ErrorInfo; a body left unread
// when the handler returns is not waited for: the HTTP/1 connection closes.
type Edge struct {
	Tokens    shiftsync.TokenVerifier // required
	Refusals  *RefusalLog             // required
	Protected []string                // path prefixes, e.g. "/shiftsync.sync.v1.SyncService/"
	// MaxBodyBytes bounds the message of an authenticated request; 0 means
	// DefaultMaxRequestBytes.
	MaxBodyBytes int64
	// MaxPublicBodyBytes defaults to DefaultMaxPublicBytes.
	MaxPublicBodyBytes int64
	// Uploads are public paths (exact) whose bodies are held to
	// MaxBodyBytes and BodyTimeout instead, still taking a public
	// request's place: the console's pack upload, whose handler checks
	// its session cookie before it reads the body, so a stranger's body
	// is never read.
	Uploads []string
	// BodyTimeout defaults to DefaultBodyTimeout.
	BodyTimeout time.Duration
	// PublicBodyTimeout defaults to DefaultPublicBodyTimeout.
	PublicBodyTimeout time.Duration
	// MaxPublicRequests defaults to DefaultMaxPublicRequests.
	MaxPublicRequests int
	// MaxPublicPerSource defaults to DefaultMaxPublicPerSource, and is at
	// most MaxPublicRequests.
	MaxPublicPerSource int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client; none by default.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
}

// Wrap returns next behind the edge.
func (e Edge) Wrap(next http.Handler) http.Handler {
	e.MaxBodyBytes = cmp.Or(e.MaxBodyBytes, DefaultMaxRequestBytes)
	e.MaxPublicBodyBytes = cmp.Or(e.MaxPublicBodyBytes, DefaultMaxPublicBytes)
	e.BodyTimeout = cmp.Or(e.BodyTimeout, DefaultBodyTimeout)
	e.PublicBodyTimeout = cmp.Or(e.PublicBodyTimeout, DefaultPublicBodyTimeout)
	e.Logger = cmp.Or(e.Logger, slog.Default())
	e.MaxPublicRequests = cmp.Or(e.MaxPublicRequests, DefaultMaxPublicRequests)
	e.MaxPublicPerSource = min(cmp.Or(e.MaxPublicPerSource, DefaultMaxPublicPerSource), e.MaxPublicRequests)
	return &edge{Edge: e, next: next, errors: connect.NewErrorWriter(), bySource: map[string]int{}}
}

type edge struct {
	Edge
	next   http.Handler
	errors *connect.ErrorWriter

	mu       sync.Mutex
	public   int            // public requests whose bodies are being read
	bySource map[string]int // of them, by source
}

// ServeHTTP implements [http.Handler].
func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	source := e.source(r)
	ctx := shiftsync.NewContextWithSource(r.Context(), source)
	rc := http.NewResponseController(w)
	hasBody := r.ContentLength != 0
	limit, timeout := e.MaxPublicBodyBytes, e.PublicBodyTimeout
	var b *body
	release := func() {}
	defer func() {
		// Whatever the handler left unread is not waited for: net/http
		// would otherwise read up to 256 KiB of it, at the sender's pace,
		// before answering.
		if hasBody && (b == nil || !b.eof.Load()) {
			_ = rc.SetReadDeadline(time.Now())
		}
	}()
	if e.protected(r.URL.Path) {
		p, err := e.authenticate(ctx, r.Header.Get("Authorization"))
		if err != nil {
			e.refuse(w, r, toConnectError(ctx, e.Logger, err))
			return
		}
		ctx = shiftsync.NewContextWithPrincipal(ctx, p)
		limit, timeout = e.MaxBodyBytes, e.BodyTimeout
	} else if hasBody {
		if !e.take(source) {
			e.refuse(w, r, newError(shiftsync.CodeResourceExhausted, "the server is answering too many requests without a token; try again in a minute"))
			return
		}
		release = sync.OnceFunc(func() { e.give(source) })
		defer release()
		if slices.Contains(e.Uploads, r.URL.Path) {
			limit, timeout = e.MaxBodyBytes, e.BodyTimeout
		}
	}
	r = r.WithContext(ctx) // a copy: net/http keeps the body it gave us
	u := *r.URL
	u.Scheme = e.scheme(r)
	r.URL = &u
	if hasBody {
		_ = rc.SetReadDeadline(time.Now().Add(timeout))
		wire := limit
		if enveloped(r.Header.Get("Content-Type")) {
			wire += envelopeBytes
		}
		b = &body{r: http.MaxBytesReader(w, r.Body, wire), rc: rc, limit: limit, timeout: timeout, done: release}
		r.Body = b
	}
	e.next.ServeHTTP(w, r)
}

// take holds a place for a public request from source, and reports
// whether there was one.
func (e *edge) take(source string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.public >= e.MaxPublicRequests || e.bySource[source] >= e.MaxPublicPerSource {
		return false
	}
	e.public++
	e.bySource[source]++
	return true
}

// give gives back a place taken for source.
func (e *edge) give(source string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.public--
	if e.bySource[source]--; e.bySource[source] == 0 {
		delete(e.bySource, source)
	}
}

// scheme returns the scheme the client spoke: "https" over TLS, or when
// the peer is a trusted proxy whose X-Forwarded-Proto says so (it ended
// the client's TLS); otherwise "http". A handler reads it in r.URL.Scheme,
// e.g. to mark a cookie Secure; another peer's header is ignored.
func (e *edge) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && e.trusted(peer.Addr()) &&
		strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https") {
		return "https"
	}
	return "http"
}

// source returns the source key of the request (see [Edge]).
func (e *edge) source(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !e.trusted(peer.Addr()) {
		return shiftsync.SourceKey(r.RemoteAddr)
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			hop, err := forwardedAddr(strings.TrimSpace(list[j]))
			if err != nil {
				// Not written by a proxy we trust: what lies beyond
				// it cannot be believed either.
				return shiftsync.SourceKey(r.RemoteAddr)
			}
			if !e.trusted(hop) {
				return shiftsync.SourceKey(hop.String())
			}
		}
	}
	return shiftsync.SourceKey(r.RemoteAddr)
}

// forwardedAddr parses one X-Forwarded-For hop: an address, or an address
// and port as some proxies write it ("203.0.113.9:4711",
// "[2001:db8::7]:443").
func forwardedAddr(hop string) (netip.Addr, error) {
	if addr, err := netip.ParseAddr(hop); err == nil {
		return addr, nil
	}
	ap, err := netip.ParseAddrPort(hop)
	return ap.Addr(), err
}

// trusted reports whether addr is one of the TrustedProxies.
func (e *edge) trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range e.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// protected reports whether path needs a token.
func (e *edge) protected(path string) bool {
	for _, prefix := range e.Protected {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// authenticate verifies the bearer token and records a refusal.
func (e *edge) authenticate(ctx context.Context, authorization string) (shiftsync.Principal, error) {
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || token == "" || len(token) > maxTokenBytes {
		err := shiftsync.Errorf(shiftsync.CodeUnauthenticated, "a bearer token is required")
		e.Refusals.Refused(ctx, "", err)
		return shiftsync.Principal{}, err
	}
	p, err := e.Tokens.Verify(ctx, token)
	if err != nil {
		e.Refusals.Refused(ctx, tokenFingerprint(token), err)
		return shiftsync.Principal{}, err
	}
	return p, nil
}

// refuse answers the request with err, a Connect error, in the caller's
// protocol and closes an HTTP/1 connection after it.
func (e *edge) refuse(w http.ResponseWriter, r *http.Request, err error) {
	e.Logger.WarnContext(r.Context(), "refused at the edge", "path", r.URL.Path, "code", connect.CodeOf(err).String())
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
	if werr := e.errors.Write(w, r, err); werr != nil {
		e.Logger.DebugContext(r.Context(), "refusal not written", "err", werr)
	}
}

// tokenFingerprint names a refused token in the audit log without keeping
// a usable copy of it.
func tokenFingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// enveloped reports whether a request of this content type carries its
// messages in envelopes (gRPC, gRPC-Web, Connect streaming).
func enveloped(contentType string) bool {
	return strings.HasPrefix(contentType, "application/grpc") || strings.HasPrefix(contentType, "application/connect+")
}

// body is a request body held to a size (limit bytes of message, plus the
// envelope the protocol wraps it in) and a read deadline. Its errors are
// Connect errors with ErrorInfo, which connect-go passes to the client as
// they are. Once it is read to the end the deadline is lifted, so a
// Subscribe stream, whose request is one small message, lives on, and done
// is called, as it is when the body is closed.
type body struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	limit   int64
	timeout time.Duration
	done    func()
	eof     atomic.Bool
}

// Read implements [io.Reader].
func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var maxBytes *http.MaxBytesError
	switch {
	case err == io.EOF:
		b.eof.Store(true)
		_ = b.rc.SetReadDeadline(time.Time{})
		b.done()
	case errors.As(err, &maxBytes):
		err = tooLarge(b.limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = newError(shiftsync.CodeUnavailable, "the request did not arrive within "+b.timeout.String()+"; try again")
	}
	return n, err
}

// Close implements [io.Closer].
func (b *body) Close() error {
	b.done()
	return b.r.Close()
}

// byteSize writes n bytes for people: "8 MiB", "64 KiB", "100 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
