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
// rows read and the pulled values themselves. The history of a record whose
// fields are now exactly the page's changes of it, as for every record of a
// first pull, is copied from its fields rows, not sent again.
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
	order      []*pageRecord // every record the page names, in the order first named
	newRecords []*pageRecord // those not held before the page
	fields     map[fieldKey]*pageField
	written    []*pageField // fields the page changed, in the order first changed
	history    []historyRow // one per version of a field the page names, in the order first named
	digests    *digester
	spare      []pageField // allocated for fields not seen yet
}

// pageRecord is a record a page names.
type pageRecord struct {
	env    envelope  // as held, or for a new record as the page first names it
	bucket bucketKey // its digest bucket, of the unit of env
	// fields counts the record's fields, held or new; history its history
	// rows in the page.
	fields, history int
	copyHistory     bool // its history rows are copied from its fields rows
}

type fieldKey struct{ recordID, field string }

// historyRow is the history row of one version of a field: pulled more
// than once in a page, it keeps the first value and the last author, as
// one upsert after another would.
type historyRow struct {
	field  *pageField
	v      version
	value  string
	author string
	prev   int // the field's history row before it in the page, plus one; 0 for none
}

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
	history   int  // its last history row in the page, plus one; 0 for none
}

func newPageMerge(tx *sql.Tx, now int64) *pageMerge {
	return &pageMerge{tx: tx, now: now, records: map[string]*pageRecord{}, fields: map[fieldKey]*pageField{}, digests: newDigester(tx)}
}

// expect sizes the merge for a page of n changes.
func (m *pageMerge) expect(n int) {
	m.fields = make(map[fieldKey]*pageField, n)
	m.history = make([]historyRow, 0, n)
	m.written = make([]*pageField, 0, n)
	m.spare = make([]pageField, 0, n)
}

// newField returns a new field of a record the page names.
func (m *pageMerge) newField(rec *pageRecord, field string) *pageField {
	if len(m.spare) == cap(m.spare) {
		m.spare = make([]pageField, 0, 256)
	}
	m.spare = m.spare[:len(m.spare)+1]
	f := &m.spare[len(m.spare)-1]
	f.record, f.field = rec, field
	rec.fields++
	m.fields[fieldKey{rec.env.recordID, field}] = f
	return f
}

// load reads the records the changes name, with their fields, and notes
// the records the replica does not hold yet with the envelope of the first
// change naming them.
func (m *pageMerge) load(ctx context.Context, changes []*syncv1.FieldChange) error {
	m.expect(len(changes))
	var ids []any
	first := make(map[string]*syncv1.FieldChange, len(changes)/4+1)
	for _, c := range changes {
		if first[c.GetRecordId()] == nil {
			first[c.GetRecordId()] = c
			ids = append(ids, c.GetRecordId())
		}
	}
	for rest := ids; len(rest) > 0; {
		n := chunkRows(len(rest))
		query := `
			SELECT r.record_id, r.record_type, r.service_id, r.person_id, f.field, f.value, f.wall_ms, f.logical, f.device_id, f.author_user_id
			FROM records r LEFT JOIN fields f ON f.record_id = r.record_id
			WHERE r.record_id IN (` + placeholders(n) + `)`
		if err := eachRow(ctx, m.tx, m.scanHeld, query, rest[:n]...); err != nil {
			return fmt.Errorf("replica: read pulled records: %w", err)
		}
		rest = rest[n:]
	}
	for _, id := range ids {
		rec := m.records[id.(string)]
		if rec == nil {
			c := first[id.(string)]
			rec = newPageRecord(envelope{c.GetRecordId(), c.GetRecordType(), c.GetServiceId(), c.GetPersonId()})
			m.records[c.GetRecordId()] = rec
			m.newRecords = append(m.newRecords, rec)
		}
		m.order = append(m.order, rec)
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
		f := m.newField(rec, field.String)
		f.v, f.value, f.author = version{hlc{wallMS.Int64, uint32(logical.Int64)}, device.String}, value.String, author.String
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
	f := m.fields[fieldKey{c.GetRecordId(), c.GetField()}]
	missing := f == nil
	if missing {
		f = m.newField(m.records[c.GetRecordId()], c.GetField())
	}
	m.addHistory(f, v, value, c.GetAuthorUserId())
	cmp := v.compare(f.v) // f.v is zero for a missing field
	if invertMerge {
		cmp = -cmp
	}
	switch {
	case missing || cmp > 0:
		if !missing {
			old, err := f.element()
			if err != nil {
				return false, err
			}
			m.digests.subElement(f.record.bucket, old)
		}
		f.v, f.value, f.author = v, value, c.GetAuthorUserId()
		if f.elem, err = storedElement(c.GetRecordId(), c.GetField(), v, c.GetValue(), value); err != nil {
			return false, fmt.Errorf("replica: digest of %s.%s: %w", c.GetRecordId(), c.GetField(), err)
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

// addHistory notes the history row of a pulled version of a field.
func (m *pageMerge) addHistory(f *pageField, v version, value, author string) {
	for i := f.history; i > 0; i = m.history[i-1].prev {
		if m.history[i-1].v == v {
			m.history[i-1].author = author
			return
		}
	}
	m.history = append(m.history, historyRow{field: f, v: v, value: value, author: author, prev: f.history})
	f.history = len(m.history)
	f.record.history++
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

// write stores what the merge did: the new records, then the changed
// fields and the history rows, which name them.
func (m *pageMerge) write(ctx context.Context) error {
	recs := make([]any, 0, 5*len(m.newRecords))
	for _, rec := range m.newRecords {
		recs = append(recs, rec.env.recordID, rec.env.recordType, rec.env.serviceID, rec.env.personID, m.now)
	}
	if err := execRows(ctx, m.tx, `INSERT INTO records (record_id, record_type, service_id, person_id, created_at) VALUES`,
		`(?, ?, ?, ?, ?)`, ` ON CONFLICT (record_id) DO NOTHING`, nil, recs); err != nil {
		return fmt.Errorf("replica: write pulled records: %w", err)
	}
	fields := make([]any, 0, 7*len(m.written))
	for _, f := range m.written {
		fields = append(fields, f.record.env.recordID, f.field, f.value, f.v.hlc.wallMS, f.v.hlc.logical, f.v.deviceID, f.author)
	}
	if err := execRows(ctx, m.tx, `INSERT INTO fields (record_id, field, value, wall_ms, logical, device_id, author_user_id) VALUES`,
		`(?, ?, ?, ?, ?, ?, ?)`, ` ON CONFLICT (record_id, field) DO UPDATE SET value = excluded.value, wall_ms = excluded.wall_ms,
		   logical = excluded.logical, device_id = excluded.device_id, author_user_id = excluded.author_user_id`, nil, fields); err != nil {
		return fmt.Errorf("replica: write pulled fields: %w", err)
	}
	return m.writeHistory(ctx)
}

// historyUpsert is the conflict clause of the history rows: a version
// pulled again keeps its value and takes the last author.
const historyUpsert = ` ON CONFLICT (record_id, field, wall_ms, logical, device_id) DO UPDATE SET author_user_id = excluded.author_user_id`

// writeHistory stores the page's history rows. A record whose fields rows,
// as just written, are exactly its history rows (the same fields, versions,
// values and authors) has them copied from its fields rows; the others are
// sent.
func (m *pageMerge) writeHistory(ctx context.Context) error {
	for _, rec := range m.order {
		rec.copyHistory = rec.history == rec.fields
	}
	for _, h := range m.history {
		if f := h.field; f.v != h.v || f.value != h.value || f.author != h.author {
			f.record.copyHistory = false
		}
	}
	var ids, rows []any
	for _, rec := range m.order {
		if rec.copyHistory {
			ids = append(ids, rec.env.recordID)
		}
	}
	for _, h := range m.history {
		if !h.field.record.copyHistory {
			rows = append(rows, h.field.record.env.recordID, h.field.field, h.v.hlc.wallMS, h.v.hlc.logical, h.v.deviceID, h.value, h.author, m.now)
		}
	}
	if err := execRows(ctx, m.tx, `INSERT INTO field_history (record_id, field, wall_ms, logical, device_id, value, origin, author_user_id, recorded_at)
		SELECT record_id, field, wall_ms, logical, device_id, value, 'pulled', author_user_id, ? FROM fields WHERE record_id IN (`,
		`?`, `)`+historyUpsert, []any{m.now}, ids); err != nil {
		return fmt.Errorf("replica: copy pulled history: %w", err)
	}
	if err := execRows(ctx, m.tx, `INSERT INTO field_history (record_id, field, wall_ms, logical, device_id, value, origin, author_user_id, recorded_at) VALUES`,
		`(?, ?, ?, ?, ?, ?, 'pulled', ?, ?)`, historyUpsert, nil, rows); err != nil {
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

// execRows runs head, then a comma-separated list of rows, each the row
// template with its placeholders filled by the next arguments of rows, then
// tail, in as
// few statements as chunkRows allows, each taking first the arguments
// before (of placeholders in head). The rows are written in order, each as
// a statement of its own would write it.
func execRows(ctx context.Context, tx *sql.Tx, head, row, tail string, before, rows []any) error {
	cols := strings.Count(row, "?")
	args := make([]any, 0, len(before)+cols*min(len(rows)/cols, maxStatementRows))
	for len(rows) > 0 {
		n := chunkRows(len(rows) / cols)
		query := head + ` ` + row + strings.Repeat(`, `+row, n-1) + tail
		args = append(append(args[:0], before...), rows[:n*cols]...)
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return err
		}
		rows = rows[n*cols:]
	}
	return nil
}
