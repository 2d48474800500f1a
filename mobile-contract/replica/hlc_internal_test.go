package replica

import "testing"

func TestHLC_Tick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		last hlc
		now  int64
		want hlc
	}{
		{"clock ahead of last", hlc{100, 7}, 200, hlc{200, 0}},
		{"same millisecond", hlc{100, 7}, 100, hlc{100, 8}},
		{"clock behind last", hlc{100, 7}, 50, hlc{100, 8}},
		{"first reading", hlc{}, 1, hlc{1, 0}},
		{"logical exhausted", hlc{100, maxLogical}, 100, hlc{101, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.last.tick(tt.now); got != tt.want {
				t.Errorf("%+v.tick(%d) = %+v, want %+v", tt.last, tt.now, got, tt.want)
			}
		})
	}
}

func TestHLC_Observe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		local, remote hlc
		now           int64
		want          hlc
	}{
		{"remote ahead", hlc{100, 0}, hlc{150, 3}, 120, hlc{150, 4}},
		{"local ahead", hlc{150, 3}, hlc{100, 0}, 120, hlc{150, 4}},
		{"clock ahead of both", hlc{100, 0}, hlc{150, 3}, 200, hlc{200, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.local.observe(tt.remote, tt.now)
			if got != tt.want {
				t.Errorf("observe = %+v, want %+v", got, tt.want)
			}
			if got.compare(tt.local) <= 0 || got.compare(tt.remote) <= 0 {
				t.Errorf("observe = %+v, not after both %+v and %+v", got, tt.local, tt.remote)
			}
		})
	}
}

// TestVersion_Compare is the merge rule: wall_ms, then logical, then device
// id as bytes.
func TestVersion_Compare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b version
		want int
	}{
		{"later wall wins", version{hlc{2, 0}, "a"}, version{hlc{1, 9}, "z"}, 1},
		{"later logical wins", version{hlc{1, 2}, "a"}, version{hlc{1, 1}, "z"}, 1},
		{"device id breaks ties", version{hlc{1, 1}, "phone-b"}, version{hlc{1, 1}, "phone-a"}, 1},
		{"device ids compare as bytes", version{hlc{1, 1}, "Z"}, version{hlc{1, 1}, "a"}, -1},
		{"equal", version{hlc{1, 1}, "a"}, version{hlc{1, 1}, "a"}, 0},
		{"any value beats none", version{hlc{1, 0}, "a"}, version{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.a.compare(tt.b); got != tt.want {
				t.Errorf("compare(%+v, %+v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := tt.b.compare(tt.a); got != -tt.want {
				t.Errorf("compare(%+v, %+v) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}
