package rpc

import (
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestCodes fails when a domain error code has no Connect code, so adding a
// code without deciding how it travels cannot go unnoticed.
func TestCodes(t *testing.T) {
	for _, code := range shiftsync.Codes {
		if _, ok := codes[code]; !ok {
			t.Errorf("code %q has no entry in the mapping table", code)
		}
	}
	if len(codes) != len(shiftsync.Codes) {
		t.Errorf("mapping table has %d entries for %d codes", len(codes), len(shiftsync.Codes))
	}
}
