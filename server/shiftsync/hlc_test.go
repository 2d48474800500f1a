package shiftsync_test

import (
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

func TestHLC_AheadOf(t *testing.T) {
	now := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	ms := now.UnixMilli()
	if !(shiftsync.HLC{WallMS: ms + 6*60_000}).AheadOf(now, 5*time.Minute) || (shiftsync.HLC{WallMS: ms + 4*60_000}).AheadOf(now, 5*time.Minute) {
		t.Error("AheadOf misjudges a 5 minute bound")
	}
}

func TestHLC_PackKeepsOrder(t *testing.T) {
	hs := []shiftsync.HLC{{WallMS: 1}, {WallMS: 1, Logical: 1}, {WallMS: 1, Logical: shiftsync.MaxLogical}, {WallMS: 2}, {WallMS: shiftsync.MaxWallMS, Logical: shiftsync.MaxLogical}}
	for i, h := range hs {
		if shiftsync.UnpackHLC(h.Pack()) != h {
			t.Errorf("UnpackHLC(Pack(%+v)) = %+v", h, shiftsync.UnpackHLC(h.Pack()))
		}
		if h.Pack() < 0 {
			t.Errorf("Pack(%+v) is negative", h)
		}
		if i > 0 && (hs[i-1].Pack() >= h.Pack() || hs[i-1].Compare(h) >= 0) {
			t.Errorf("%+v does not sort before %+v", hs[i-1], h)
		}
	}
}

func TestVersion_Compare(t *testing.T) {
	a := shiftsync.Version{HLC: shiftsync.HLC{WallMS: 5}, DeviceID: "phone-1"}
	b := shiftsync.Version{HLC: shiftsync.HLC{WallMS: 5}, DeviceID: "phone-2"}
	c := shiftsync.Version{HLC: shiftsync.HLC{WallMS: 5, Logical: 1}, DeviceID: "phone-0"}
	if a.Compare(b) >= 0 || b.Compare(c) >= 0 || c.Compare(a) <= 0 || a.Compare(a) != 0 {
		t.Error("versions are not ordered by (hlc, device id)")
	}
}

func TestErrorCode(t *testing.T) {
	e := shiftsync.Errorf(shiftsync.CodeConflict, "stale %d", 3)
	tests := []struct {
		err     error
		code    shiftsync.Code
		message string
	}{
		{nil, "", ""},
		{e, shiftsync.CodeConflict, "stale 3"},
		{errorsJoin(e), shiftsync.CodeConflict, "stale 3"},
		{errPlain("disk on fire"), shiftsync.CodeInternal, "internal error"},
	}
	for _, tt := range tests {
		if got := shiftsync.ErrorCode(tt.err); got != tt.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.code)
		}
		if got := shiftsync.ErrorMessage(tt.err); got != tt.message {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.message)
		}
	}
}

type errPlain string

func (e errPlain) Error() string { return string(e) }

func errorsJoin(err error) error { return wrapped{err} }

type wrapped struct{ err error }

func (w wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func TestCheckClient(t *testing.T) {
	if err := shiftsync.CheckClient(1, 1); err != nil {
		t.Errorf("current client refused: %v", err)
	}
	if err := shiftsync.CheckClient(1, 7); err != nil {
		t.Errorf("newer schema refused: %v (its unknown fields are quarantined instead)", err)
	}
	for _, c := range [][2]uint32{{0, 1}, {2, 1}, {1, 0}} {
		if err := shiftsync.CheckClient(c[0], c[1]); shiftsync.ErrorCode(err) != shiftsync.CodeUnsupportedVersion {
			t.Errorf("CheckClient(%d, %d) = %v, want unsupported_version", c[0], c[1], err)
		}
	}
}
