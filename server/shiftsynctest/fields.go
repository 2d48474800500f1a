package shiftsynctest

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// FieldsJSON writes field values as the replica library's Create and Edit
// take them: a JSON object of field name to the protobuf JSON of its value.
func FieldsJSON(tb testing.TB, fields map[string]*syncv1.Value) string {
	tb.Helper()
	raw := map[string]json.RawMessage{}
	for name, v := range fields {
		b, err := protojson.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		raw[name] = b
	}
	b, err := json.Marshal(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
