//go:build faults

package postgres

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// faultOdds is, by crash point, the chance that a write transaction which
// stored versions ends the process there: SHIFTSYNC_FAULTS, e.g.
// "before_commit=0.02,after_commit=0.02", read once at start. Only a
// build with the faults tag (go build -tags faults) has it: the crash
// tests build shiftsyncd so, to see an instance die with a transaction
// sent but not committed, and committed but not answered.
var faultOdds = parseFaults(os.Getenv("SHIFTSYNC_FAULTS"))

func parseFaults(spec string) map[crashPoint]float64 {
	odds := map[crashPoint]float64{}
	for part := range strings.SplitSeq(spec, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		if p, err := strconv.ParseFloat(value, 64); err == nil && name != "" {
			odds[crashPoint(name)] = p
		}
	}
	return odds
}

// crash ends the process at point, as a SIGKILL would (no deferred
// function runs, no answer is written), with the odds SHIFTSYNC_FAULTS
// gives it, if tx stored versions.
func crash(point crashPoint, tx *Tx) {
	if tx.versions > 0 && rand.Float64() < faultOdds[point] {
		fmt.Fprintf(os.Stderr, "shiftsyncd: fault injected: exit %s\n", point)
		os.Exit(70)
	}
}
