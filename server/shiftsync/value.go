package shiftsync

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ValueKind is the type of a field value.
type ValueKind uint8

// The value kinds. KindUnset is a value with nothing set, which no field
// accepts.
const (
	KindUnset ValueKind = iota
	KindString
	KindInt
	KindDouble
	KindBool
	KindTimestamp
	KindEnum // the enum value's name, in Value.String
	KindList // a list of strings or of enum value names, in Value.List
)

var kindNames = [...]string{"unset", "string", "int", "double", "bool", "timestamp", "enum", "list"}

// String returns the kind's name as used in error messages.
func (k ValueKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Value is a field value: a tagged union whose Kind says which other field
// holds the value.
type Value struct {
	Kind   ValueKind
	String string // KindString, KindEnum
	Int    int64
	Double float64
	Bool   bool
	Time   time.Time
	List   []string
}

// Empty reports whether v holds no content: an empty string or list, or
// no value at all. A required field may not be empty.
func (v Value) Empty() bool {
	switch v.Kind {
	case KindUnset:
		return true
	case KindString:
		return strings.TrimSpace(v.String) == ""
	case KindList:
		return len(v.List) == 0
	}
	return false
}

// Equal reports whether v and o hold the same value.
func (v Value) Equal(o Value) bool {
	if v.Kind != o.Kind {
		return false
	}
	switch v.Kind {
	case KindString, KindEnum:
		return v.String == o.String
	case KindInt:
		return v.Int == o.Int
	case KindDouble:
		return v.Double == o.Double
	case KindBool:
		return v.Bool == o.Bool
	case KindTimestamp:
		return v.Time.Equal(o.Time)
	case KindList:
		if len(v.List) != len(o.List) {
			return false
		}
		for i := range v.List {
			if v.List[i] != o.List[i] {
				return false
			}
		}
		return true
	}
	return true
}

// valueJSON is the stored form of a Value: exactly one key set.
type valueJSON struct {
	S *string   `json:"s,omitempty"`
	I *int64    `json:"i,omitempty"`
	D *float64  `json:"d,omitempty"`
	B *bool     `json:"b,omitempty"`
	T *string   `json:"t,omitempty"`
	E *string   `json:"e,omitempty"`
	L *[]string `json:"l,omitempty"`
}

// MarshalValue encodes v in the canonical stored form (a small JSON object,
// readable in the database). It fails for KindUnset and non-finite doubles.
func MarshalValue(v Value) ([]byte, error) {
	var j valueJSON
	switch v.Kind {
	case KindString:
		j.S = &v.String
	case KindInt:
		// The bytes json.Marshal writes, without its reflection: a push
		// stores one value per field.
		return append(strconv.AppendInt(append(make([]byte, 0, 32), `{"i":`...), v.Int, 10), '}'), nil
	case KindDouble:
		if math.IsNaN(v.Double) || math.IsInf(v.Double, 0) {
			return nil, fmt.Errorf("marshal value: non-finite double")
		}
		j.D = &v.Double
	case KindBool:
		j.B = &v.Bool
	case KindTimestamp:
		// RFC 3339 needs no JSON escaping: the bytes json.Marshal writes.
		b := append(make([]byte, 0, 48), `{"t":"`...)
		return append(v.Time.UTC().AppendFormat(b, time.RFC3339Nano), `"}`...), nil
	case KindEnum:
		j.E = &v.String
	case KindList:
		l := v.List
		if l == nil {
			l = []string{}
		}
		j.L = &l
	default:
		return nil, fmt.Errorf("marshal value: kind %s", v.Kind)
	}
	return json.Marshal(j)
}

// UnmarshalValue decodes the stored form written by [MarshalValue].
func UnmarshalValue(b []byte) (Value, error) {
	var j valueJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Value{}, fmt.Errorf("unmarshal value: %w", err)
	}
	var v Value
	set := 0
	if j.S != nil {
		v, set = Value{Kind: KindString, String: *j.S}, set+1
	}
	if j.I != nil {
		v, set = Value{Kind: KindInt, Int: *j.I}, set+1
	}
	if j.D != nil {
		v, set = Value{Kind: KindDouble, Double: *j.D}, set+1
	}
	if j.B != nil {
		v, set = Value{Kind: KindBool, Bool: *j.B}, set+1
	}
	if j.T != nil {
		t, err := time.Parse(time.RFC3339Nano, *j.T)
		if err != nil {
			return Value{}, fmt.Errorf("unmarshal value: %w", err)
		}
		v, set = Value{Kind: KindTimestamp, Time: t.UTC()}, set+1
	}
	if j.E != nil {
		v, set = Value{Kind: KindEnum, String: *j.E}, set+1
	}
	if j.L != nil {
		v, set = Value{Kind: KindList, List: *j.L}, set+1
	}
	if set != 1 {
		return Value{}, fmt.Errorf("unmarshal value: %d kinds set, want 1", set)
	}
	return v, nil
}
