package shiftsync_test

import (
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

func TestCursor(t *testing.T) {
	tests := []shiftsync.Cursor{
		{},
		{StoreID: "30eaa7810e4e0c934f452625fe814a69", Seq: 0},
		{StoreID: "30eaa7810e4e0c934f452625fe814a69", Seq: 4},
		{StoreID: "s", Seq: 1<<63 - 1},
		{StoreID: "30eaa7810e4e0c934f452625fe814a69", Epoch: "9f1c", Seq: 4},
	}
	for _, c := range tests {
		got, err := shiftsync.ParseCursor(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCursor(%q) = %+v, %v; want %+v", c.String(), got, err, c)
		}
	}
	if s := (shiftsync.Cursor{}).String(); s != "" {
		t.Errorf("zero cursor encodes as %q, want empty", s)
	}
	// Format 1 ("c1."), pinned: devices hold cursors across server
	// upgrades, so a stored one must keep parsing to the same position.
	if s := (shiftsync.Cursor{StoreID: "30eaa7810e4e0c934f452625fe814a69", Seq: 4}).String(); s != "c1.MzBlYWE3ODEwZTRlMGM5MzRmNDUyNjI1ZmU4MTRhNjk6NA" {
		t.Errorf("format 1 cursor = %q, want %q", s, "c1.MzBlYWE3ODEwZTRlMGM5MzRmNDUyNjI1ZmU4MTRhNjk6NA")
	}
}

func TestParseCursor_Invalid(t *testing.T) {
	tests := []struct{ name, token string }{
		{"no prefix", "MzA6NA"},
		{"wrong version", "c3.MzA6NA"},
		{"format 2 without epoch", "c2.MzA6NA"}, // "30:4"
		{"format 2 empty epoch", "c2.czo6NA"},   // "s::4"
		{"not base64", "c1.???"},
		{"padded base64", "c1.MzA6NA=="},
		{"no separator", "c1.MzA"},                            // "30"
		{"no store", "c1.OjQ"},                                // ":4"
		{"negative seq", "c1.czotMQ"},                         // "s:-1"
		{"plus sign", "c1.czorMQ"},                            // "s:+1"
		{"leading zero", "c1.czowMQ"},                         // "s:01"
		{"not a number", "c1.czp4"},                           // "s:x"
		{"overflow", "c1.czo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ"}, // "s:99999999999999999999999"
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := shiftsync.ParseCursor(tt.token); shiftsync.ErrorCode(err) != shiftsync.CodeInvalid {
				t.Errorf("ParseCursor(%q) = %+v, %v; want CodeInvalid", tt.token, c, err)
			}
		})
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add("")
	f.Add(shiftsync.Cursor{StoreID: "30eaa7810e4e0c934f452625fe814a69", Seq: 4}.String())
	f.Add("c1.czotMQ")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := shiftsync.ParseCursor(token)
		if err != nil {
			if shiftsync.ErrorCode(err) != shiftsync.CodeInvalid {
				t.Fatalf("ParseCursor(%q) code = %v", token, shiftsync.ErrorCode(err))
			}
			return
		}
		if c.Seq < 0 {
			t.Fatalf("ParseCursor(%q) = negative seq %d", token, c.Seq)
		}
		again, err := shiftsync.ParseCursor(c.String())
		if err != nil || again != c {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", token, c, c.String(), again, err)
		}
	})
}
