package shiftsync

import (
	"cmp"
	"time"
)

// HLC limits. A packed HLC keeps 47 bits of milliseconds (until the year
// 6429) and 16 bits of logical counter in a non-negative int64.
const (
	MaxLogical = 1<<16 - 1
	MaxWallMS  = 1<<47 - 1
)

// HLC is a hybrid logical clock reading: physical milliseconds from the
// writer's clock plus a logical counter. The zero HLC means "no timestamp".
type HLC struct {
	WallMS  int64
	Logical uint32
}

// Compare returns -1, 0 or +1 as h is before, equal to or after o.
func (h HLC) Compare(o HLC) int {
	if c := cmp.Compare(h.WallMS, o.WallMS); c != 0 {
		return c
	}
	return cmp.Compare(h.Logical, o.Logical)
}

// IsZero reports whether h is the zero HLC.
func (h HLC) IsZero() bool { return h == HLC{} }

// Valid reports whether h is a real timestamp that fits the packed form.
func (h HLC) Valid() bool {
	return h.WallMS > 0 && h.WallMS <= MaxWallMS && h.Logical <= MaxLogical
}

// Pack returns h as one int64 that sorts like h. It is only meaningful for
// a [HLC.Valid] or zero h.
func (h HLC) Pack() int64 { return h.WallMS<<16 | int64(h.Logical) }

// UnpackHLC is the inverse of [HLC.Pack].
func UnpackHLC(packed int64) HLC {
	return HLC{WallMS: packed >> 16, Logical: uint32(packed & MaxLogical)}
}

// Time returns the physical part of h.
func (h HLC) Time() time.Time { return time.UnixMilli(h.WallMS).UTC() }

// AheadOf reports whether h is more than maxSkew ahead of the server clock
// reading now. Such a timestamp would win every merge until real time caught
// up, so the server refuses it and asks the device to re-stamp.
func (h HLC) AheadOf(now time.Time, maxSkew time.Duration) bool {
	return h.WallMS > now.Add(maxSkew).UnixMilli()
}

// Version identifies one value of one field: when it was written and by which
// device. Versions are totally ordered by (HLC, DeviceID); the greatest wins
// the merge on the server and on every replica.
type Version struct {
	HLC      HLC
	DeviceID string
}

// Compare returns -1, 0 or +1 as v is older than, the same as or newer than o.
func (v Version) Compare(o Version) int {
	if c := v.HLC.Compare(o.HLC); c != 0 {
		return c
	}
	return cmp.Compare(v.DeviceID, o.DeviceID)
}

// IsZero reports whether v is the zero Version, meaning "no value".
func (v Version) IsZero() bool { return v == Version{} }
