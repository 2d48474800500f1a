package shiftsync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

// EvidencePack is what a provider shares with commissioners about one
// person for a period (care-records.md §2.6, the monthly multi-agency
// pack): the person's records of the period as they stood at export, the
// weekly trends, the action tracker and the open findings, with a manifest
// of record hashes so what was shared can be proven later.
type EvidencePack struct {
	ID                  string
	ServiceID, PersonID string
	From, To            time.Time
	// Records are those the exporter may review, not voided, with an event
	// time in [From, To], oldest first; never safeguarding concerns, which
	// a shared pack only counts (care-records.md §2.6).
	Records []*Record
	// Rows are the records as the pack shows them, in the same order.
	Rows                 []PackRow
	SafeguardingConcerns int
	EventTimes           map[string]time.Time // by record id: when its event happened (or it was recorded)
	Weeks                []WeekTrend
	Actions              []ActionView
	Findings             []Finding // open findings about the person
	Manifest             Manifest
}

// Manifest proves what a pack held: who exported it and when, and for each
// record the hash of its content and the change-log positions of the field
// versions hashed, so the hash can be recomputed from the stored versions
// however the record changes afterwards; and, from encoding
// [PackRowEncoding] on, the hash of each row as the pack shows it, in
// order, and their root, so the pack's own bytes can be checked.
type Manifest struct {
	ServiceID  string          `json:"service_id"`
	PersonID   string          `json:"person_id"`
	From       time.Time       `json:"from"`
	To         time.Time       `json:"to"`
	ExportedBy string          `json:"exported_by"`
	ExportedAt time.Time       `json:"exported_at"`
	Entries    []ManifestEntry `json:"entries"` // by record id
	// Encoding is PackRowEncoding; empty in a pack exported before it
	// (whose Canonical form is unchanged by these fields).
	Encoding string        `json:"encoding,omitempty"`
	Rows     []ManifestRow `json:"rows,omitempty"` // in the pack's order
	Root     string        `json:"root,omitempty"` // PackRoot of the rows' hashes
}

// ManifestRow is one row of a pack: its record and its hash
// ([PackRow.Hash]).
type ManifestRow struct {
	RecordID string `json:"record_id"`
	SHA256   string `json:"sha256"`
}

// ManifestEntry is one record of a pack.
type ManifestEntry struct {
	RecordID   string           `json:"record_id"`
	RecordType string           `json:"record_type"`
	SHA256     string           `json:"sha256"`
	Versions   map[string]int64 `json:"versions"` // field -> change-log position of the value hashed
}

// NewManifest returns the manifest of records exported by exportedBy at
// exportedAt, shown as rows.
func NewManifest(serviceID, personID string, from, to time.Time, exportedBy string, exportedAt time.Time, records []*Record, rows []PackRow) Manifest {
	m := Manifest{ServiceID: serviceID, PersonID: personID, From: from.UTC(), To: to.UTC(), ExportedBy: exportedBy, ExportedAt: exportedAt.UTC(),
		Encoding: PackRowEncoding, Rows: make([]ManifestRow, len(rows))}
	for _, r := range records {
		m.Entries = append(m.Entries, ManifestEntry{RecordID: r.RecordID, RecordType: r.RecordType, SHA256: RecordHash(r), Versions: maps.Clone(r.Seqs)})
	}
	hashes := make([]string, len(rows))
	for i, r := range rows {
		hashes[i] = r.Hash()
		m.Rows[i] = ManifestRow{RecordID: r.RecordID, SHA256: hashes[i]}
	}
	m.Root = PackRoot(hashes)
	slices.SortFunc(m.Entries, func(a, b ManifestEntry) int { return strings.Compare(a.RecordID, b.RecordID) })
	return m
}

// Canonical returns the manifest's canonical JSON: the bytes its hash is
// taken over (encoding/json sorts map keys; entries are sorted by record).
func (m Manifest) Canonical() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic("shiftsync: a manifest always marshals: " + err.Error())
	}
	return b
}

// Hash returns the hex SHA-256 of the canonical manifest: the pack's
// fingerprint, printed on the pack and kept in the audit log.
func (m Manifest) Hash() string {
	sum := sha256.Sum256(m.Canonical())
	return hex.EncodeToString(sum[:])
}

// RecordHash returns the hex SHA-256 of a record's envelope and field
// values, fields in name order, each value in its stored form
// ([MarshalValue]).
func RecordHash(r *Record) string {
	h := sha256.New()
	write := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, s := range []string{r.RecordID, r.RecordType, r.ServiceID, r.PersonID} {
		write(s)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Fields)) {
		v, err := MarshalValue(r.Fields[name])
		if err != nil {
			v = []byte("unmarshalable")
		}
		write(name)
		write(string(v))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// PackVerification is the result of checking a pack against its manifest
// and the stored versions.
type PackVerification struct {
	PackID string
	// Records is how many records were checked.
	Records int
	// Mismatched lists the records whose stored versions no longer hash to
	// the manifest's value (a version altered or removed).
	Mismatched []string
	// ManifestAltered is set when the stored manifest does not hash to the
	// value recorded at export (in the pack row and the audit log).
	ManifestAltered bool
	// File is the check of the pack's bytes against the stored manifest's
	// rows and root, when they were given.
	File *FileCheck
}

// OK reports whether the pack verified.
func (v PackVerification) OK() bool {
	return len(v.Mismatched) == 0 && !v.ManifestAltered && (v.File == nil || v.File.OK())
}

// MaxPackFileBytes bounds a pack file given to be verified: it fits one
// request of the RPC transport (8 MiB) with room for the rest, and holds a
// year's pack of one person at 20 records a day.
const MaxPackFileBytes = 7 << 20

// MaxPackPeriod bounds the period of one evidence pack.
const MaxPackPeriod = 366 * 24 * time.Hour
