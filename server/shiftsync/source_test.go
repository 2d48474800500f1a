package shiftsync_test

import (
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

func TestSourceKey(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"192.0.2.7:5123", "192.0.2.7"},
		{"192.0.2.7", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"pipe", "pipe"},
	} {
		if got := shiftsync.SourceKey(tt.addr); got != tt.want {
			t.Errorf("SourceKey(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
