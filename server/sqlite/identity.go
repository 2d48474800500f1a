package sqlite

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/mattn/go-sqlite3"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var (
	_ shiftsync.IdentityService = (*IdentityService)(nil)
	_ shiftsync.KeyStore        = (*IdentityService)(nil)
	_ shiftsync.Authorizer      = (*IdentityService)(nil)
)

// IdentityService implements [shiftsync.IdentityService], the
// [shiftsync.KeyStore] of token signing keys, and the [shiftsync.Authorizer]
// that decides access from memberships, on a [DB].
type IdentityService struct {
	db *DB
}

// NewIdentityService returns the identity service of db.
func NewIdentityService(db *DB) *IdentityService { return &IdentityService{db: db} }

func detail(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// CreateOrganisation adds an organisation.
func (s *IdentityService) CreateOrganisation(ctx context.Context, actor shiftsync.Principal, id, name string) error {
	return s.create(ctx, actor, "organisation", id, `INSERT INTO organisations (id, name, created_at) VALUES (?, ?, ?)`, id, name)
}

// CreateService adds a service of an organisation.
func (s *IdentityService) CreateService(ctx context.Context, actor shiftsync.Principal, id, organisationID, name string) error {
	return s.create(ctx, actor, "service", id, `INSERT INTO services (id, organisation_id, name, created_at) VALUES (?, ?, ?, ?)`, id, organisationID, name)
}

// CreatePerson adds a person supported by a service.
func (s *IdentityService) CreatePerson(ctx context.Context, actor shiftsync.Principal, id, serviceID, name string) error {
	return s.create(ctx, actor, "person", id, `INSERT INTO people (id, service_id, name, created_at) VALUES (?, ?, ?, ?)`, id, serviceID, name)
}

// CreateUser adds a user of an organisation; agency names a partner agency
// for external users.
func (s *IdentityService) CreateUser(ctx context.Context, actor shiftsync.Principal, id, organisationID, name, agency string) error {
	return s.create(ctx, actor, "user", id, `INSERT INTO users (id, organisation_id, name, agency, created_at) VALUES (?, ?, ?, ?, ?)`, id, organisationID, name, agency)
}

func (s *IdentityService) create(ctx context.Context, actor shiftsync.Principal, kind, id, query string, args ...any) error {
	if id == "" {
		return shiftsync.Errorf(shiftsync.CodeInvalid, "a %s needs an id", kind)
	}
	return s.db.update(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, query, append(args, tx.now.UnixMilli())...); err != nil {
			return createError(err, kind, id)
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: actor, Action: shiftsync.AuditAdminCreate, Subject: id, Detail: detail(map[string]string{"kind": kind})})
	})
}

// AddMembership gives a user a role, recorded now by actor; it returns the
// membership's id.
func (s *IdentityService) AddMembership(ctx context.Context, actor shiftsync.Principal, m shiftsync.Membership) (int64, error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	var id int64
	err := s.db.update(ctx, func(tx *Tx) error {
		var end any
		if !m.End.IsZero() {
			end = m.End.UnixMilli()
		}
		res, err := tx.exec(ctx, `INSERT INTO memberships (user_id, service_id, person_id, role, starts_at, ends_at, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			m.UserID, m.ServiceID, m.PersonID, string(m.Role), m.Start.UnixMilli(), end, tx.now.UnixMilli(), actor.UserID)
		if err != nil {
			return createError(err, "membership", m.UserID)
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: actor, Action: shiftsync.AuditMembershipAdd, Subject: m.UserID,
			Detail: detail(map[string]any{"membership": id, "service": m.ServiceID, "person": m.PersonID, "role": m.Role})})
	})
	return id, err
}

// EndMembership ends a membership at a time. Returns CodeNotFound for an
// unknown membership.
func (s *IdentityService) EndMembership(ctx context.Context, actor shiftsync.Principal, id int64, at time.Time) error {
	return s.db.update(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE memberships SET ends_at = ? WHERE id = ?`, at.UnixMilli(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return shiftsync.Errorf(shiftsync.CodeNotFound, "membership %d does not exist", id)
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: actor, Action: shiftsync.AuditMembershipEnd, Subject: fmt.Sprint(id), Detail: detail(map[string]any{"ends_at": at.UTC()})})
	})
}

// SetPersonName implements [shiftsync.AdminStore].
func (s *IdentityService) SetPersonName(ctx context.Context, actor shiftsync.Principal, personID, name string) error {
	return s.db.update(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE people SET name = ? WHERE id = ?`, name, personID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return shiftsync.Errorf(shiftsync.CodeNotFound, "person %q does not exist", personID)
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: actor, Action: shiftsync.AuditPersonName, Subject: personID, Detail: detail(map[string]any{"name": name})})
	})
}

// createError turns constraint failures into clear domain errors.
func createError(err error, kind, id string) error {
	if isConstraint(err, sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey) {
		return shiftsync.Errorf(shiftsync.CodeAlreadyExists, "%s %q already exists", kind, id)
	}
	if isConstraint(err, sqlite3.ErrConstraintForeignKey, sqlite3.ErrConstraintCheck, sqlite3.ErrConstraintNotNull) {
		return shiftsync.Errorf(shiftsync.CodeInvalid, "%s %q refers to something that does not exist, or has an invalid value", kind, id)
	}
	return err
}

// IssueEnrolmentCode implements [shiftsync.IdentityService] with a
// [shiftsync.Enrolment] over the DB.
func (s *IdentityService) IssueEnrolmentCode(ctx context.Context, actor shiftsync.Principal, userID string) (string, time.Time, error) {
	return s.enrolment().IssueEnrolmentCode(ctx, actor, userID)
}

// Enrol implements [shiftsync.IdentityService] with a [shiftsync.Enrolment]
// over the DB.
func (s *IdentityService) Enrol(ctx context.Context, code, label string, redeems shiftsync.RedemptionCheck) (shiftsync.Device, string, error) {
	return s.enrolment().Enrol(ctx, code, label, redeems)
}

func (s *IdentityService) enrolment() shiftsync.Enrolment {
	return shiftsync.Enrolment{Store: s.db, Now: s.db.Now, NewDeviceID: func() string { return uuid.Must(uuid.NewV7()).String() }}
}

// UserExists implements [shiftsync.IdentityTx].
func (tx *Tx) UserExists(ctx context.Context, id string) (bool, error) {
	var exists bool
	err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)`, id).Scan(&exists)
	return exists, err
}

// InsertEnrolmentCode implements [shiftsync.IdentityTx].
func (tx *Tx) InsertEnrolmentCode(ctx context.Context, c shiftsync.EnrolmentCode) error {
	_, err := tx.exec(ctx, `INSERT INTO enrolment_codes (code_hash, user_id, issued_by, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		c.Hash, c.UserID, c.IssuedBy, c.IssuedAt.UnixMilli(), c.ExpiresAt.UnixMilli())
	return err
}

// PendingEnrolmentCode implements [shiftsync.IdentityTx].
func (tx *Tx) PendingEnrolmentCode(ctx context.Context, hash []byte, now time.Time) (*shiftsync.EnrolmentCode, error) {
	c := &shiftsync.EnrolmentCode{Hash: hash}
	var issued, expires int64
	err := tx.queryRow(ctx, `SELECT user_id, issued_by, issued_at, expires_at FROM enrolment_codes WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?`,
		hash, now.UnixMilli()).Scan(&c.UserID, &c.IssuedBy, &issued, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	c.IssuedAt, c.ExpiresAt = time.UnixMilli(issued).UTC(), time.UnixMilli(expires).UTC()
	return c, nil
}

// SpendEnrolmentCode implements [shiftsync.IdentityTx].
func (tx *Tx) SpendEnrolmentCode(ctx context.Context, hash []byte, at time.Time, deviceID string) error {
	if deviceID == "" {
		_, err := tx.exec(ctx, `UPDATE enrolment_codes SET used_at = ? WHERE code_hash = ?`, at.UnixMilli(), hash)
		return err
	}
	_, err := tx.exec(ctx, `UPDATE enrolment_codes SET used_at = ?, device_id = ? WHERE code_hash = ?`, at.UnixMilli(), deviceID, hash)
	return err
}

// EnrolmentFailures implements [shiftsync.IdentityTx].
func (tx *Tx) EnrolmentFailures(ctx context.Context, source string, codeHash []byte, since time.Time) (shiftsync.EnrolmentFailures, error) {
	var f shiftsync.EnrolmentFailures
	err := tx.queryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM enrolment_failures WHERE source = ? AND at > ?),
		(SELECT COUNT(*) FROM enrolment_failures WHERE code_hash = ? AND at > ?)`,
		source, since.UnixMilli(), codeHash, since.UnixMilli()).Scan(&f.Source, &f.Code)
	return f, err
}

// InsertEnrolmentFailure implements [shiftsync.IdentityTx].
func (tx *Tx) InsertEnrolmentFailure(ctx context.Context, source string, codeHash []byte, at time.Time) error {
	_, err := tx.exec(ctx, `INSERT INTO enrolment_failures (at, source, code_hash) VALUES (?, ?, ?)`, at.UnixMilli(), source, codeHash)
	return err
}

// PruneEnrolmentFailures implements [shiftsync.IdentityTx].
func (tx *Tx) PruneEnrolmentFailures(ctx context.Context, before time.Time) error {
	_, err := tx.exec(ctx, `DELETE FROM enrolment_failures WHERE at <= ?`, before.UnixMilli())
	return err
}

// InsertDevice implements [shiftsync.IdentityTx].
func (tx *Tx) InsertDevice(ctx context.Context, d shiftsync.Device, credentialHash []byte) error {
	_, err := tx.exec(ctx, `INSERT INTO devices (id, user_id, label, kind, credential_hash, enrolled_at) VALUES (?, ?, ?, ?, ?, ?)`,
		d.ID, d.UserID, d.Label, string(d.Kind), credentialHash, d.EnrolledAt.UnixMilli())
	return err
}

// CheckCredential implements [shiftsync.IdentityService].
func (s *IdentityService) CheckCredential(ctx context.Context, deviceID, credential string) (shiftsync.Device, error) {
	d, hash, err := s.device(ctx, deviceID)
	if err == nil && subtle.ConstantTimeCompare(hash, shiftsync.HashSecret(credential)) != 1 {
		err = shiftsync.Errorf(shiftsync.CodeUnauthenticated, "unknown device or wrong credential")
	}
	if err == nil && !d.RevokedAt.IsZero() {
		err = shiftsync.Errorf(shiftsync.CodeDeviceRevoked, "this device was revoked: wipe its replica and enrol again")
	}
	return d, err
}

// CheckDevice implements [shiftsync.IdentityService].
func (s *IdentityService) CheckDevice(ctx context.Context, userID, deviceID string) error {
	d, _, err := s.device(ctx, deviceID)
	switch {
	case err != nil:
		return err
	case d.UserID != userID:
		return shiftsync.Errorf(shiftsync.CodeUnauthenticated, "unknown device or wrong credential")
	case !d.RevokedAt.IsZero():
		return shiftsync.Errorf(shiftsync.CodeDeviceRevoked, "this device was revoked: wipe its replica and enrol again")
	}
	return nil
}

func (s *IdentityService) device(ctx context.Context, id string) (shiftsync.Device, []byte, error) {
	d := shiftsync.Device{ID: id}
	var (
		hash     []byte
		enrolled int64
		revoked  sql.NullInt64
	)
	err := s.db.devices.QueryRowContext(ctx, `SELECT user_id, label, kind, credential_hash, enrolled_at, revoked_at FROM devices WHERE id = ?`, id).
		Scan(&d.UserID, &d.Label, &d.Kind, &hash, &enrolled, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return d, nil, shiftsync.Errorf(shiftsync.CodeUnauthenticated, "unknown device or wrong credential")
	} else if err != nil {
		return d, nil, storageError(err)
	}
	d.EnrolledAt = time.UnixMilli(enrolled).UTC()
	if revoked.Valid {
		d.RevokedAt = time.UnixMilli(revoked.Int64).UTC()
	}
	return d, hash, nil
}

// RevokeDevice implements [shiftsync.IdentityService].
func (s *IdentityService) RevokeDevice(ctx context.Context, actor shiftsync.Principal, deviceID, reason string) (time.Time, error) {
	var at time.Time
	err := s.db.update(ctx, func(tx *Tx) error {
		at = tx.now
		res, err := tx.exec(ctx, `UPDATE devices SET revoked_at = COALESCE(revoked_at, ?), revoke_reason = ? WHERE id = ?`, at.UnixMilli(), reason, deviceID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return shiftsync.Errorf(shiftsync.CodeNotFound, "device %q does not exist", deviceID)
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: actor, Action: shiftsync.AuditRevoke, Subject: deviceID, Detail: detail(map[string]string{"reason": reason})})
	})
	return at, err
}

// Scope implements [shiftsync.Authorizer]: the grants of every membership
// the principal's user ever had, with their times, so a write is judged at
// the time it was made as well as now.
func (s *IdentityService) Scope(ctx context.Context, p shiftsync.Principal) (shiftsync.Scope, error) {
	rows, err := s.db.read.QueryContext(ctx, `
		SELECT m.service_id, m.person_id, m.role, u.agency, m.starts_at, m.ends_at
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.user_id = ?`, p.UserID)
	if err != nil {
		return shiftsync.Scope{}, storageError(err)
	}
	defer rows.Close()
	var granted shiftsync.Scope
	for rows.Next() {
		var (
			g     shiftsync.Grant
			role  string
			start int64
			end   sql.NullInt64
		)
		if err := rows.Scan(&g.ServiceID, &g.PersonID, &role, &g.Agency, &start, &end); err != nil {
			return shiftsync.Scope{}, storageError(err)
		}
		g.Role, g.Start = shiftsync.Role(role), time.UnixMilli(start).UTC()
		if end.Valid {
			g.End = time.UnixMilli(end.Int64).UTC()
		}
		granted.Grants = append(granted.Grants, g)
	}
	return granted, storageError(rows.Err())
}

// ActiveKey implements [shiftsync.KeyStore]: the newest unretired key, made
// on first use.
func (s *IdentityService) ActiveKey(ctx context.Context) (shiftsync.SigningKey, error) {
	var k shiftsync.SigningKey
	var priv []byte
	err := s.db.read.QueryRowContext(ctx, `SELECT kid, private_key FROM signing_keys WHERE retired_at IS NULL ORDER BY id DESC LIMIT 1`).Scan(&k.ID, &priv)
	if errors.Is(err, sql.ErrNoRows) {
		return s.RotateKey(ctx, shiftsync.Principal{UserID: "system"})
	} else if err != nil {
		return k, storageError(err)
	}
	k.Private = ed25519.PrivateKey(priv)
	return k, nil
}

// PublicKey implements [shiftsync.KeyStore].
func (s *IdentityService) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	var priv []byte
	err := s.db.read.QueryRowContext(ctx, `SELECT private_key FROM signing_keys WHERE kid = ? AND retired_at IS NULL`, kid).Scan(&priv)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, shiftsync.Errorf(shiftsync.CodeUnauthenticated, "unknown signing key")
	} else if err != nil {
		return nil, storageError(err)
	}
	return ed25519.PrivateKey(priv).Public().(ed25519.PublicKey), nil
}

// RotateKey makes a new active signing key. The key it replaces keeps
// verifying, so nobody is logged out; keys older than that are retired.
func (s *IdentityService) RotateKey(ctx context.Context, actor shiftsync.Principal) (shiftsync.SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return shiftsync.SigningKey{}, err
	}
	kid := make([]byte, 8)
	_, _ = rand.Read(kid)
	k := shiftsync.SigningKey{ID: hex.EncodeToString(kid), Private: priv}
	err = s.db.update(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL AND kid NOT IN
			(SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY id DESC LIMIT 1)`, tx.now.UnixMilli()); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO signing_keys (kid, private_key, created_at) VALUES (?, ?, ?)`, k.ID, []byte(priv), tx.now.UnixMilli()); err != nil {
			return err
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: actor, Action: shiftsync.AuditKeyRotate, Subject: k.ID})
	})
	return k, err
}

var _ shiftsync.AdminStore = (*IdentityService)(nil)

// Device implements [shiftsync.AdminStore].
func (s *IdentityService) Device(ctx context.Context, id string) (shiftsync.Device, error) {
	d, _, err := s.device(ctx, id)
	if shiftsync.ErrorCode(err) == shiftsync.CodeUnauthenticated {
		return d, shiftsync.Errorf(shiftsync.CodeNotFound, "device %q does not exist", id)
	}
	return d, err
}

// membershipColumns are the columns scanMembership reads.
const membershipColumns = `id, user_id, service_id, person_id, role, starts_at, ends_at, created_at, created_by`

func scanMembership(row interface{ Scan(...any) error }) (shiftsync.Membership, error) {
	var (
		m              shiftsync.Membership
		role           string
		start, created int64
		end            sql.NullInt64
	)
	if err := row.Scan(&m.ID, &m.UserID, &m.ServiceID, &m.PersonID, &role, &start, &end, &created, &m.CreatedBy); err != nil {
		return m, err
	}
	m.Role, m.Start, m.Created = shiftsync.Role(role), time.UnixMilli(start).UTC(), time.UnixMilli(created).UTC()
	if end.Valid {
		m.End = time.UnixMilli(end.Int64).UTC()
	}
	return m, nil
}

// Membership implements [shiftsync.AdminStore].
func (s *IdentityService) Membership(ctx context.Context, id int64) (shiftsync.Membership, error) {
	m, err := scanMembership(s.db.read.QueryRowContext(ctx, `SELECT `+membershipColumns+` FROM memberships WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, shiftsync.Errorf(shiftsync.CodeNotFound, "membership %d does not exist", id)
	}
	return m, storageError(err)
}

// Memberships implements [shiftsync.AdminStore].
func (s *IdentityService) Memberships(ctx context.Context, userID string) ([]shiftsync.Membership, error) {
	return s.memberships(ctx, `SELECT `+membershipColumns+` FROM memberships WHERE user_id = ? ORDER BY id`, userID)
}

// ServiceMemberships implements [shiftsync.AdminStore].
func (s *IdentityService) ServiceMemberships(ctx context.Context, serviceID string) ([]shiftsync.Membership, error) {
	return s.memberships(ctx, `SELECT `+membershipColumns+` FROM memberships WHERE service_id = ? ORDER BY id`, serviceID)
}

func (s *IdentityService) memberships(ctx context.Context, query string, args ...any) ([]shiftsync.Membership, error) {
	rows, err := s.db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	var ms []shiftsync.Membership
	for rows.Next() {
		m, err := scanMembership(rows)
		if err != nil {
			return nil, storageError(err)
		}
		ms = append(ms, m)
	}
	return ms, storageError(rows.Err())
}

// User implements [shiftsync.AdminStore].
func (s *IdentityService) User(ctx context.Context, id string) (shiftsync.User, error) {
	u := shiftsync.User{ID: id}
	err := s.db.read.QueryRowContext(ctx, `SELECT organisation_id, agency FROM users WHERE id = ?`, id).Scan(&u.OrganisationID, &u.Agency)
	if errors.Is(err, sql.ErrNoRows) {
		return u, shiftsync.Errorf(shiftsync.CodeNotFound, "user %q does not exist", id)
	}
	return u, storageError(err)
}

// Users implements [shiftsync.IdentityStore].
func (s *IdentityService) Users(ctx context.Context, organisationID string) ([]shiftsync.UserEntry, error) {
	var n int
	if err := s.db.read.QueryRowContext(ctx, `SELECT count(*) FROM organisations WHERE id = ?`, organisationID).Scan(&n); err != nil {
		return nil, storageError(err)
	}
	if n == 0 {
		return nil, shiftsync.Errorf(shiftsync.CodeNotFound, "organisation %q does not exist", organisationID)
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, name, agency, created_at FROM users WHERE organisation_id = ? ORDER BY id`, organisationID)
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	var users []shiftsync.UserEntry
	for rows.Next() {
		u := shiftsync.UserEntry{User: shiftsync.User{OrganisationID: organisationID}}
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &u.Agency, &created); err != nil {
			return nil, storageError(err)
		}
		u.Created = time.UnixMilli(created).UTC()
		users = append(users, u)
	}
	return users, storageError(rows.Err())
}

// ServiceOrganisation implements [shiftsync.AdminStore].
func (s *IdentityService) ServiceOrganisation(ctx context.Context, serviceID string) (string, error) {
	var org string
	err := s.db.read.QueryRowContext(ctx, `SELECT organisation_id FROM services WHERE id = ?`, serviceID).Scan(&org)
	if errors.Is(err, sql.ErrNoRows) {
		return "", shiftsync.Errorf(shiftsync.CodeNotFound, "service %q does not exist", serviceID)
	}
	return org, storageError(err)
}

// PersonService implements [shiftsync.AdminStore].
func (s *IdentityService) PersonService(ctx context.Context, personID string) (string, error) {
	var service string
	err := s.db.read.QueryRowContext(ctx, `SELECT service_id FROM people WHERE id = ?`, personID).Scan(&service)
	if errors.Is(err, sql.ErrNoRows) {
		return "", shiftsync.Errorf(shiftsync.CodeNotFound, "person %q does not exist", personID)
	}
	return service, storageError(err)
}

// OrganisationAdmins implements [shiftsync.AdminStore].
func (s *IdentityService) OrganisationAdmins(ctx context.Context, userID string) ([]shiftsync.OrganisationAdmin, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT organisation_id, granted_at, ended_at FROM organisation_admins WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	var grants []shiftsync.OrganisationAdmin
	for rows.Next() {
		g := shiftsync.OrganisationAdmin{UserID: userID}
		var (
			start int64
			end   sql.NullInt64
		)
		if err := rows.Scan(&g.OrganisationID, &start, &end); err != nil {
			return nil, storageError(err)
		}
		g.Start = time.UnixMilli(start).UTC()
		if end.Valid {
			g.End = time.UnixMilli(end.Int64).UTC()
		}
		grants = append(grants, g)
	}
	return grants, storageError(rows.Err())
}

// GrantOrganisationAdmin makes a user an organisation administrator of
// their organisation from now: what only the operator does. Returns
// CodeInvalid if the user is not one of the organisation's, and
// CodeAlreadyExists if they already are its administrator.
func (s *IdentityService) GrantOrganisationAdmin(ctx context.Context, actor shiftsync.Principal, userID, organisationID string) error {
	return s.db.update(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO organisation_admins (user_id, organisation_id, granted_at, granted_by) VALUES (?, ?, ?, ?)`,
			userID, organisationID, tx.now.UnixMilli(), actor.UserID)
		switch {
		case isConstraint(err, sqlite3.ErrConstraintForeignKey):
			return shiftsync.Errorf(shiftsync.CodeInvalid, "%q is not a user of organisation %q", userID, organisationID)
		case isConstraint(err, sqlite3.ErrConstraintUnique):
			return shiftsync.Errorf(shiftsync.CodeAlreadyExists, "%q is already an administrator of organisation %q", userID, organisationID)
		case err != nil:
			return err
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: actor, Action: shiftsync.AuditOrgAdminGrant, Subject: userID, Detail: detail(map[string]string{"organisation": organisationID})})
	})
}

// EndOrganisationAdmin ends a user's organisation administrator role now.
// Returns CodeNotFound if they hold none in force.
func (s *IdentityService) EndOrganisationAdmin(ctx context.Context, actor shiftsync.Principal, userID, organisationID string) error {
	return s.db.update(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE organisation_admins SET ended_at = ?, ended_by = ? WHERE user_id = ? AND organisation_id = ? AND ended_at IS NULL`,
			tx.now.UnixMilli(), actor.UserID, userID, organisationID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return shiftsync.Errorf(shiftsync.CodeNotFound, "%q is not an administrator of organisation %q", userID, organisationID)
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: actor, Action: shiftsync.AuditOrgAdminEnd, Subject: userID, Detail: detail(map[string]string{"organisation": organisationID})})
	})
}

// Devices implements [shiftsync.AdminStore].
func (s *IdentityService) Devices(ctx context.Context, userIDs []string) ([]shiftsync.DeviceStatus, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(userIDs))
	for i, id := range userIDs {
		args[i] = id
	}
	rows, err := s.db.read.QueryContext(ctx, `
		SELECT d.id, d.user_id, d.label, d.kind, d.enrolled_at, d.revoked_at, c.last_push_at
		FROM devices d LEFT JOIN device_counters c ON c.device_id = d.id
		WHERE d.user_id IN (`+sqlList(len(args))+`)
		ORDER BY d.enrolled_at DESC, d.id`, args...)
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	var list []shiftsync.DeviceStatus
	for rows.Next() {
		var (
			d                 shiftsync.DeviceStatus
			enrolled          int64
			revoked, lastPush sql.NullInt64
		)
		if err := rows.Scan(&d.ID, &d.UserID, &d.Label, &d.Kind, &enrolled, &revoked, &lastPush); err != nil {
			return nil, storageError(err)
		}
		d.EnrolledAt = time.UnixMilli(enrolled).UTC()
		if revoked.Valid {
			d.RevokedAt = time.UnixMilli(revoked.Int64).UTC()
		}
		if lastPush.Valid {
			d.LastPushAt = time.UnixMilli(lastPush.Int64).UTC()
		}
		list = append(list, d)
	}
	return list, storageError(rows.Err())
}
