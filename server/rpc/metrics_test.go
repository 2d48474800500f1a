package rpc_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shiftsync/shiftsync/server/rpc"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// series is one sample of a scrape.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

func (s series) String() string { return fmt.Sprintf("%s%v %g", s.name, s.labels, s.value) }

// scrape gets url's /metrics and parses the text format.
func scrape(t *testing.T, url string) []series {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET /metrics: %s: %s", res.Status, b)
	}
	var out []series
	lines := bufio.NewScanner(res.Body)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSeries(line)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

// parseSeries parses one sample line of the Prometheus text format.
func parseSeries(line string) (series, error) {
	s := series{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for line[0] != '}' {
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return s, fmt.Errorf("bad label")
			}
			name := line[:eq]
			line = line[eq+2:]
			var v strings.Builder
			for line[0] != '"' {
				if line[0] == '\\' {
					line = line[1:]
				}
				v.WriteByte(line[0])
				line = line[1:]
			}
			s.labels[name] = v.String()
			line = strings.TrimPrefix(line[1:], ",")
		}
		line = line[1:]
	}
	value, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	var err error
	s.value, err = strconv.ParseFloat(value, 64)
	return s, err
}

// value returns the value of the series with the name and labels (pairs),
// failing the test if there is none.
func value(t *testing.T, all []series, name string, labels ...string) float64 {
	t.Helper()
	for _, s := range all {
		if s.name != name || len(s.labels) != len(labels)/2 {
			continue
		}
		match := true
		for i := 0; i < len(labels); i += 2 {
			match = match && s.labels[labels[i]] == labels[i+1]
		}
		if match {
			return s.value
		}
	}
	t.Errorf("no series %s%v", name, labels)
	return 0
}

// TestMetrics_Session runs a scripted session through the real harness —
// pushes accepted, a conflict, two quarantined, a replay, an alert, pulls,
// a failed pull, a stream, phones falling behind — then scrapes /metrics
// and checks each metric against what the session did; then walks every
// series and fails on any label value outside its closed set, or holding
// an id of the session.
func TestMetrics_Session(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testMetricsSession(t, shiftsynctest.NewServer(t)) })
	t.Run("PostgreSQL", func(t *testing.T) {
		testMetricsSession(t, shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.Postgres(shiftsynctest.PostgresDSN(t)))))
	})
}

func testMetricsSession(t *testing.T, s *shiftsynctest.Server) {
	ctx := context.Background()
	a := s.EnrolDevice(t, "writer-a", shiftsync.RoleSupportWorker, "house-a")
	b := s.EnrolDevice(t, "writer-b", shiftsync.RoleSupportWorker, "house-a")
	now := s.Clock.Now()
	record, restraint := shiftsynctest.RecordID(t), shiftsynctest.RecordID(t)
	push := func(token string, ms ...*syncv1.Mutation) *syncv1.PushResponse {
		t.Helper()
		res, err := s.Client(token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: ms})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := []*syncv1.Mutation{
		shiftsynctest.ProneRestraint(1, restraint, "house-a", "p1", now), // raises the prone_restraint alert
		shiftsynctest.Incident(2, record, "house-a", "p1", now, "first"),
	}
	push(a.Token, first...)
	edit := func(counter uint64, text string, logical uint32) *syncv1.Mutation {
		return &syncv1.Mutation{Counter: counter, RecordId: record, RecordType: "incident", ServiceId: "house-a", PersonId: "p1",
			Hlc: shiftsynctest.HLC(now, logical), Fields: []*syncv1.FieldEdit{shiftsynctest.Edit("place", shiftsynctest.String(text), nil)}}
	}
	push(a.Token, edit(3, "hallway", 1))
	if res := push(b.Token, edit(1, "garden", 2)); len(res.GetResults()[0].GetConflictedFields()) != 1 {
		t.Fatalf("the concurrent edit: %v, want a conflict", res.GetResults()[0])
	}
	unknown := shiftsynctest.Incident(4, shiftsynctest.RecordID(t), "house-a", "p1", now, "with a field no record has")
	unknown.Fields = append(unknown.Fields, shiftsynctest.Set("mood", shiftsynctest.String("cross")))
	missing := shiftsynctest.Incident(5, shiftsynctest.RecordID(t), "house-a", "p1", now, "")
	missing.Fields = missing.Fields[:1] // no behaviour_description
	for _, r := range push(a.Token, unknown, missing).GetResults() {
		if r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED {
			t.Fatalf("bad mutation answered %v, want quarantined", r)
		}
	}
	push(a.Token, first...) // a retry: both replayed

	client := s.Client(a.Token)
	info := shiftsynctest.ClientInfo()
	info.OutboxDepth, info.OldestUnsyncedAgeSeconds = 2, 600
	pulled, err := client.Pull(ctx, &syncv1.PullRequest{Client: info})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Pull(ctx, &syncv1.PullRequest{Client: info, Cursor: "not a cursor"}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("Pull with a bad cursor: %v, want invalid_argument", err)
	}
	streamCtx, closeStream := context.WithCancel(ctx)
	stream, err := client.Subscribe(streamCtx, &syncv1.SubscribeRequest{Client: shiftsynctest.ClientInfo()})
	if err != nil || !stream.Receive() {
		t.Fatalf("Subscribe: %v %v", err, stream.Err())
	}
	if _, err := s.Governance.EvaluateAll(ctx); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(5 * time.Hour) // both phones last synced 5 h ago
	lastBackup := 0.0              // a PostgreSQL store is backed up by PostgreSQL's own tools
	if s.Store.Backups != nil {
		backup, err := s.Store.Backups.Backup(ctx, filepath.Join(t.TempDir(), "backup.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store.Backups.RecordBackup(ctx, backup, shiftsync.Principal{UserID: "operator:test"}); err != nil {
			t.Fatal(err)
		}
		lastBackup = float64(s.Clock.Now().Unix())
	}

	m := scrape(t, s.URL)
	closeStream()
	const push_, pull = syncv1connect.SyncServicePushProcedure, syncv1connect.SyncServicePullProcedure
	want := []struct {
		name   string
		labels []string
		value  float64
	}{
		{"shiftsync_rpc_requests_total", []string{"procedure", push_, "code", "ok"}, 5},
		{"shiftsync_rpc_requests_total", []string{"procedure", pull, "code", "ok"}, 1},
		{"shiftsync_rpc_requests_total", []string{"procedure", pull, "code", "invalid_argument"}, 1},
		{"shiftsync_rpc_duration_seconds_count", []string{"procedure", push_}, 5},
		{"shiftsync_push_mutations_total", []string{"outcome", "accepted"}, 3},
		{"shiftsync_push_mutations_total", []string{"outcome", "conflict"}, 1},
		{"shiftsync_push_mutations_total", []string{"outcome", "quarantined"}, 2},
		{"shiftsync_push_mutations_total", []string{"outcome", "replayed"}, 2},
		{"shiftsync_push_mutations_total", []string{"outcome", "restamp_required"}, 0},
		{"shiftsync_push_mutations_total", []string{"outcome", "not_processed"}, 0},
		{"shiftsync_quarantine_total", []string{"reason", "unknown_field"}, 1},
		{"shiftsync_quarantine_total", []string{"reason", "missing_required_field"}, 1},
		{"shiftsync_quarantine_total", []string{"reason", "clock_ahead"}, 0},
		{"shiftsync_alerts_open", []string{"kind", "prone_restraint"}, 1},
		{"shiftsync_alerts_open", []string{"kind", "seclusion"}, 0},
		{"shiftsync_conflicts_open", nil, 1},
		{"shiftsync_subscribe_streams", nil, 1},
		{"shiftsync_pull_rows_total", nil, float64(len(pulled.GetChanges()))},
		{"shiftsync_pull_bytes_total", nil, float64(proto.Size(pulled))},
		{"shiftsync_devices_unsynced_over_threshold", []string{"threshold", "4h"}, 2},
		{"shiftsync_devices_unsynced_over_threshold", []string{"threshold", "24h"}, 0},
		{"shiftsync_device_oldest_unsynced_age_seconds", nil, 600 + 5*3600},
		{"shiftsync_backup_last_success_timestamp_seconds", nil, lastBackup},
	}
	for _, w := range want {
		if got := value(t, m, w.name, w.labels...); got != w.value {
			t.Errorf("%s%v = %g, want %g", w.name, w.labels, got, w.value)
		}
	}
	if got := value(t, m, "shiftsync_store_transaction_duration_seconds_count", "kind", "update"); got < 5 {
		t.Errorf("store update transactions = %g, want at least one a push", got)
	}
	if value(t, m, "go_goroutines") == 0 || value(t, m, "process_start_time_seconds") == 0 {
		t.Error("the Go and process collectors are missing")
	}

	// Findings: the counts of the stored findings, by rule and state.
	var findings []shiftsync.StoredFinding
	if err := s.Store.Engine.View(ctx, func(tx shiftsync.Tx) error {
		findings, err = tx.StoredFindings(ctx, "house-a", "", true)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	byRule := map[shiftsync.FindingKey]float64{}
	for _, f := range findings {
		byRule[shiftsync.FindingKey{RuleID: f.RuleID, State: f.State}]++
	}
	if len(byRule) == 0 {
		t.Fatal("the session raised no finding: the test proves nothing of shiftsync_findings")
	}
	for rule := range shiftsync.RuleVersions {
		for _, state := range []shiftsync.FindingState{shiftsync.StateDue, shiftsync.StateWarning, shiftsync.StateBreach, shiftsync.StateMet} {
			k := shiftsync.FindingKey{RuleID: rule, State: state}
			if got := value(t, m, "shiftsync_findings", "rule", rule, "state", string(state)); got != byRule[k] {
				t.Errorf("shiftsync_findings{rule=%s,state=%s} = %g, want %g", rule, state, got, byRule[k])
			}
		}
	}

	checkLabels(t, m, []string{a.UserID, a.DeviceID, b.UserID, b.DeviceID, record, restraint, "house-a", "p1", "org-test"})
}

// closedLabels are the values each label of a shiftsync_* metric may take.
func closedLabels() map[string][]string {
	codes := []string{"ok"}
	for c := connect.Code(1); c <= 16; c++ {
		codes = append(codes, c.String())
	}
	reasons := []string{rpc.OtherLabel}
	for _, r := range shiftsync.Reasons {
		reasons = append(reasons, string(r))
	}
	kinds := []string{rpc.OtherLabel, "update", "view"}
	for _, r := range shiftsync.AlertRules {
		kinds = append(kinds, r.ID)
	}
	rules := []string{rpc.OtherLabel}
	for r := range shiftsync.RuleVersions {
		rules = append(rules, r)
	}
	return map[string][]string{
		"code": codes, "outcome": append(slices.Clone(rpc.PushOutcomes), "match", "mismatch", "not_caught_up", rpc.OtherLabel), "reason": reasons, "kind": kinds, "rule": rules,
		"state": {"due", "warning", "breach", "met", rpc.OtherLabel}, "threshold": {"4h", "24h"},
	}
}

// procedure is what a procedure label holds: a generated procedure name.
var procedure = regexp.MustCompile(`^/shiftsync\.(sync|auth|review)\.v1\.[A-Z][A-Za-z]+Service/[A-Z][A-Za-z]+$`)

// uuidLike matches an id the session may have used.
var uuidLike = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// checkLabels fails the test for any label value of a shiftsync_* series
// outside its closed set, and for any label value of any series that
// holds one of ids or looks like a UUID.
func checkLabels(t *testing.T, all []series, ids []string) {
	t.Helper()
	closed := closedLabels()
	for _, s := range all {
		for name, v := range s.labels {
			if uuidLike.MatchString(v) || slices.ContainsFunc(ids, func(id string) bool { return strings.Contains(v, id) }) {
				t.Errorf("%v: label %s=%q holds an id", s, name, v)
			}
			if !strings.HasPrefix(s.name, "shiftsync_") || name == "le" {
				continue
			}
			switch set, ok := closed[name]; {
			case name == "procedure":
				if !procedure.MatchString(v) {
					t.Errorf("%v: procedure %q is not a procedure name", s, v)
				}
			case !ok:
				t.Errorf("%v: label %s has no closed set in the test: add one", s, name)
			case !slices.Contains(set, v):
				t.Errorf("%v: %s=%q is not one of %q", s, name, v, set)
			}
		}
	}
}

// TestMetrics_Access: without a token only loopback callers that came
// through no proxy are served; with one, only callers sending it.
func TestMetrics_Access(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/metrics", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("GET /metrics through a proxy on the loopback: %s, want 403", res.Status)
	}
	scrape(t, s.URL) // loopback, directly: served

	tests := []struct {
		name, token, remote, auth string
		want                      int
	}{
		{"no token, loopback", "", "127.0.0.1:4000", "", http.StatusOK},
		{"no token, loopback v6", "", "[::1]:4000", "", http.StatusOK},
		{"no token, another host", "", "192.0.2.7:4000", "", http.StatusForbidden},
		{"no token, another host sending one", "", "192.0.2.7:4000", "Bearer x", http.StatusForbidden},
		{"token, another host without it", "s3cret", "192.0.2.7:4000", "", http.StatusUnauthorized},
		{"token, another host with a wrong one", "s3cret", "192.0.2.7:4000", "Bearer s3cre", http.StatusUnauthorized},
		{"token, loopback without it", "s3cret", "127.0.0.1:4000", "", http.StatusUnauthorized},
		{"token, another host with it", "s3cret", "192.0.2.7:4000", "Bearer s3cret", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := rpc.NewMetrics(nil).Handler(tt.token)
			r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			r.RemoteAddr = tt.remote
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d", w.Code, tt.want)
			}
			if w.Code == http.StatusOK && !strings.Contains(w.Body.String(), "shiftsync_push_mutations_total") {
				t.Error("served no shiftsync metrics")
			}
		})
	}
}
