package shiftsync_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

func TestMarshalValue(t *testing.T) {
	values := []shiftsync.Value{
		{Kind: shiftsync.KindString, String: "kitchen \"door\""},
		{Kind: shiftsync.KindString},
		{Kind: shiftsync.KindInt, Int: -42},
		{Kind: shiftsync.KindInt},
		{Kind: shiftsync.KindDouble, Double: 0.25},
		{Kind: shiftsync.KindBool, Bool: true},
		{Kind: shiftsync.KindBool},
		{Kind: shiftsync.KindTimestamp, Time: time.Date(2026, 3, 2, 7, 0, 0, 123456789, time.UTC)},
		{Kind: shiftsync.KindEnum, String: "HARM_LEVEL_LOW"},
		{Kind: shiftsync.KindList, List: []string{"a", "b"}},
		{Kind: shiftsync.KindList},
	}
	for _, v := range values {
		b, err := shiftsync.MarshalValue(v)
		if err != nil {
			t.Fatalf("MarshalValue(%+v) error = %v", v, err)
		}
		got, err := shiftsync.UnmarshalValue(b)
		if err != nil || !got.Equal(v) {
			t.Errorf("round trip of %+v via %s = %+v, %v", v, b, got, err)
		}
	}
	for _, bad := range []shiftsync.Value{{}, {Kind: shiftsync.KindDouble, Double: math.Inf(1)}, {Kind: 99}} {
		if _, err := shiftsync.MarshalValue(bad); err == nil {
			t.Errorf("MarshalValue(%+v) succeeded", bad)
		}
	}
	for _, bad := range []string{`{}`, `{"s":"a","i":1}`, `[]`, `{"t":"yesterday"}`, `nope`} {
		if v, err := shiftsync.UnmarshalValue([]byte(bad)); err == nil {
			t.Errorf("UnmarshalValue(%s) = %+v, want an error", bad, v)
		}
	}
}

func TestValue_Equal(t *testing.T) {
	a := shiftsync.Value{Kind: shiftsync.KindList, List: []string{"a"}}
	if a.Equal(shiftsync.Value{Kind: shiftsync.KindList, List: []string{"b"}}) || a.Equal(shiftsync.Value{Kind: shiftsync.KindString, String: "a"}) {
		t.Error("different values compare equal")
	}
	at := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	if !(shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at}).Equal(shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at.In(time.FixedZone("x", 3600))}) {
		t.Error("one instant in two zones compares unequal")
	}
}

func FuzzUnmarshalValue(f *testing.F) {
	f.Add([]byte(`{"s":"x"}`))
	f.Add([]byte(`{"l":["a"]}`))
	f.Add([]byte(`{"t":"2026-03-02T07:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := shiftsync.UnmarshalValue(b)
		if err != nil {
			return
		}
		again, err := shiftsync.MarshalValue(v)
		if err != nil {
			if v.Kind == shiftsync.KindDouble {
				return // JSON cannot hold what it decoded only for non-finite numbers
			}
			t.Fatalf("MarshalValue(%+v) error = %v", v, err)
		}
		back, err := shiftsync.UnmarshalValue(again)
		if err != nil || !back.Equal(v) {
			t.Fatalf("%s -> %+v -> %s -> %+v, %v", b, v, again, back, err)
		}
	})
}

// TestMarshalValue_StoredBytes: the integers and timestamps MarshalValue
// writes without encoding/json are, byte for byte, what encoding/json
// wrote for them before, so values already stored compare equal.
func TestMarshalValue_StoredBytes(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, i := range []int64{0, -42, 7, math.MaxInt64, math.MinInt64} {
		want, _ := json.Marshal(map[string]int64{"i": i})
		if got, err := shiftsync.MarshalValue(shiftsync.Value{Kind: shiftsync.KindInt, Int: i}); err != nil || string(got) != string(want) {
			t.Errorf("MarshalValue(int %d) = %s, %v; want %s", i, got, err, want)
		}
	}
	for _, at := range []time.Time{
		time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 7, 0, 0, 123456789, time.UTC),
		time.Date(2026, 3, 2, 8, 0, 0, 120000000, paris), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		want, _ := json.Marshal(map[string]string{"t": at.UTC().Format(time.RFC3339Nano)})
		if got, err := shiftsync.MarshalValue(shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at}); err != nil || string(got) != string(want) {
			t.Errorf("MarshalValue(time %v) = %s, %v; want %s", at, got, err, want)
		}
	}
}
