package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
)

// latencies collects the durations and outcomes of calls by kind. It is
// safe for concurrent use.
type latencies struct {
	mu     sync.Mutex
	calls  map[string][]time.Duration // successful calls, by kind
	errors map[string]map[string]int  // failed calls, by kind then Connect code
}

func newLatencies() *latencies {
	return &latencies{calls: map[string][]time.Duration{}, errors: map[string]map[string]int{}}
}

// add records one call of kind that took d and ended with err.
func (l *latencies) add(kind string, d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.calls[kind] = append(l.calls[kind], d)
		return
	}
	code := connect.CodeOf(err).String()
	if errors.Is(err, errGaveUp) {
		code = "gave_up"
	}
	if l.errors[kind] == nil {
		l.errors[kind] = map[string]int{}
	}
	l.errors[kind][code]++
}

// total returns how many calls were recorded, failed ones included.
func (l *latencies) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ds := range l.calls {
		n += len(ds)
	}
	for _, codes := range l.errors {
		for _, c := range codes {
			n += c
		}
	}
	return n
}

// summary is the distribution of a set of durations.
type summary struct {
	n             int
	p50, p99, max time.Duration
}

func summarise(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return summary{n: len(s), p50: at(0.50), p99: at(0.99), max: s[len(s)-1]}
}

func (s summary) String() string {
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", s.n, ms(s.p50), ms(s.p99), ms(s.max))
}

// ms writes a duration in milliseconds with one decimal.
func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms" }

// print writes one line per kind of call, and the errors by code.
func (l *latencies) print(w io.Writer, indent string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var kinds []string
	for k := range l.calls {
		kinds = append(kinds, k)
	}
	for k := range l.errors {
		if _, ok := l.calls[k]; !ok {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "%s%-12s %s", indent, k, summarise(l.calls[k]))
		if codes := l.errors[k]; len(codes) > 0 {
			var parts []string
			for c, n := range codes {
				parts = append(parts, fmt.Sprintf("%s=%d", c, n))
			}
			slices.Sort(parts)
			fmt.Fprintf(w, " errors: %s", strings.Join(parts, " "))
		}
		fmt.Fprintln(w)
	}
}

// procStat is a process's CPU time and resident memory, from /proc.
type procStat struct {
	cpu time.Duration // user + system
	rss int64         // bytes
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc/PID/stat.
const clockTicks = 100

// readProcStat reads /proc/PID/stat ("self" for this process).
func readProcStat(pid string) (procStat, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis, which is field 2.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("unreadable /proc/%s/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15, rss 24.
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("short /proc/%s/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	return procStat{cpu: time.Duration(utime+stime) * time.Second / clockTicks, rss: rss * int64(os.Getpagesize())}, nil
}

// sampler samples a process's resident memory until stopped, keeping the
// peak, and measures its CPU time over the same period.
type sampler struct {
	pid   string
	start procStat
	began time.Time
	peak  int64
	stop  chan struct{}
	done  chan struct{}
}

func startSampler(pid string) *sampler {
	s := &sampler{pid: pid, began: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	s.start, _ = readProcStat(pid)
	s.peak = s.start.rss
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				if st, err := readProcStat(pid); err == nil {
					s.peak = max(s.peak, st.rss)
				}
			}
		}
	}()
	return s
}

// usage is what a sampler measured: CPU time, its share of one core over
// the wall time, and the peak resident memory.
type usage struct {
	cpu     time.Duration
	percent float64
	peakRSS int64
}

func (s *sampler) end() usage {
	close(s.stop)
	<-s.done
	st, _ := readProcStat(s.pid)
	wall := time.Since(s.began)
	cpu := st.cpu - s.start.cpu
	return usage{cpu: cpu, percent: 100 * cpu.Seconds() / wall.Seconds(), peakRSS: max(s.peak, st.rss)}
}

func (u usage) String() string {
	return fmt.Sprintf("cpu %.1fs (%.0f%% of a core), peak rss %d MiB", u.cpu.Seconds(), u.percent, u.peakRSS>>20)
}

// ratio writes a/b for a figure beside its baseline.
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}
