package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// conflictsPage is a service's conflicts: open ones side by side with a
// form to resolve each, then the resolved.
type conflictsPage struct {
	view
	Open, Resolved []shiftsync.Conflict
}

// conflicts shows the service's conflicts: the review service's Conflicts,
// as ListConflicts.
func (h *handler) conflicts(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	service, err := h.serviceOf(r, p)
	if err != nil {
		h.fail(w, err)
		return
	}
	all, err := h.Review.Conflicts(r.Context(), p, service)
	if err != nil {
		h.fail(w, err)
		return
	}
	v := conflictsPage{view: view{Title: "Conflicts", Principal: p, Service: service}}
	for _, c := range all {
		if c.ResolvedAt.IsZero() {
			v.Open = append(v.Open, c)
		} else {
			v.Resolved = append(v.Resolved, c)
		}
	}
	h.renderPage(w, r, http.StatusOK, "conflicts", &v)
}

// conflictView is a conflict with the names its template shows; versionView
// one side of it.
type conflictView struct {
	shiftsync.Conflict
	Names *shiftsync.Names
}

type versionView struct {
	shiftsync.ConflictVersion
	Names *shiftsync.Names
}

func newConflictView(c shiftsync.Conflict, names *shiftsync.Names) conflictView {
	return conflictView{c, names}
}

func newVersionView(v shiftsync.ConflictVersion, names *shiftsync.Names) versionView {
	return versionView{v, names}
}

// resolve closes a conflict with the resolution note posted: the review
// service's ResolveConflict, as the ResolveConflict RPC calls it, so the
// same principals may and the same audit entry is kept. Without htmx it
// answers with the conflicts page of the conflict's service; with htmx,
// with the resolved conflict in place of its form.
func (h *handler) resolve(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		// The same refusal as an id that names no conflict the caller may resolve.
		h.fail(w, shiftsync.Errorf(shiftsync.CodePermissionDenied, "no conflict %q that you may resolve", truncate(r.PathValue("id"), 20)))
		return
	}
	c, err := h.Review.ResolveConflict(r.Context(), p, id, r.PostFormValue("resolution"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if r.Header.Get("HX-Request") == "" {
		http.Redirect(w, r, "/console/conflicts?service="+url.QueryEscape(c.Record.ServiceID), http.StatusSeeOther)
		return
	}
	names, err := h.Review.Names(r.Context(), p, c.Record.ServiceID)
	if err != nil { // as renderPage: ids still read
		h.Logger.Error("console: names", "service", c.Record.ServiceID, "err", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := h.pages["conflicts"].ExecuteTemplate(w, "conflict", newConflictView(c, &names)); err != nil {
		h.Logger.Error("console: render conflict", "err", err)
	}
}
