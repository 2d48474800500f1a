package console

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Bounds of the action tracker's filter, those of the action's fields.
const (
	maxOwnerRoleBytes = 200
	maxAgencyBytes    = 100
)

// actionsPage is the action tracker in the seed's format.
type actionsPage struct {
	view
	Filter  shiftsync.ActionFilter
	Actions []shiftsync.ActionView
	Now     time.Time
	States  []shiftsync.FindingState
}

// actions shows the service's action tracker, filtered by
// ?owner= (owner role), ?agency=, ?overdue=1 and ?state=due|warning|breach|met:
// the review service's Actions, as ListActions.
func (h *handler) actions(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	q := r.URL.Query()
	f := shiftsync.ActionFilter{OwnerRole: strings.TrimSpace(q.Get("owner")), Agency: strings.TrimSpace(q.Get("agency")),
		State: shiftsync.FindingState(q.Get("state"))}
	switch {
	case len(f.OwnerRole) > maxOwnerRoleBytes:
		h.fail(w, shiftsync.Errorf(shiftsync.CodeInvalid, "the owner is longer than %d bytes", maxOwnerRoleBytes))
		return
	case len(f.Agency) > maxAgencyBytes:
		h.fail(w, shiftsync.Errorf(shiftsync.CodeInvalid, "the agency is longer than %d bytes", maxAgencyBytes))
		return
	}
	switch q.Get("overdue") {
	case "", "0":
	case "1":
		f.OverdueOnly = true
	default:
		h.fail(w, shiftsync.Errorf(shiftsync.CodeInvalid, "overdue is 1 or left out"))
		return
	}
	var err error
	if f.ServiceID, err = h.serviceOf(r, p); err != nil {
		h.fail(w, err)
		return
	}
	views, err := h.Review.Actions(r.Context(), p, f)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.renderPage(w, r, http.StatusOK, "actions", &actionsPage{view: view{Title: "Actions", Principal: p, Service: f.ServiceID},
		Filter: f, Actions: views, Now: h.now(), States: []shiftsync.FindingState{shiftsync.StateDue, shiftsync.StateWarning, shiftsync.StateBreach, shiftsync.StateMet}})
}

// ownerDue is one owner's open actions on the home page: in breach
// (overdue) and in warning (due within [shiftsync.ActionDueSoon], or an
// interim check missed), the tracker's states, so each count links to the
// tracker filtered to exactly those.
type ownerDue struct {
	Agency, OwnerRole string
	Breach, Warning   int
}

// actionsDue returns the open actions in breach or warning, counted by
// agency and owner role, most in breach first: the review service's
// Actions.
func (h *handler) actionsDue(ctx context.Context, p shiftsync.Principal, service string) (section[[]ownerDue], error) {
	views, err := h.Review.Actions(ctx, p, shiftsync.ActionFilter{ServiceID: service})
	counts := map[[2]string]*ownerDue{}
	var rows []ownerDue
	for _, v := range views {
		if v.State != shiftsync.StateBreach && v.State != shiftsync.StateWarning {
			continue
		}
		k := [2]string{v.Action.Agency, v.Action.Text("owner_role")}
		if counts[k] == nil {
			counts[k] = &ownerDue{Agency: k[0], OwnerRole: k[1]}
		}
		if v.State == shiftsync.StateBreach {
			counts[k].Breach++
		} else {
			counts[k].Warning++
		}
	}
	for _, c := range counts {
		rows = append(rows, *c)
	}
	slices.SortFunc(rows, func(a, b ownerDue) int {
		return cmp.Or(cmp.Compare(b.Breach, a.Breach), cmp.Compare(b.Warning, a.Warning), cmp.Compare(a.Agency, b.Agency), cmp.Compare(a.OwnerRole, b.OwnerRole))
	})
	return part(rows, err)
}

// followThroughPage is the 24-hour operationalisation of each meeting.
type followThroughPage struct {
	view
	Meetings []shiftsync.MeetingFollowThrough
	Now      time.Time
}

// followThrough shows, for each multi-agency meeting, whether its shift
// brief and action tracker were issued within 24 hours and who
// acknowledged the brief: the review service's FollowThrough.
func (h *handler) followThrough(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	service, err := h.serviceOf(r, p)
	if err != nil {
		h.fail(w, err)
		return
	}
	meetings, err := h.Review.FollowThrough(r.Context(), p, service)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.renderPage(w, r, http.StatusOK, "follow-through", &followThroughPage{view: view{Title: "After meetings", Principal: p, Service: service},
		Meetings: meetings, Now: h.now()})
}

// serviceOf returns the service named by ?service=, or the first the
// principal reviews in the console.
func (h *handler) serviceOf(r *http.Request, p shiftsync.Principal) (string, error) {
	if s := r.URL.Query().Get("service"); s != "" {
		return s, nil
	}
	services, err := h.Console.Services(r.Context(), p)
	if err != nil || len(services) == 0 {
		return "", cmpErr(err, shiftsync.Errorf(shiftsync.CodePermissionDenied, "you review no service"))
	}
	return services[0], nil
}

// now is the console's clock: the review service's, so "overdue" on a
// page agrees with the states it lists.
func (h *handler) now() time.Time {
	if h.Console.Now != nil {
		return h.Console.Now().UTC()
	}
	return time.Now().UTC()
}

// when formats a time as the console shows times: in UTC, to the minute;
// "" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("Mon 2 Jan 2006 15:04")
}

// ago is the time from a to b in words: "3 d 4 h", "5 h 20 min", "12 min".
func ago(a, b time.Time) string {
	d := b.Sub(a)
	if d < 0 {
		d = -d
	}
	d = d.Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0 && hours > 0:
		return strconv.Itoa(days) + " d " + strconv.Itoa(hours) + " h"
	case days > 0:
		return strconv.Itoa(days) + " d"
	case hours > 0 && mins > 0:
		return strconv.Itoa(hours) + " h " + strconv.Itoa(mins) + " min"
	case hours > 0:
		return strconv.Itoa(hours) + " h"
	}
	return strconv.Itoa(mins) + " min"
}
