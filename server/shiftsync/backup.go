package shiftsync

import "time"

// Backup is a verified copy of a store: where it was written, when, and
// how far it reaches.
type Backup struct {
	Path    string
	StoreID string
	// TakenAt is when the copy was begun: what was committed before it is
	// in the copy.
	TakenAt time.Time
	// HeadSeq is the newest change log position the copy holds.
	HeadSeq int64
	// AuditSeq is the newest audit log entry the copy holds.
	AuditSeq int64
	Bytes    int64
	SHA256   []byte // of the file as written
}
