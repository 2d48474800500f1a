package shiftsync

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// Enrolment issues enrolment codes and exchanges them for devices over a
// [Store]: the [IdentityService]'s IssueEnrolmentCode and Enrol, with the
// guessing throttle ([ThrottleEnrolment]) and their audit.
type Enrolment struct {
	Store Store
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// NewDeviceID returns the id of a new device: a UUIDv7.
	NewDeviceID func() string
	// Kind is the kind of device Enrol makes; zero means [KindPhone]. The
	// console ([Console]) enrols browsers.
	Kind DeviceKind
}

func (e Enrolment) now() time.Time {
	if e.Now == nil {
		return time.Now().UTC()
	}
	return e.Now().UTC()
}

// IssueEnrolmentCode implements [IdentityService.IssueEnrolmentCode]: the
// code expires EnrolmentCodeTTL from now, and its issue is audited as
// actor's.
func (e Enrolment) IssueEnrolmentCode(ctx context.Context, actor Principal, userID string) (string, time.Time, error) {
	code := NewEnrolmentCode()
	var expires time.Time
	err := e.Store.Update(ctx, func(tx Tx) error {
		exists, err := tx.UserExists(ctx, userID)
		if err != nil {
			return err
		}
		if !exists {
			return Errorf(CodeNotFound, "user %q does not exist", userID)
		}
		at := e.now()
		expires = at.Add(EnrolmentCodeTTL)
		if err := tx.InsertEnrolmentCode(ctx, EnrolmentCode{Hash: HashSecret(code), UserID: userID, IssuedBy: actor.UserID, IssuedAt: at, ExpiresAt: expires}); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, at, AuditEvent{Actor: actor, Action: AuditEnrolmentCode, Subject: userID, Detail: auditDetail(map[string]any{"expires_at": expires})})
	})
	return code, expires, err
}

// Enrol implements [IdentityService.Enrol]. The code is marked used in the
// same transaction that creates the device, so it works once, and redeems
// runs inside that transaction: no change to memberships or roles can
// commit between its judgement and the enrolment. Failures older than the
// window are pruned as new ones are written. Each counted failure is
// audited with its source, the one that throttles saying so; a throttled
// attempt writes nothing, so neither the failures nor the audit log grow by
// more than the limits per source and code.
func (e Enrolment) Enrol(ctx context.Context, code, label string, redeems RedemptionCheck) (Device, string, error) {
	var d Device
	credential := newSecret()
	source := SourceFromContext(ctx)
	codeHash := HashSecret(NormaliseEnrolmentCode(code))
	var refused error
	err := e.Store.Update(ctx, func(tx Tx) error {
		at := e.now()
		f, err := tx.EnrolmentFailures(ctx, source, codeHash, at.Add(-EnrolmentFailureWindow))
		if err != nil {
			return err
		}
		pending, err := tx.PendingEnrolmentCode(ctx, codeHash, at)
		if err != nil {
			return err
		}
		if refused = ThrottleEnrolment(f, pending != nil); refused != nil {
			return nil
		}
		if pending == nil {
			refused = errBadEnrolmentCode()
			return enrolmentFailed(ctx, tx, at, source, codeHash, f)
		}
		if err := redeems(ctx, pending.UserID, pending.IssuedBy); ErrorCode(err) == CodePermissionDenied {
			refused = errBadEnrolmentCode()
			if err := tx.SpendEnrolmentCode(ctx, codeHash, at, ""); err != nil {
				return err
			}
			return AppendAudit(ctx, tx, at, AuditEvent{Action: AuditEnrolRefused, Subject: pending.UserID,
				Detail: auditDetail(map[string]string{"reason": "issuer no longer has the authority: " + RefusalReason(err), "issued_by": pending.IssuedBy, "source": source})})
		} else if err != nil {
			return err
		}
		d = Device{ID: e.NewDeviceID(), UserID: pending.UserID, Label: label, Kind: cmp.Or(e.Kind, KindPhone), EnrolledAt: at}
		if err := tx.InsertDevice(ctx, d, HashSecret(credential)); err != nil {
			return err
		}
		if err := tx.SpendEnrolmentCode(ctx, codeHash, at, d.ID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, at, AuditEvent{Actor: Principal{UserID: d.UserID, DeviceID: d.ID}, Action: AuditEnrol, Subject: d.ID,
			Detail: auditDetail(map[string]string{"label": label, "source": source})})
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return Device{}, "", err
	}
	return d, credential, nil
}

// errBadEnrolmentCode is the answer to an enrolment code that does not
// enrol: the same whether it is wrong, used, expired or its issuer's
// authority lapsed.
func errBadEnrolmentCode() error {
	return Errorf(CodeUnauthenticated, "the enrolment code is wrong, used or expired; ask a manager for a new one")
}

// enrolmentFailed counts a failed attempt, prunes the failures the window
// has left behind, and audits the refusal with its source; f is the count
// before this failure, so the entry can say whether further attempts from
// the source, or with the code, are throttled from now on.
func enrolmentFailed(ctx context.Context, tx Tx, at time.Time, source string, codeHash []byte, f EnrolmentFailures) error {
	if err := tx.PruneEnrolmentFailures(ctx, at.Add(-EnrolmentFailureWindow)); err != nil {
		return err
	}
	if err := tx.InsertEnrolmentFailure(ctx, source, codeHash, at); err != nil {
		return err
	}
	after := EnrolmentFailures{Source: f.Source + 1, Code: f.Code + 1}
	return AppendAudit(ctx, tx, at, AuditEvent{Action: AuditEnrolRefused, Subject: source,
		Detail: auditDetail(map[string]any{"reason": "bad code", "source": source, "source_failures": after.Source, "code_failures": after.Code,
			"throttled_from_now": ThrottleEnrolment(after, false) != nil})})
}

// HashSecret is how enrolment codes and device credentials are kept: their
// SHA-256.
func HashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// newSecret returns 32 random bytes, base64url: a device credential.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// auditDetail is an audit entry's detail: v as JSON.
func auditDetail(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
