package replica

import (
	"encoding/hex"
	"testing"
)

// TestElement_SameAsServer checks the replica's element encoding against
// the vectors server/shiftsync/integrity_test.go pins for the server's, one
// per value kind: a difference would make every verification a mismatch.
func TestElement_SameAsServer(t *testing.T) {
	v := version{hlc: hlc{wallMS: 1764806400000, logical: 2}, deviceID: "phone-1"}
	for _, tc := range []struct{ value, want string }{
		{`{"stringValue":"threw a cup"}`, "cabf8ce8c5916a853829b865e66ac452d67d66a85752693763f7cc5743835b80"},
		{`{"intValue":"-3"}`, "2e1a00205a60310270a9edc752ea9e32f5b03e878158b6b0805cd18ccceb86a5"},
		{`{"doubleValue":1.5}`, "e1c088911e802f3ea69e414020d262ec044ab418862c3e67921a133fd2d255c2"},
		{`{"boolValue":true}`, "5d8cbe6836c9b067f7123e9d84ab5087924c30ca2a3715dbdc3adb90e452b0da"},
		{`{"timestampValue":"2026-12-04T02:00:00.000000005Z"}`, "866263d8acf4e7fbdca9e82317478a0ab1abbe491baf56e314762064fc29e5b1"},
		{`{"enumValue":"PLACE_LOUNGE"}`, "b0df0bcbc989b9ba866dbd4557fc46bf375c2bd515af78eaa2796cbc022e1837"},
		{`{"listValue":{"values":["a","bc"]}}`, "18d1deaf45d9148ed287a3c6762a58922615661f5bc045ede18a1e6ed261d776"},
	} {
		e, err := element("0193a1b2-0000-7000-8000-000000000001", "behaviour_description", v, tc.value)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(e[:]); got != tc.want {
			t.Errorf("element of %s = %s, want the server's %s", tc.value, got, tc.want)
		}
	}
	if b := digestBucket("0193a1b2-0000-7000-8000-000000000001"); b != 24 {
		t.Errorf("bucket %d, want the server's 24", b)
	}
}

// TestStoredElement_SameAsStoredRow: the element computed from a pulled
// value in hand equals the one computed from its stored form read back,
// for values of every kind, NaN payloads included.
func TestStoredElement_SameAsStoredRow(t *testing.T) {
	v := version{hlc: hlc{wallMS: 1764806400000, logical: 2}, deviceID: "phone-1"}
	for _, pv := range valueKinds() {
		stored, err := valueJSON(pv)
		if err != nil {
			continue // never stored
		}
		want, err := element("0193a1b2-0000-7000-8000-000000000001", "behaviour_description", v, stored)
		if err != nil {
			t.Fatalf("element of %s: %v", stored, err)
		}
		got, err := storedElement("0193a1b2-0000-7000-8000-000000000001", "behaviour_description", v, pv, stored)
		if err != nil || got != want {
			t.Errorf("storedElement(%v) = %x, %v; want %x, as read back from %s", pv, got, err, want, stored)
		}
	}
}
