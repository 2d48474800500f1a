package console

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// CookieName is the session cookie: HttpOnly, SameSite=Strict, Secure
// over HTTPS (a trusted proxy's included), path /console/.
const CookieName = "shiftsync_console"

// ContentSecurityPolicy is sent with every console response: scripts,
// styles and everything else from the console's own embedded assets only.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Config is what the console is built from.
type Config struct {
	// Review is the same review service the Connect handlers call: every
	// page reads through it, so access and audit are one code path.
	Review  shiftsync.ReviewService
	Console shiftsync.Console
	// Admin is the AdminService's: the people and devices page acts by
	// its rules.
	Admin  shiftsync.Admin
	Logger *slog.Logger
}

type handler struct {
	Config
	pages map[string]*template.Template
}

// New returns the console's handler, to be mounted at /console/. Every
// state-changing request passes [http.CrossOriginProtection].
func New(c Config) http.Handler {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	h := &handler{Config: c, pages: map[string]*template.Template{}}
	schema := c.Console.Schema
	for _, name := range []string{"sign-in", "home", "records", "record", "actions", "follow-through", "rota", "quarantine", "conflicts", "trends", "evidence", "people"} {
		h.pages[name] = template.Must(template.New("page").Funcs(template.FuncMap{"value": func(v shiftsync.Value) string { return valueText(schema, v) }, "kind": recordKind,
			"label": schema.Label, "when": when, "ago": ago, "rule": ruleName, "sentence": sentence, "reason": reasonSentence, "fieldLabel": fieldLabel,
			"conflictView": newConflictView, "versionView": newVersionView, "rowReason": rowReason,
			"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }, "competency": shiftsync.CompetencyWords}).
			ParseFS(templateFS, "templates/page.html", "templates/"+name+".html"))
	}
	assets, _ := fs.Sub(assetFS, "assets")
	mux := http.NewServeMux()
	for _, rt := range h.routes(http.StripPrefix("/console/assets/", http.FileServerFS(assets))) {
		mux.Handle(rt.Pattern, rt.handler)
	}
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

// Route is one route of the console: its pattern, and whether it is
// public (reaches no data: assets, the sign-in form, sign-out); every
// other route needs a session and reads through the review service.
type Route struct {
	Pattern string
	Public  bool
	handler http.Handler
}

// Routes lists the console's routes, as New serves them.
func Routes() []Route {
	return (&handler{}).routes(nil)
}

func (h *handler) routes(assets http.Handler) []Route {
	return []Route{
		{"GET /console/assets/", true, assets},
		{"GET /console/sign-in", true, http.HandlerFunc(h.signInForm)},
		{"POST /console/sign-in", true, http.HandlerFunc(h.signIn)},
		{"POST /console/sign-out", true, http.HandlerFunc(h.signOut)},
		{"GET /console/{$}", false, h.authed(h.home)},
		{"POST /console/alerts/{id}/acknowledge", false, h.authed(h.acknowledge)},
		{"GET /console/records", false, h.authed(h.records)},
		{"GET /console/records/{id}", false, h.authed(h.record)},
		{"GET /console/actions", false, h.authed(h.actions)},
		{"GET /console/follow-through", false, h.authed(h.followThrough)},
		{"GET /console/rota", false, h.authed(h.rota)},
		{"GET /console/quarantine", false, h.authed(h.quarantine)},
		{"GET /console/conflicts", false, h.authed(h.conflicts)},
		{"POST /console/conflicts/{id}/resolve", false, h.authed(h.resolve)},
		{"GET /console/trends", false, h.authed(h.trends)},
		{"GET /console/evidence", false, h.authed(h.evidence)},
		{"GET /console/evidence/download", false, h.authed(h.download)},
		{"POST " + VerifyPath, false, h.authed(h.verify)},
		{"GET /console/people", false, h.authed(h.people)},
		{"POST /console/people/code", false, h.authed(h.issueCode)},
		{"POST /console/devices/{id}/revoke", false, h.authed(h.revoke)},
	}
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// view is what every page template is given.
type view struct {
	Title      string
	Principal  shiftsync.Principal
	Error      string
	Service    string
	Alerts     []shiftsync.Alert
	Findings   section[[]shiftsync.Finding]
	Devices    section[[]shiftsync.DeviceHealth]
	Conflicts  section[int] // open ones
	Quarantine section[int]
	ActionsDue section[[]ownerDue] // open actions in breach or warning, by owner
	Records    []*shiftsync.Record
	Filter     shiftsync.RecordFilter
	Next, Prev string // the pages' addresses, "" when there is none
	History    shiftsync.RecordHistory
	// Names are the names of Service's people and staff, read for every
	// page about a service: templates show {{$.Names.Person id}}.
	Names  *shiftsync.Names
	Pack   packView
	People peopleView
}

// PageSize is how many records a page of the records list holds.
const PageSize = 50

// section is one part of a page: what the review service answered, or
// why the principal may not see it (Denied, the refusal's message).
type section[T any] struct {
	Rows   T
	Denied string
}

// part fills a section from a review call: a refusal is shown in its
// place, any other error fails the page.
func part[T any](rows T, err error) (section[T], error) {
	if shiftsync.ErrorCode(err) == shiftsync.CodePermissionDenied {
		return section[T]{Denied: shiftsync.ErrorMessage(err)}, nil
	}
	return section[T]{Rows: rows}, err
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	h.renderPage(w, r, status, page, &v)
}

// base is the view of every page: a view, or a page's own struct that
// embeds one.
func (v *view) base() *view { return v }

// renderPage writes the page with v, a *view or a page's own struct that
// embeds one, with the names of its service's people and staff.
func (h *handler) renderPage(w http.ResponseWriter, r *http.Request, status int, page string, v interface{ base() *view }) {
	if b := v.base(); b.Service != "" && b.Principal.UserID != "" {
		names, err := h.Review.Names(r.Context(), b.Principal, b.Service)
		if err != nil { // a page that may show the service may show its names: this is a fault, and ids still read
			h.Logger.Error("console: names", "service", b.Service, "err", err)
		}
		b.Names = &names
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := h.pages[page].ExecuteTemplate(w, "page", v); err != nil {
		h.Logger.Error("console: render", "page", page, "err", err)
	}
}

// authed passes the signed-in principal to next; a request without a live
// session is sent to sign in.
func (h *handler) authed(next func(http.ResponseWriter, *http.Request, shiftsync.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(CookieName)
		var p shiftsync.Principal
		if err == nil {
			p, err = h.Console.Authenticate(r.Context(), c.Value)
		}
		if err != nil {
			if r.Method != http.MethodGet {
				w.Header().Set("HX-Redirect", "/console/sign-in")
				http.Error(w, "not signed in", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
			return
		}
		next(w, r, p)
	}
}

func (h *handler) signInForm(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "sign-in", view{Title: "Sign in"})
}

func (h *handler) signIn(w http.ResponseWriter, r *http.Request) {
	token, _, err := h.Console.SignIn(r.Context(), r.PostFormValue("code"), "browser: "+truncate(r.UserAgent(), 120))
	if err != nil {
		h.render(w, r, statusOf(err), "sign-in", view{Title: "Sign in", Error: h.message(err)})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/console/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: viaHTTPS(r)})
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

func (h *handler) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		if err := h.Console.SignOut(r.Context(), c.Value); err != nil {
			h.fail(w, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/console/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: viaHTTPS(r)})
	http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
}

// home shows the open alerts of the service named by ?service=, or of the
// first the principal reviews.
func (h *handler) home(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	service := r.URL.Query().Get("service")
	if service == "" {
		services, err := h.Console.Services(r.Context(), p)
		if err != nil {
			h.fail(w, err)
			return
		}
		if len(services) == 0 {
			h.fail(w, shiftsync.Errorf(shiftsync.CodePermissionDenied, "you review no service"))
			return
		}
		service = services[0]
	}
	ctx := r.Context()
	v := view{Title: service, Principal: p, Service: service}
	var err error
	if v.Alerts, err = h.Review.Alerts(ctx, p, service, false); err != nil {
		h.fail(w, err)
		return
	}
	findings, err := h.Review.Findings(ctx, p, service, false)
	if v.Findings, err = part(findings, err); err != nil {
		h.fail(w, err)
		return
	}
	devices, err := h.Review.DeviceHealth(ctx, p, service)
	devices = slices.DeleteFunc(devices, func(d shiftsync.DeviceHealth) bool { return d.OutboxDepth == 0 })
	if v.Devices, err = part(devices, err); err != nil {
		h.fail(w, err)
		return
	}
	conflicts, err := h.Review.Conflicts(ctx, p, service)
	open := 0
	for _, c := range conflicts {
		if c.ResolvedAt.IsZero() {
			open++
		}
	}
	if v.Conflicts, err = part(open, err); err != nil {
		h.fail(w, err)
		return
	}
	if v.ActionsDue, err = h.actionsDue(ctx, p, service); err != nil {
		h.fail(w, err)
		return
	}
	quarantine, err := h.Review.Quarantine(ctx, p, service)
	if v.Quarantine, err = part(len(quarantine.Changes), err); err != nil {
		h.fail(w, err)
		return
	}
	h.render(w, r, http.StatusOK, "home", v)
}

// records lists a page of a service's records, newest event first,
// filtered by person, type and event time (RFC 3339, both ends
// included): ?service=&person=&type=&from=&to=&voided=1&page=.
func (h *handler) records(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 0)
	f := shiftsync.RecordFilter{ServiceID: q.Get("service"), PersonID: q.Get("person"), RecordType: q.Get("type"),
		IncludeVoided: q.Get("voided") == "1", Offset: page * PageSize, Limit: PageSize + 1}
	var err error
	if f.From, f.To, err = period(q.Get("from"), q.Get("to")); err != nil {
		h.fail(w, err)
		return
	}
	if f.ServiceID == "" {
		services, err := h.Console.Services(r.Context(), p)
		if err != nil || len(services) == 0 {
			h.fail(w, cmpErr(err, shiftsync.Errorf(shiftsync.CodePermissionDenied, "you review no service")))
			return
		}
		f.ServiceID = services[0]
	}
	recs, err := h.Review.Records(r.Context(), p, f)
	if err != nil {
		h.fail(w, err)
		return
	}
	v := view{Title: "Records", Principal: p, Service: f.ServiceID, Filter: f, Records: recs}
	link := func(page int) string {
		q.Set("service", f.ServiceID)
		q.Set("page", strconv.Itoa(page))
		return "/console/records?" + q.Encode()
	}
	if len(recs) > PageSize {
		v.Records, v.Next = recs[:PageSize], link(page+1)
	}
	if page > 0 {
		v.Prev = link(page - 1)
	}
	h.render(w, r, http.StatusOK, "records", v)
}

// record shows one record with every version of every field, its lock
// and its addenda.
func (h *handler) record(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	hist, err := h.Review.Record(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	h.render(w, r, http.StatusOK, "record", view{Title: "Record", Principal: p, Service: hist.Record.ServiceID, History: hist})
}

// valueText is a field value as a reviewer reads it: codes by their plain
// labels ([shiftsync.Schema.Label]), times in UTC.
func valueText(labels *shiftsync.Schema, v shiftsync.Value) string {
	switch v.Kind {
	case shiftsync.KindInt:
		return strconv.FormatInt(v.Int, 10)
	case shiftsync.KindDouble:
		return strconv.FormatFloat(v.Double, 'g', -1, 64)
	case shiftsync.KindBool:
		if v.Bool {
			return "yes"
		}
		return "no"
	case shiftsync.KindTimestamp:
		return v.Time.UTC().Format("2 Jan 2006 15:04")
	case shiftsync.KindEnum:
		return labels.Label(v.String)
	case shiftsync.KindList:
		items := make([]string, len(v.List))
		for i, s := range v.List {
			items[i] = labels.Label(s)
		}
		return strings.Join(items, ", ")
	}
	return v.String
}

// recordKind is a record type as a reader names it: "restrictive
// intervention" for restrictive_intervention.
func recordKind(recordType string) string { return strings.ReplaceAll(recordType, "_", " ") }

// viaHTTPS reports whether the browser reached the console over HTTPS:
// over TLS to this server, or through a trusted reverse proxy that ended
// its TLS (the edge, rpc.Edge, sets the URL's scheme the client spoke).
func viaHTTPS(r *http.Request) bool { return r.TLS != nil || r.URL.Scheme == "https" }

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

func (h *handler) acknowledge(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "no such alert", http.StatusNotFound)
		return
	}
	a, err := h.Review.AcknowledgeAlert(r.Context(), p, id, r.PostFormValue("note"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if r.Header.Get("HX-Request") == "" {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := h.pages["home"].ExecuteTemplate(w, "alert", a); err != nil {
		h.Logger.Error("console: render alert", "err", err)
	}
}

// fail answers an error from a service: its message for the codes a
// reviewer may read, a bare 500 (logged) otherwise.
func (h *handler) fail(w http.ResponseWriter, err error) {
	http.Error(w, h.message(err), statusOf(err))
}

func (h *handler) message(err error) string {
	if statusOf(err) == http.StatusInternalServerError {
		h.Logger.Error("console", "err", err)
		return "internal error"
	}
	return shiftsync.ErrorMessage(err)
}

func statusOf(err error) int {
	switch shiftsync.ErrorCode(err) {
	case shiftsync.CodeUnauthenticated, shiftsync.CodeDeviceRevoked:
		return http.StatusUnauthorized
	case shiftsync.CodePermissionDenied:
		return http.StatusForbidden
	case shiftsync.CodeInvalid:
		return http.StatusBadRequest
	case shiftsync.CodeConflict:
		return http.StatusConflict
	case shiftsync.CodeResourceExhausted:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
