package replica

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

func stringValue(s string) *syncv1.Value {
	return &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: s}}
}

func timestampValue(seconds int64, nanos int32) *syncv1.Value {
	return &syncv1.Value{Kind: &syncv1.Value_TimestampValue{TimestampValue: &timestamppb.Timestamp{Seconds: seconds, Nanos: nanos}}}
}

func listValue(values ...string) *syncv1.Value {
	return &syncv1.Value{Kind: &syncv1.Value_ListValue{ListValue: &syncv1.StringList{Values: values}}}
}

// valueKinds returns values of every kind, with the edge cases of their
// JSON forms: strings to escape or not, invalid UTF-8, timestamps at and
// beyond the bounds of their range and with every length of fraction,
// special doubles, empty and unset lists, no kind at all.
func valueKinds() []*syncv1.Value {
	values := []*syncv1.Value{
		{},
		stringValue(""), stringValue("Threw a cup"), stringValue("Zoë ate 🍎 at the café"), stringValue("\uFFFD literal"),
		stringValue("line\u2028sep\u2029para"), stringValue(`say "no"`), stringValue(`back\slash`), stringValue("tab\tnew\nline\r\b\f\x00\x1f\x7f"),
		stringValue("<b>&amp;</b>"), stringValue("bad \xff utf-8"), stringValue("cut \xe2\x82"),
		{Kind: &syncv1.Value_EnumValue{EnumValue: "PLACE_LOUNGE"}}, {Kind: &syncv1.Value_EnumValue{EnumValue: ""}},
		{Kind: &syncv1.Value_EnumValue{EnumValue: "a\"b"}},
		{Kind: &syncv1.Value_IntValue{IntValue: 0}}, {Kind: &syncv1.Value_IntValue{IntValue: -3}},
		{Kind: &syncv1.Value_IntValue{IntValue: math.MaxInt64}}, {Kind: &syncv1.Value_IntValue{IntValue: math.MinInt64}},
		{Kind: &syncv1.Value_BoolValue{BoolValue: true}}, {Kind: &syncv1.Value_BoolValue{BoolValue: false}},
		{Kind: &syncv1.Value_TimestampValue{}},
		timestampValue(0, 0), timestampValue(1764813600, 5), timestampValue(1764813600, 120_000_000), timestampValue(1764813600, 123_456_000),
		timestampValue(1764813600, 999_999_999), timestampValue(1764813600, 100), timestampValue(-1, 0), timestampValue(-86_400*365*1000, 7_000),
		timestampValue(minTimestampSeconds, 0), timestampValue(maxTimestampSeconds, 999_999_999),
		timestampValue(minTimestampSeconds-1, 0), timestampValue(maxTimestampSeconds+1, 0), timestampValue(0, -1), timestampValue(0, 1e9),
		{Kind: &syncv1.Value_DoubleValue{DoubleValue: 1.5}}, {Kind: &syncv1.Value_DoubleValue{DoubleValue: math.Copysign(0, -1)}},
		{Kind: &syncv1.Value_DoubleValue{DoubleValue: 1e21}}, {Kind: &syncv1.Value_DoubleValue{DoubleValue: 1e-7}},
		{Kind: &syncv1.Value_DoubleValue{DoubleValue: math.Inf(-1)}}, {Kind: &syncv1.Value_DoubleValue{DoubleValue: math.NaN()}},
		{Kind: &syncv1.Value_DoubleValue{DoubleValue: math.Float64frombits(0x7ff8_0000_dead_beef)}},
		listValue(), listValue("a"), listValue("a", "bc", ""), listValue("a", "b\"c"), listValue("ok", "\xff"),
		{Kind: &syncv1.Value_ListValue{}},
	}
	// Every character JSON may escape, alone and among plain text.
	for c := range rune(0x80) {
		values = append(values, stringValue(string(c)), stringValue("x"+string(c)+"y"))
	}
	return values
}

// TestValueJSON_SameAsProtojson checks the stored form written directly
// against protojson's, compacted, for values of every kind: the same bytes,
// or an error from both.
func TestValueJSON_SameAsProtojson(t *testing.T) {
	for _, v := range valueKinds() {
		checkValueJSON(t, v)
	}
}

func checkValueJSON(t *testing.T, v *syncv1.Value) {
	t.Helper()
	want, wantErr := protojsonValue(v)
	got, err := valueJSON(v)
	if got != want || (err == nil) != (wantErr == nil) {
		t.Errorf("valueJSON(%v) = %q, %v; want protojson's %q, %v", v, got, err, want, wantErr)
	}
}

// FuzzValueJSON compares the stored form written directly with
// protojson's for strings, lists, integers and timestamps.
func FuzzValueJSON(f *testing.F) {
	f.Add("Threw a cup", int64(2), int64(1764813600), int32(5))
	f.Add("tab\there \"q\" \\", int64(-1), int64(minTimestampSeconds), int32(999_999_999))
	f.Add("bad \xff", int64(math.MinInt64), int64(maxTimestampSeconds+1), int32(-1))
	f.Fuzz(func(t *testing.T, s string, n, seconds int64, nanos int32) {
		checkValueJSON(t, stringValue(s))
		checkValueJSON(t, &syncv1.Value{Kind: &syncv1.Value_EnumValue{EnumValue: s}})
		checkValueJSON(t, listValue(strings.Split(s, ",")...))
		checkValueJSON(t, &syncv1.Value{Kind: &syncv1.Value_IntValue{IntValue: n}})
		checkValueJSON(t, timestampValue(seconds, nanos))
		checkValueJSON(t, timestampValue(seconds%(maxTimestampSeconds+1), nanos%1e9))
	})
}

// TestTimestampJSON_Fraction spells out the fraction lengths.
func TestTimestampJSON_Fraction(t *testing.T) {
	at := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC).Unix()
	for nanos, want := range map[int32]string{
		0:           "2026-12-04T02:00:00Z",
		5:           "2026-12-04T02:00:00.000000005Z",
		120_000_000: "2026-12-04T02:00:00.120Z",
		123_456_000: "2026-12-04T02:00:00.123456Z",
		999_999_999: "2026-12-04T02:00:00.999999999Z",
	} {
		if got := timestampJSON(at, nanos); got != want {
			t.Errorf("timestampJSON(%d ns) = %s, want %s", nanos, got, want)
		}
	}
}
