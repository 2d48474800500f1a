package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// errGaveUp is a call refused until its phone's sync ran out of time.
var errGaveUp = errors.New("gave up retrying")

// newHTTPClient returns the HTTP client of one phone: its own connection,
// over unencrypted HTTP/2 (h2c) or HTTP/1.1.
func newHTTPClient(h2c bool) *http.Client {
	t := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	t.Protocols = new(http.Protocols)
	if h2c {
		t.Protocols.SetUnencryptedHTTP2(true)
	} else {
		t.Protocols.SetHTTP1(true)
	}
	return &http.Client{Transport: t}
}

// phone is one simulated phone, enrolled: binary protobuf over its own
// connection, as a device speaks.
type phone struct {
	index      int
	service    string
	person     string
	deviceID   string
	credential string
	token      string
	counter    uint64
	cursor     string

	auth authv1connect.AuthServiceClient
	sync syncv1connect.SyncServiceClient
	http *http.Client
}

func newPhone(index int, url string, h2c bool) *phone {
	c := newHTTPClient(h2c)
	service, person := serviceOf(index)
	p := &phone{index: index, service: service, person: person, http: c}
	p.auth = authv1connect.NewAuthServiceClient(c, url)
	p.sync = syncv1connect.NewSyncServiceClient(c, url, connect.WithInterceptors(bearer{p}))
	return p
}

// bearer sends the phone's current access token with every call. A phone
// makes one call at a time.
type bearer struct{ p *phone }

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+b.p.token)
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func clientInfo() *syncv1.ClientInfo {
	return &syncv1.ClientInfo{ProtocolVersion: shiftsync.ProtocolVersion, SchemaVersion: schema.Version, AppVersion: "shiftsyncload"}
}

// call runs fn, timed into lat under kind, until it succeeds, fails with a
// code not worth retrying, or ctx ends. Refusals that the contract says to
// retry (unavailable, resource_exhausted) are retried after the server's
// Retry-After, or with exponential backoff and jitter; each attempt is
// recorded. Each attempt has its own deadline of timeout.
func call(ctx context.Context, lat *latencies, kind string, timeout time.Duration, fn func(context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := fn(cctx)
		cancel()
		if err == nil {
			lat.add(kind, time.Since(start), nil)
			return nil
		}
		code := connect.CodeOf(err)
		retry := code == connect.CodeUnavailable || code == connect.CodeResourceExhausted
		if !retry || ctx.Err() != nil {
			if ctx.Err() != nil {
				err = errors.Join(errGaveUp, err)
			}
			lat.add(kind, time.Since(start), err)
			return err
		}
		lat.add(kind, time.Since(start), err)
		wait := backoff + rand.N(backoff)
		var ce *connect.Error
		if errors.As(err, &ce) {
			if s, perr := strconv.Atoi(ce.Meta().Get("Retry-After")); perr == nil && s > 0 {
				wait = time.Duration(s)*time.Second + rand.N(time.Duration(s)*time.Second/2) // at least Retry-After, as the contract asks
			}
		}
		backoff = min(2*backoff, 2*time.Second)
		select {
		case <-ctx.Done():
			lat.add(kind, 0, errors.Join(errGaveUp, ctx.Err()))
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// refresh gets a new access token with the device credential.
func (p *phone) refresh(ctx context.Context, lat *latencies, timeout time.Duration) error {
	return call(ctx, lat, "refresh", timeout, func(ctx context.Context) error {
		res, err := p.auth.Refresh(ctx, &authv1.RefreshRequest{DeviceId: p.deviceID, DeviceCredential: p.credential})
		if err == nil {
			p.token = res.GetAccessToken()
		}
		return err
	})
}

// description is the text of every generated record: with the other
// fields, a record is about 300 bytes on the wire.
var description = strings.Repeat("Shouted and pushed the door during the morning transition; settled with the visual timetable. ", 2)

// fieldsOf returns the fields of a generated incident: the rows a store
// writes for it, and the raw baseline inserts.
func fieldsOf(at time.Time) []*syncv1.FieldEdit {
	return []*syncv1.FieldEdit{
		{Field: "started_at", Value: &syncv1.Value{Kind: &syncv1.Value_TimestampValue{TimestampValue: timestamppb.New(at.Add(-5 * time.Minute))}}},
		{Field: "behaviour_description", Value: &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: description}}},
		{Field: "place", Value: &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: "front door"}}},
		{Field: "intensity_verbal", Value: &syncv1.Value{Kind: &syncv1.Value_IntValue{IntValue: 2}}},
	}
}

// mutations returns the phone's next n new incidents.
func (p *phone) mutations(n int) []*syncv1.Mutation {
	now := time.Now()
	out := make([]*syncv1.Mutation, n)
	for i := range out {
		p.counter++
		out[i] = &syncv1.Mutation{
			Counter: p.counter, RecordId: uuid.Must(uuid.NewV7()).String(), RecordType: "incident",
			ServiceId: p.service, PersonId: p.person,
			Hlc:    &syncv1.HybridTimestamp{WallMs: now.UnixMilli(), Logical: uint32(i)},
			Fields: fieldsOf(now),
		}
	}
	return out
}

// push pushes the phone's next n incidents in one call, retried with the
// same mutations (a replay) when refused.
func (p *phone) push(ctx context.Context, lat *latencies, timeout time.Duration, n int) error {
	batch := p.mutations(n)
	return call(ctx, lat, "push", timeout, func(ctx context.Context) error {
		res, err := p.sync.Push(ctx, &syncv1.PushRequest{Client: clientInfo(), Mutations: batch})
		if err == nil && res.GetAcknowledgedCounter() != p.counter {
			return connect.NewError(connect.CodeDataLoss, errors.New("push not acknowledged to its last counter"))
		}
		return err
	})
}

// pullToEnd pulls pages until the server has no more, and returns how
// many changes it received.
func (p *phone) pullToEnd(ctx context.Context, lat *latencies, timeout time.Duration) (int, error) {
	n := 0
	for {
		var res *syncv1.PullResponse
		err := call(ctx, lat, "pull", timeout, func(ctx context.Context) error {
			var err error
			res, err = p.sync.Pull(ctx, &syncv1.PullRequest{Client: clientInfo(), Cursor: p.cursor, PageSize: pullPageSize})
			return err
		})
		if err != nil {
			return n, err
		}
		n += len(res.GetChanges())
		p.cursor = res.GetNextCursor()
		if !res.GetHasMore() {
			return n, nil
		}
	}
}

// manager is the manager's enrolled device, which issues the phones'
// enrolment codes through the admin API.
type manager struct {
	*phone
	admin authv1connect.AdminServiceClient
}

// enrolManager enrols the manager's device with code.
func enrolManager(ctx context.Context, url string, h2c bool, code string) (*manager, error) {
	m := &manager{phone: newPhone(0, url, h2c)}
	m.admin = authv1connect.NewAdminServiceClient(m.http, url, connect.WithInterceptors(bearer{m.phone}))
	res, err := m.auth.Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "load manager"})
	if err != nil {
		return nil, err
	}
	m.deviceID, m.credential, m.token = res.GetDeviceId(), res.GetDeviceCredential(), res.GetAccessToken()
	return m, nil
}

// issueCode asks the admin API for an enrolment code for user.
func (m *manager) issueCode(ctx context.Context, lat *latencies, timeout time.Duration, user string) (string, error) {
	var code string
	err := call(ctx, lat, "issue-code", timeout, func(ctx context.Context) error {
		res, err := m.admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: user})
		if err == nil {
			code = res.GetCode()
		}
		return err
	})
	return code, err
}

// enrol enrols the phone with a code issued for its user.
func (p *phone) enrol(ctx context.Context, lat *latencies, timeout time.Duration, code string) error {
	return call(ctx, lat, "enrol", timeout, func(ctx context.Context) error {
		res, err := p.auth.Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "load phone " + strconv.Itoa(p.index)})
		if err == nil {
			p.deviceID, p.credential, p.token = res.GetDeviceId(), res.GetDeviceCredential(), res.GetAccessToken()
		}
		return err
	})
}

// pullPageSize is the page a phone asks for.
const pullPageSize = 1000
