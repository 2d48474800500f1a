package shiftsync

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Evidence pack rows (encoding shiftsync-pack-row/v2).
//
// Each record of a pack is one row, shown the same in the pack's HTML table
// and its CSV: record id, record type, event time, author, recorded at,
// received at and summary ([PackRowColumns]). A row's hash is recomputable
// by whoever holds the pack, from the row alone:
//
//	canonical row = ns("shiftsync-pack-row/v2") ns(record_id) ns(record_type)
//	                ns(event_time) ns(author) ns(recorded_at) ns(received_at)
//	                ns(summary)
//	row hash      = lowercase hex SHA-256 of the canonical row
//	root          = lowercase hex SHA-256 of ns("shiftsync-pack-manifest/v2")
//	                followed by ns(row hash) for each row, in the pack's order
//
// where ns(s) is the netstring of s: its length in bytes in decimal, ":",
// its UTF-8 bytes, ",". Each value is exactly the text the row shows: times
// in RFC 3339 in UTC to the second ("2026-03-02T07:40:00Z"), the author's
// user id, the summary as one line. Every value is valid UTF-8 with no
// control characters (the export replaces each with U+FFFD, and the
// summary's runs of white space with one space), so HTML and CSV carry it
// unchanged. The manifest kept at export holds the row hashes in order and
// the root; a pack printed or handed on shows each row's hash and the
// root, so changing a cell without recomputing them is caught offline, and
// changing them too is caught against the manifest the server kept.
//
// Packs exported before this encoding (no "encoding" in their manifest,
// "v1") verify by pack id only: their hashes cover the stored record in a
// form the pack does not show.
const (
	PackRowEncoding  = "shiftsync-pack-row/v2"
	packManifestRoot = "shiftsync-pack-manifest/v2"
)

// PackRowColumns are a pack row's columns, in the order they are hashed
// and shown.
var PackRowColumns = []string{"record_id", "record_type", "event_time", "author", "recorded_at", "received_at", "summary"}

// PackRow is one record of an evidence pack as its row shows it.
type PackRow struct {
	RecordID, RecordType string
	EventTime            string // RFC 3339, UTC, seconds
	Author               string // the user who created the record
	RecordedAt           string
	ReceivedAt           string
	Summary              string
}

// NewPackRow returns the row of a record whose event happened at
// eventTime.
func NewPackRow(r *Record, eventTime time.Time) PackRow {
	return PackRow{
		RecordID: cell(r.RecordID), RecordType: cell(r.RecordType), EventTime: packTime(eventTime),
		Author: cell(r.CreatedBy), RecordedAt: packTime(r.RecordedAt), ReceivedAt: packTime(r.ReceivedAt),
		Summary: cell(strings.Join(strings.Fields(RecordSummary(r)), " ")),
	}
}

// Columns returns the row's values in [PackRowColumns] order.
func (r PackRow) Columns() []string {
	return []string{r.RecordID, r.RecordType, r.EventTime, r.Author, r.RecordedAt, r.ReceivedAt, r.Summary}
}

// PackRowFromColumns is the inverse of [PackRow.Columns]; ok is false
// unless there are exactly as many values as columns.
func PackRowFromColumns(c []string) (r PackRow, ok bool) {
	if len(c) != len(PackRowColumns) {
		return r, false
	}
	return PackRow{RecordID: c[0], RecordType: c[1], EventTime: c[2], Author: c[3], RecordedAt: c[4], ReceivedAt: c[5], Summary: c[6]}, true
}

// Canonical returns the bytes the row's hash is taken over.
func (r PackRow) Canonical() []byte {
	var b []byte
	b = netstring(b, PackRowEncoding)
	for _, v := range r.Columns() {
		b = netstring(b, v)
	}
	return b
}

// Hash returns the row's hash: the hex SHA-256 of [PackRow.Canonical].
func (r PackRow) Hash() string {
	sum := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(sum[:])
}

// PackRoot returns the root over a pack's row hashes, in the pack's order.
func PackRoot(rowHashes []string) string {
	h := sha256.New()
	h.Write(netstring(nil, packManifestRoot))
	for _, s := range rowHashes {
		h.Write(netstring(nil, s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func netstring(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	b = append(b, s...)
	return append(b, ',')
}

// cell makes s valid UTF-8 without control characters, so that the HTML
// and CSV of a pack carry it unchanged.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return unicode.ReplacementChar
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func packTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// summaryFields are the fields that say what a record is about, in order
// of preference.
var summaryFields = []string{
	"behaviour_description", "description", "action_text", "decisions", "changes_summary", "learning_points",
	"learning_point", "sign", "medicine", "reason", "type_code", "rag", "kind",
}

// RecordSummary returns a one-line description of a record: the first of
// its describing fields that is set, a code in words ([CodeWords]).
func RecordSummary(r *Record) string {
	for _, f := range summaryFields {
		if v, ok := r.Fields[f]; ok && !v.Empty() {
			if v.Kind == KindEnum {
				return CodeWords(v.String)
			}
			return strings.Join(strings.Fields(v.String), " ")
		}
	}
	return ""
}

// CodeWords turns a code value's name into words:
// RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING becomes "physical
// standing".
func CodeWords(enum string) string {
	for _, prefix := range []string{"RESTRICTIVE_INTERVENTION_TYPE_", "RESTRICTIVE_INTERVENTION_REASON_", "ESCALATION_LEVEL_", "ACTION_STATUS_", "DEBRIEF_KIND_", "RAG_RATING_", "RESTRICTION_STATUS_"} {
		if rest, ok := strings.CutPrefix(enum, prefix); ok {
			return strings.ToLower(strings.ReplaceAll(rest, "_", " "))
		}
	}
	return strings.ToLower(strings.ReplaceAll(enum, "_", " "))
}

// PackFile is what a pack's HTML or CSV holds: its id, its encoding, its
// rows with the hash each shows, and the root it shows.
type PackFile struct {
	PackID   string
	Encoding string
	Rows     []PackFileRow
	Root     string
}

// PackFileRow is one row of a pack file.
type PackFileRow struct {
	Line   int // the CSV line (the header is 1) or the HTML table's row (from 1)
	Row    PackRow
	SHA256 string // the hash the row shows
}

// Reasons a row of a pack file does not match (ChangedRow.Reason).
const (
	RowChanged     = "changed"      // its content does not hash to the hash exported for it
	RowHashAltered = "hash_altered" // its content matches; the hash it shows does not
	RowAdded       = "added"        // the pack exported has no row there
	RowMissing     = "missing"      // the file lacks a row the pack exported
)

// ChangedRow names a row of a pack file that does not match.
type ChangedRow struct {
	Line     int    // the CSV line (the header is 1) or the HTML table's row; 0 for a missing row
	RecordID string // the record the pack exported there (the file's own for an added row)
	Reason   string // RowChanged, RowHashAltered, RowAdded or RowMissing
}

// FileCheck is the result of checking a pack file.
type FileCheck struct {
	Rows    int
	Changed []ChangedRow
	// RootMatches is set when the file's rows, recomputed, hash to the
	// root they are checked against, and the file shows that root.
	RootMatches bool
}

// OK reports whether every row and the root matched.
func (c FileCheck) OK() bool { return len(c.Changed) == 0 && c.RootMatches }

// Check checks a pack file against itself, offline: each row against the
// hash it shows, and the root it shows against the rows recomputed. It
// proves the file was not edited without recomputing its hashes; checking
// against the server ([ReviewService.VerifyEvidencePack]) proves it is the
// pack exported.
func (f PackFile) Check() FileCheck {
	shown := make([]ManifestRow, len(f.Rows))
	for i, r := range f.Rows {
		shown[i] = ManifestRow{RecordID: r.Row.RecordID, SHA256: r.SHA256}
	}
	return f.against(shown, f.Root)
}

// against checks the file's rows against the rows and root of a manifest:
// row by row when the file has as many rows as the manifest (so a changed
// record id is a changed row), otherwise by record id (so a row dropped or
// added is named, not every row after it).
func (f PackFile) against(rows []ManifestRow, root string) FileCheck {
	c := FileCheck{Rows: len(f.Rows)}
	hashes := make([]string, len(f.Rows))
	at := make(map[string]int, len(rows)) // by record id, when matching by it
	if len(f.Rows) != len(rows) {
		for i, r := range rows {
			at[r.RecordID] = i
		}
	}
	matched := make([]bool, len(rows))
	for i, r := range f.Rows {
		hashes[i] = r.Row.Hash()
		j, ok := i, len(f.Rows) == len(rows)
		if !ok {
			j, ok = at[r.Row.RecordID]
			ok = ok && !matched[j]
		}
		if !ok {
			c.Changed = append(c.Changed, ChangedRow{Line: r.Line, RecordID: r.Row.RecordID, Reason: RowAdded})
			continue
		}
		matched[j] = true
		switch {
		case hashes[i] != rows[j].SHA256:
			c.Changed = append(c.Changed, ChangedRow{Line: r.Line, RecordID: rows[j].RecordID, Reason: RowChanged})
		case r.SHA256 != rows[j].SHA256:
			c.Changed = append(c.Changed, ChangedRow{Line: r.Line, RecordID: rows[j].RecordID, Reason: RowHashAltered})
		}
	}
	for j, r := range rows {
		if !matched[j] {
			c.Changed = append(c.Changed, ChangedRow{RecordID: r.RecordID, Reason: RowMissing})
		}
	}
	c.RootMatches = PackRoot(hashes) == root && f.Root == root
	return c
}
