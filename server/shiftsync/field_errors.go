package shiftsync

import (
	"encoding/json"
	"fmt"
)

// fieldErrorJSON is the stored form of one [FieldError].
type fieldErrorJSON struct {
	Field   string `json:"field"`
	Reason  Reason `json:"reason"`
	Message string `json:"message"`
}

// MarshalFieldErrors returns the stored form of a mutation's problems, kept
// beside a quarantined change and a processed mutation's outcome: a JSON
// array of {"field", "reason", "message"} objects in order, every key
// present; "[]" for none. Pinned by TestMarshalFieldErrors.
func MarshalFieldErrors(errs []FieldError) ([]byte, error) {
	out := make([]fieldErrorJSON, len(errs))
	for i, e := range errs {
		out[i] = fieldErrorJSON(e)
	}
	return json.Marshal(out)
}

// UnmarshalFieldErrors decodes the stored form written by
// [MarshalFieldErrors]; nil for none.
func UnmarshalFieldErrors(b []byte) ([]FieldError, error) {
	var in []fieldErrorJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("unmarshal field errors: %w", err)
	}
	if len(in) == 0 {
		return nil, nil
	}
	errs := make([]FieldError, len(in))
	for i, e := range in {
		errs[i] = FieldError(e)
	}
	return errs, nil
}
