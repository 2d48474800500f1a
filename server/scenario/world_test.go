package scenario_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/sqlite"
	"github.com/shiftsync/shiftsync/server/wiring"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1/reviewv1connect"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// The service and person of the scenarios.
const (
	service = "oak-house"
	person  = "sam"
)

// world is a real server with phones enrolled through the real flow, each
// a replica file syncing over HTTP, and a manager reviewing over HTTP.
type world struct {
	t       *testing.T
	s       *shiftsynctest.Server
	manager shiftsynctest.Enrolment
	// path is the SQLite file of the store, until [world.moveToPostgres].
	path string
	// front is the address the phones know the server by, the load
	// balancer in front of it: it forwards to backend.
	front   *httptest.Server
	backend atomic.Pointer[url.URL]
	phones  []*phone
	// rostered is set once a phone logs a shift: the service keeps a
	// rota, and its support workers' phones hold only their shifts' people.
	rostered bool
}

func newWorld(t *testing.T) *world {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shiftsync.db")
	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(path)))
	s.AddPerson(t, service, person)
	w := &world{t: t, s: s, path: path, manager: s.EnrolDevice(t, "registered-manager", shiftsync.RoleManager, service)}
	w.forwardTo(s)
	w.front = httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(w.backend.Load()) }})
	t.Cleanup(w.front.Close)
	return w
}

// forwardTo makes the front forward to the server s.
func (w *world) forwardTo(s *shiftsynctest.Server) {
	w.t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		w.t.Fatal(err)
	}
	w.backend.Store(u)
}

// at moves the server's clock (and so every phone's) to t.
func (w *world) at(t time.Time) {
	w.t.Helper()
	if d := t.Sub(w.s.Clock.Now()); d < 0 {
		w.t.Fatalf("the clock cannot go back from %s to %s", w.s.Clock.Now(), t)
	} else {
		w.s.Clock.Advance(d)
	}
}

// phone is a support worker's or lead's phone.
type phone struct {
	*replica.Replica
	w    *world
	name string
	role shiftsync.Role
}

// serverClock is a phone clock that reads the server's fake clock.
type serverClock struct{ c *shiftsynctest.Clock }

func (c serverClock) NowUnixMilli() int64 { return c.c.Now().UnixMilli() }

// phone creates the user with role in the service and enrols a new replica
// for them with a one-time code, as a phone does.
func (w *world) phone(user string, role shiftsync.Role) *phone {
	w.t.Helper()
	w.s.EnrolDevice(w.t, user, role, service) // the user and the membership
	r, err := replica.Open(filepath.Join(w.t.TempDir(), user+".db"), "provisional-"+user)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = r.Close() })
	r.SetClock(serverClock{w.s.Clock})
	code, _, err := w.s.Identity.IssueEnrolmentCode(context.Background(), shiftsync.Principal{UserID: w.manager.UserID}, user)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := r.Enrol(w.front.URL, code, user+"'s phone"); err != nil {
		w.t.Fatalf("%s: Enrol() = %v", user, err)
	}
	p := &phone{Replica: r, w: w, name: user, role: role}
	w.phones = append(w.phones, p)
	return p
}

// moveToPostgres moves the world's store to a new PostgreSQL database, as
// a provider's IT does with shiftsyncd admin copy-store (whose copy is
// [postgres.DB.CopyFrom]): the server stops, every table of its file is
// copied and must then hold the same rows in PostgreSQL, and a server on
// the new database takes over behind the address the phones know. Every
// phone then logs a record and syncs, and every phone receives every
// other's (in a service that keeps a rota, a support worker's phone reaches
// only its shifts' people, so there only the others log and compare). It
// runs as a subtest, skipped outside CI when no PostgreSQL answers.
func (w *world) moveToPostgres() {
	w.t.Run("moved to PostgreSQL", func(t *testing.T) {
		ctx := context.Background()
		dsn := shiftsynctest.PostgresDSN(t)
		parent, now := w.t, w.s.Clock.Now()
		w.t = t
		defer func() { w.t = parent }()
		w.s.Close()

		src, dst := sqlite.NewDB(w.path), postgres.NewDB(dsn)
		dst.Logger = slog.New(slog.DiscardHandler)
		if err := src.Open(); err != nil {
			t.Fatal(err)
		}
		if err := dst.Open(); err != nil {
			t.Fatal(err)
		}
		counts, err := dst.CopyFrom(ctx, src)
		_, _ = src.Close(), dst.Close()
		if err != nil {
			t.Fatalf("CopyFrom() = %v", err)
		}
		rows := shiftsynctest.SameTables(t, w.path, dsn)
		t.Logf("copied %d tables, compared %d rows", len(counts), rows)

		w.s = shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.Postgres(dsn)))
		w.s.Clock.Advance(now.Sub(w.s.Clock.Now()))
		if n, err := w.s.Store.Audit.VerifyAudit(ctx); err != nil || n == 0 {
			t.Fatalf("VerifyAudit() after the move = %d, %v", n, err)
		}
		w.forwardTo(w.s)
		logged := map[string]string{}
		reaches := func(p *phone) bool { return !w.rostered || p.role != shiftsync.RoleSupportWorker }
		for _, p := range w.phones {
			if reaches(p) {
				logged[p.transitionIncident(now.Add(-time.Hour), p.name+" after the move")] = p.name
			}
			p.sync()
		}
		for _, p := range w.phones {
			p.sync()
			if !reaches(p) {
				continue
			}
			for id, by := range logged {
				if _, err := p.RecordJSON(id); err != nil {
					t.Errorf("%s's phone lacks the record %s's logged after the move: %v", p.name, by, err)
				}
			}
		}
	})
}

// fields is a record's field values.
type fields map[string]*syncv1.Value

func (f fields) json(t *testing.T) string { return shiftsynctest.FieldsJSON(t, f) }

// log records a new record on the phone (offline) and returns its id.
func (p *phone) log(recordType, personID string, f fields) string {
	p.w.t.Helper()
	id, err := p.Create(recordType, service, personID, f.json(p.w.t))
	if err != nil {
		p.w.t.Fatalf("%s: Create(%s) = %v", p.name, recordType, err)
	}
	p.w.rostered = p.w.rostered || recordType == "shift"
	return id
}

// edit edits a record on the phone.
func (p *phone) edit(id string, f fields) {
	p.w.t.Helper()
	if err := p.Edit(id, f.json(p.w.t)); err != nil {
		p.w.t.Fatalf("%s: Edit(%s) = %v", p.name, id, err)
	}
}

// sync syncs the phone and fails the test if anything was quarantined.
func (p *phone) sync() {
	p.w.t.Helper()
	rep, err := p.SyncEnrolled()
	if err != nil {
		p.w.t.Fatalf("%s: SyncEnrolled() = %v", p.name, err)
	}
	if rep.Quarantined > 0 {
		p.w.t.Fatalf("%s: %d change(s) quarantined: %s", p.name, rep.Quarantined, rep.RejectedJSON)
	}
}

// review returns a ReviewService client with a fresh manager's token.
func (w *world) review() reviewv1connect.ReviewServiceClient {
	w.t.Helper()
	token, _, err := w.s.Issuer.Issue(context.Background(), w.manager.UserID, w.manager.DeviceID)
	if err != nil {
		w.t.Fatal(err)
	}
	return reviewv1connect.NewReviewServiceClient(shiftsynctest.HTTPClient(), w.s.URL, shiftsynctest.WithToken(token))
}

// findings lists the service's findings (met ones too) of one rule, by
// subject.
func (w *world) findings(rule string) map[string]*reviewv1.Finding {
	w.t.Helper()
	res, err := w.review().ListFindings(context.Background(), &reviewv1.ListFindingsRequest{ServiceId: service, IncludeMet: true})
	if err != nil {
		w.t.Fatalf("ListFindings() = %v", err)
	}
	out := map[string]*reviewv1.Finding{}
	for _, f := range res.GetFindings() {
		if f.GetRuleId() == rule {
			out[f.GetSubject()] = f
		}
	}
	return out
}

// finding returns the one finding of a rule about a subject.
func (w *world) finding(rule, subject string) *reviewv1.Finding {
	w.t.Helper()
	f, ok := w.findings(rule)[subject]
	if !ok {
		w.t.Fatalf("no %s finding about %s", rule, subject)
	}
	return f
}

// wantState fails the test unless the finding is in state want and its
// message holds every part.
func wantState(t *testing.T, f *reviewv1.Finding, want shiftsync.FindingState, parts ...string) {
	t.Helper()
	if f.GetState() != string(want) {
		t.Errorf("%s %s: state %s, want %s (%s)", f.GetRuleId(), f.GetSubject(), f.GetState(), want, f.GetMessage())
	}
	for _, part := range parts {
		if !strings.Contains(f.GetMessage(), part) {
			t.Errorf("%s %s: message %q lacks %q", f.GetRuleId(), f.GetSubject(), f.GetMessage(), part)
		}
	}
	if f.GetRuleVersion() < 1 {
		t.Errorf("%s: no rule version", f.GetRuleId())
	}
}

// trends returns the service's weekly trends for the person.
func (w *world) trends(from, to time.Time) []*reviewv1.WeekTrend {
	w.t.Helper()
	res, err := w.review().GetTrends(context.Background(), &reviewv1.GetTrendsRequest{
		ServiceId: service, PersonId: person, From: timestamppb.New(from), To: timestamppb.New(to)})
	if err != nil {
		w.t.Fatalf("GetTrends() = %v", err)
	}
	return res.GetWeeks()
}

// Value builders.
var (
	str  = shiftsynctest.String
	enum = shiftsynctest.Enum
	ts   = shiftsynctest.Time
	num  = shiftsynctest.Int
	yes  = shiftsynctest.Bool(true)
	list = shiftsynctest.List
)

// day returns the time on the day d days after Monday 2 March 2026 (the
// test clock's epoch, a Monday), at hh:mm UTC.
func day(d, hh, mm int) time.Time {
	e := shiftsynctest.Epoch
	return time.Date(e.Year(), e.Month(), e.Day()+d, hh, mm, 0, 0, time.UTC)
}

// transitionIncident logs an incident during a morning transition.
func (p *phone) transitionIncident(at time.Time, what string) string {
	return p.log("incident", person, fields{
		"started_at":            ts(at),
		"ended_at":              ts(at.Add(12 * time.Minute)),
		"baseline_regained_at":  ts(at.Add(40 * time.Minute)),
		"setting_events":        list("SETTING_EVENT_TRANSITION"),
		"behaviour_categories":  list("BEHAVIOUR_CATEGORY_VERBAL_AGGRESSION"),
		"behaviour_description": str(what),
		"intensity_verbal":      num(2),
		"harm_to_person":        enum("HARM_LEVEL_NONE"),
	})
}

// restriction logs an incident and a standing hold used in it, for the
// given minutes.
func (p *phone) restriction(at time.Time, minutes int) string {
	incident := p.log("incident", person, fields{
		"started_at":            ts(at),
		"behaviour_description": str("Hit out at staff at the front door"),
		"intensity_others":      num(3),
	})
	return p.log("restrictive_intervention", person, fields{
		"incident_id":    str(incident),
		"type_code":      enum("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING"),
		"reason_code":    enum("RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS"),
		"started_at":     ts(at.Add(2 * time.Minute)),
		"ended_at":       ts(at.Add(time.Duration(2+minutes) * time.Minute)),
		"in_care_plan":   yes,
		"legal_basis":    enum("LEGAL_BASIS_COMMON_LAW"),
		"staff_involved": list("ana", "ben"),
	})
}

func weekStarts(weeks []*reviewv1.WeekTrend) []string {
	var out []string
	for _, w := range weeks {
		out = append(out, w.GetWeekStart().AsTime().Format("2006-01-02"))
	}
	return out
}

func column(weeks []*reviewv1.WeekTrend, get func(*reviewv1.WeekTrend) int32) []int32 {
	var out []int32
	for _, w := range weeks {
		out = append(out, get(w))
	}
	return out
}
