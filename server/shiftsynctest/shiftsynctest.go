// Package shiftsynctest runs a real shiftsync server for tests, as
// net/http/httptest does for handlers: the server that shiftsyncd serve
// builds (package wiring), on a store a factory opens (by default a SQLite
// file in a temporary directory; a schema of the test PostgreSQL, see
// [PostgresDSN], when SHIFTSYNC_TEST_STORE=postgres), the real Connect handler behind the real HTTP edge on a loopback
// port speaking HTTP/1.1 and unencrypted HTTP/2 (the http.Server of
// shiftsyncd serve), a controllable clock and a token table.
package shiftsynctest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/bearer"
	"github.com/shiftsync/shiftsync/server/inmem"
	"github.com/shiftsync/shiftsync/server/jwt"
	"github.com/shiftsync/shiftsync/server/rpc"
	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// Epoch is the fake clock's starting time.
var Epoch = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

// Clock is a fake clock that moves only when told. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Token settings of the test server's signed access tokens.
const (
	TokenIssuer   = "https://shiftsync.test"
	TokenAudience = "shiftsync"
)

// Server is a running test server. Devices authenticate either with the
// static tokens of AddDevice (long-lived, scoped by the services named) or
// as enrolled devices with signed access tokens and memberships, as in
// production (EnrolDevice).
type Server struct {
	URL      string
	Store    wiring.Store
	Sync     *shiftsync.Sync
	Identity shiftsync.IdentityStore
	Admin    shiftsync.Admin
	Review   *shiftsync.Review
	// Governance evaluates the governance rules and sets thresholds.
	Governance *shiftsync.Governance
	Issuer     *jwt.Tokens
	Tokens     *bearer.Tokens
	Clock      *Clock
	Feed       *inmem.Feed
	Schema     *shiftsync.Schema

	tb      testing.TB
	opts    []Option
	http    *httptest.Server
	srv     *wiring.Server
	handler *rpc.Handler
}

// Option configures a test server.
type Option func(*options)

type options struct {
	store       wiring.OpenStore
	maxInFlight int
}

// WithStore builds the server on the store open opens, instead of a new
// SQLite file in tb.TempDir(): another store, or one a test reopens.
func WithStore(open wiring.OpenStore) Option {
	return func(o *options) { o.store = open }
}

// WithMaxInFlight bounds the calls the server answers at once (see
// [rpc.Config.MaxInFlight]).
func WithMaxInFlight(n int) Option {
	return func(o *options) { o.maxInFlight = n }
}

// NewServer starts a server on a new store and stops it when the test
// ends.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.store == nil {
		o.store = wiring.SQLite(filepath.Join(tb.TempDir(), "shiftsync.db"))
		if os.Getenv("SHIFTSYNC_TEST_STORE") == "postgres" {
			o.store = wiring.Postgres(PostgresDSN(tb))
		}
	}
	s := &Server{tb: tb, opts: append(opts, WithStore(o.store)), Clock: NewClock(Epoch)}
	srv, err := wiring.Open(wiring.Config{
		Store: o.store, Now: s.Clock.Now, Logger: slog.New(slog.DiscardHandler),
		Issuer: TokenIssuer, Audience: TokenAudience, Heartbeat: time.Second, MaxInFlight: o.maxInFlight,
	})
	if err != nil {
		tb.Fatalf("open server: %v", err)
	}
	s.srv, s.handler = srv, srv.Handler
	s.Store, s.Schema, s.Identity, s.Issuer, s.Tokens = srv.Store, srv.Schema, srv.Identity, srv.Issuer, srv.Tokens
	s.Feed, s.Sync, s.Review, s.Admin, s.Governance = srv.Feed, srv.Sync, srv.Review, srv.Admin, srv.Governance
	// The same http.Server settings as shiftsyncd serve.
	s.http = httptest.NewUnstartedServer(nil)
	s.http.Config = rpc.NewServer(s.handler)
	s.http.Start()
	s.URL = s.http.URL
	tb.Cleanup(s.Close)
	return s
}

// Stop stops serving and writes what the handler holds (its timed
// writes, such as the refusal counts), keeping the store open for the
// test to read until Close. It may be called more than once.
func (s *Server) Stop() {
	if s.http != nil {
		s.http.CloseClientConnections()
		s.http.Close()
		s.http = nil
		s.srv.CloseHandler()
	}
}

// Close stops the server, fails the test if the audit log's hash chain
// does not verify, and closes the store. It may be called more than once.
func (s *Server) Close() {
	s.Stop()
	if s.srv != nil {
		if _, err := s.Store.Audit.VerifyAudit(context.Background()); err != nil {
			s.tb.Errorf("the audit chain does not verify after the test: %v", err)
		}
		_ = s.srv.Close()
		s.srv = nil
	}
}

// Restart closes s and starts a server on the same store, as shiftsyncd
// restarted on the same database: the store's contents stay, the static
// tokens and the clock do not.
func (s *Server) Restart(tb testing.TB) *Server {
	tb.Helper()
	s.Close()
	return NewServer(tb, s.opts...)
}

// TestOrganisation is the organisation of the services the harness
// creates.
const TestOrganisation = "org-test"

// People are the people supported the tests write about, by service: a
// push writes only about a person its service supports, so a service
// [Server.AddDevice] or [Server.EnrolDevice] names is created (in
// [TestOrganisation], if missing) with its people from this list. A test
// needing others adds them ([Server.AddPerson]).
var People = []struct{ ID, ServiceID, Name string }{
	{"sam", "house-a", "Sam Okafor"}, {"ada", "house-a", "Ada Lovell"}, {"person-ada", "house-a", "Ada Price"},
	{"person-bob", "house-a", "Bob Harris"}, {"person-a-kit", "house-a", "Kit Andrews"}, {"p1", "house-a", "Pat One"},
	{"person-b-lou", "house-b", "Lou Brown"},
}

// addService creates the service, if missing, with its [People].
func (s *Server) addService(tb testing.TB, serviceID string) {
	tb.Helper()
	ctx := context.Background()
	admin := shiftsync.Principal{UserID: "shiftsynctest"}
	must(tb, ignoreExists(s.Identity.CreateOrganisation(ctx, admin, TestOrganisation, "Test Care")))
	must(tb, ignoreExists(s.Identity.CreateService(ctx, admin, serviceID, TestOrganisation, serviceID)))
	for _, p := range People {
		if p.ServiceID == serviceID {
			must(tb, ignoreExists(s.Identity.CreatePerson(ctx, admin, p.ID, serviceID, p.Name)))
		}
	}
}

// AddPerson adds a person supported by the service, creating the service
// (in [TestOrganisation]) if missing; a person already there is kept.
func (s *Server) AddPerson(tb testing.TB, serviceID, personID string) {
	tb.Helper()
	ctx := context.Background()
	admin := shiftsync.Principal{UserID: "shiftsynctest"}
	must(tb, ignoreExists(s.Identity.CreateOrganisation(ctx, admin, TestOrganisation, "Test Care")))
	must(tb, ignoreExists(s.Identity.CreateService(ctx, admin, serviceID, TestOrganisation, serviceID)))
	must(tb, ignoreExists(s.Identity.CreatePerson(ctx, admin, personID, serviceID, personID)))
}

// ignoreExists returns err unless it says what it would create exists.
func ignoreExists(err error) error {
	if shiftsync.ErrorCode(err) == shiftsync.CodeAlreadyExists {
		return nil
	}
	return err
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// Enrolment is a device enrolled through the real flow.
type Enrolment struct {
	UserID, DeviceID, Credential, Token string
}

// EnrolDevice creates the user (and the test organisation and the services,
// if missing), gives it role in each service from an hour before the clock,
// enrols a device with a real enrolment code, and returns the device with a
// signed access token (valid 5 minutes of the server clock).
func (s *Server) EnrolDevice(tb testing.TB, userID string, role shiftsync.Role, services ...string) Enrolment {
	tb.Helper()
	ctx := context.Background()
	admin := shiftsync.Principal{UserID: "shiftsynctest"}
	must(tb, ignoreExists(s.Identity.CreateOrganisation(ctx, admin, TestOrganisation, "Test Care")))
	must(tb, ignoreExists(s.Identity.CreateUser(ctx, admin, userID, TestOrganisation, userID, "")))
	for _, service := range services {
		s.addService(tb, service)
		if _, err := s.Identity.AddMembership(ctx, admin, shiftsync.Membership{UserID: userID, ServiceID: service, Role: role, Start: s.Clock.Now().Add(-time.Hour)}); err != nil {
			tb.Fatal(err)
		}
	}
	return s.Enrol(tb, userID)
}

// Enrol enrols a device for an existing user with a real enrolment code
// issued by the test operator, and returns the device with a signed access
// token (valid 5 minutes of the server clock).
func (s *Server) Enrol(tb testing.TB, userID string) Enrolment {
	tb.Helper()
	ctx := context.Background()
	code, _, err := s.Identity.IssueEnrolmentCode(ctx, shiftsync.Principal{UserID: "shiftsynctest"}, userID)
	if err != nil {
		tb.Fatal(err)
	}
	d, credential, err := s.Identity.Enrol(ctx, code, userID+"'s phone", s.Admin.RedeemsEnrolmentCode)
	if err != nil {
		tb.Fatal(err)
	}
	token, _, err := s.Issuer.Issue(ctx, userID, d.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return Enrolment{UserID: userID, DeviceID: d.ID, Credential: credential, Token: token}
}

// AddDevice registers a static, long-lived bearer token for a user's device
// with a manager's access to the given services' records (sync, review,
// Subscribe), and returns the token. It grants no administration: that
// comes from memberships, as in production, so a test that administers
// uses EnrolDevice. It spares tests of sync the enrolment flow;
// EnrolDevice goes through it.
func (s *Server) AddDevice(userID, deviceID string, services ...string) string {
	for _, service := range services {
		s.addService(s.tb, service)
	}
	token := bearer.NewToken()
	s.Tokens.Add(token, shiftsync.Principal{UserID: userID, DeviceID: deviceID, Services: services})
	return token
}

// Client returns a SyncService client for the given token, over
// unencrypted HTTP/2. By default it speaks the Connect protocol with binary
// protobuf; pass connect.WithGRPC(), connect.WithGRPCWeb() or
// connect.WithProtoJSON() for the others.
func (s *Server) Client(token string, opts ...connect.ClientOption) syncv1connect.SyncServiceClient {
	return NewClient(s.URL, token, opts...)
}

// NewClient returns a SyncService client for a server at url, sending token
// on every call, over unencrypted HTTP/2 (as gRPC needs; Connect works over
// it too). For HTTP/1.1, build a client on http.DefaultClient with
// [WithToken].
func NewClient(url, token string, opts ...connect.ClientOption) syncv1connect.SyncServiceClient {
	opts = append([]connect.ClientOption{WithToken(token)}, opts...)
	return syncv1connect.NewSyncServiceClient(HTTPClient(), url, opts...)
}

// WithToken makes a client send the bearer token on every call.
func WithToken(token string) connect.ClientOption {
	return connect.WithInterceptors(bearerToken(token))
}

// HTTPClient returns an HTTP client that speaks unencrypted HTTP/2 with
// prior knowledge, for gRPC and for Connect.
func HTTPClient() *http.Client {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		Protocols:   protocols,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

// bearerToken sets the Authorization header on every request.
type bearerToken string

func (t bearerToken) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if t != "" {
			req.Header().Set("Authorization", "Bearer "+string(t))
		}
		return next(ctx, req)
	}
}

func (t bearerToken) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if t != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(t))
		}
		return conn
	}
}

func (t bearerToken) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// ClientInfo is the ClientInfo of a current client.
func ClientInfo() *syncv1.ClientInfo {
	return &syncv1.ClientInfo{ProtocolVersion: shiftsync.ProtocolVersion, SchemaVersion: schema.Version, AppVersion: "shiftsynctest"}
}

// HLC returns a wire HLC at the given time.
func HLC(t time.Time, logical uint32) *syncv1.HybridTimestamp {
	return &syncv1.HybridTimestamp{WallMs: t.UnixMilli(), Logical: logical}
}

// Set returns a field edit with no base (the field had no value).
func Set(field string, v *syncv1.Value) *syncv1.FieldEdit {
	return &syncv1.FieldEdit{Field: field, Value: v}
}

// Edit returns a field edit made on top of the version base.
func Edit(field string, v *syncv1.Value, base *syncv1.Version) *syncv1.FieldEdit {
	return &syncv1.FieldEdit{Field: field, Value: v, Base: base}
}

// String, Int, Bool, Enum, Time and List build wire values.
func String(s string) *syncv1.Value {
	return &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: s}}
}

// Int returns an integer value.
func Int(i int64) *syncv1.Value { return &syncv1.Value{Kind: &syncv1.Value_IntValue{IntValue: i}} }

// Bool returns a bool value.
func Bool(b bool) *syncv1.Value { return &syncv1.Value{Kind: &syncv1.Value_BoolValue{BoolValue: b}} }

// Enum returns an enum value by name.
func Enum(name string) *syncv1.Value {
	return &syncv1.Value{Kind: &syncv1.Value_EnumValue{EnumValue: name}}
}

// Time returns a timestamp value.
func Time(t time.Time) *syncv1.Value {
	return &syncv1.Value{Kind: &syncv1.Value_TimestampValue{TimestampValue: timestamppb.New(t)}}
}

// List returns a list value.
func List(items ...string) *syncv1.Value {
	return &syncv1.Value{Kind: &syncv1.Value_ListValue{ListValue: &syncv1.StringList{Values: items}}}
}

// Incident returns a mutation creating a valid incident record with its
// required fields, stamped at the given time.
func Incident(counter uint64, recordID, serviceID, personID string, at time.Time, description string) *syncv1.Mutation {
	return &syncv1.Mutation{
		Counter:    counter,
		RecordId:   recordID,
		RecordType: "incident",
		ServiceId:  serviceID,
		PersonId:   personID,
		Hlc:        HLC(at, 0),
		Fields: []*syncv1.FieldEdit{
			Set("started_at", Time(at.Add(-5*time.Minute))),
			Set("behaviour_description", String(description)),
		},
	}
}

// ProneRestraint returns a mutation creating a restrictive intervention
// record of a planned prone restraint, stamped at the given time: the
// record that raises an immediate alert. Its incident is one the server
// has not received (another device's, still offline): the restraint is
// accepted and flagged [shiftsync.FlagReferencePending].
func ProneRestraint(counter uint64, recordID, serviceID, personID string, at time.Time) *syncv1.Mutation {
	return &syncv1.Mutation{
		Counter:    counter,
		RecordId:   recordID,
		RecordType: "restrictive_intervention",
		ServiceId:  serviceID,
		PersonId:   personID,
		Hlc:        HLC(at, 0),
		Fields: []*syncv1.FieldEdit{
			Set("incident_id", String(uuid.Must(uuid.NewV7()).String())),
			Set("type_code", Enum("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_PRONE")),
			Set("reason_code", Enum("RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS")),
			Set("started_at", Time(at.Add(-10*time.Minute))),
			Set("ended_at", Time(at.Add(-8*time.Minute))),
			Set("in_care_plan", Bool(true)),
		},
	}
}

// Action returns a mutation creating an action of the tracker owned by a
// role of agency, agreed at and due by deadline.
func Action(counter uint64, recordID, serviceID, personID string, at time.Time, agency string, deadline time.Time) *syncv1.Mutation {
	return &syncv1.Mutation{
		Counter:    counter,
		RecordId:   recordID,
		RecordType: "action",
		ServiceId:  serviceID,
		PersonId:   personID,
		Hlc:        HLC(at, 0),
		Fields: []*syncv1.FieldEdit{
			Set("action_text", String("Review the transition plan with the community team")),
			Set("definition_of_done", String("Revised plan shared with staff")),
			Set("agency", String(agency)),
			Set("owner_role", String("Community nurse")),
			Set("deputy_role", String("Team manager")),
			Set("created_at", Time(at)),
			Set("deadline", Time(deadline)),
			Set("status", Enum("ACTION_STATUS_ON_TRACK")),
		},
	}
}

// RecordID returns a new UUIDv7 record id.
func RecordID(tb testing.TB) string {
	tb.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		tb.Fatalf("uuid: %v", err)
	}
	return id.String()
}

// ErrorCode returns the stable code of the ErrorInfo detail of a Connect
// error (e.g. "device_revoked"), or "" if err carries none.
func ErrorCode(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if ei, ok := v.(*syncv1.ErrorInfo); ok {
				return ei.GetCode()
			}
		}
	}
	return ""
}

// AuditCount returns how many audit log entries have the action.
func (s *Server) AuditCount(tb testing.TB, action string) int {
	tb.Helper()
	return len(s.AuditEvents(tb, action))
}

// AuditEvents returns the audit log entries with the action, oldest first,
// read through the store's audit chain.
func (s *Server) AuditEvents(tb testing.TB, action string) []shiftsync.AuditEvent {
	tb.Helper()
	ctx := context.Background()
	tip, _, err := s.Store.Audit.AuditTip(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var events []shiftsync.AuditEvent
	if err := s.Store.Audit.AuditEntries(ctx, 1, tip, func(e shiftsync.AuditEntry) error {
		if e.Event.Action == action {
			events = append(events, e.Event)
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return events
}
