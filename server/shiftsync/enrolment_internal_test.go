package shiftsync

import "testing"

// TestNewUUIDv7 makes device ids that are version 7 UUIDs in canonical
// form, increasing as they are made.
func TestNewUUIDv7(t *testing.T) {
	prev := ""
	for range 10000 {
		id := newUUIDv7()
		if !uuidv7.MatchString(id) {
			t.Fatalf("newUUIDv7() = %q, not a version 7 UUID", id)
		}
		if id <= prev {
			t.Fatalf("newUUIDv7() = %q after %q: not increasing", id, prev)
		}
		prev = id
	}
}
