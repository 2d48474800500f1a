package shiftsync

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"time"
)

// Device is an enrolled phone or tablet. A zero RevokedAt means active.
type Device struct {
	ID         string
	UserID     string
	Label      string
	Kind       DeviceKind
	EnrolledAt time.Time
	RevokedAt  time.Time
}

// DeviceKind says what a principal's device is. Only phones carry a
// replica and an outbox, so only phones are listed in device health: the
// other kinds' requests never appear as phones.
type DeviceKind string

// The device kinds.
const (
	// KindPhone is a device enrolled from the phone app with an enrolment
	// code; its access tokens are signed by the server.
	KindPhone DeviceKind = "phone"
	// KindBrowser is a browser signed in to the manager console
	// ([Console]): its credential is a session cookie.
	KindBrowser DeviceKind = "browser"
	// KindTool is a static bearer token: tools, scripts, curl, tests.
	KindTool DeviceKind = "tool"
)

// Membership gives a user a role in a service, or for one person supported
// in it, from Start until End (zero: open-ended). Created and CreatedBy are
// when and by whom it was recorded, set by the store: a membership recorded
// after it ended was back-dated.
type Membership struct {
	ID        int64
	UserID    string
	ServiceID string
	PersonID  string
	Role      Role
	Start     time.Time
	End       time.Time
	Created   time.Time
	CreatedBy string
}

// Grant returns the membership as an access grant.
func (m Membership) Grant() Grant {
	return Grant{ServiceID: m.ServiceID, PersonID: m.PersonID, Role: m.Role, Start: m.Start, End: m.End}
}

// EnrolmentCodeTTL is how long an enrolment code works.
const EnrolmentCodeTTL = 15 * time.Minute

// Enrolment guessing limits. Failed attempts are counted per source (see
// [SourceKey]) and per code presented, over a sliding EnrolmentFailureWindow;
// there is no global limit, so one caller's failures never lock out another.
const (
	// MaxEnrolmentFailuresPerSource failed attempts from one source throttle
	// it, even with a valid code, until the oldest leaves the window.
	MaxEnrolmentFailuresPerSource = 20
	// MaxEnrolmentFailuresPerCode failed attempts with one code (a used or
	// expired one, presented again and again, from anywhere) throttle that
	// code; a valid code is never throttled by it, since it does not fail.
	MaxEnrolmentFailuresPerCode = 5
	// EnrolmentFailureWindow is how long a failed attempt counts.
	EnrolmentFailureWindow = 15 * time.Minute
)

// EnrolmentFailures counts the failed enrolment attempts in the last
// EnrolmentFailureWindow that an attempt is judged on.
type EnrolmentFailures struct {
	Source int // from the attempt's source
	Code   int // presenting the attempt's code (by its hash)
}

// ThrottleEnrolment decides whether an enrolment attempt is refused before
// its code counts: it returns a CodeResourceExhausted error if the source
// has failed MaxEnrolmentFailuresPerSource times, or if the code is not
// valid and has failed MaxEnrolmentFailuresPerCode times; otherwise nil,
// and a valid code enrols. A throttled attempt is not counted as a failure,
// so a source that keeps trying is let in again as its failures age, one
// guess at a time.
func ThrottleEnrolment(f EnrolmentFailures, valid bool) error {
	if f.Source >= MaxEnrolmentFailuresPerSource {
		return Errorf(CodeResourceExhausted, "too many failed enrolment attempts from this network; try again in %s", EnrolmentFailureWindow)
	}
	if !valid && f.Code >= MaxEnrolmentFailuresPerCode {
		return Errorf(CodeResourceExhausted, "this enrolment code was tried too often; ask a manager for a new one")
	}
	return nil
}

// IdentityService enrols and revokes devices. Implementations are safe for
// concurrent use; every change is written to the audit log in the same
// transaction.
type IdentityService interface {
	// IssueEnrolmentCode returns a one-time code with which userID enrols a
	// device, and when it expires. Returns CodeNotFound for an unknown user.
	IssueEnrolmentCode(ctx context.Context, actor Principal, userID string) (code string, expires time.Time, err error)

	// Enrol exchanges an enrolment code for a new device and its credential
	// (returned once; only its hash is kept). The attempt is counted under
	// the source in ctx (see [SourceFromContext]; requests without one share
	// the source ""), and judged by [ThrottleEnrolment]: a valid code from a
	// source that is not throttled enrols, whatever others try, if redeems
	// allows it. Returns CodeUnauthenticated for a code that is unknown,
	// used or expired, and CodeResourceExhausted while the source, or the
	// code it presents, has failed too often. A valid code that redeems
	// refuses is answered as a used one and spent, but not counted as a
	// failure: the one who presents it did nothing wrong. Refusals are
	// audited with the source, and redeems' with its reason.
	Enrol(ctx context.Context, code, label string, redeems RedemptionCheck) (Device, string, error)

	// CheckCredential returns the device a credential belongs to. Returns
	// CodeUnauthenticated for a wrong credential and CodeDeviceRevoked for a
	// revoked device.
	CheckCredential(ctx context.Context, deviceID, credential string) (Device, error)

	// CheckDevice returns nil if deviceID is enrolled to userID and not
	// revoked, CodeDeviceRevoked if it was revoked, or CodeUnauthenticated.
	CheckDevice(ctx context.Context, userID, deviceID string) error

	// RevokeDevice revokes a device at once. Returns CodeNotFound for an
	// unknown device.
	RevokeDevice(ctx context.Context, actor Principal, deviceID, reason string) (time.Time, error)
}

// IdentityStore is a store's directory: users, services, people supported,
// memberships, devices, enrolment codes and signing keys — what the
// identity, admin and token services read and change ([IdentityService],
// [AdminStore], [KeyStore]), the grants access is decided from
// ([Authorizer]), and what an operator provisions. Like [AdminStore], it
// does not check who asks. server/storetest's Identity suite is its
// contract.
type IdentityStore interface {
	IdentityService
	AdminStore
	KeyStore
	Authorizer
	// CreateOrganisation, CreateService, CreatePerson and CreateUser add
	// to the directory, audited as actor's: CodeAlreadyExists for an id
	// in use, CodeInvalid for an empty id or one that refers to nothing.
	CreateOrganisation(ctx context.Context, actor Principal, id, name string) error
	CreateService(ctx context.Context, actor Principal, id, organisationID, name string) error
	CreatePerson(ctx context.Context, actor Principal, id, serviceID, name string) error
	CreateUser(ctx context.Context, actor Principal, id, organisationID, name, agency string) error
	// GrantOrganisationAdmin and EndOrganisationAdmin give and end the
	// organisation administrator role (the operator's to decide).
	GrantOrganisationAdmin(ctx context.Context, actor Principal, userID, organisationID string) error
	EndOrganisationAdmin(ctx context.Context, actor Principal, userID, organisationID string) error
	// RotateKey makes a new active signing key; the one it replaces keeps
	// verifying, and older ones are retired.
	RotateKey(ctx context.Context, actor Principal) (SigningKey, error)
	// Users returns the users of an organisation by id, for the operator
	// (shiftsyncd admin list-users), or CodeNotFound if there is no such
	// organisation.
	Users(ctx context.Context, organisationID string) ([]UserEntry, error)
}

// UserEntry is a user as the operator lists them: with their name and when
// they were created.
type UserEntry struct {
	User
	Name    string
	Created time.Time
}

// RedemptionCheck decides, as an enrolment code issued by issuedBy for
// userID is redeemed, whether it may still enrol a device: it returns nil,
// a refusal with CodePermissionDenied whose cause ([RefusalReason]) is the
// reason, or another error, which fails the enrolment. Enrol calls it while
// it holds the store's write lock, so it judges the facts exactly as they
// are when the code is spent. [Admin.RedeemsEnrolmentCode] is the server's.
type RedemptionCheck func(ctx context.Context, userID, issuedBy string) error

// SigningKey is an Ed25519 key that signs access tokens; ID is its `kid`.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
}

// KeyStore holds the signing keys.
type KeyStore interface {
	// ActiveKey returns the key new tokens are signed with.
	ActiveKey(ctx context.Context) (SigningKey, error)
	// PublicKey returns the public half of the key with the given id, or
	// CodeUnauthenticated if there is none or it was retired.
	PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error)
}

// enrolmentAlphabet has no letters or digits that read alike (0/O, 1/I/L).
const enrolmentAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// NewEnrolmentCode returns a random code of 13 characters from a 31-letter
// alphabet (64 bits), grouped for reading aloud: "ABCD-EFGH-JKMNP".
func NewEnrolmentCode() string {
	b := make([]byte, 13)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	var s strings.Builder
	for i, x := range b {
		if i == 4 || i == 8 {
			s.WriteByte('-')
		}
		// 256 % 31 = 8: the first 8 letters are drawn a little more often,
		// which costs well under a bit of the 64.
		s.WriteByte(enrolmentAlphabet[int(x)%len(enrolmentAlphabet)])
	}
	return s.String()
}

// NormaliseEnrolmentCode returns the code as issued, from what a person
// typed: case, spaces and dashes do not matter.
func NormaliseEnrolmentCode(typed string) string {
	var s strings.Builder
	for _, r := range strings.ToUpper(typed) {
		if r == ' ' || r == '-' {
			continue
		}
		if s.Len() == 4 || s.Len() == 9 {
			s.WriteByte('-')
		}
		s.WriteRune(r)
	}
	return s.String()
}
