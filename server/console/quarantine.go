package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// reasonWords say why a change was quarantined or refused, one sentence
// for every [shiftsync.Reasons] (TestReasonWords); the server's own
// message, naming the field and value, follows it on the page.
var reasonWords = map[shiftsync.Reason]string{
	shiftsync.ReasonInvalidRecordID:      "The record's id is not a valid id, so the change cannot be filed.",
	shiftsync.ReasonUnknownRecordType:    "The phone sent a kind of record this server does not know: its app may be newer than the server.",
	shiftsync.ReasonMissingService:       "The change names no service.",
	shiftsync.ReasonMissingPerson:        "The change names no person, and this kind of record is about one.",
	shiftsync.ReasonUnknownPerson:        "The change is about a person this service does not support.",
	shiftsync.ReasonInvalidHLC:           "The phone's timestamp on the change is not valid.",
	shiftsync.ReasonInvalidBase:          "The change says it edits a version of a field that is not valid.",
	shiftsync.ReasonNoFields:             "The change sets no field.",
	shiftsync.ReasonTooManyFields:        "The change sets more fields than a record has.",
	shiftsync.ReasonUnknownField:         "The change sets a field this kind of record does not have: its app may be newer than the server.",
	shiftsync.ReasonDuplicateField:       "The change sets the same field twice.",
	shiftsync.ReasonWrongType:            "A value is of the wrong kind for its field (text where a time belongs, for example).",
	shiftsync.ReasonInvalidValue:         "A value is not allowed for its field: too long, out of range, or not one of its choices.",
	shiftsync.ReasonMissingRequired:      "A new record lacks a field that every such record must have.",
	shiftsync.ReasonEnvelopeMismatch:     "The change names a different service, person or kind of record than the record it edits.",
	shiftsync.ReasonVersionReused:        "The phone sent a different change under a version it had already used.",
	shiftsync.ReasonCounterReused:        "The phone sent a different change under a number it had already used.",
	shiftsync.ReasonPermissionDenied:     "The person who made the change may not write this record (their role, service or caseload does not allow it).",
	shiftsync.ReasonOutOfOrder:           "An end time is before its start, as the record would stand.",
	shiftsync.ReasonRecordLocked:         "A manager locked the record: a correction must be written as an addendum.",
	shiftsync.ReasonInvalidReference:     "The change names another record that does not exist or belongs to someone else.",
	shiftsync.ReasonUnknownRecord:        "The change edits a record the server does not hold, or that its author may not see.",
	shiftsync.ReasonRecordIDTaken:        "The change creates a record under an id another record already has.",
	shiftsync.ReasonImplausibleTime:      "A time when something happened is in the future, or implausibly long ago.",
	shiftsync.ReasonInvalidCorrection:    "The change says it corrects earlier changes it cannot correct.",
	shiftsync.ReasonClockAhead:           "The phone's clock was ahead of the server's; the phone re-stamps the change and sends it again.",
	shiftsync.ReasonTooLargeToQuarantine: "The change was too large to keep; it stays on the phone, which sends it again.",
	shiftsync.ReasonQuarantineFull:       "The phone had quarantined as much as a day allows; the change stays on the phone, which sends it again.",
}

// reasonSentence is a reason in words; a reason the table lacks (none,
// by TestReasonWords) reads as its code.
func reasonSentence(r shiftsync.Reason) string {
	if s, ok := reasonWords[r]; ok {
		return s
	}
	return string(r)
}

// receivedChange is a quarantined change as received, readable: its
// envelope and each field it set, by plain label.
type receivedChange struct {
	shiftsync.QuarantinedChange
	MadeAt time.Time // the phone's timestamp on it
	Fields []receivedField
	// Raw is the payload as stored, shown when it does not decode.
	Raw string
}

type receivedField struct {
	Label, Value string
	Edits        bool // it edits an existing version, rather than setting a new field
}

// quarantinePage is a service's quarantine.
type quarantinePage struct {
	view
	Changes   []receivedChange
	Overflows []shiftsync.QuarantineOverflow
}

// quarantine shows the changes quarantined under the service, each as
// received and with its reasons in words: the review service's
// Quarantine, as ListQuarantine.
func (h *handler) quarantine(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	service, err := h.serviceOf(r, p)
	if err != nil {
		h.fail(w, err)
		return
	}
	list, err := h.Review.Quarantine(r.Context(), p, service)
	if err != nil {
		h.fail(w, err)
		return
	}
	v := quarantinePage{view: view{Title: "Quarantine", Principal: p, Service: service}, Overflows: list.Overflows}
	for _, q := range list.Changes {
		v.Changes = append(v.Changes, readable(h.Console.Schema, q))
	}
	h.renderPage(w, r, http.StatusOK, "quarantine", &v)
}

// readable decodes a quarantined change's payload ([shiftsync.QuarantinePayload]),
// codes by their labels in labels.
func readable(labels *shiftsync.Schema, q shiftsync.QuarantinedChange) receivedChange {
	c := receivedChange{QuarantinedChange: q}
	var m syncv1.Mutation
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(q.Payload), &m); err != nil {
		c.Raw = q.Payload
		return c
	}
	if m.GetHlc() != nil {
		c.MadeAt = time.UnixMilli(m.GetHlc().GetWallMs()).UTC()
	}
	for _, e := range m.GetFields() {
		c.Fields = append(c.Fields, receivedField{Label: fieldLabel(e.GetField()), Value: wireValueText(labels, e.GetValue()), Edits: e.GetBase() != nil})
	}
	return c
}

// fieldLabel is a field name as a reviewer reads it: behaviour_description
// reads "Behaviour description".
func fieldLabel(name string) string {
	return sentence(strings.ReplaceAll(name, "_", " "))
}

// wireValueText is a value as received, as [valueText] shows a stored one.
func wireValueText(labels *shiftsync.Schema, v *syncv1.Value) string {
	switch k := v.GetKind().(type) {
	case *syncv1.Value_StringValue:
		return k.StringValue
	case *syncv1.Value_IntValue:
		return strconv.FormatInt(k.IntValue, 10)
	case *syncv1.Value_DoubleValue:
		return strconv.FormatFloat(k.DoubleValue, 'g', -1, 64)
	case *syncv1.Value_BoolValue:
		return valueText(labels, shiftsync.Value{Kind: shiftsync.KindBool, Bool: k.BoolValue})
	case *syncv1.Value_TimestampValue:
		return valueText(labels, shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: k.TimestampValue.AsTime()})
	case *syncv1.Value_EnumValue:
		return labels.Label(k.EnumValue)
	case *syncv1.Value_ListValue:
		return valueText(labels, shiftsync.Value{Kind: shiftsync.KindList, List: k.ListValue.GetValues()})
	}
	return "(empty)"
}
