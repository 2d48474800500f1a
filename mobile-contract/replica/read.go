package replica

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Status is the replica's sync health, for a status screen: what the
// device holds that exists nowhere else.
type Status struct {
	// DeviceID is the device the replica belongs to.
	DeviceID string
	// OutboxDepth is the number of pending mutations: changes not yet
	// acknowledged by the server.
	OutboxDepth int64
	// Rejected is the number of mutations the server quarantined, kept on
	// the device marked rejected.
	Rejected int64
	// RejectedRecords is the number of records marked rejected.
	RejectedRecords int64
	// Records is the number of records on the device.
	Records int64
	// OldestUnsyncedAgeSeconds is how long ago, by the device clock, the
	// oldest pending mutation was made; 0 when the outbox is empty.
	OldestUnsyncedAgeSeconds int64
	// LastCounter is the last mutation counter used.
	LastCounter int64
	// LastSyncUnixMs is when the last complete sync ended (device clock,
	// Unix milliseconds); 0 if the replica never synced.
	LastSyncUnixMs int64
	// LastAttemptUnixMs is when the last sync, complete or not, started.
	LastAttemptUnixMs int64
	// LastError is why the last sync failed; "" if it did not.
	LastError string
	// Cursor is the pull cursor; "" before the first pull.
	Cursor string
	// ClockOffsetMs is the server clock minus the device clock, as measured
	// by the last push.
	ClockOffsetMs int64
	// Enrolled is true when the replica holds a device credential from
	// [Replica.Enrol], so [Replica.SyncEnrolled] can sync it.
	Enrolled bool
	// UserID is the user the device enrolled for; "" if it never enrolled.
	UserID string
	// ServerURL is the server the device enrolled with; "" if it never
	// enrolled.
	ServerURL string
	// EnrolledUnixMs is when the device enrolled (device clock, Unix
	// milliseconds); 0 if it never did.
	EnrolledUnixMs int64
	// Revoked is true when the server revoked the device: the replica was
	// wiped (it holds no records and no outbox) and refuses writes and
	// syncs until it is enrolled again.
	Revoked bool
	// RevokedUnixMs is when the replica learnt of the revocation and wiped
	// itself (device clock, Unix milliseconds); 0 if it was not revoked.
	RevokedUnixMs int64
	// VerifiedUnixMs is when the server last compared the replica's
	// integrity digests with its own and answered (device clock, Unix
	// milliseconds); 0 if it never did. VerifiedCursor is the cursor it
	// compared at, and MismatchJSON the buckets that still differed after
	// that sync's repair, as [SyncReport].MismatchJSON, "[]" when it
	// matched. [Replica.Verification] has the server's signed answer.
	VerifiedUnixMs int64
	VerifiedCursor string
	MismatchJSON   string
}

// Status returns the replica's sync health.
func (r *Replica) Status() (*Status, error) {
	ctx := context.Background()
	s := &Status{}
	err := r.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `
			SELECT device_id, last_counter, last_sync_at, last_attempt_at, last_error, pull_cursor, clock_offset_ms,
			       device_credential <> '', user_id, server_url, enrolled_at, revoked_at,
			       verified_at, verified_cursor, CASE verify_mismatch WHEN '' THEN '[]' ELSE verify_mismatch END
			FROM device WHERE id = 1`).
			Scan(&s.DeviceID, &s.LastCounter, &s.LastSyncUnixMs, &s.LastAttemptUnixMs, &s.LastError, &s.Cursor, &s.ClockOffsetMs,
				&s.Enrolled, &s.UserID, &s.ServerURL, &s.EnrolledUnixMs, &s.RevokedUnixMs,
				&s.VerifiedUnixMs, &s.VerifiedCursor, &s.MismatchJSON); err != nil {
			return err
		}
		s.Revoked = s.RevokedUnixMs != 0
		var err error
		if s.OutboxDepth, s.Rejected, s.OldestUnsyncedAgeSeconds, err = r.outboxHealth(ctx, tx); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE rejected_code <> '') FROM records`).
			Scan(&s.Records, &s.RejectedRecords)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// outboxHealth returns how many outbox entries are pending and rejected,
// and how many seconds ago the oldest pending one was made (0 if none).
func (r *Replica) outboxHealth(ctx context.Context, q queryer) (pending, rejected, oldestAgeSeconds int64, err error) {
	var oldest sql.NullInt64
	if err := q.QueryRowContext(ctx, `
		SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'rejected'),
		       min(created_at) FILTER (WHERE status = 'pending')
		FROM outbox`).Scan(&pending, &rejected, &oldest); err != nil {
		return 0, 0, 0, err
	}
	if oldest.Valid {
		oldestAgeSeconds = max(0, (r.nowMS()-oldest.Int64)/1000)
	}
	return pending, rejected, oldestAgeSeconds, nil
}

// recordJSON is the JSON form of a record returned by RecordJSON.
type recordJSON struct {
	ID        string                `json:"id"`
	Type      string                `json:"type"`
	ServiceID string                `json:"serviceId"`
	PersonID  string                `json:"personId,omitempty"`
	CreatedAt int64                 `json:"createdAtMs"`
	Pending   int                   `json:"pendingMutations"`
	Rejected  *rejectionJSON        `json:"rejected,omitempty"`
	Fields    map[string]*fieldJSON `json:"fields"`
	History   []historyJSON         `json:"history,omitempty"`
	Outbox    []outboxJSON          `json:"outbox,omitempty"`
}

type rejectionJSON struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
	// FieldErrors is every problem the server found with the rejected
	// change, the first being Code: what the user has to fix.
	FieldErrors []fieldError `json:"fieldErrors,omitempty"`
}

type fieldJSON struct {
	Value        json.RawMessage `json:"value"`
	Version      json.RawMessage `json:"version"`
	AuthorUserID string          `json:"authorUserId,omitempty"`
	Pending      bool            `json:"pending,omitempty"`
	Conflict     bool            `json:"conflict,omitempty"`
}

type historyJSON struct {
	Field        string          `json:"field"`
	Value        json.RawMessage `json:"value"`
	Version      json.RawMessage `json:"version"`
	Origin       string          `json:"origin"`
	Counter      int64           `json:"counter,omitempty"`
	AuthorUserID string          `json:"authorUserId,omitempty"`
	RecordedAt   int64           `json:"recordedAtMs"`
	Winning      bool            `json:"winning,omitempty"`
}

type outboxJSON struct {
	Counter    int64           `json:"counter"`
	Status     string          `json:"status"`
	HLC        json.RawMessage `json:"hlc"`
	Fields     []string        `json:"fields"`
	ReasonCode string          `json:"reasonCode,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	// FieldErrors lists a rejected entry's problems; Corrects the rejected
	// entries a pending one corrects.
	FieldErrors []fieldError `json:"fieldErrors,omitempty"`
	Corrects    []uint64     `json:"corrects,omitempty"`
	Restamps    int64        `json:"restamps,omitempty"`
	CreatedAt   int64        `json:"createdAtMs"`
}

// RecordJSON returns the record with id as a JSON object: its envelope
// ("id", "type", "serviceId", "personId"), "fields" mapping each field name
// to {"value", "version", "authorUserId", "pending", "conflict"} (value as
// in [Replica.Create], version as the protobuf JSON of
// shiftsync.sync.v1.Version; pending when a local edit of it is not yet
// accepted; conflict when the server reported a concurrent edit of it),
// "rejected" {"code", "reason", "fieldErrors"} when the server quarantined
// a change to it (fieldErrors: every problem it found, each {"field",
// "reason", "message"}; an edit of the record corrects it, see
// [Replica.Edit]),
// "history" (every version of every field the device has seen, oldest
// first) and "outbox" (its pending and rejected mutations). It returns code
// "not_found" when the device has no such record.
func (r *Replica) RecordJSON(id string) (string, error) {
	ctx := context.Background()
	var rec recordJSON
	err := r.readTx(ctx, func(tx *sql.Tx) error {
		env, err := loadEnvelope(ctx, tx, id)
		if err != nil {
			return err
		}
		rec = recordJSON{ID: id, Type: env.recordType, ServiceID: env.serviceID, PersonID: env.personID, Fields: map[string]*fieldJSON{}}
		var rej rejectionJSON
		if err := tx.QueryRowContext(ctx, `SELECT created_at, rejected_code, rejected_reason FROM records WHERE record_id = ?`, id).
			Scan(&rec.CreatedAt, &rej.Code, &rej.Reason); err != nil {
			return err
		}
		if rej.Code != "" {
			rec.Rejected = &rej
		}
		if err := eachRow(ctx, tx, func(rows *sql.Rows) error {
			var (
				name, value, author string
				v                   version
			)
			if err := rows.Scan(&name, &value, &v.hlc.wallMS, &v.hlc.logical, &v.deviceID, &author); err != nil {
				return err
			}
			rec.Fields[name] = &fieldJSON{Value: json.RawMessage(value), Version: versionJSON(v), AuthorUserID: author}
			return nil
		}, `SELECT field, value, wall_ms, logical, device_id, author_user_id FROM fields WHERE record_id = ?`, id); err != nil {
			return err
		}
		if err := eachRow(ctx, tx, func(rows *sql.Rows) error {
			var (
				h     historyJSON
				v     version
				value string
			)
			if err := rows.Scan(&h.Field, &value, &v.hlc.wallMS, &v.hlc.logical, &v.deviceID, &h.Origin, &h.Counter, &h.AuthorUserID, &h.RecordedAt); err != nil {
				return err
			}
			h.Value, h.Version = json.RawMessage(value), versionJSON(v)
			if f := rec.Fields[h.Field]; f != nil && bytes.Equal(f.Version, h.Version) {
				h.Winning = true
			}
			rec.History = append(rec.History, h)
			return nil
		}, `SELECT field, value, wall_ms, logical, device_id, origin, counter, author_user_id, recorded_at
			FROM field_history WHERE record_id = ? ORDER BY wall_ms, logical, device_id, field`, id); err != nil {
			return err
		}
		if err := eachRow(ctx, tx, func(rows *sql.Rows) error {
			var field string
			if err := rows.Scan(&field); err != nil {
				return err
			}
			if f := rec.Fields[field]; f != nil {
				f.Conflict = true
			}
			return nil
		}, `SELECT DISTINCT field FROM conflicts WHERE record_id = ?`, id); err != nil {
			return err
		}
		entries := map[int64]*outboxJSON{}
		if err := eachRow(ctx, tx, func(rows *sql.Rows) error {
			var (
				o                     outboxJSON
				h                     hlc
				fieldErrors, corrects string
				err                   error
			)
			if err := rows.Scan(&o.Counter, &o.Status, &h.wallMS, &h.logical, &o.ReasonCode, &o.Reason, &fieldErrors, &corrects, &o.Restamps, &o.CreatedAt); err != nil {
				return err
			}
			if fieldErrors != "" {
				if err := json.Unmarshal([]byte(fieldErrors), &o.FieldErrors); err != nil {
					return fmt.Errorf("replica: outbox %d field errors: %w", o.Counter, err)
				}
			}
			if o.Corrects, err = parseCorrects(corrects); err != nil {
				return err
			}
			if o.Status == "rejected" && rec.Rejected != nil && o.ReasonCode == rec.Rejected.Code {
				rec.Rejected.FieldErrors = o.FieldErrors // the newest rejection's
			}
			o.HLC = protoJSON(h.proto())
			o.Fields = []string{}
			rec.Outbox = append(rec.Outbox, o)
			if o.Status == "pending" {
				rec.Pending++
			}
			return nil
		}, `SELECT counter, status, wall_ms, logical, reason_code, reason, field_errors, corrects, restamps, created_at
			FROM outbox WHERE record_id = ? ORDER BY counter`, id); err != nil {
			return err
		}
		for i := range rec.Outbox {
			entries[rec.Outbox[i].Counter] = &rec.Outbox[i]
		}
		return eachRow(ctx, tx, func(rows *sql.Rows) error {
			var (
				counter int64
				field   string
			)
			if err := rows.Scan(&counter, &field); err != nil {
				return err
			}
			if o := entries[counter]; o != nil {
				o.Fields = append(o.Fields, field)
				if f := rec.Fields[field]; f != nil && o.Status == "pending" {
					f.Pending = true
				}
			}
			return nil
		}, `SELECT f.counter, f.field FROM outbox_fields f JOIN outbox o ON o.counter = f.counter
			WHERE o.record_id = ? ORDER BY f.counter, f.position`, id)
	})
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(rec)
	return string(b), err
}

// listItemJSON is one record in ListJSON.
type listItemJSON struct {
	ID        string                     `json:"id"`
	Type      string                     `json:"type"`
	ServiceID string                     `json:"serviceId"`
	PersonID  string                     `json:"personId,omitempty"`
	Pending   bool                       `json:"pending,omitempty"`
	Rejected  string                     `json:"rejected,omitempty"`
	Fields    map[string]json.RawMessage `json:"fields"`
}

// ListJSON returns every record on the device as a JSON array, oldest id
// first, each {"id", "type", "serviceId", "personId", "pending" (a change
// to it is not yet accepted), "rejected" (the quarantine reason code, if
// any), "fields" (field name to value, as in [Replica.Create])}.
func (r *Replica) ListJSON() (string, error) {
	ctx := context.Background()
	items := []*listItemJSON{}
	err := r.readTx(ctx, func(tx *sql.Tx) error {
		byID := map[string]*listItemJSON{}
		if err := eachRow(ctx, tx, func(rows *sql.Rows) error {
			it := &listItemJSON{Fields: map[string]json.RawMessage{}}
			if err := rows.Scan(&it.ID, &it.Type, &it.ServiceID, &it.PersonID, &it.Rejected, &it.Pending); err != nil {
				return err
			}
			items = append(items, it)
			byID[it.ID] = it
			return nil
		}, `SELECT record_id, record_type, service_id, person_id, rejected_code,
			EXISTS (SELECT 1 FROM outbox o WHERE o.record_id = r.record_id AND o.status = 'pending')
			FROM records r ORDER BY record_id`); err != nil {
			return err
		}
		return eachRow(ctx, tx, func(rows *sql.Rows) error {
			var id, field, value string
			if err := rows.Scan(&id, &field, &value); err != nil {
				return err
			}
			if it := byID[id]; it != nil {
				it.Fields[field] = json.RawMessage(value)
			}
			return nil
		}, `SELECT record_id, field, value FROM fields`)
	})
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(items)
	return string(b), err
}

// OutboxJSON returns the outbox as a JSON array, oldest first: every
// pending and rejected mutation as {"counter", "recordId", "status",
// "hlc", "fields", "reasonCode", "reason", "restamps", "createdAtMs"}.
func (r *Replica) OutboxJSON() (string, error) {
	ctx := context.Background()
	type entryJSON struct {
		RecordID string `json:"recordId"`
		outboxJSON
	}
	out := []*entryJSON{}
	err := r.readTx(ctx, func(tx *sql.Tx) error {
		byCounter := map[int64]*entryJSON{}
		if err := eachRow(ctx, tx, func(rows *sql.Rows) error {
			e := &entryJSON{}
			var h hlc
			if err := rows.Scan(&e.Counter, &e.RecordID, &e.Status, &h.wallMS, &h.logical, &e.ReasonCode, &e.Reason, &e.Restamps, &e.CreatedAt); err != nil {
				return err
			}
			e.HLC, e.Fields = protoJSON(h.proto()), []string{}
			out = append(out, e)
			byCounter[e.Counter] = e
			return nil
		}, `SELECT counter, record_id, status, wall_ms, logical, reason_code, reason, restamps, created_at FROM outbox ORDER BY counter`); err != nil {
			return err
		}
		return eachRow(ctx, tx, func(rows *sql.Rows) error {
			var (
				counter int64
				field   string
			)
			if err := rows.Scan(&counter, &field); err != nil {
				return err
			}
			if e := byCounter[counter]; e != nil {
				e.Fields = append(e.Fields, field)
			}
			return nil
		}, `SELECT counter, field FROM outbox_fields ORDER BY counter, position`)
	})
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// eachRow runs query and calls fn for each row.
func eachRow(ctx context.Context, q queryer, fn func(*sql.Rows) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func versionJSON(v version) json.RawMessage {
	if v.isZero() {
		return json.RawMessage(`null`)
	}
	return protoJSON(v.proto())
}

// protoJSON returns m's protobuf JSON, compacted.
func protoJSON(m proto.Message) json.RawMessage {
	b, err := protojson.Marshal(m)
	if err != nil {
		return json.RawMessage(`null`)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return json.RawMessage(`null`)
	}
	return buf.Bytes()
}
