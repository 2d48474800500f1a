package console

import (
	"net/http"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// rotaPage is a service's rota for one week.
type rotaPage struct {
	view
	Week shiftsync.RotaWeek
	// Prev and Next name the weeks before and after, as ?week= takes them.
	PrevWeek, NextWeek string
}

// rotaWeekLayout is how ?week= names a week: any of its days.
const rotaWeekLayout = "2006-01-02"

// rota shows the service's rota for the ISO week holding ?week= (a date,
// default today): its shifts with their staff and the gaps the rules find,
// the competence matrix, and the week's huddle and forecasts — the review
// service's RotaWeek.
func (h *handler) rota(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	week := h.now()
	if q := r.URL.Query().Get("week"); q != "" {
		var err error
		if week, err = time.Parse(rotaWeekLayout, q); err != nil {
			h.fail(w, shiftsync.Errorf(shiftsync.CodeInvalid, "the week is a date such as 2026-03-02, not %.40q", q))
			return
		}
	}
	service, err := h.serviceOf(r, p)
	if err != nil {
		h.fail(w, err)
		return
	}
	rota, err := h.Review.RotaWeek(r.Context(), p, service, week)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.renderPage(w, r, http.StatusOK, "rota", &rotaPage{view: view{Title: "Rota", Principal: p, Service: service}, Week: rota,
		PrevWeek: rota.Start.AddDate(0, 0, -7).Format(rotaWeekLayout), NextWeek: rota.End.Format(rotaWeekLayout)})
}
