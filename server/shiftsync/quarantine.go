package shiftsync

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of the quarantine. A quarantined mutation is kept whole, so that
// nothing a device sends is lost; these bound what one device can make the
// server keep. A mutation beyond either is refused, not quarantined and not
// acknowledged: the device keeps it in its outbox and sends it again, and
// the refusal is counted for the device's managers ([QuarantineOverflow]).
const (
	// MaxQuarantineEntryBytes bounds one quarantined mutation, as
	// [QuarantineSize] measures it. It is twice the largest change the schema allows (every
	// text and list field at its limit: 1.9 MiB, an action tracker), so a
	// change refused for its access or a reference is always kept and
	// acknowledged, and only a change already too large to be valid can be
	// refused for its size (TestQuarantine_KeepsEveryValidChange).
	MaxQuarantineEntryBytes = 4 << 20
	// MaxQuarantineDayBytes bounds what one device has quarantined in a UTC
	// day: eight of the largest entries, thousands of times what a device
	// with a misconfigured membership or an outdated app produces in a day,
	// while a device pushing junk in a loop costs at most this.
	MaxQuarantineDayBytes = 32 << 20
)

// QuarantineSize is the size the quarantine's bounds count of a mutation:
// the bytes of its ids, field names and text, and 16 for each other value —
// about what the device sent, whatever the stored encoding costs. (Stored
// as JSON, a text of control characters takes up to six times as much; the
// bounds are on what the device can send, so that no valid change is
// refused for how it happens to encode.)
func QuarantineSize(m *Mutation) int64 {
	n := len(m.RecordID) + len(m.RecordType) + len(m.ServiceID) + len(m.PersonID) + len(m.AppVersion)
	for _, e := range m.Fields {
		n += len(e.Field) + 16 + len(e.Value.String)
		for _, item := range e.Value.List {
			n += len(item)
		}
	}
	return int64(n)
}

// QuarantineDay returns the UTC day t falls in, the period of
// [MaxQuarantineDayBytes]: its midnight.
func QuarantineDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// QuarantinePayloadFormat is the version of [QuarantinePayload]'s
// encoding, stored beside each payload. Format 1, the Go field names of
// [Mutation] (written until migration 00011, which converted every stored
// row), is no longer written or read.
const QuarantinePayloadFormat = 2

// QuarantinePayload returns the stored form of a quarantined mutation,
// whole: format 2, the protobuf JSON mapping of the
// shiftsync.sync.v1.Mutation the device sent, so managers' tools decode it
// with the generated types (protojson). Fields with their default value
// are omitted, 64-bit integers are strings, a timestamp is RFC 3339 in UTC
// with 0, 3, 6 or 9 fractional digits. Text is not HTML-escaped, so a '<',
// '>' or '&' the device sent is kept as one byte, not six. What the
// transport adds (the device, the user, the app version) and what the
// server derives (the agency) are stored beside it, not in it.
func QuarantinePayload(m *Mutation) ([]byte, error) {
	wire := wireMutation{
		Counter: m.Counter, RecordID: m.RecordID, RecordType: m.RecordType, ServiceID: m.ServiceID, PersonID: m.PersonID,
		HLC: wireHLCOf(m.HLC), Fields: make([]wireFieldEdit, len(m.Fields)),
	}
	for _, c := range m.Corrects {
		wire.Corrects = append(wire.Corrects, strconv.FormatUint(c, 10))
	}
	for i, e := range m.Fields {
		wire.Fields[i] = wireFieldEdit{Field: e.Field, Value: wireValueOf(e.Value)}
		if !e.Base.IsZero() {
			wire.Fields[i].Base = &wireVersion{HLC: wireHLCOf(e.Base.HLC), DeviceID: e.Base.DeviceID}
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(wire); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// The protobuf JSON mapping of shiftsync.sync.v1's Mutation and the
// messages in it, as [QuarantinePayload] writes them: one struct per
// message, the JSON names the proto's lowerCamelCase field names.
type (
	wireMutation struct {
		Counter    uint64          `json:"counter,omitempty,string"`
		RecordID   string          `json:"recordId,omitempty"`
		RecordType string          `json:"recordType,omitempty"`
		ServiceID  string          `json:"serviceId,omitempty"`
		PersonID   string          `json:"personId,omitempty"`
		HLC        *wireHLC        `json:"hlc,omitempty"`
		Fields     []wireFieldEdit `json:"fields,omitempty"`
		Corrects   []string        `json:"corrects,omitempty"` // uint64s, as strings
	}
	wireHLC struct {
		WallMS  int64  `json:"wallMs,omitempty,string"`
		Logical uint32 `json:"logical,omitempty"`
	}
	wireVersion struct {
		HLC      *wireHLC `json:"hlc,omitempty"`
		DeviceID string   `json:"deviceId,omitempty"`
	}
	wireFieldEdit struct {
		Field string       `json:"field,omitempty"`
		Value *wireValue   `json:"value,omitempty"`
		Base  *wireVersion `json:"base,omitempty"`
	}
	// wireValue is the oneof kind: exactly one member is set, even to its
	// default (a false bool is "boolValue": false).
	wireValue struct {
		StringValue    *string      `json:"stringValue,omitempty"`
		IntValue       *string      `json:"intValue,omitempty"`
		DoubleValue    any          `json:"doubleValue,omitempty"`
		BoolValue      *bool        `json:"boolValue,omitempty"`
		TimestampValue *string      `json:"timestampValue,omitempty"`
		EnumValue      *string      `json:"enumValue,omitempty"`
		ListValue      *wireStrings `json:"listValue,omitempty"`
	}
	wireStrings struct {
		Values []string `json:"values,omitempty"`
	}
)

func wireHLCOf(h HLC) *wireHLC {
	if h == (HLC{}) {
		return nil
	}
	return &wireHLC{WallMS: h.WallMS, Logical: h.Logical}
}

func wireValueOf(v Value) *wireValue {
	switch v.Kind {
	case KindString:
		return &wireValue{StringValue: &v.String}
	case KindInt:
		s := strconv.FormatInt(v.Int, 10)
		return &wireValue{IntValue: &s}
	case KindDouble:
		switch {
		case math.IsNaN(v.Double):
			return &wireValue{DoubleValue: "NaN"}
		case math.IsInf(v.Double, 1):
			return &wireValue{DoubleValue: "Infinity"}
		case math.IsInf(v.Double, -1):
			return &wireValue{DoubleValue: "-Infinity"}
		}
		return &wireValue{DoubleValue: v.Double}
	case KindBool:
		return &wireValue{BoolValue: &v.Bool}
	case KindTimestamp:
		s := wireTimestamp(v.Time)
		return &wireValue{TimestampValue: &s}
	case KindEnum:
		return &wireValue{EnumValue: &v.String}
	case KindList:
		return &wireValue{ListValue: &wireStrings{Values: v.List}}
	}
	return nil
}

// wireTimestamp formats t as the protobuf JSON mapping of a
// google.protobuf.Timestamp does: UTC, with 0, 3, 6 or 9 fractional digits.
func wireTimestamp(t time.Time) string {
	s := t.UTC().Format("2006-01-02T15:04:05.000000000")
	for range 3 {
		if !strings.HasSuffix(s, "000") {
			break
		}
		s = strings.TrimSuffix(s, "000")
	}
	return strings.TrimSuffix(s, ".") + "Z"
}

// CheckQuarantineBounds decides whether a mutation of size bytes (see
// [QuarantineSize]) may be quarantined for a device that has had dayBytes
// quarantined on the same UTC day. It returns nil, or the refusal:
// [ReasonTooLargeToQuarantine] or [ReasonQuarantineFull].
func CheckQuarantineBounds(size, dayBytes int64) *MutationError {
	switch {
	case size > MaxQuarantineEntryBytes:
		return reject(ReasonTooLargeToQuarantine, "this change was refused and is %d KiB, more than the %d KiB the server keeps of a refused change: "+
			"it stays on this device, and the device's other changes wait behind it; ask your manager", (size+1023)>>10, MaxQuarantineEntryBytes>>10)
	case dayBytes+size > MaxQuarantineDayBytes:
		return reject(ReasonQuarantineFull, "this change was refused, and the server keeps at most %d MiB of this device's refused changes a day: "+
			"it stays on this device and is sent again after midnight UTC", MaxQuarantineDayBytes>>20)
	}
	return nil
}

// QuarantineServices returns the services a quarantined mutation of the
// scope's principal is kept and listed under, sorted: the pusher's, never a
// service the pusher only names. They are the services of the grants in
// force at now or at the mutation's time; of those, only the mutation's
// own service when it is one of them (a change is its service's), or all
// of them when it is not (a change naming another's service, or none);
// failing any, every service the pusher has ever held a grant in (a
// leaver's device). nil when the pusher has never held a grant.
func (s Scope) QuarantineServices(m *Mutation, now time.Time) []string {
	services := append(s.Services(now), s.Services(m.HLC.Time())...)
	if len(services) == 0 {
		for _, g := range s.Grants {
			services = append(services, g.ServiceID)
		}
	}
	if slices.Contains(services, m.ServiceID) {
		return []string{m.ServiceID}
	}
	slices.Sort(services)
	return slices.Compact(services)
}

// QuarantineOverflow counts the mutations of one device refused on one UTC
// day because the quarantine's bounds would not keep them. They are kept
// on the device, not lost, but the device's later changes wait behind
// them, so its managers need to know.
type QuarantineOverflow struct {
	DeviceID string
	UserID   string
	Day      time.Time // UTC midnight
	Reason   Reason    // ReasonTooLargeToQuarantine or ReasonQuarantineFull
	// Refused counts the refusals (a device resends a refused mutation at
	// every sync) and Bytes their sizes.
	Refused       int
	Bytes         int64
	LastCounter   uint64
	LastRefusedAt time.Time
}

// QuarantineListing is what a service's quarantine holds: the quarantined
// changes, newest first, and the overflow of the devices whose refused
// changes it could not keep, newest day first.
type QuarantineListing struct {
	Changes   []QuarantinedChange
	Overflows []QuarantineOverflow
}
