package shiftsync_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

func v(wall int64, logical uint32, device string) shiftsync.Version {
	return shiftsync.Version{HLC: shiftsync.HLC{WallMS: wall, Logical: logical}, DeviceID: device}
}

// edit is a mutation from device at (wall, logical) setting field to value
// on top of base.
func edit(device string, wall int64, logical uint32, field, value string, base shiftsync.Version) shiftsync.Mutation {
	return shiftsync.Mutation{
		DeviceID: device,
		HLC:      shiftsync.HLC{WallMS: wall, Logical: logical},
		Fields:   []shiftsync.FieldEdit{{Field: field, Value: shiftsync.Value{Kind: shiftsync.KindString, String: value}, Base: base}},
	}
}

func TestMerge(t *testing.T) {
	v0 := v(100, 0, "phone-1")
	tests := []struct {
		name         string
		current      map[string]shiftsync.Version
		m            shiftsync.Mutation
		wantWins     bool
		wantConflict bool
	}{
		{"first value of a field wins, no conflict", nil, edit("phone-1", 100, 0, "f", "a", shiftsync.Version{}), true, false},
		{"edit on top of the current version wins, no conflict", map[string]shiftsync.Version{"f": v0}, edit("phone-2", 200, 0, "f", "b", v0), true, false},
		{"concurrent later edit wins and conflicts", map[string]shiftsync.Version{"f": v(150, 0, "phone-2")}, edit("phone-3", 160, 0, "f", "c", v0), true, true},
		{"concurrent earlier edit loses and conflicts", map[string]shiftsync.Version{"f": v(150, 0, "phone-2")}, edit("phone-3", 140, 0, "f", "c", v0), false, true},
		{"same hlc: greater device id wins", map[string]shiftsync.Version{"f": v(150, 0, "phone-2")}, edit("phone-3", 150, 0, "f", "c", v0), true, true},
		{"same hlc: smaller device id loses", map[string]shiftsync.Version{"f": v(150, 0, "phone-2")}, edit("phone-1", 150, 0, "f", "c", v0), false, true},
		{"logical counter orders within a millisecond", map[string]shiftsync.Version{"f": v(150, 3, "phone-9")}, edit("phone-1", 150, 4, "f", "c", v(150, 3, "phone-9")), true, false},
		{"an edit unaware of a value that exists conflicts", map[string]shiftsync.Version{"f": v0}, edit("phone-2", 200, 0, "f", "b", shiftsync.Version{}), true, true},
		{"other fields do not matter", map[string]shiftsync.Version{"g": v(999, 0, "phone-9")}, edit("phone-2", 200, 0, "f", "b", shiftsync.Version{}), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, rej := shiftsync.Merge(&tt.m, tt.current)
			if rej != nil {
				t.Fatalf("Merge() rejected: %v", rej)
			}
			if len(out) != 1 || out[0].Wins != tt.wantWins || out[0].Conflict != tt.wantConflict {
				t.Errorf("Merge() = %+v, want wins=%v conflict=%v", out, tt.wantWins, tt.wantConflict)
			}
			if out[0].Current != tt.current["f"] {
				t.Errorf("Current = %+v, want %+v", out[0].Current, tt.current["f"])
			}
		})
	}

	t.Run("a version already current is rejected", func(t *testing.T) {
		m := edit("phone-1", 100, 0, "f", "different value", shiftsync.Version{})
		_, rej := shiftsync.Merge(&m, map[string]shiftsync.Version{"f": v0})
		if rej == nil || rej.Reason != shiftsync.ReasonVersionReused {
			t.Errorf("Merge() = %v, want version_reused", rej)
		}
	})
}

// model is a replica in miniature: per field, the winning version and value.
type model map[string]struct {
	version shiftsync.Version
	value   string
}

func (md model) apply(t interface{ Fatalf(string, ...any) }, m shiftsync.Mutation) {
	current := map[string]shiftsync.Version{}
	for f, s := range md {
		current[f] = s.version
	}
	out, rej := shiftsync.Merge(&m, current)
	if rej != nil {
		t.Fatalf("Merge() rejected %+v: %v", m, rej)
	}
	for i, o := range out {
		if o.Wins {
			md[o.Field] = struct {
				version shiftsync.Version
				value   string
			}{m.Version(), m.Fields[i].Value.String}
		}
	}
}

func (md model) String() string {
	var parts []string
	for f, s := range md {
		parts = append(parts, fmt.Sprintf("%s=%s@%v", f, s.value, s.version))
	}
	slices.Sort(parts)
	return fmt.Sprint(parts)
}

// TestMerge_Converges applies a fixed set of mutations from three devices,
// some editing one field concurrently, in every order: the result is the same.
func TestMerge_Converges(t *testing.T) {
	base := v(100, 0, "phone-1")
	ms := []shiftsync.Mutation{
		edit("phone-1", 100, 0, "place", "kitchen", shiftsync.Version{}),
		edit("phone-2", 300, 0, "place", "garden", base),
		edit("phone-3", 300, 0, "place", "hall", base),
		edit("phone-1", 250, 2, "antecedent", "bus late", shiftsync.Version{}),
		edit("phone-2", 250, 2, "antecedent", "noise", shiftsync.Version{}),
		edit("phone-3", 120, 0, "consequence", "went to room", shiftsync.Version{}),
	}
	var want string
	n := 0
	for order := range permutations(len(ms)) {
		md := model{}
		for _, i := range order {
			md.apply(t, ms[i])
		}
		if want == "" {
			want = md.String()
		} else if got := md.String(); got != want {
			t.Fatalf("order %v gives %s, first order gave %s", order, got, want)
		}
		n++
	}
	if n != 720 {
		t.Fatalf("%d orders tried, want 720", n)
	}
	for _, w := range []string{"place=hall", "antecedent=noise", "consequence=went to room"} {
		if !strings.Contains(want, w) {
			t.Errorf("converged state %s lacks %s", want, w)
		}
	}
}

// permutations yields every order of 0..n-1 (Heap's algorithm).
func permutations(n int) func(yield func([]int) bool) {
	return func(yield func([]int) bool) {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		var gen func(k int) bool
		gen = func(k int) bool {
			if k == 1 {
				return yield(slices.Clone(p))
			}
			for i := range k {
				if !gen(k - 1) {
					return false
				}
				if k%2 == 0 {
					p[i], p[k-1] = p[k-1], p[i]
				} else {
					p[0], p[k-1] = p[k-1], p[0]
				}
			}
			return true
		}
		gen(n)
	}
}

// TestMerge_ConvergesRandomly draws random mutation sets with distinct
// versions and random delivery orders: every order converges.
func TestMerge_ConvergesRandomly(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		devices := []string{"phone-1", "phone-2", "phone-3"}
		fields := []string{"place", "antecedent", "consequence"}
		used := map[shiftsync.Version]bool{}
		var ms []shiftsync.Mutation
		for range rapid.IntRange(1, 12).Draw(rt, "n") {
			m := edit(rapid.SampledFrom(devices).Draw(rt, "device"),
				rapid.Int64Range(1, 5).Draw(rt, "wall"),
				rapid.Uint32Range(0, 2).Draw(rt, "logical"),
				rapid.SampledFrom(fields).Draw(rt, "field"),
				rapid.StringMatching(`[a-z]{1,3}`).Draw(rt, "value"),
				shiftsync.Version{})
			if used[m.Version()] {
				continue // one device never stamps two changes alike
			}
			used[m.Version()] = true
			ms = append(ms, m)
		}
		var want string
		for range 5 {
			order := rapid.Permutation(ms).Draw(rt, "order")
			md := model{}
			for _, m := range order {
				md.apply(rt, m)
			}
			if want == "" {
				want = md.String()
			} else if got := md.String(); got != want {
				rt.Fatalf("diverged: %s vs %s", got, want)
			}
		}
	})
}

func FuzzMerge(f *testing.F) {
	f.Add(int64(100), uint32(0), "phone-1", int64(100), uint32(0), "phone-2", true)
	f.Fuzz(func(t *testing.T, curWall int64, curLogical uint32, curDevice string, wall int64, logical uint32, device string, sawCurrent bool) {
		current := shiftsync.Version{HLC: shiftsync.HLC{WallMS: curWall, Logical: curLogical}, DeviceID: curDevice}
		base := shiftsync.Version{}
		if sawCurrent {
			base = current
		}
		m := edit(device, wall, logical, "f", "x", base)
		out, rej := shiftsync.Merge(&m, map[string]shiftsync.Version{"f": current})
		if m.Version() == current {
			if rej == nil || rej.Reason != shiftsync.ReasonVersionReused {
				t.Fatalf("equal version: %v, want version_reused", rej)
			}
			return
		}
		if rej != nil {
			t.Fatalf("Merge() rejected: %v", rej)
		}
		if out[0].Wins != (m.Version().Compare(current) > 0) {
			t.Fatalf("Wins = %v for %+v over %+v", out[0].Wins, m.Version(), current)
		}
		if out[0].Conflict == sawCurrent {
			t.Fatalf("Conflict = %v although the author saw the current version: %v", out[0].Conflict, sawCurrent)
		}
	})
}
