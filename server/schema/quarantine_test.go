package schema_test

import (
	"cmp"
	"strings"
	"testing"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestQuarantine_KeepsEveryValidChange checks that a change as large as
// the schema allows (every text and list field at its limit) fits in one
// quarantine entry: a change refused for access or a reference, not for its
// size, is always quarantined and acknowledged, never left blocking its
// device's outbox as too large to keep, whatever characters its text holds.
func TestQuarantine_KeepsEveryValidChange(t *testing.T) {
	s, err := schema.Records()
	if err != nil {
		t.Fatal(err)
	}
	for _, fill := range []string{"a", "<", "\x01", "\u2028"} {
		for _, name := range s.TypeNames() {
			keepsLargest(t, s, name, fill)
		}
	}
}

// keepsLargest checks that the largest valid change of a record type, its
// text all of fill, fits in one quarantine entry.
func keepsLargest(t *testing.T, s *shiftsync.Schema, name, fill string) {
	t.Helper()
	typ := s.Type(name)
	m := shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: "0190f5e4-8d2c-7a11-8a3b-6f1e2d3c4b5a", RecordType: name, ServiceID: "house-a", PersonID: "person-ada"},
		DeviceID:  "phone", UserID: "ana", Counter: 1, HLC: shiftsync.HLC{WallMS: 1772434800000},
	}
	for _, f := range typ.Fields {
		v := shiftsync.Value{Kind: f.Kind}
		switch f.Kind {
		case shiftsync.KindString:
			v.String = strings.Repeat(fill, cmp.Or(f.MaxLength, shiftsync.DefaultMaxStringBytes)/len(fill))
		case shiftsync.KindList:
			n := cmp.Or(f.MaxLength, shiftsync.DefaultMaxListItems)
			item := strings.Repeat(fill, shiftsync.DefaultMaxStringBytes/len(fill))
			if f.Enum != nil {
				n, item = len(f.Enum), ""
			}
			for i := range n {
				if f.Enum != nil {
					item = f.Enum[i]
				}
				v.List = append(v.List, item)
			}
		default:
			continue // fixed-size values
		}
		m.Fields = append(m.Fields, shiftsync.FieldEdit{Field: f.Name, Value: v})
	}
	if rej := s.Validate(&m, nil); rej != nil && rej.Reason != shiftsync.ReasonMissingRequired {
		t.Fatalf("%s, text of %q: the largest change is not valid: %v", name, fill, rej)
	}
	if size := shiftsync.QuarantineSize(&m); size > shiftsync.MaxQuarantineEntryBytes {
		t.Errorf("%s, text of %q: the largest valid change is %d KiB, more than a quarantine entry keeps (%d KiB)", name, fill, size>>10, shiftsync.MaxQuarantineEntryBytes>>10)
	}
}
