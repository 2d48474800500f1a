package rpc

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

var _ syncv1connect.SyncServiceHandler = (*SyncHandler)(nil)

// SyncHandler serves shiftsync.sync.v1.SyncService over Connect, gRPC and
// gRPC-Web. It decodes, takes the principal from the context, calls the
// domain service and encodes the answer; it decides nothing itself.
type SyncHandler struct {
	sync      shiftsync.SyncService
	feed      shiftsync.ChangeFeed
	access    shiftsync.Authorizer
	devices   deviceChecker            // optional: without it only scopes are re-checked
	health    shiftsync.HealthRecorder // optional
	log       *slog.Logger
	heartbeat time.Duration
	now       func() time.Time
	metrics   *Metrics // optional
	reported  healthReports
}

// deviceChecker says whether an enrolled device is still enrolled;
// [shiftsync.IdentityService] is one.
type deviceChecker interface {
	CheckDevice(ctx context.Context, userID, deviceID string) error
}

// Push implements [syncv1connect.SyncServiceHandler].
func (h *SyncHandler) Push(ctx context.Context, req *syncv1.PushRequest) (*syncv1.PushResponse, error) {
	p, err := h.begin(ctx, req.GetClient())
	if err != nil {
		return nil, err
	}
	res, err := h.sync.Push(ctx, p, toMutations(req.GetMutations(), req.GetClient().GetAppVersion()))
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	h.metrics.pushed(res)
	h.recordHealth(ctx, p, req.GetClient(), settled(res))
	return fromPushResult(res), nil
}

// Pull implements [syncv1connect.SyncServiceHandler].
func (h *SyncHandler) Pull(ctx context.Context, req *syncv1.PullRequest) (*syncv1.PullResponse, error) {
	p, err := h.begin(ctx, req.GetClient())
	if err != nil {
		return nil, err
	}
	cursor, err := shiftsync.ParseCursor(req.GetCursor())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	limit := int(min(req.GetPageSize(), shiftsync.MaxPullPageSize))
	var page shiftsync.PullPage
	if repair := req.GetRepair(); repair != nil {
		unit, err := toHeldUnit(repair.GetUnit())
		if err != nil {
			return nil, toConnectError(ctx, h.log, err)
		}
		page, err = h.sync.PullRepair(ctx, p, shiftsync.HeldBucket{Unit: unit, Bucket: int(min(repair.GetBucket(), shiftsync.DigestBuckets))}, cursor, limit)
		if err != nil {
			return nil, toConnectError(ctx, h.log, err)
		}
	} else if page, err = h.sync.Pull(ctx, p, cursor, limit); err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	h.recordHealth(ctx, p, req.GetClient(), -1)
	res := fromPullPage(page)
	h.metrics.pulled(len(page.Changes), proto.Size(res))
	return res, nil
}

// Verify implements [syncv1connect.SyncServiceHandler].
func (h *SyncHandler) Verify(ctx context.Context, req *syncv1.VerifyRequest) (*syncv1.VerifyResponse, error) {
	p, err := h.begin(ctx, req.GetClient())
	if err != nil {
		return nil, err
	}
	cursor, err := shiftsync.ParseCursor(req.GetCursor())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	units, err := toUnitDigests(req.GetUnits())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	v, err := h.sync.Verify(ctx, p, cursor, units)
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	h.metrics.verified(v.Status)
	return fromVerification(v), nil
}

// Subscribe implements [syncv1connect.SyncServiceHandler]. It sends
// CHANGES_AVAILABLE at once if the scope has changes after the request's
// cursor, and again after each push that adds changes to the scope;
// otherwise a heartbeat every heartbeat interval. It returns when the client
// goes away, or with CodeUnavailable when the server shuts down. Access is
// checked again at every wake-up and heartbeat: the stream ends with
// CodeDeviceRevoked once the device is revoked, and with
// CodePermissionDenied once the user has no membership in force, so a
// stream never outlives its access by more than a heartbeat.
func (h *SyncHandler) Subscribe(ctx context.Context, req *syncv1.SubscribeRequest, stream *connect.ServerStream[syncv1.SubscribeResponse]) error {
	p, err := h.begin(ctx, req.GetClient())
	if err != nil {
		return err
	}
	defer h.metrics.streamOpened()()
	seen, err := shiftsync.ParseCursor(req.GetCursor())
	if err != nil {
		return toConnectError(ctx, h.log, err)
	}
	// The stream is woken by pushes to the services of its scope; when the
	// scope changes it subscribes again, before Latest looks, so nothing
	// published in between is missed.
	var (
		subscribed []string
		wake       <-chan struct{}
		stop       = func() {}
	)
	defer func() { stop() }()
	heartbeat := time.NewTicker(h.heartbeat)
	defer heartbeat.Stop()
	beat := false // a heartbeat is due
	for {
		services, err := h.checkAccess(ctx, p)
		if err != nil {
			return toConnectError(ctx, h.log, err)
		}
		if wake == nil || !slices.Equal(services, subscribed) {
			stop()
			subscribed = services
			wake, stop = h.feed.Subscribe(services)
		}
		latest, err := h.sync.Latest(ctx, p, seen)
		if err != nil {
			return toConnectError(ctx, h.log, err)
		}
		if latest.Seq > seen.Seq {
			seen = latest
			if err := stream.Send(&syncv1.SubscribeResponse{Event: syncv1.SubscribeEvent_SUBSCRIBE_EVENT_CHANGES_AVAILABLE}); err != nil {
				return err
			}
		}
		if beat {
			if err := stream.Send(&syncv1.SubscribeResponse{Event: syncv1.SubscribeEvent_SUBSCRIBE_EVENT_HEARTBEAT}); err != nil {
				return err
			}
			beat = false
		}
		select {
		case <-ctx.Done():
			return nil
		case _, open := <-wake:
			if !open {
				return newError(shiftsync.CodeUnavailable, "the server is shutting down; reconnect")
			}
		case <-heartbeat.C:
			beat = true
		}
	}
}

// checkAccess returns the services of p's scope while p may keep a stream open: its device is
// still enrolled (CodeDeviceRevoked otherwise) and some grant of its scope
// is in force (CodePermissionDenied otherwise). The devices of static
// tokens, which name their services, are not enrolled and are not checked.
func (h *SyncHandler) checkAccess(ctx context.Context, p shiftsync.Principal) ([]string, error) {
	if h.devices != nil && len(p.Services) == 0 {
		if err := h.devices.CheckDevice(ctx, p.UserID, p.DeviceID); err != nil {
			return nil, err
		}
	}
	scope, err := h.access.Scope(ctx, p)
	if err != nil {
		return nil, err
	}
	services := scope.Services(h.now())
	if len(services) == 0 {
		return nil, shiftsync.Errorf(shiftsync.CodePermissionDenied, "you have no access to any service now; sync again later")
	}
	return services, nil
}

// recordHealth keeps what the device reported of its sync health with a
// push that succeeded and settled that many of its mutations, or with a
// pull that succeeded (settled < 0). A failure is logged, never returned:
// the sync itself succeeded. A report equal to the one last written for
// the device is not written again within healthEvery of it (see
// healthReports), so the pages of a pull, and the pulls of a device that
// is caught up, cost no write of their own.
//
// A device reports its outbox as it was when it sent the request, so the
// mutations a push settled (accepted or quarantined: either way they left
// the outbox's pending entries) are no longer pending once it is answered.
// They are taken off the reported depth, never below 0, and with none left
// the oldest unsynced age is 0; otherwise the reported age is kept, an
// upper bound until the device's next request reports its outbox again.
func (h *SyncHandler) recordHealth(ctx context.Context, p shiftsync.Principal, client *syncv1.ClientInfo, settled int) {
	if h.health == nil || p.Kind != shiftsync.KindPhone {
		return // only a phone has an outbox to report; a tool's requests never show as a phone's
	}
	r := shiftsync.HealthReport{
		AppVersion:        truncateText(client.GetAppVersion(), maxAppVersionBytes),
		OutboxDepth:       int(client.GetOutboxDepth()),
		OldestUnsyncedAge: time.Duration(min(client.GetOldestUnsyncedAgeSeconds(), maxReportedAgeSeconds)) * time.Second,
		Pushed:            settled >= 0,
		Pulled:            settled < 0,
	}
	if settled > 0 {
		r.OutboxDepth = max(0, r.OutboxDepth-settled)
		if r.OutboxDepth == 0 {
			r.OldestUnsyncedAge = 0
		}
	}
	now := h.now()
	if !h.reported.due(p.DeviceID, r, now) {
		return
	}
	if err := h.health.RecordHealth(ctx, p, r); err != nil {
		h.log.WarnContext(ctx, "device health not recorded", "device", p.DeviceID, "error", err)
		return
	}
	h.reported.written(p.DeviceID, r, now)
}

// healthEvery is how long a device's unchanged health report is not
// written again: the last push and pull times managers see may be this
// much older than the device's latest sync; every change of what it
// reports (its outbox, its app version) is written at once.
const healthEvery = time.Minute

// maxHealthReports bounds the devices healthReports remembers; when full
// it forgets them all, which only costs writes.
const maxHealthReports = 100_000

// healthReports remembers, by device, the health report last written and
// when its push and its pull were. It is safe for concurrent use.
type healthReports struct {
	mu   sync.Mutex
	last map[string]writtenHealth
}

type writtenHealth struct {
	report         shiftsync.HealthReport // Pushed and Pulled cleared
	pushed, pulled time.Time
}

// due reports whether r, reported by device at now, must be written: it
// differs from the report last written, or its push or pull is newer than
// the last one written by healthEvery or more.
func (hr *healthReports) due(device string, r shiftsync.HealthReport, now time.Time) bool {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	w, ok := hr.last[device]
	bare := r
	bare.Pushed, bare.Pulled = false, false
	switch {
	case !ok || w.report != bare:
		return true
	case r.Pushed && now.Sub(w.pushed) >= healthEvery, r.Pulled && now.Sub(w.pulled) >= healthEvery:
		return true
	}
	return false
}

// written notes that r was written for device at now.
func (hr *healthReports) written(device string, r shiftsync.HealthReport, now time.Time) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if hr.last == nil || len(hr.last) >= maxHealthReports {
		hr.last = map[string]writtenHealth{}
	}
	w := hr.last[device]
	bare := r
	bare.Pushed, bare.Pulled = false, false
	if w.report != bare {
		w = writtenHealth{report: bare}
	}
	if r.Pushed {
		w.pushed = now
	}
	if r.Pulled {
		w.pulled = now
	}
	hr.last[device] = w
}

// settled counts the mutations of a push that the server accepted or
// quarantined: those the device no longer holds as pending.
func settled(res shiftsync.PushResult) int {
	n := 0
	for _, r := range res.Results {
		if r.Status == shiftsync.StatusAccepted || r.Status == shiftsync.StatusQuarantined {
			n++
		}
	}
	return n
}

// Bounds on what a device reports of its health.
const (
	maxAppVersionBytes    = 100
	maxReportedAgeSeconds = 10 * 365 * 24 * 3600
)

// truncateText cuts s to at most n bytes, on a character boundary.
func truncateText(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// begin checks the client's versions and returns the authenticated
// principal.
func (h *SyncHandler) begin(ctx context.Context, client *syncv1.ClientInfo) (shiftsync.Principal, error) {
	p, err := principal(ctx)
	if err != nil {
		return p, err
	}
	if err := shiftsync.CheckClient(client.GetProtocolVersion(), client.GetSchemaVersion()); err != nil {
		return p, toConnectError(ctx, h.log, err)
	}
	return p, nil
}
