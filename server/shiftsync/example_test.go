package shiftsync_test

import (
	"fmt"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Two support workers edit the same field of an incident offline, both from
// the value they last synced. Whichever arrives first, the later (HLC, device)
// wins, and the second to arrive is reported as a conflict: both values are
// kept for a manager.
func ExampleMerge() {
	synced := shiftsync.Version{HLC: shiftsync.HLC{WallMS: 1000}, DeviceID: "phone-1"}
	current := map[string]shiftsync.Version{"place": synced}

	fromPhone2 := shiftsync.Mutation{DeviceID: "phone-2", HLC: shiftsync.HLC{WallMS: 2000},
		Fields: []shiftsync.FieldEdit{{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "garden"}, Base: synced}}}
	out, _ := shiftsync.Merge(&fromPhone2, current)
	fmt.Printf("phone-2 arrives first: wins=%v conflict=%v\n", out[0].Wins, out[0].Conflict)
	current["place"] = fromPhone2.Version()

	fromPhone3 := shiftsync.Mutation{DeviceID: "phone-3", HLC: shiftsync.HLC{WallMS: 1500},
		Fields: []shiftsync.FieldEdit{{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "hall"}, Base: synced}}}
	out, _ = shiftsync.Merge(&fromPhone3, current)
	fmt.Printf("phone-3 arrives second: wins=%v conflict=%v\n", out[0].Wins, out[0].Conflict)
	// Output:
	// phone-2 arrives first: wins=true conflict=false
	// phone-3 arrives second: wins=false conflict=true
}

// A cursor is an opaque token to devices; the server reads back where it is.
func ExampleCursor() {
	c := shiftsync.Cursor{StoreID: "a1b2", Seq: 42}
	token := c.String()
	back, err := shiftsync.ParseCursor(token)
	fmt.Println(token, back.Seq, err)
	// Output: c1.YTFiMjo0Mg 42 <nil>
}
