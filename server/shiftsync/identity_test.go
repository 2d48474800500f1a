package shiftsync_test

import (
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

func TestThrottleEnrolment(t *testing.T) {
	t.Parallel()
	const perSource, perCode = shiftsync.MaxEnrolmentFailuresPerSource, shiftsync.MaxEnrolmentFailuresPerCode
	tests := []struct {
		name     string
		failures shiftsync.EnrolmentFailures
		valid    bool
		want     shiftsync.Code // "" for not throttled
	}{
		{"a fresh source with a valid code", shiftsync.EnrolmentFailures{}, true, ""},
		{"a fresh source with a wrong code", shiftsync.EnrolmentFailures{}, false, ""},
		{"a source one failure short of the limit", shiftsync.EnrolmentFailures{Source: perSource - 1}, false, ""},
		{"a throttled source with a wrong code", shiftsync.EnrolmentFailures{Source: perSource}, false, shiftsync.CodeResourceExhausted},
		{"a throttled source with a valid code", shiftsync.EnrolmentFailures{Source: perSource}, true, shiftsync.CodeResourceExhausted},
		{"a code replayed to the limit", shiftsync.EnrolmentFailures{Code: perCode}, false, shiftsync.CodeResourceExhausted},
		{"a code one failure short of the limit", shiftsync.EnrolmentFailures{Code: perCode - 1}, false, ""},
		// A valid code has no failures of its own; were it counted, a valid
		// code still enrols from a source that is not throttled.
		{"a valid code is never throttled as a code", shiftsync.EnrolmentFailures{Code: perCode * 10}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := shiftsync.ThrottleEnrolment(tt.failures, tt.valid)
			var got shiftsync.Code
			if err != nil {
				got = shiftsync.ErrorCode(err)
			}
			if got != tt.want {
				t.Errorf("ThrottleEnrolment(%+v, %v) = %v, want %q", tt.failures, tt.valid, err, tt.want)
			}
		})
	}
}
