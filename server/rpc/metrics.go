package rpc

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// OtherLabel is the label value of anything outside a metric's closed set
// of values (a reason, rule or code this build does not know): a label
// never carries a value a caller chose, nor an id.
const OtherLabel = "other"

// The outcomes of a pushed mutation, shiftsync_push_mutations_total's
// outcome label. Each mutation counts once: a replay as replayed whatever
// it repeats, an accepted mutation with a conflicted field as conflict.
var PushOutcomes = []string{"accepted", "conflict", "replayed", "quarantined", "restamp_required", "not_processed"}

// StatsSource gives the figures read at scrape time; [shiftsync.Monitor]
// is one.
type StatsSource interface {
	Stats(ctx context.Context) (shiftsync.OpsStats, error)
}

// Metrics are the server's Prometheus metrics, on a registry of their own
// (with the Go and process collectors), served by [Metrics.Handler]. Names
// are shiftsync_* in base units; every label takes its values from a
// closed set (procedures, codes, outcomes, reasons, rules, states), never
// from an id, so their number is bounded and they name no one. Counters
// are counted by the handlers from what the domain answered; the open
// alerts, conflicts, findings, unsynced phones and the last backup are
// read from a
// [StatsSource] when scraped. A nil *Metrics counts nothing. It is safe
// for concurrent use.
type Metrics struct {
	registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	mutations    *prometheus.CounterVec
	quarantined  *prometheus.CounterVec
	streams      prometheus.Gauge
	pullRows     prometheus.Counter
	pullBytes    prometheus.Counter
	verifies     *prometheus.CounterVec
	transactions *prometheus.HistogramVec
	overload     prometheus.Counter
	inFlight     prometheus.Gauge
	reasons      map[shiftsync.Reason]bool
}

// NewMetrics returns the metrics, with the scrape-time figures of stats
// (none when nil).
func NewMetrics(stats StatsSource) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiftsync_rpc_requests_total", Help: "RPCs handled, by procedure and code (ok, or the Connect error code).",
		}, []string{"procedure", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shiftsync_rpc_duration_seconds", Help: "Time to handle an RPC (a Subscribe stream: its whole life), by procedure.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}, []string{"procedure"}),
		mutations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiftsync_push_mutations_total", Help: "Pushed mutations answered, by outcome: " + strings.Join(PushOutcomes, ", ") + ".",
		}, []string{"outcome"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiftsync_quarantine_total", Help: "Pushed mutations quarantined (not replays), by reason code; reason \"other\" is one this build does not know.",
		}, []string{"reason"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shiftsync_subscribe_streams", Help: "Subscribe streams open.",
		}),
		pullRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shiftsync_pull_rows_total", Help: "Field changes served by Pull.",
		}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shiftsync_pull_bytes_total", Help: "Bytes of the Pull answers, as protobuf before compression.",
		}),
		verifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiftsync_verify_total", Help: "Verify answers (replica integrity digests compared), by outcome: match, mismatch, not_caught_up.",
		}, []string{"outcome"}),
		transactions: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shiftsync_store_transaction_duration_seconds", Help: "Time of a store transaction from begin to commit, by kind (update, view).",
			Buckets: prometheus.ExponentialBuckets(.0005, 2, 16),
		}, []string{"kind"}),
		overload: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shiftsync_rpc_overload_refused_total", Help: "Calls refused unavailable because the server was answering its bound of calls in flight for MaxQueueWait.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shiftsync_rpc_in_flight", Help: "Calls of the shiftsync services being answered now (Subscribe streams not counted), against the bound -max-in-flight.",
		}),
		reasons: map[shiftsync.Reason]bool{},
	}
	for _, r := range shiftsync.Reasons {
		m.reasons[r] = true
		m.quarantined.WithLabelValues(string(r))
	}
	for _, o := range PushOutcomes {
		m.mutations.WithLabelValues(o)
	}
	for _, o := range shiftsync.VerifyOutcomes {
		m.verifies.WithLabelValues(o)
	}
	m.transactions.WithLabelValues("update")
	m.transactions.WithLabelValues("view")
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.mutations, m.quarantined, m.streams, m.pullRows, m.pullBytes, m.verifies, m.transactions, m.overload, m.inFlight,
	)
	if stats != nil {
		m.registry.MustRegister(statsCollector{stats})
	}
	return m
}

// Registry returns the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// ObserveTransaction records the duration of a store transaction of kind
// "update" or "view".
func (m *Metrics) ObserveTransaction(kind string, d time.Duration) {
	if m != nil {
		m.transactions.WithLabelValues(kind).Observe(d.Seconds())
	}
}

// rpc counts one call of a procedure.
func (m *Metrics) rpc(procedure string, err error, d time.Duration) {
	if m == nil {
		return
	}
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	m.requests.WithLabelValues(procedure, code).Inc()
	m.duration.WithLabelValues(procedure).Observe(d.Seconds())
}

// CountCommits serves commits, the store's count of committed write
// transactions, as shiftsync_store_commits_total. Call it once.
func (m *Metrics) CountCommits(commits func() int64) {
	if m != nil {
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "shiftsync_store_commits_total", Help: "Write transactions the store committed since the server started; on SQLite each is an fsync of the write-ahead log.",
		}, func() float64 { return float64(commits()) }))
	}
}

// overloaded counts a call refused for overload.
func (m *Metrics) overloaded() {
	if m != nil {
		m.overload.Inc()
	}
}

// inFlightAdd moves the count of calls in flight by d.
func (m *Metrics) inFlightAdd(d float64) {
	if m != nil {
		m.inFlight.Add(d)
	}
}

// pushed counts the outcome of every mutation of a push.
func (m *Metrics) pushed(res shiftsync.PushResult) {
	if m == nil {
		return
	}
	for _, r := range res.Results {
		outcome := "not_processed"
		switch {
		case r.Replayed:
			outcome = "replayed"
		case r.Status == shiftsync.StatusAccepted && len(r.ConflictedFields) > 0:
			outcome = "conflict"
		case r.Status == shiftsync.StatusAccepted:
			outcome = "accepted"
		case r.Status == shiftsync.StatusQuarantined:
			outcome = "quarantined"
			reason := string(r.Reason)
			if !m.reasons[r.Reason] {
				reason = OtherLabel
			}
			m.quarantined.WithLabelValues(reason).Inc()
		case r.Status == shiftsync.StatusRestampRequired:
			outcome = "restamp_required"
		}
		m.mutations.WithLabelValues(outcome).Inc()
	}
}

// pulled counts a pull answer of rows changes and size bytes.
func (m *Metrics) pulled(rows, size int) {
	if m != nil {
		m.pullRows.Add(float64(rows))
		m.pullBytes.Add(float64(size))
	}
}

// verified counts the outcome of a Verify.
func (m *Metrics) verified(status shiftsync.VerifyStatus) {
	if m == nil {
		return
	}
	outcome, ok := shiftsync.VerifyOutcomes[status]
	if !ok {
		outcome = OtherLabel
	}
	m.verifies.WithLabelValues(outcome).Inc()
}

// streamOpened counts a Subscribe stream open, until the function it
// returns is called.
func (m *Metrics) streamOpened() func() {
	if m == nil {
		return func() {}
	}
	m.streams.Inc()
	return m.streams.Dec
}

// Handler serves the metrics in the Prometheus text format. Without a
// token it answers only callers on a loopback address that came through no
// proxy (no Forwarded or X-Forwarded-For header); with one, only callers
// sending it as "Authorization: Bearer <token>", from any address. Others
// are answered 403 (401 for a wrong or missing token).
func (m *Metrics) Handler(token string) http.Handler {
	serve := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="shiftsync metrics"`)
				http.Error(w, "metrics need the bearer token of -metrics-token", http.StatusUnauthorized)
				return
			}
		} else if !loopbackCaller(r) {
			http.Error(w, "metrics are served to loopback callers only; set -metrics-token to scrape from elsewhere", http.StatusForbidden)
			return
		}
		serve.ServeHTTP(w, r)
	})
}

// loopbackCaller reports whether r came from a loopback address and not
// through a proxy on this host.
func loopbackCaller(r *http.Request) bool {
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// statsCollector reads the figures of a [StatsSource] at each scrape.
type statsCollector struct{ stats StatsSource }

var (
	alertsOpenDesc = prometheus.NewDesc("shiftsync_alerts_open",
		"Alerts not acknowledged, by kind (the alert rule; \"other\" for one this build does not know).", []string{"kind"}, nil)
	conflictsOpenDesc = prometheus.NewDesc("shiftsync_conflicts_open", "Conflicts not resolved.", nil, nil)
	findingsDesc      = prometheus.NewDesc("shiftsync_findings",
		"Governance findings, by rule and state (due, warning, breach, met).", []string{"rule", "state"}, nil)
	unsyncedDesc = prometheus.NewDesc("shiftsync_devices_unsynced_over_threshold",
		"Phones not revoked whose last sync is older than the threshold.", []string{"threshold"}, nil)
	lastBackupDesc = prometheus.NewDesc("shiftsync_backup_last_success_timestamp_seconds",
		"Unix time the newest backup recorded (that completed and verified, taken by any process) was begun; 0: none.", nil, nil)
	horizonLagDesc = prometheus.NewDesc("shiftsync_store_horizon_lag_seconds",
		"How long the oldest write transaction open on the database has run: pulls see nothing committed after it began until it ends (PostgreSQL; 0 with one writer).", nil, nil)
	oldestUnsyncedDesc = prometheus.NewDesc("shiftsync_device_oldest_unsynced_age_seconds",
		"Age of the oldest change a phone holds unsynced, the greatest over the phones (as reported, plus the time since).", nil, nil)
)

// alertKinds are the alert rules, the values of shiftsync_alerts_open's
// kind label.
var alertKinds = func() []string {
	var kinds []string
	for _, r := range shiftsync.AlertRules {
		if !slices.Contains(kinds, r.ID) {
			kinds = append(kinds, r.ID)
		}
	}
	return kinds
}()

// findingStates are the values of shiftsync_findings' state label.
var findingStates = []shiftsync.FindingState{shiftsync.StateDue, shiftsync.StateWarning, shiftsync.StateBreach, shiftsync.StateMet}

// Describe implements [prometheus.Collector].
func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{alertsOpenDesc, conflictsOpenDesc, findingsDesc, unsyncedDesc, oldestUnsyncedDesc, lastBackupDesc, horizonLagDesc} {
		ch <- d
	}
}

// Collect implements [prometheus.Collector]: every kind, rule and state
// has a series, 0 included, and any count under a value outside those
// sets is added to "other".
func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.stats.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(alertsOpenDesc, fmt.Errorf("reading the store's figures: %w", err))
		return
	}
	alerts := map[string]int{}
	for kind, n := range s.OpenAlerts {
		if !slices.Contains(alertKinds, kind) {
			kind = OtherLabel
		}
		alerts[kind] += n
	}
	for _, kind := range alertKinds {
		ch <- prometheus.MustNewConstMetric(alertsOpenDesc, prometheus.GaugeValue, float64(alerts[kind]), kind)
	}
	if n, ok := alerts[OtherLabel]; ok {
		ch <- prometheus.MustNewConstMetric(alertsOpenDesc, prometheus.GaugeValue, float64(n), OtherLabel)
	}
	ch <- prometheus.MustNewConstMetric(conflictsOpenDesc, prometheus.GaugeValue, float64(s.OpenConflicts))

	findings := map[shiftsync.FindingKey]int{}
	for k, n := range s.Findings {
		if _, known := shiftsync.RuleVersions[k.RuleID]; !known {
			k.RuleID = OtherLabel
		}
		if !slices.Contains(findingStates, k.State) {
			k.State = OtherLabel
		}
		findings[k] += n
	}
	for rule := range shiftsync.RuleVersions {
		for _, state := range findingStates {
			k := shiftsync.FindingKey{RuleID: rule, State: state}
			ch <- prometheus.MustNewConstMetric(findingsDesc, prometheus.GaugeValue, float64(findings[k]), rule, string(state))
			delete(findings, k)
		}
	}
	for k, n := range findings { // only rule or state "other" are left
		ch <- prometheus.MustNewConstMetric(findingsDesc, prometheus.GaugeValue, float64(n), k.RuleID, string(k.State))
	}
	for _, threshold := range shiftsync.UnsyncedThresholds {
		ch <- prometheus.MustNewConstMetric(unsyncedDesc, prometheus.GaugeValue, float64(s.UnsyncedOver[threshold]), thresholdLabel(threshold))
	}
	ch <- prometheus.MustNewConstMetric(oldestUnsyncedDesc, prometheus.GaugeValue, s.OldestUnsyncedAge.Seconds())
	lastBackup := 0.0
	if !s.LastBackup.IsZero() {
		lastBackup = float64(s.LastBackup.UnixMilli()) / 1000
	}
	ch <- prometheus.MustNewConstMetric(lastBackupDesc, prometheus.GaugeValue, lastBackup)
	ch <- prometheus.MustNewConstMetric(horizonLagDesc, prometheus.GaugeValue, s.HorizonLag.Seconds())
}

// thresholdLabel writes a threshold of whole hours as "4h".
func thresholdLabel(d time.Duration) string {
	return fmt.Sprintf("%dh", int(d/time.Hour))
}
