package shiftsync_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestManifest_V1Unchanged: a manifest kept before rows were hashed (no
// encoding) hashes as it did, so packs exported then still verify by id.
func TestManifest_V1Unchanged(t *testing.T) {
	const v1 = `{"service_id":"house-a","person_id":"sam","from":"2026-03-01T00:00:00Z","to":"2026-03-16T00:00:00Z","exported_by":"meera",` +
		`"exported_at":"2026-03-12T20:00:00Z","entries":[{"record_id":"r1","record_type":"incident","sha256":"c68f","versions":{"started_at":3}}]}`
	var m shiftsync.Manifest
	if err := json.Unmarshal([]byte(v1), &m); err != nil {
		t.Fatal(err)
	}
	if got := string(m.Canonical()); got != v1 {
		t.Errorf("v1 manifest re-encodes as\n%s\nwant\n%s", got, v1)
	}
}

// ExamplePackRow_Canonical shows the bytes a row's hash is taken over.
func ExamplePackRow_Canonical() {
	r := shiftsync.PackRow{RecordID: "r1", RecordType: "incident", EventTime: time.Date(2026, 3, 2, 7, 40, 0, 0, time.UTC).Format(time.RFC3339),
		Author: "ana", Summary: "Hit the door"}
	fmt.Println(string(r.Canonical()))
	// Output: 21:shiftsync-pack-row/v2,2:r1,8:incident,20:2026-03-02T07:40:00Z,3:ana,0:,0:,12:Hit the door,
}
