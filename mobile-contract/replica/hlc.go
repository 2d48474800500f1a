package replica

import (
	"cmp"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// maxLogical is the largest logical counter the wire accepts.
const maxLogical = 1<<16 - 1

// hlc is a hybrid logical clock reading: physical milliseconds plus a logical
// counter. The zero hlc means "no timestamp".
type hlc struct {
	wallMS  int64
	logical uint32
}

func (h hlc) compare(o hlc) int {
	if c := cmp.Compare(h.wallMS, o.wallMS); c != 0 {
		return c
	}
	return cmp.Compare(h.logical, o.logical)
}

// tick is the HLC send rule: the reading for a local event after h at
// physical time nowMS. When the logical counter is exhausted it borrows the
// next millisecond rather than produce a reading the server would refuse.
func (h hlc) tick(nowMS int64) hlc {
	switch {
	case nowMS > h.wallMS:
		return hlc{wallMS: nowMS}
	case h.logical >= maxLogical:
		return hlc{wallMS: h.wallMS + 1}
	default:
		return hlc{wallMS: h.wallMS, logical: h.logical + 1}
	}
}

// observe is the HLC receive rule: a reading after both h and remote.
func (h hlc) observe(remote hlc, nowMS int64) hlc {
	return maxHLC(h, remote).tick(nowMS)
}

func maxHLC(a, b hlc) hlc {
	if a.compare(b) >= 0 {
		return a
	}
	return b
}

func (h hlc) proto() *syncv1.HybridTimestamp {
	return &syncv1.HybridTimestamp{WallMs: h.wallMS, Logical: h.logical}
}

func hlcFromProto(pb *syncv1.HybridTimestamp) hlc {
	return hlc{wallMS: pb.GetWallMs(), logical: pb.GetLogical()}
}

// version names one value of one field: when and by which device it was
// written. The zero version means "no value".
type version struct {
	hlc      hlc
	deviceID string
}

// compare orders versions by the merge rule of the whole system: wall_ms,
// then logical, then device id as a byte string. The greater wins.
func (v version) compare(o version) int {
	if c := v.hlc.compare(o.hlc); c != 0 {
		return c
	}
	return cmp.Compare(v.deviceID, o.deviceID) // Go compares strings bytewise
}

func (v version) isZero() bool { return v == version{} }

// proto returns v for the wire; nil for the zero version (an unset base).
func (v version) proto() *syncv1.Version {
	if v.isZero() {
		return nil
	}
	return &syncv1.Version{Hlc: v.hlc.proto(), DeviceId: v.deviceID}
}

func versionFromProto(pb *syncv1.Version) version {
	if pb == nil {
		return version{}
	}
	return version{hlc: hlcFromProto(pb.GetHlc()), deviceID: pb.GetDeviceId()}
}
