package migrations_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestServer_QuarantinePayloadsConverted checks how 00011 converts the
// quarantine payloads stored in format 1 (the JSON of shiftsync.Mutation,
// which is what json.Encoder without HTML escaping wrote) to format 2: each
// decodes with protojson to the message the device sent, equal to what
// shiftsync.QuarantinePayload writes now; the person, agency and app
// version move to columns; and migrating down gives back format 1 as it was.
func TestServer_QuarantinePayloadsConverted(t *testing.T) {
	at := time.Date(2026, 3, 2, 6, 55, 0, 123456000, time.UTC)
	hlc := shiftsync.HLC{WallMS: at.UnixMilli(), Logical: 3}
	base := shiftsync.Version{HLC: shiftsync.HLC{WallMS: at.UnixMilli() - 1000}, DeviceID: "d0"}
	everyKind := &shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: "01900000-0000-7000-8000-0000000000b1", RecordType: "incident", ServiceID: "house-a", PersonID: "p1", Agency: "housing"},
		DeviceID:  "d1", UserID: "u1", Counter: 7, HLC: hlc, AppVersion: "2.3.1",
		Fields: []shiftsync.FieldEdit{
			{Field: "text", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "<b>Zoë</b> & \"Ali\" \u2028 🙂"}, Base: base},
			{Field: "empty_text", Value: shiftsync.Value{Kind: shiftsync.KindString}},
			{Field: "count", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: -9007199254740993}},
			{Field: "zero", Value: shiftsync.Value{Kind: shiftsync.KindInt}},
			{Field: "ratio", Value: shiftsync.Value{Kind: shiftsync.KindDouble, Double: 0.1}},
			{Field: "flag", Value: shiftsync.Value{Kind: shiftsync.KindBool}},
			{Field: "set", Value: shiftsync.Value{Kind: shiftsync.KindBool, Bool: true}},
			{Field: "started_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at}},
			{Field: "severity", Value: shiftsync.Value{Kind: shiftsync.KindEnum, String: "high"}},
			{Field: "tags", Value: shiftsync.Value{Kind: shiftsync.KindList, List: []string{"a", "b"}}},
			{Field: "no_tags", Value: shiftsync.Value{Kind: shiftsync.KindList, List: []string{}}}, // as the transport makes it
			{Field: "unset"},
		},
	}
	bare := &shiftsync.Mutation{DeviceID: "d1", UserID: "u1", Counter: 8}
	wantEveryKind := &syncv1.Mutation{
		Counter: 7, RecordId: everyKind.RecordID, RecordType: "incident", ServiceId: "house-a", PersonId: "p1",
		Hlc: &syncv1.HybridTimestamp{WallMs: hlc.WallMS, Logical: 3},
		Fields: []*syncv1.FieldEdit{
			{Field: "text", Value: &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: everyKind.Fields[0].Value.String}},
				Base: &syncv1.Version{Hlc: &syncv1.HybridTimestamp{WallMs: base.HLC.WallMS}, DeviceId: "d0"}},
			{Field: "empty_text", Value: &syncv1.Value{Kind: &syncv1.Value_StringValue{}}},
			{Field: "count", Value: &syncv1.Value{Kind: &syncv1.Value_IntValue{IntValue: -9007199254740993}}},
			{Field: "zero", Value: &syncv1.Value{Kind: &syncv1.Value_IntValue{}}},
			{Field: "ratio", Value: &syncv1.Value{Kind: &syncv1.Value_DoubleValue{DoubleValue: 0.1}}},
			{Field: "flag", Value: &syncv1.Value{Kind: &syncv1.Value_BoolValue{}}},
			{Field: "set", Value: &syncv1.Value{Kind: &syncv1.Value_BoolValue{BoolValue: true}}},
			{Field: "started_at", Value: &syncv1.Value{Kind: &syncv1.Value_TimestampValue{TimestampValue: timestamppb.New(at)}}},
			{Field: "severity", Value: &syncv1.Value{Kind: &syncv1.Value_EnumValue{EnumValue: "high"}}},
			{Field: "tags", Value: &syncv1.Value{Kind: &syncv1.Value_ListValue{ListValue: &syncv1.StringList{Values: []string{"a", "b"}}}}},
			{Field: "no_tags", Value: &syncv1.Value{Kind: &syncv1.Value_ListValue{ListValue: &syncv1.StringList{}}}},
			{Field: "unset"},
		},
	}

	db, p := serverAt(t, 10)
	ctx := context.Background()
	format1 := map[int64][]byte{}
	for id, m := range map[int64]*shiftsync.Mutation{1: everyKind, 2: bare} {
		// Format 1 is the JSON of shiftsync.Mutation as it was then, before
		// it had Corrects.
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
		members := map[string]json.RawMessage{}
		if err := json.Unmarshal(b.Bytes(), &members); err != nil {
			t.Fatal(err)
		}
		delete(members, "Corrects")
		b.Reset()
		if err := enc.Encode(members); err != nil {
			t.Fatal(err)
		}
		format1[id] = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		if _, err := db.Exec(`INSERT INTO quarantine (id, device_id, user_id, counter, record_id, record_type, service_id, reason, message, payload, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'unknown_field', 'm', ?, 0)`, id, m.DeviceID, m.UserID, m.Counter, m.RecordID, m.RecordType, m.ServiceID, string(format1[id])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.UpTo(ctx, 11); err != nil {
		t.Fatalf("UpTo(11) error = %v", err)
	}
	for id, tt := range map[int64]struct {
		m                   *shiftsync.Mutation
		want                *syncv1.Mutation
		person, agency, app string
	}{
		1: {everyKind, wantEveryKind, "p1", "housing", "2.3.1"},
		2: {bare, &syncv1.Mutation{Counter: 8}, "", "", ""},
	} {
		var (
			payload             string
			format              int
			person, agency, app string
		)
		if err := db.QueryRow(`SELECT payload, payload_format, person_id, agency, app_version FROM quarantine WHERE id = ?`, id).
			Scan(&payload, &format, &person, &agency, &app); err != nil {
			t.Fatal(err)
		}
		if format != shiftsync.QuarantinePayloadFormat || person != tt.person || agency != tt.agency || app != tt.app {
			t.Errorf("row %d: format %d, person %q, agency %q, app %q; want %d, %q, %q, %q",
				id, format, person, agency, app, shiftsync.QuarantinePayloadFormat, tt.person, tt.agency, tt.app)
		}
		got := &syncv1.Mutation{}
		if err := protojson.Unmarshal([]byte(payload), got); err != nil {
			t.Fatalf("row %d: protojson.Unmarshal(%s) error = %v", id, payload, err)
		}
		if !proto.Equal(got, tt.want) {
			t.Errorf("row %d converted to %v\nwant %v\n(payload %s)", id, got, tt.want, payload)
		}
		written, err := shiftsync.QuarantinePayload(tt.m)
		if err != nil {
			t.Fatal(err)
		}
		now := &syncv1.Mutation{}
		if err := protojson.Unmarshal(written, now); err != nil {
			t.Fatalf("row %d: protojson.Unmarshal(QuarantinePayload) error = %v", id, err)
		}
		if !proto.Equal(now, tt.want) {
			t.Errorf("row %d: QuarantinePayload decodes to %v\nwant %v", id, now, tt.want)
		}
	}
	if _, err := p.DownTo(ctx, 10); err != nil {
		t.Fatalf("DownTo(10) error = %v", err)
	}
	for id, want := range format1 {
		var payload string
		if err := db.QueryRow(`SELECT payload FROM quarantine WHERE id = ?`, id).Scan(&payload); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(jsonValue(t, want), jsonValue(t, []byte(payload))); diff != "" {
			t.Errorf("row %d after migrating down differs from format 1 (-want +got):\n%s", id, diff)
		}
	}
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("json.Unmarshal(%s) error = %v", b, err)
	}
	return v
}
