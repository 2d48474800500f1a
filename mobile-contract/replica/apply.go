package replica

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// pageResult is what applying one pulled page did.
type pageResult struct {
	applied int64 // changes that won the merge
	purges  []purgeResult
}

// applyPage merges one pulled page into the replica, carries out its purges
// and stores its cursor, in one transaction. A pulled value replaces the
// local one only when its version is greater; the outbox is not touched.
// The changes are merged in their order in the page, each seeing the ones
// before it. The HLC then observes the greatest pulled version. Purges come
// after the changes, so nothing of a purged scope survives the page (see
// applyPurges).
//
// The page costs a bounded number of statements, whatever its size: one
// read of the records it names with their fields, then multi-row writes of
// the new records, the changed fields and the history (see execRows). The
// merge and the digest deltas are worked out in memory in between, from the
// rows read and the pulled values themselves.
func (r *Replica) applyPage(ctx context.Context, page *syncv1.PullResponse) (pageResult, error) {
	var applied int64
	var purges []purgeResult
	err := r.writeTx(ctx, func(tx *sql.Tx) error {
		applied, purges = 0, nil
		st, err := loadState(ctx, tx)
		if err != nil {
			return err
		}
		m := newPageMerge(tx, r.nowMS())
		if err := m.load(ctx, page.GetChanges()); err != nil {
			return err
		}
		var newest hlc
		for _, c := range page.GetChanges() {
			won, err := m.merge(c)
			if err != nil {
				return err
			}
			if won {
				applied++
			}
			newest = maxHLC(newest, versionFromProto(c.GetVersion()).hlc)
		}
		if err := m.write(ctx); err != nil {
			return err
		}
		if newest != (hlc{}) {
			st.observed = maxHLC(st.observed, newest)
			st.last = st.last.observe(newest, m.now+st.offsetMS)
			if err := saveClock(ctx, tx, st); err != nil {
				return err
			}
		}
		if err := m.digests.flush(ctx); err != nil {
			return err
		}
		if purges, err = applyPurges(ctx, tx, page.GetPurges()); err != nil {
			return err
		}
		if slices.ContainsFunc(purges, func(p purgeResult) bool { return p.Records > 0 }) {
			if err := rebuildDigests(ctx, tx); err != nil {
				return err
			}
		}
		if err := noteBackups(ctx, tx, page.GetBackedUpThrough(), page.GetEpoch()); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE device SET pull_cursor = ? WHERE id = 1`, page.GetNextCursor())
		return err
	})
	if err != nil {
		return pageResult{}, err
	}
	return pageResult{applied: applied, purges: purges}, nil
}

// pageMerge is one pulled page being merged in its transaction: the
// records it names and their fields, as the replica held them before the
// page and then as its changes, merged so far, leave them.
type pageMerge struct {
	tx         *sql.Tx
	now        int64
	records    map[string]*pageRecord
	newRecords []*pageRecord // not held before the page, in the order first named
	fields     map[fieldKey]*pageField
	written    []*pageField // fields the page changed, in the order first changed
	history    []any        // the history rows, historyColumns arguments each, in page order
	digests    *digester
}

// pageRecord is a record a page names.
type pageRecord struct {
	env    envelope  // as held, or for a new record as the page first names it
	bucket bucketKey // its digest bucket, of the unit of env
}

type fieldKey struct{ recordID, field string }

// pageField is a field of a record a page names.
type pageField struct {
	record *pageRecord
	field  string
	v      version
	value  string // the stored form (valueJSON)
	author string
	// elem is the field's digest element when a change of the page wrote
	// it (elemKnown); a held row's is read from its stored form when
	// needed.
	elem      digest
	elemKnown bool
	written   bool // the page changed the row: it is written back
}

func newPageMerge(tx *sql.Tx, now int64) *pageMerge {
	return &pageMerge{tx: tx, now: now, records: map[string]*pageRecord{}, fields: map[fieldKey]*pageField{}, digests: newDigester(tx)}
}

// load reads the records the changes name, with their fields, and notes
// the records the replica does not hold yet with the envelope of the first
// change naming them.
func (m *pageMerge) load(ctx context.Context, changes []*syncv1.FieldChange) error {
	var ids []any
	seen := make(map[string]bool, len(changes)/4+1)
	for _, c := range changes {
		if !seen[c.GetRecordId()] {
			seen[c.GetRecordId()] = true
			ids = append(ids, c.GetRecordId())
		}
	}
	for len(ids) > 0 {
		n := chunkRows(len(ids))
		query := `
			SELECT r.record_id, r.record_type, r.service_id, r.person_id, f.field, f.value, f.wall_ms, f.logical, f.device_id, f.author_user_id
			FROM records r LEFT JOIN fields f ON f.record_id = r.record_id
			WHERE r.record_id IN (` + placeholders(n) + `)`
		if err := eachRow(ctx, m.tx, m.scanHeld, query, ids[:n]...); err != nil {
			return fmt.Errorf("replica: read pulled records: %w", err)
		}
		ids = ids[n:]
	}
	for _, c := range changes {
		if m.records[c.GetRecordId()] == nil {
			rec := newPageRecord(envelope{c.GetRecordId(), c.GetRecordType(), c.GetServiceId(), c.GetPersonId()})
			m.records[c.GetRecordId()] = rec
			m.newRecords = append(m.newRecords, rec)
		}
	}
	return nil
}

// scanHeld reads one row of load's query.
func (m *pageMerge) scanHeld(rows *sql.Rows) error {
	var (
		env                  envelope
		field, value, device sql.NullString
		author               sql.NullString
		wallMS, logical      sql.NullInt64
	)
	if err := rows.Scan(&env.recordID, &env.recordType, &env.serviceID, &env.personID, &field, &value, &wallMS, &logical, &device, &author); err != nil {
		return err
	}
	rec := m.records[env.recordID]
	if rec == nil {
		rec = newPageRecord(env)
		m.records[env.recordID] = rec
	}
	if field.Valid {
		m.fields[fieldKey{env.recordID, field.String}] = &pageField{
			record: rec, field: field.String, value: value.String, author: author.String,
			v: version{hlc{wallMS.Int64, uint32(logical.Int64)}, device.String},
		}
	}
	return nil
}

func newPageRecord(env envelope) *pageRecord {
	unit := digestUnit{ServiceID: env.serviceID, PersonID: env.personID, RecordType: env.recordType}
	return &pageRecord{env: env, bucket: bucketKey{unit, digestBucket(env.recordID)}}
}

// merge merges one pulled change into the fields as the page left them so
// far and appends its history row; it reports whether the change won (its
// version is greater than the field's, or the field is new).
func (m *pageMerge) merge(c *syncv1.FieldChange) (bool, error) {
	v := versionFromProto(c.GetVersion())
	value, err := valueJSON(c.GetValue())
	if err != nil {
		return false, fmt.Errorf("replica: pulled value of %s.%s: %w", c.GetRecordId(), c.GetField(), err)
	}
	m.history = append(m.history, c.GetRecordId(), c.GetField(), v.hlc.wallMS, v.hlc.logical, v.deviceID, value, "pulled", c.GetAuthorUserId(), m.now)
	key := fieldKey{c.GetRecordId(), c.GetField()}
	f := m.fields[key]
	var local version
	if f != nil {
		local = f.v
	}
	cmp := v.compare(local)
	if invertMerge {
		cmp = -cmp
	}
	switch {
	case f == nil || cmp > 0:
		if f == nil {
			f = &pageField{record: m.records[key.recordID], field: key.field}
			m.fields[key] = f
		} else {
			old, err := f.element()
			if err != nil {
				return false, err
			}
			m.digests.subElement(f.record.bucket, old)
		}
		f.v, f.value, f.author = v, value, c.GetAuthorUserId()
		if f.elem, err = storedElement(key.recordID, key.field, v, c.GetValue(), value); err != nil {
			return false, fmt.Errorf("replica: digest of %s.%s: %w", key.recordID, key.field, err)
		}
		f.elemKnown = true
		m.digests.addElement(f.record.bucket, f.elem)
		m.markWritten(f)
		return true, nil
	case cmp == 0: // our own edit, back from the server: learn its author
		f.author = c.GetAuthorUserId()
		m.markWritten(f)
	}
	return false, nil
}

// element returns the field's digest element as it is now.
func (f *pageField) element() (digest, error) {
	if f.elemKnown {
		return f.elem, nil
	}
	e, err := element(f.record.env.recordID, f.field, f.v, f.value)
	if err != nil {
		return digest{}, fmt.Errorf("replica: digest of %s.%s: %w", f.record.env.recordID, f.field, err)
	}
	return e, nil
}

func (m *pageMerge) markWritten(f *pageField) {
	if !f.written {
		f.written = true
		m.written = append(m.written, f)
	}
}

// historyColumns is the number of arguments of a history row.
const historyColumns = 9

// write stores what the merge did: the new records, then the changed
// fields and the history rows, which name them.
func (m *pageMerge) write(ctx context.Context) error {
	recs := make([]any, 0, 5*len(m.newRecords))
	for _, rec := range m.newRecords {
		recs = append(recs, rec.env.recordID, rec.env.recordType, rec.env.serviceID, rec.env.personID, m.now)
	}
	if err := execRows(ctx, m.tx, `INSERT INTO records (record_id, record_type, service_id, person_id, created_at)`,
		` ON CONFLICT (record_id) DO NOTHING`, 5, recs); err != nil {
		return fmt.Errorf("replica: write pulled records: %w", err)
	}
	fields := make([]any, 0, 7*len(m.written))
	for _, f := range m.written {
		fields = append(fields, f.record.env.recordID, f.field, f.value, f.v.hlc.wallMS, f.v.hlc.logical, f.v.deviceID, f.author)
	}
	if err := execRows(ctx, m.tx, `INSERT INTO fields (record_id, field, value, wall_ms, logical, device_id, author_user_id)`,
		` ON CONFLICT (record_id, field) DO UPDATE SET value = excluded.value, wall_ms = excluded.wall_ms,
		   logical = excluded.logical, device_id = excluded.device_id, author_user_id = excluded.author_user_id`, 7, fields); err != nil {
		return fmt.Errorf("replica: write pulled fields: %w", err)
	}
	// A change pulled twice keeps its first value and the last author, as
	// one row after another would.
	if err := execRows(ctx, m.tx, `INSERT INTO field_history (record_id, field, wall_ms, logical, device_id, value, origin, author_user_id, recorded_at)`,
		` ON CONFLICT (record_id, field, wall_ms, logical, device_id) DO UPDATE SET author_user_id = excluded.author_user_id`,
		historyColumns, m.history); err != nil {
		return fmt.Errorf("replica: write pulled history: %w", err)
	}
	return nil
}

// maxStatementRows bounds the rows of one multi-row statement (a power of
// two, far below SQLite's limit of 32,766 parameters).
const maxStatementRows = 256

// chunkRows returns how many of n rows (n > 0) the next statement takes:
// maxStatementRows, or for fewer the greatest power of two at most n. A
// page of any size thus runs through a few distinct statements, which the
// connection keeps prepared (see dsn).
func chunkRows(n int) int {
	return 1 << (bits.Len(uint(min(n, maxStatementRows))) - 1)
}

// execRows runs head VALUES (...), (...)... tail over args, a row of cols
// arguments after another, in as few statements as chunkRows allows. The
// rows are written in order, each as one INSERT of its own would be.
func execRows(ctx context.Context, tx *sql.Tx, head, tail string, cols int, args []any) error {
	row := `(` + placeholders(cols) + `)`
	for len(args) > 0 {
		n := chunkRows(len(args) / cols)
		query := head + ` VALUES ` + row + strings.Repeat(`, `+row, n-1) + tail
		if _, err := tx.ExecContext(ctx, query, args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}
