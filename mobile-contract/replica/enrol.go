package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
)

// Error codes of enrolment.
const (
	// CodeNotEnrolled: [Replica.SyncEnrolled] on a replica that was never
	// enrolled (or whose enrolment a revocation wiped); call
	// [Replica.Enrol] first, or [Replica.Sync] with a token.
	CodeNotEnrolled = "not_enrolled"
	// CodeDeviceInUse: [Replica.Enrol] on a replica that has already made
	// changes as another device. Its counters and versions belong to that
	// device, so it cannot become the new one: enrol with a new replica
	// file. Nothing was sent to the server; the code is still good.
	CodeDeviceInUse = "device_in_use"
)

// refreshMarginMS is how long before its expiry a cached access token is
// replaced: long enough for a sync's requests to arrive while it is valid.
const refreshMarginMS = 60_000

// accessToken is a cached access token of an enrolled device.
type accessToken struct {
	deviceID  string // the device it was issued for
	token     string
	expiresMS int64 // by the server's clock
}

// credential is what an enrolled device keeps to get access tokens.
type credential struct {
	deviceID, serverURL, secret string
}

func loadCredential(ctx context.Context, q queryer) (credential, error) {
	var c credential
	err := q.QueryRowContext(ctx, `SELECT device_id, server_url, device_credential FROM device WHERE id = 1`).
		Scan(&c.deviceID, &c.serverURL, &c.secret)
	return c, err
}

// Enrol enrols the device with the server at serverURL using a one-time
// enrolment code a manager issued (AuthService.Enrol), and stores in the
// replica the device id, the user, the device credential and the server, so
// that [Replica.SyncEnrolled] can get access tokens on its own. label names
// the device for managers, e.g. "Ada's work phone".
//
// The replica takes the device id the server assigned. That is only safe
// for a replica that has never made a change under its old id, or that a
// revocation wiped: Enrol returns code "device_in_use" for one with
// outbox entries or acknowledged changes, before using the code. Records
// the replica pulled under its old identity are deleted, and the next sync
// pulls the new user's from the start. A code works once: the server
// answers "unauthenticated" for a wrong, used or expired one, and
// "resource_exhausted" after too many failed attempts.
func (r *Replica) Enrol(serverURL, code, label string) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	ctx := context.Background()
	serverURL = strings.TrimRight(strings.TrimSpace(serverURL), "/")
	switch {
	case serverURL == "":
		return invalidf("a server URL is required")
	case strings.TrimSpace(code) == "":
		return invalidf("an enrolment code is required")
	}
	if err := checkEnrollable(ctx, r.read); err != nil {
		return err
	}
	_, timeout, _ := r.settings()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	res, err := authv1connect.NewAuthServiceClient(r.http, serverURL).Enrol(cctx, &authv1.EnrolRequest{Code: code, DeviceLabel: label})
	cancel()
	if err != nil {
		return err
	}
	id := res.GetDeviceId()
	if id == "" || len(id) > maxIDBytes || res.GetDeviceCredential() == "" {
		return &codedError{Code: CodeInternal, Message: "the server's enrolment answer lacks a device id or credential"}
	}
	err = r.writeTx(ctx, func(tx *sql.Tx) error {
		// A change made while the server answered would belong to neither id.
		if err := checkEnrollable(ctx, tx); err != nil {
			return err
		}
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT device_id FROM device WHERE id = 1`).Scan(&old); err != nil {
			return err
		}
		if old != id {
			// What was pulled as another device is not necessarily in the new
			// user's scope; the server still has it all.
			if err := deleteCareData(ctx, tx); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE device SET device_id = ?, last_counter = 0, pull_cursor = '', epoch = '', seen_epoch = '', backed_up_through = 0 WHERE id = 1`, id); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE device SET server_url = ?, user_id = ?, device_credential = ?, enrolled_at = ?, revoked_at = 0, last_error = ''
			WHERE id = 1`,
			serverURL, res.GetUserId(), res.GetDeviceCredential(), max(r.nowMS(), 1))
		return err
	})
	if err != nil {
		return fmt.Errorf("replica: the server enrolled device %s but the replica could not store it (ask for a new code): %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deviceID = id
	// A missing expiry reads as 1970: the first sync refreshes.
	r.token = accessToken{deviceID: id, token: res.GetAccessToken(), expiresMS: res.GetAccessTokenExpiresAt().AsTime().UnixMilli()}
	return nil
}

// checkEnrollable refuses a replica that has made changes as its current
// device; a wiped one starts afresh.
func checkEnrollable(ctx context.Context, q queryer) error {
	var (
		id                        string
		lastCounter, revokedAt, n int64
	)
	if err := q.QueryRowContext(ctx, `SELECT device_id, last_counter, revoked_at, (SELECT count(*) FROM outbox) FROM device WHERE id = 1`).
		Scan(&id, &lastCounter, &revokedAt, &n); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	if revokedAt == 0 && (lastCounter > 0 || n > 0) {
		return &codedError{Code: CodeDeviceInUse, Message: fmt.Sprintf(
			"this replica has made %d change(s) as device %q (%d still in the outbox), so it cannot become another device: keep syncing it as it is, or enrol with a new replica file",
			lastCounter, id, n)}
	}
	return nil
}

// SyncEnrolled is [Replica.Sync] for an enrolled device (see
// [Replica.Enrol]): it syncs with the server the device enrolled with,
// authenticating with an access token that it gets from the device
// credential (AuthService.Refresh) and reuses until a minute before it
// expires. If the server still answers "token_expired" (a wrong device
// clock) or "unauthenticated", it refreshes once and repeats the request. It
// returns code "not_enrolled" for a replica that holds no credential, and
// the server's "unauthenticated" when the credential is refused (enrol
// again). A "device_revoked" answer to any request, the refresh included,
// wipes the replica as Sync describes.
func (r *Replica) SyncEnrolled() (*SyncReport, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	ctx := context.Background()
	rep := &SyncReport{}
	if err := checkNotRevoked(ctx, r.read); err != nil {
		return rep, err
	}
	c, err := loadCredential(ctx, r.read)
	if err != nil {
		return rep, fmt.Errorf("replica: %w", err)
	}
	if c.secret == "" || c.serverURL == "" {
		return rep, &codedError{Code: CodeNotEnrolled, Message: "this replica is not enrolled: enrol it with a code from a manager"}
	}
	return rep, r.sync(ctx, rep, c.serverURL, &refresher{r: r, cred: c})
}

// tokenSource gives a sync its access tokens.
type tokenSource interface {
	// token returns the token to send.
	token(ctx context.Context) (string, error)
	// refresh returns a new token after the server refused one, or
	// errCannotRefresh.
	refresh(ctx context.Context) (string, error)
}

var errCannotRefresh = errors.New("replica: no credential to refresh the token with")

// staticToken is a token handed to Sync.
type staticToken string

func (t staticToken) token(context.Context) (string, error)   { return string(t), nil }
func (t staticToken) refresh(context.Context) (string, error) { return "", errCannotRefresh }

// refresher gets access tokens for an enrolled device from its credential,
// through the replica's token cache.
type refresher struct {
	r    *Replica
	cred credential
}

func (f *refresher) token(ctx context.Context) (string, error) {
	st, err := loadState(ctx, f.r.read)
	if err != nil {
		return "", fmt.Errorf("replica: %w", err)
	}
	serverNow := f.r.nowMS() + st.offsetMS
	f.r.mu.Lock()
	t := f.r.token
	f.r.mu.Unlock()
	if t.deviceID == f.cred.deviceID && t.token != "" && serverNow < t.expiresMS-refreshMarginMS {
		return t.token, nil
	}
	return f.refresh(ctx)
}

func (f *refresher) refresh(ctx context.Context) (string, error) {
	res, err := authv1connect.NewAuthServiceClient(f.r.http, f.cred.serverURL).
		Refresh(ctx, &authv1.RefreshRequest{DeviceId: f.cred.deviceID, DeviceCredential: f.cred.secret})
	if err != nil {
		return "", err
	}
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.r.token = accessToken{deviceID: f.cred.deviceID, token: res.GetAccessToken(), expiresMS: res.GetAccessTokenExpiresAt().AsTime().UnixMilli()}
	return res.GetAccessToken(), nil
}

// authenticate sets each request's bearer token from the sync's token
// source and, the first time in a sync the server answers
// "token_expired" or "unauthenticated", gets a new token and repeats the request once
// (repeating a push is safe: a replay changes nothing).
func (s *syncer) authenticate(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		token, err := s.tokens.token(ctx)
		if err != nil {
			return nil, err
		}
		setBearer(req, token)
		res, err := next(ctx, req)
		if code := ErrorCode(err); err == nil || s.refreshed || (code != "unauthenticated" && code != "token_expired") {
			return res, err
		}
		s.refreshed = true
		token, rerr := s.tokens.refresh(ctx)
		if errors.Is(rerr, errCannotRefresh) {
			return res, err
		} else if rerr != nil {
			return nil, rerr
		}
		setBearer(req, token)
		return next(ctx, req)
	}
}

func setBearer(req connect.AnyRequest, token string) {
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	} else {
		req.Header().Del("Authorization")
	}
}
