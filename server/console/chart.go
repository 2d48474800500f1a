package console

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// chart is a weekly bar chart drawn as inline SVG: no script, printable,
// and compared by content with its golden (TestChartSVG). Each bar that
// is not zero is a link to the records behind it.
type chart struct {
	Title string // names the chart for assistive technology
	Unit  string // what a bar counts: "incidents", "minutes"
	Weeks []time.Time
	Bars  []float64
	Links []string // one per bar
	// Mean, if set, is a line over the bars: one value a week, NaN where
	// there is none.
	Mean     []float64
	MeanName string
	// Marks, if set, counts a week's marked events (debriefs) shown as a
	// dot above its bar.
	Marks    []int
	MarkName string
}

// The chart's geometry, in SVG user units.
const (
	chartWidth, chartHeight    = 640, 200
	chartLeft, chartRight      = 40, 8
	chartTop, chartBottom      = 16, 28
	chartPlotW, chartPlotH     = chartWidth - chartLeft - chartRight, chartHeight - chartTop - chartBottom
	chartBarFill, chartMeanInk = "#3c6e9f", "#b00020"
)

// SVG draws the chart.
func (c chart) SVG() template.HTML {
	top := 0.0
	for i, v := range c.Bars {
		top = math.Max(top, v)
		if i < len(c.Mean) && !math.IsNaN(c.Mean[i]) {
			top = math.Max(top, c.Mean[i])
		}
	}
	top = niceCeiling(top)
	y := func(v float64) float64 { return chartTop + chartPlotH - v/top*chartPlotH }
	slot := float64(chartPlotW) / float64(max(len(c.Bars), 1))
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="group" aria-labelledby="%s">
`, chartWidth, chartHeight, esc(c.id()))
	fmt.Fprintf(&b, `<title id="%s">%s</title>
`, esc(c.id()), esc(c.Title))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>
`, chartLeft, chartTop+chartPlotH, chartWidth-chartRight, chartTop+chartPlotH)
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">0</text><text x="%d" y="%.1f" text-anchor="end">%s</text>
`,
		chartLeft-4, y(0)+4, chartLeft-4, y(top)+4, num(top))
	for i, v := range c.Bars {
		x := chartLeft + float64(i)*slot
		week := c.Weeks[i].Format("2 Jan")
		label := fmt.Sprintf("Week of %s: %s %s", c.Weeks[i].Format("2 Jan 2006"), num(v), c.Unit)
		if i < len(c.Mean) && !math.IsNaN(c.Mean[i]) {
			label += fmt.Sprintf(" (%s %s)", c.MeanName, num(c.Mean[i]))
		}
		if i < len(c.Marks) && c.Marks[i] > 0 {
			label += fmt.Sprintf("; %d %s", c.Marks[i], c.MarkName)
		}
		if v == 0 {
			// Nothing to drill down to: a sliver, and no link to tab onto.
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="1" fill="%s"><title>%s</title></rect>
`, x+slot*0.15, y(0)-1, slot*0.7, chartBarFill, esc(label))
		} else {
			fmt.Fprintf(&b, `<a href="%s" aria-label="%s"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect></a>
`, esc(c.Links[i]), esc(label), x+slot*0.15, y(v), slot*0.7, y(0)-y(v), chartBarFill, esc(label))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>
`, x+slot/2, chartHeight-chartBottom+14, esc(week))
		if i < len(c.Marks) && c.Marks[i] > 0 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="#f2a900" stroke="#1a1a1a"/>
`, x+slot/2, y(v)-8)
		}
	}
	var points []string
	for i, m := range c.Mean {
		if !math.IsNaN(m) {
			points = append(points, fmt.Sprintf("%.1f,%.1f", chartLeft+(float64(i)+0.5)*slot, y(m)))
		}
	}
	if len(points) > 0 {
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="6 3"/>
`, strings.Join(points, " "), chartMeanInk)
	}
	b.WriteString("</svg>")
	// Every value written above is escaped.
	return template.HTML(b.String())
}

// id is the chart's element id, from its title.
func (c chart) id() string {
	return "chart-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, c.Title)
}

// niceCeiling is the smallest of 1, 2, 5 × 10^n not below v (at least 1),
// the top of a chart's scale.
func niceCeiling(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// num formats a chart value: whole numbers without decimals, others to one.
func num(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
