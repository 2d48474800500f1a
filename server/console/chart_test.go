package console

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestChartSVG draws a chart of fixed weeks (a mean with a gap, a marked
// week, a title and a link that need escaping) and compares it with
// testdata/chart.golden.svg by content: each element on its line, runs of
// spaces not counting.
func TestChartSVG(t *testing.T) {
	week := func(d int) time.Time { return time.Date(2026, 2, d, 0, 0, 0, 0, time.UTC) }
	c := chart{
		Title: "Restrictions <of> Sam & Ada", Unit: "restrictions",
		Weeks: []time.Time{week(9), week(16), week(23)},
		Bars:  []float64{1, 0, 3},
		Links: []string{"/console/records?a=\"x\"&b=2", "/console/records?zero", "/console/records?c=<3>"},
		Mean:  []float64{math.NaN(), 0.5, 0.25}, MeanName: "4-week mean",
		Marks: []int{0, 0, 2}, MarkName: "debrief(s) held",
	}
	got := strings.TrimSpace(regexp.MustCompile(`[ \t]+`).ReplaceAllString(string(c.SVG()), " ")) + "\n"
	file := filepath.Join("testdata", "chart.golden.svg")
	// -update is the goldens' flag (golden_test.go), in this test binary.
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("chart differs from %s (-want +got):\n%s", file, diff)
	}
	if strings.Contains(got, "zero") {
		t.Error("the zero bar links to its (no) records")
	}
	for _, bad := range []string{"<of>", "c=<3>", `a="x"`, " & "} {
		if strings.Contains(got, bad) {
			t.Errorf("chart holds %q unescaped", bad)
		}
	}
}

// TestNiceCeiling: a chart's scale tops at 1, 2 or 5 × 10^n.
func TestNiceCeiling(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 0.5: 1, 1: 1, 1.5: 2, 3: 5, 7: 10, 10: 10, 11: 20, 240: 500} {
		if got := niceCeiling(v); got != want {
			t.Errorf("niceCeiling(%v) = %v, want %v", v, got, want)
		}
	}
}
