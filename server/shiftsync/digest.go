package shiftsync

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// DigestVersion is the version of the encoding [MutationDigest] hashes.
// A store keeps the digest of every accepted mutation and compares a
// retry's digest with it: a retry whose digest differs is counter_reused.
// So the encoding of a version never changes; a new encoding is a new
// version, and a store that holds digests of an older version keeps that
// version beside each stored digest and compares with it.
const DigestVersion = 1

// MutationDigest returns the SHA-256 digest, in encoding [DigestVersion]
// (1), of what a device sent of m: not the parts the server derives (the
// record's Agency) nor the AppVersion, which a phone may change between a
// push and its retry after an upgrade.
//
// Encoding 1 is the JSON text, as encoding/json's Marshal writes it (HTML
// characters and U+2028/U+2029 escaped as \u003c and so on, invalid UTF-8
// replaced by U+FFFD, floats in the shortest form, times as RFC 3339 with
// nanoseconds and the time's own offset, a nil list as null), of
//
//	{"RecordID":s,"RecordType":s,"ServiceID":s,"PersonID":s,"DeviceID":s,
//	 "UserID":s,"Counter":n,"HLC":{"WallMS":n,"Logical":n},
//	 "Fields":[{"Field":s,
//	            "Value":{"Kind":n,"String":s,"Int":n,"Double":f,"Bool":b,
//	                     "Time":t,"List":[s...]},
//	            "Base":{"HLC":{"WallMS":n,"Logical":n},"DeviceID":s}}...],
//	 "AppVersion":""}
//
// with no spaces, every member present in this order, whatever the value's
// Kind, and AppVersion always empty. When that text cannot be written (a
// Double that is NaN or infinite, a Time outside years 0 to 9999), it is
// instead the Go-syntax text of [digestV1Text], which spells out the
// format. Both forms are pinned by test vectors.
func MutationDigest(m *Mutation) [sha256.Size]byte {
	d := digestV1{
		RecordID: m.RecordID, RecordType: m.RecordType, ServiceID: m.ServiceID, PersonID: m.PersonID,
		DeviceID: m.DeviceID, UserID: m.UserID, Counter: m.Counter,
		HLC: digestV1HLC{WallMS: m.HLC.WallMS, Logical: m.HLC.Logical},
	}
	if m.Fields != nil {
		d.Fields = make([]digestV1Field, len(m.Fields))
		for i, e := range m.Fields {
			v := e.Value
			d.Fields[i] = digestV1Field{
				Field: e.Field,
				Value: digestV1Value{Kind: uint8(v.Kind), String: v.String, Int: v.Int, Double: v.Double, Bool: v.Bool, Time: v.Time, List: v.List},
				Base:  digestV1Version{HLC: digestV1HLC{WallMS: e.Base.HLC.WallMS, Logical: e.Base.HLC.Logical}, DeviceID: e.Base.DeviceID},
			}
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		b = digestV1Text(&d)
	}
	return sha256.Sum256(b)
}

// digestV1 and the types it holds are encoding 1 of [MutationDigest]:
// their member names, order and types must never change.
type digestV1 struct {
	RecordID   string          `json:"RecordID"`
	RecordType string          `json:"RecordType"`
	ServiceID  string          `json:"ServiceID"`
	PersonID   string          `json:"PersonID"`
	DeviceID   string          `json:"DeviceID"`
	UserID     string          `json:"UserID"`
	Counter    uint64          `json:"Counter"`
	HLC        digestV1HLC     `json:"HLC"`
	Fields     []digestV1Field `json:"Fields"`
	AppVersion string          `json:"AppVersion"` // always ""
}

type digestV1HLC struct {
	WallMS  int64  `json:"WallMS"`
	Logical uint32 `json:"Logical"`
}

type digestV1Field struct {
	Field string          `json:"Field"`
	Value digestV1Value   `json:"Value"`
	Base  digestV1Version `json:"Base"`
}

type digestV1Value struct {
	Kind   uint8     `json:"Kind"`
	String string    `json:"String"`
	Int    int64     `json:"Int"`
	Double float64   `json:"Double"`
	Bool   bool      `json:"Bool"`
	Time   time.Time `json:"Time"`
	List   []string  `json:"List"`
}

type digestV1Version struct {
	HLC      digestV1HLC `json:"HLC"`
	DeviceID string      `json:"DeviceID"`
}

// digestV1Text is encoding 1's form for a mutation JSON cannot encode:
// the text fmt's %#v verb once wrote of the anonymous struct the digest
// was taken over. Each scalar is written with %#v (strings quoted with
// strconv.Quote's escapes, unsigned integers in hex as 0x7, floats in %g
// form with NaN and ±Inf spelled so, times as time.Date(...) calls), in
// the frame below, which must never change.
func digestV1Text(d *digestV1) []byte {
	var b strings.Builder
	hlc := func(h digestV1HLC) {
		fmt.Fprintf(&b, "shiftsync.HLC{WallMS:%#v, Logical:%#v}", h.WallMS, h.Logical)
	}
	b.WriteString("struct { RecordID string; RecordType string; ServiceID string; PersonID string; " +
		"DeviceID string; UserID string; Counter uint64; HLC shiftsync.HLC; Fields []shiftsync.FieldEdit; AppVersion string }")
	fmt.Fprintf(&b, "{RecordID:%#v, RecordType:%#v, ServiceID:%#v, PersonID:%#v, DeviceID:%#v, UserID:%#v, Counter:%#v, HLC:",
		d.RecordID, d.RecordType, d.ServiceID, d.PersonID, d.DeviceID, d.UserID, d.Counter)
	hlc(d.HLC)
	b.WriteString(", Fields:[]shiftsync.FieldEdit")
	if d.Fields == nil {
		b.WriteString("(nil)")
	} else {
		b.WriteString("{")
		for i, e := range d.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			v := e.Value
			fmt.Fprintf(&b, "shiftsync.FieldEdit{Field:%#v, Value:shiftsync.Value{Kind:%#v, String:%#v, Int:%#v, Double:%#v, Bool:%#v, Time:%#v, List:%#v}, Base:shiftsync.Version{HLC:",
				e.Field, v.Kind, v.String, v.Int, v.Double, v.Bool, v.Time, v.List)
			hlc(e.Base.HLC)
			fmt.Fprintf(&b, ", DeviceID:%#v}}", e.Base.DeviceID)
		}
		b.WriteString("}")
	}
	fmt.Fprintf(&b, ", AppVersion:%#v}", d.AppVersion)
	return []byte(b.String())
}
