package replica

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// maxStalledRounds bounds consecutive push rounds that only re-stamp: one
// re-stamp fixes the clock, so a second in a row means the server's clock
// is moving or something is wrong; a third ends the sync.
const maxStalledRounds = 3

// Negative controls: deliberately broken behaviour that the convergence
// property test must catch (TestConvergence_NegativeControls sets them
// through export_test.go). Nothing else ever sets them.
var (
	invertMerge   bool // a pulled value wins only when it is older
	forgetOnError bool // a push that fails drops its batch from the outbox
	dropReceipts  bool // an acknowledged mutation leaves no receipt (TestRestoreDrill_NegativeControl)
)

// SyncReport says what one [Replica.Sync] did.
type SyncReport struct {
	// PushRounds is the number of push requests made.
	PushRounds int64
	// Pushed counts mutations sent, resends included.
	Pushed int64
	// Accepted counts mutations the server stored and merged; they left the
	// outbox.
	Accepted int64
	// Quarantined counts mutations the server refused as invalid; they are
	// kept in the outbox marked rejected and are never resent.
	Quarantined int64
	// Replayed counts the accepted and quarantined mutations (counted there
	// too) that the server had already stored: resends of mutations whose
	// answer was lost, which it answered as it did the first time.
	Replayed int64
	// Restamped counts mutations given a new HLC because the device clock
	// was too far ahead of the server's.
	Restamped int64
	// Conflicts counts fields that the server reported as edited
	// concurrently by another device; ConflictsJSON lists them.
	Conflicts int64
	// ConflictsJSON is a JSON array of {"counter", "recordId", "field"}, one
	// per conflicted field of an accepted mutation; "[]" when none.
	ConflictsJSON string
	// RejectedJSON is a JSON array of {"counter", "recordId", "reasonCode",
	// "reason"}, one per mutation quarantined in this sync; "[]" when none.
	RejectedJSON string
	// Repushed counts receipts re-pushed because the server was restored
	// from a backup (a new epoch): acknowledged mutations the backup may not
	// hold, sent again with their original counters and content.
	Repushed int64
	// PullPages is the number of pull requests made.
	PullPages int64
	// Pulled counts field changes received.
	Pulled int64
	// Applied counts pulled changes that won the merge and changed the
	// replica; the others were older than a local value.
	Applied int64
	// Cursor is the pull cursor after the sync.
	Cursor string
	// ClockOffsetMs is the server clock minus the device clock, as measured
	// by the last push.
	ClockOffsetMs int64
	// Purged counts records deleted from the device because the user lost
	// access to them (a membership ended), with their fields, history,
	// conflicts and rejected changes. PurgedJSON says which.
	Purged int64
	// PurgesDeferred counts scopes the server asked the device to purge
	// that it kept for now, because the outbox holds changes to them not yet
	// sent (made while the sync ran): the next sync sends them, then
	// purges.
	PurgesDeferred int64
	// PurgedJSON is a JSON array of {"serviceId", "personId",
	// "keepPersonIds", "recordTypes", "records", "deferred", "unsent"}, one per scope that
	// this sync purged records of (records, the number deleted) or kept
	// because of unsent changes (deferred true; unsent, how many); "[]" when
	// none. The server repeats a purge at every pull while the access stays
	// lost, so a scope already purged is not listed again.
	PurgedJSON string
	// Verify is what the sync's last step, the comparison of the replica's
	// integrity digests with the server's, found: "match", "mismatch" (it
	// still differed after the repair: MismatchJSON says where),
	// "not_caught_up", "skipped" (the outbox held changes) or "failed" (see
	// VerifyError); "" when the sync failed before it.
	Verify string
	// VerifyError says why the Verify call failed; "" unless Verify is
	// "failed". The sync itself succeeded.
	VerifyError string
	// Repaired counts the buckets the first Verify found differing, whose
	// records were pulled again and written over the replica's (once per
	// sync); RepairedJSON lists them as {"serviceId", "personId",
	// "recordType", "bucket"}, "[]" when none.
	Repaired     int64
	RepairedJSON string
	// MismatchJSON lists, in the same form, the buckets that still differed
	// at the verification after the repair; "[]" when none.
	MismatchJSON string

	repaired  []bucketKey
	mismatch  []bucketKey
	conflicts []conflictJSON
	rejected  []rejectedJSON
	purges    []purgeResult // by scope, in the order first seen
}

// addPurges records the purges of one page. Every page repeats them, so a
// scope counts once: its records add up, and it is deferred if the last
// page that named it deferred it.
func (rep *SyncReport) addPurges(page []purgeResult) {
	for _, p := range page {
		i := slices.IndexFunc(rep.purges, func(q purgeResult) bool { return q.key() == p.key() })
		if i < 0 {
			rep.purges = append(rep.purges, purgeResult{ServiceID: p.ServiceID, PersonID: p.PersonID, KeepPersonIDs: p.KeepPersonIDs, RecordTypes: p.RecordTypes})
			i = len(rep.purges) - 1
		}
		q := &rep.purges[i]
		q.Records += p.Records
		q.Deferred, q.Unsent = p.Deferred, p.Unsent
	}
	rep.Purged, rep.PurgesDeferred = 0, 0
	for _, q := range rep.purges {
		rep.Purged += q.Records
		if q.Deferred {
			rep.PurgesDeferred++
		}
	}
}

// purgedJSON lists the purges that did something.
func (rep *SyncReport) purgedJSON() string {
	var out []purgeResult
	for _, q := range rep.purges {
		if q.Records > 0 || q.Deferred {
			out = append(out, q)
		}
	}
	return mustJSON(out)
}

type conflictJSON struct {
	Counter  int64  `json:"counter"`
	RecordID string `json:"recordId"`
	Field    string `json:"field"`
}

type rejectedJSON struct {
	Counter    int64  `json:"counter"`
	RecordID   string `json:"recordId"`
	ReasonCode string `json:"reasonCode"`
	Reason     string `json:"reason"`
}

// Sync reconciles the replica with the server at serverURL (for example
// "https://sync.example.org"), authenticating with token: it pushes the
// outbox, oldest first in batches of at most [MaxPushBatch], until no
// pending mutation is left, then pulls from the stored cursor until the
// server has no more. A push that stalls (code "stalled": the server will
// not take the oldest pending mutation, see NOT_PROCESSED) still pulls, and
// the sync then returns the stall. It follows the per-mutation rules of
// mobile-contract/README.md:
//
//   - ACCEPTED: the mutation leaves the outbox.
//   - QUARANTINED: the mutation stays in the outbox marked rejected with
//     the server's reason, the record is marked rejected, and it is never
//     resent.
//   - RESTAMP_REQUIRED: the clock offset is taken from the server's clock,
//     and that mutation and every later pending one get new HLCs (same
//     counters), as do the field versions they wrote; then push again.
//   - NOT_PROCESSED: kept, and pushed again.
//
// A pending outbox entry is never deleted for any other reason. A pulled
// page may name scopes the user lost access to (purges): their records are
// deleted, with their rejected outbox entries, unless the outbox holds a
// pending change to one of them, in which case the purge waits for the next
// sync (see [SyncReport].Purged and PurgesDeferred). Each answer is
// applied in one transaction, each pulled page with its purges and cursor
// in one transaction, so a sync that fails part way (code "unavailable" for an
// unreachable server, or the server's ErrorInfo code; see [ErrorCode])
// keeps everything done so far and loses nothing: sync again. A pull the
// server answers with "resync_required" is restarted once from an empty
// cursor. On error the report describes what was done before it.
//
// A sync that pushed everything and pulled to the end then verifies the
// replica (see [SyncReport].Verify): it sends the integrity digests of what
// it holds, and if the server finds a difference pulls the differing
// buckets' records again, writes the server's values over its own and
// verifies once more; a match or mismatch is kept with the server's signed
// answer ([Replica.Verification]).
//
// A "device_revoked" answer wipes the replica: every record, version,
// conflict and outbox entry, the cursor and the device credential are
// deleted, and from then on Create, Edit, Sync and SyncEnrolled return code
// "device_revoked" (so does this Sync). Only [Replica.Enrol] with a new
// code brings the replica back into use. An enrolled device syncs with
// [Replica.SyncEnrolled] instead, which gets its own tokens.
func (r *Replica) Sync(serverURL, token string) (*SyncReport, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	ctx := context.Background()
	rep := &SyncReport{}
	if serverURL == "" {
		return rep, invalidf("a server URL is required")
	}
	if err := checkNotRevoked(ctx, r.read); err != nil {
		return rep, err
	}
	return rep, r.sync(ctx, rep, serverURL, staticToken(token))
}

// sync is one sync of a replica that is not revoked, with r.syncMu held.
func (r *Replica) sync(ctx context.Context, rep *SyncReport, serverURL string, tokens tokenSource) error {
	started := r.nowMS()
	if _, err := r.write.ExecContext(ctx, `UPDATE device SET last_attempt_at = ? WHERE id = 1`, started); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	appVersion, timeout, pageSize := r.settings()
	s := &syncer{
		r:          r,
		tokens:     tokens,
		appVersion: appVersion,
		timeout:    timeout,
		pageSize:   pageSize,
		rep:        rep,
	}
	s.client = syncv1connect.NewSyncServiceClient(r.http, strings.TrimRight(serverURL, "/"),
		connect.WithInterceptors(connect.UnaryInterceptorFunc(s.authenticate)))
	// A push the server stalls on still pulls: purges and new records
	// (briefs, restrictions) must reach the device while its outbox waits.
	// Then the stall is reported, unless the pull failed.
	err := s.push(ctx)
	if err == nil || ErrorCode(err) == CodeStalled {
		if perr := s.pull(ctx); perr != nil {
			err = perr
		}
	}
	// A pull may be the first answer of a restored server: its receipts are
	// re-pushed now, not at the next sync.
	if err == nil {
		err = s.replay(ctx)
	}
	if err == nil {
		err = s.verify(ctx)
	}
	if ErrorCode(err) == CodeDeviceRevoked {
		if werr := r.wipe(ctx); werr != nil {
			return errors.Join(err, werr)
		}
	}
	if cerr := r.finishSync(ctx, rep, err); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// finishSync records the outcome of a sync and completes the report.
func (r *Replica) finishSync(ctx context.Context, rep *SyncReport, syncErr error) error {
	rep.ConflictsJSON, rep.RejectedJSON, rep.PurgedJSON = mustJSON(rep.conflicts), mustJSON(rep.rejected), rep.purgedJSON()
	rep.RepairedJSON, rep.MismatchJSON = mustJSON(rep.repaired), mustJSON(rep.mismatch)
	var err error
	if syncErr != nil {
		_, err = r.write.ExecContext(ctx, `UPDATE device SET last_error = ? WHERE id = 1`, syncErr.Error())
	} else {
		_, err = r.write.ExecContext(ctx, `UPDATE device SET last_error = '', last_sync_at = ? WHERE id = 1`, r.nowMS())
	}
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	st, err := loadState(ctx, r.read)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	rep.Cursor, rep.ClockOffsetMs = st.cursor, st.offsetMS
	return nil
}

func mustJSON[T any](v []T) string {
	if v == nil {
		v = []T{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and numbers always encode
	}
	return string(b)
}

// syncer is the state of one Sync.
type syncer struct {
	r          *Replica
	tokens     tokenSource
	refreshed  bool // the token was refreshed after a "token_expired" or "unauthenticated" answer
	client     syncv1connect.SyncServiceClient
	appVersion string
	timeout    time.Duration
	pageSize   uint32
	rep        *SyncReport
}

// info returns the ClientInfo of the next request, with the outbox as it
// is now: each request reports the outbox at the time it is sent, so the
// pull that follows a push reports what the push left (0 after a full
// sync), and that is what the server shows.
func (s *syncer) info(ctx context.Context) (*syncv1.ClientInfo, error) {
	pending, _, oldestAge, err := s.r.outboxHealth(ctx, s.r.read)
	if err != nil {
		return nil, fmt.Errorf("replica: read outbox: %w", err)
	}
	return &syncv1.ClientInfo{ProtocolVersion: ProtocolVersion, SchemaVersion: SchemaVersion, AppVersion: s.appVersion,
		OutboxDepth: uint32(min(pending, math.MaxUint32)), OldestUnsyncedAgeSeconds: uint64(oldestAge)}, nil
}

// outboxEntry is one pending mutation as stored.
type outboxEntry struct {
	env      envelope
	counter  int64
	hlc      hlc
	fields   []outboxField
	corrects []uint64 // the rejected entries it corrects
}

type outboxField struct {
	position int
	field    string
	value    string
	base     version
}

func (e *outboxEntry) proto() (*syncv1.Mutation, error) {
	m := &syncv1.Mutation{
		Counter:    uint64(e.counter),
		RecordId:   e.env.recordID,
		RecordType: e.env.recordType,
		ServiceId:  e.env.serviceID,
		PersonId:   e.env.personID,
		Hlc:        e.hlc.proto(),
		Fields:     make([]*syncv1.FieldEdit, len(e.fields)),
		Corrects:   e.corrects,
	}
	for i, f := range e.fields {
		v, err := parseValue(f.value)
		if err != nil {
			return nil, err
		}
		m.Fields[i] = &syncv1.FieldEdit{Field: f.field, Value: v, Base: f.base.proto()}
	}
	return m, nil
}

// pendingEntries returns up to limit pending outbox entries with counter at
// least from, oldest first (limit <= 0: all).
func pendingEntries(ctx context.Context, q queryer, from int64, limit int) ([]*outboxEntry, error) {
	lim := -1
	if limit > 0 {
		lim = limit
	}
	rows, err := q.QueryContext(ctx, `
		SELECT counter, record_id, record_type, service_id, person_id, wall_ms, logical, corrects
		FROM outbox WHERE status = 'pending' AND counter >= ? ORDER BY counter LIMIT ?`, from, lim)
	if err != nil {
		return nil, err
	}
	var entries []*outboxEntry
	byCounter := map[int64]*outboxEntry{}
	for rows.Next() {
		e := &outboxEntry{}
		var corrects string
		if err := rows.Scan(&e.counter, &e.env.recordID, &e.env.recordType, &e.env.serviceID, &e.env.personID, &e.hlc.wallMS, &e.hlc.logical, &corrects); err != nil {
			rows.Close()
			return nil, err
		}
		if e.corrects, err = parseCorrects(corrects); err != nil {
			rows.Close()
			return nil, err
		}
		entries = append(entries, e)
		byCounter[e.counter] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(entries) == 0 {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `
		SELECT counter, position, field, value, base_wall_ms, base_logical, base_device_id
		FROM outbox_fields WHERE counter BETWEEN ? AND ? ORDER BY counter, position`,
		entries[0].counter, entries[len(entries)-1].counter)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			counter int64
			f       outboxField
		)
		if err := rows.Scan(&counter, &f.position, &f.field, &f.value, &f.base.hlc.wallMS, &f.base.hlc.logical, &f.base.deviceID); err != nil {
			return nil, err
		}
		if e := byCounter[counter]; e != nil {
			e.fields = append(e.fields, f)
		}
	}
	return entries, rows.Err()
}

// push sends the outbox until no pending entry is left. Changes made while
// it runs are sent too, up to a bound on the rounds so a busy device still
// gets to pull; the next sync sends the rest.
func (s *syncer) push(ctx context.Context) error {
	var pending int64
	if err := s.r.read.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&pending); err != nil {
		return fmt.Errorf("replica: read outbox: %w", err)
	}
	maxRounds := pending/MaxPushBatch + maxStalledRounds + 2
	stalled := 0
	for round := int64(0); round < maxRounds; round++ {
		if err := s.replay(ctx); err != nil {
			return err
		}
		batch, err := pendingEntries(ctx, s.r.read, 0, MaxPushBatch)
		if err != nil {
			return fmt.Errorf("replica: read outbox: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		info, err := s.info(ctx)
		if err != nil {
			return err
		}
		req := &syncv1.PushRequest{Client: info, Mutations: make([]*syncv1.Mutation, len(batch))}
		sentAs := make([][]byte, len(batch)) // each mutation as sent: its receipt once acknowledged
		for i, e := range batch {
			if req.Mutations[i], err = e.proto(); err != nil {
				return err
			}
			if sentAs[i], err = (proto.MarshalOptions{Deterministic: true}).Marshal(req.Mutations[i]); err != nil {
				return err
			}
		}
		sent := s.r.nowMS()
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		res, err := s.client.Push(cctx, req)
		cancel()
		if err != nil {
			if forgetOnError {
				s.forget(ctx, batch)
			}
			return err
		}
		received := s.r.nowMS()
		s.rep.PushRounds++
		s.rep.Pushed += int64(len(batch))
		progress, restamped, err := s.applyPush(ctx, batch, sentAs, res, (sent+received)/2)
		if err != nil {
			return err
		}
		switch {
		case progress:
			stalled = 0
		case s.replayDue(ctx):
			// A restored server, behind this device's counters: the next
			// round re-pushes the receipts first.
		case restamped:
			if stalled++; stalled >= maxStalledRounds {
				return &codedError{Code: CodeStalled, Message: fmt.Sprintf("the server asked %d times in a row to re-stamp counter %d", stalled, batch[0].counter)}
			}
		default:
			why := ""
			for _, r := range res.GetResults() {
				if r.GetStatus() == syncv1.MutationStatus_MUTATION_STATUS_NOT_PROCESSED && r.GetReasonCode() != "" {
					why = fmt.Sprintf(": counter %d refused (%s): %s", r.GetCounter(), r.GetReasonCode(), r.GetReason())
					break
				}
			}
			return &codedError{Code: CodeStalled, Message: fmt.Sprintf(
				"the server processed none of counters %d to %d (it has acknowledged up to %d); the outbox is kept%s",
				batch[0].counter, batch[len(batch)-1].counter, res.GetAcknowledgedCounter(), why)}
		}
	}
	return nil
}

// applyPush applies one push answer in one transaction. It reports whether
// any mutation left the pending state and whether any was re-stamped.
func (s *syncer) applyPush(ctx context.Context, batch []*outboxEntry, sentAs [][]byte, res *syncv1.PushResponse, deviceMS int64) (progress, restamped bool, err error) {
	results := res.GetResults()
	if len(results) != len(batch) {
		return false, false, &codedError{Code: CodeInternal, Message: fmt.Sprintf("push answered %d results for %d mutations", len(results), len(batch))}
	}
	for i, r := range results {
		if int64(r.GetCounter()) != batch[i].counter {
			return false, false, &codedError{Code: CodeInternal, Message: fmt.Sprintf("push result %d is for counter %d, not %d", i, r.GetCounter(), batch[i].counter)}
		}
	}
	rep := s.rep
	var (
		conflicts []conflictJSON
		rejected  []rejectedJSON
		counts    [4]int64 // accepted, quarantined, restamped, replayed
	)
	err = s.r.writeTx(ctx, func(tx *sql.Tx) error {
		conflicts, rejected, counts = nil, nil, [4]int64{}
		st, err := loadState(ctx, tx)
		if err != nil {
			return err
		}
		if res.GetServerTimeMs() > 0 {
			st.offsetMS = res.GetServerTimeMs() - deviceMS
		}
		// A server that has acknowledged counters beyond the device's last
		// one has seen this device id before the replica did (a restored or
		// reinstalled replica): new changes must not reuse those counters.
		// (Pending ones that did are quarantined as counter_reused, and so
		// kept on the server.)
		if ack := int64(res.GetAcknowledgedCounter()); ack > st.lastCounter {
			if _, err := tx.ExecContext(ctx, `UPDATE device SET last_counter = ? WHERE id = 1`, ack); err != nil {
				return err
			}
		}
		now := s.r.nowMS()
		var restampFrom int64
		for i, r := range results {
			e := batch[i]
			if r.GetReplayed() {
				counts[3]++
			}
			switch r.GetStatus() {
			case syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED, syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED:
				if err := keepReceipt(ctx, tx, e.counter, sentAs[i], now); err != nil {
					return err
				}
			}
			switch r.GetStatus() {
			case syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED:
				if err := deleteEntry(ctx, tx, e.counter); err != nil {
					return err
				}
				if err := settleCorrections(ctx, tx, e); err != nil {
					return err
				}
				st.observed = maxHLC(st.observed, e.hlc)
				for _, f := range r.GetConflictedFields() {
					if _, err := tx.ExecContext(ctx, `
						INSERT OR IGNORE INTO conflicts (record_id, field, counter, reported_at) VALUES (?, ?, ?, ?)`,
						e.env.recordID, f, e.counter, now); err != nil {
						return err
					}
					conflicts = append(conflicts, conflictJSON{Counter: e.counter, RecordID: e.env.recordID, Field: f})
				}
				counts[0]++
			case syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED:
				if err := s.r.reject(ctx, tx, e, r, now); err != nil {
					return err
				}
				rejected = append(rejected, rejectedJSON{Counter: e.counter, RecordID: e.env.recordID, ReasonCode: r.GetReasonCode(), Reason: r.GetReason()})
				counts[1]++
			case syncv1.MutationStatus_MUTATION_STATUS_RESTAMP_REQUIRED:
				if restampFrom == 0 {
					restampFrom = e.counter
				}
			default: // NOT_PROCESSED, or a status this client does not know: keep it
			}
		}
		if restampFrom > 0 {
			n, err := s.r.restamp(ctx, tx, &st, restampFrom, now+st.offsetMS)
			if err != nil {
				return err
			}
			counts[2] = int64(n)
		}
		if err := noteBackups(ctx, tx, res.GetBackedUpThrough(), res.GetEpoch()); err != nil {
			return err
		}
		return saveClock(ctx, tx, st)
	})
	if err != nil {
		return false, false, err
	}
	rep.Accepted += counts[0]
	rep.Quarantined += counts[1]
	rep.Restamped += counts[2]
	rep.Replayed += counts[3]
	rep.Conflicts += int64(len(conflicts))
	rep.conflicts = append(rep.conflicts, conflicts...)
	rep.rejected = append(rep.rejected, rejected...)
	return counts[0]+counts[1] > 0, counts[2] > 0, nil
}

// forget drops a batch from the outbox: the lossy-outbox negative control.
func (s *syncer) forget(ctx context.Context, batch []*outboxEntry) {
	_ = s.r.writeTx(ctx, func(tx *sql.Tx) error {
		for _, e := range batch {
			if err := deleteEntry(ctx, tx, e.counter); err != nil {
				return err
			}
		}
		return nil
	})
}

func deleteEntry(ctx context.Context, tx *sql.Tx, counter int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox_fields WHERE counter = ?`, counter); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE counter = ?`, counter)
	return err
}

// reject marks a quarantined entry and its record rejected. Later pending
// edits made on top of its values name a version the server never stored;
// they take the rejected entry's own base instead, the version the server
// still holds.
func (r *Replica) reject(ctx context.Context, tx *sql.Tx, e *outboxEntry, res *syncv1.MutationResult, now int64) error {
	code, reason := res.GetReasonCode(), res.GetReason()
	problems := make([]fieldError, len(res.GetFieldErrors()))
	for i, fe := range res.GetFieldErrors() {
		problems[i] = fieldError{Field: fe.GetField(), Reason: fe.GetReasonCode(), Message: fe.GetReason()}
	}
	fieldErrors := ""
	if len(problems) > 0 {
		fieldErrors = mustJSON(problems)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE outbox SET status = 'rejected', reason_code = ?, reason = ?, field_errors = ?, rejected_at = ? WHERE counter = ?`,
		code, reason, fieldErrors, now, e.counter); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE records SET rejected_code = ?, rejected_reason = ? WHERE record_id = ?`,
		code, reason, e.env.recordID); err != nil {
		return err
	}
	for _, f := range e.fields {
		if _, err := tx.ExecContext(ctx, `
			UPDATE outbox_fields SET base_wall_ms = ?, base_logical = ?, base_device_id = ?
			WHERE field = ? AND base_wall_ms = ? AND base_logical = ? AND base_device_id = ?
			  AND counter IN (SELECT counter FROM outbox WHERE status = 'pending' AND record_id = ? AND counter > ?)`,
			f.base.hlc.wallMS, f.base.hlc.logical, f.base.deviceID,
			f.field, e.hlc.wallMS, e.hlc.logical, r.DeviceID(), e.env.recordID, e.counter); err != nil {
			return err
		}
	}
	return nil
}

// settleCorrections drops the rejected entries an accepted entry
// corrected (the server marked them corrected in its quarantine), and
// clears its record's rejection once none is left.
func settleCorrections(ctx context.Context, tx *sql.Tx, e *outboxEntry) error {
	if len(e.corrects) == 0 {
		return nil
	}
	for _, c := range e.corrects {
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox_fields WHERE counter = ? AND counter IN (
			SELECT counter FROM outbox WHERE status = 'rejected' AND record_id = ?)`, c, e.env.recordID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE counter = ? AND status = 'rejected' AND record_id = ?`, c, e.env.recordID); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `
		UPDATE records SET rejected_code = '', rejected_reason = ''
		WHERE record_id = ? AND NOT EXISTS (SELECT 1 FROM outbox WHERE record_id = ? AND status = 'rejected')`,
		e.env.recordID, e.env.recordID)
	return err
}

// parseCorrects decodes an outbox entry's corrects column.
func parseCorrects(s string) ([]uint64, error) {
	if s == "" {
		return nil, nil
	}
	var counters []uint64
	if err := json.Unmarshal([]byte(s), &counters); err != nil {
		return nil, fmt.Errorf("replica: outbox corrects %q: %w", s, err)
	}
	return counters, nil
}

// restamp gives every pending entry from counter on a new HLC, ticked from
// the greatest HLC the server is known to hold at the corrected time nowMS,
// so that no new stamp reuses a version or precedes its base, and moves the
// field versions and later bases that named the old stamps. It sets the
// device HLC to the last new stamp (below the refused ones: they were never
// stored anywhere but here) and returns the number of entries re-stamped.
func (r *Replica) restamp(ctx context.Context, tx *sql.Tx, st *deviceState, from, nowMS int64) (int, error) {
	entries, err := pendingEntries(ctx, tx, from, 0)
	if err != nil {
		return 0, err
	}
	h := st.observed
	me := st.deviceID
	moved := map[hlc]hlc{}
	digests := newDigester(tx)
	for _, e := range entries {
		var maxBase hlc
		for i := range e.fields {
			f := &e.fields[i]
			if n, ok := moved[f.base.hlc]; ok && f.base.deviceID == me {
				f.base.hlc = n
				if _, err := tx.ExecContext(ctx, `
					UPDATE outbox_fields SET base_wall_ms = ?, base_logical = ? WHERE counter = ? AND position = ?`,
					n.wallMS, n.logical, e.counter, f.position); err != nil {
					return 0, err
				}
			}
			maxBase = maxHLC(maxBase, f.base.hlc)
		}
		h = maxHLC(h, maxBase).tick(nowMS)
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET wall_ms = ?, logical = ?, restamps = restamps + 1 WHERE counter = ?`,
			h.wallMS, h.logical, e.counter); err != nil {
			return 0, err
		}
		for _, f := range e.fields {
			args := []any{h.wallMS, h.logical, e.env.recordID, f.field, me, e.hlc.wallMS, e.hlc.logical}
			if err := digests.remove(ctx, e.env.recordID, f.field); err != nil {
				return 0, err
			}
			if _, err := tx.ExecContext(ctx, `
				UPDATE fields SET wall_ms = ?, logical = ?
				WHERE record_id = ? AND field = ? AND device_id = ? AND wall_ms = ? AND logical = ?`, args...); err != nil {
				return 0, err
			}
			if err := digests.add(ctx, e.env.recordID, f.field); err != nil {
				return 0, err
			}
			if _, err := tx.ExecContext(ctx, `
				UPDATE OR IGNORE field_history SET wall_ms = ?, logical = ?
				WHERE record_id = ? AND field = ? AND device_id = ? AND wall_ms = ? AND logical = ?`, args...); err != nil {
				return 0, err
			}
		}
		moved[e.hlc] = h
	}
	if len(entries) > 0 {
		st.last = h
	}
	return len(entries), digests.flush(ctx)
}

// pull fetches pages from the stored cursor until the server has no more.
func (s *syncer) pull(ctx context.Context) error {
	resynced := false
	for {
		st, err := loadState(ctx, s.r.read)
		if err != nil {
			return fmt.Errorf("replica: %w", err)
		}
		info, err := s.info(ctx)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		res, err := s.client.Pull(cctx, &syncv1.PullRequest{Client: info, Cursor: st.cursor, PageSize: s.pageSize})
		cancel()
		if err != nil {
			if ErrorCode(err) == "resync_required" && !resynced && st.cursor != "" {
				resynced = true
				if _, err := s.r.write.ExecContext(ctx, `UPDATE device SET pull_cursor = '' WHERE id = 1`); err != nil {
					return fmt.Errorf("replica: %w", err)
				}
				continue
			}
			return err
		}
		s.rep.PullPages++
		s.rep.Pulled += int64(len(res.GetChanges()))
		page, err := s.r.applyPage(ctx, res)
		if err != nil {
			return err
		}
		s.rep.Applied += page.applied
		s.rep.addPurges(page.purges)
		if !res.GetHasMore() {
			return nil
		}
		if res.GetNextCursor() == st.cursor && len(res.GetChanges()) == 0 {
			return &codedError{Code: CodeStalled, Message: "the server says more changes follow but sent none and kept the cursor"}
		}
	}
}
