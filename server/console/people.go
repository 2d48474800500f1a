package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// peopleView is what the people and devices page shows.
type peopleView struct {
	Memberships []shiftsync.Membership
	Devices     []shiftsync.DeviceStatus
	// Code is an enrolment code just issued, for User, with its QR code.
	Code, User string
	Expires    time.Time
	QR         template.HTML
	At         time.Time // the time of the page: which memberships are in force
}

// people shows a service's staff and their memberships, ended or not, and
// the devices of its staff, to those who administer the service, by the
// AdminService's rules ([shiftsync.Admin]): a manager of the service, or an
// administrator of its organisation.
func (h *handler) people(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	service, err := h.adminService(r, p, r.URL.Query().Get("service"))
	if err != nil {
		h.fail(w, err)
		return
	}
	v, err := h.peopleOf(r, p, service)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.render(w, r, http.StatusOK, "people", v)
}

func (h *handler) peopleOf(r *http.Request, p shiftsync.Principal, service string) (view, error) {
	v := view{Title: "People and devices", Principal: p, Service: service, People: peopleView{At: h.Admin.Now()}}
	var err error
	if v.People.Memberships, err = h.Admin.ListMemberships(r.Context(), p, service); err != nil {
		return v, err
	}
	v.People.Devices, err = h.Admin.ListDevices(r.Context(), p, service)
	return v, err
}

// adminService is the service a request names, or the first the principal
// manages (a lead who manages none is refused by the AdminService's rules
// for the first they review).
func (h *handler) adminService(r *http.Request, p shiftsync.Principal, service string) (string, error) {
	if service != "" {
		return service, nil
	}
	for _, list := range []func(context.Context, shiftsync.Principal) ([]string, error){h.Console.ManagedServices, h.Console.Services} {
		services, err := list(r.Context(), p)
		if err != nil {
			return "", err
		}
		if len(services) > 0 {
			return services[0], nil
		}
	}
	return "", shiftsync.Errorf(shiftsync.CodePermissionDenied, "you review no service")
}

// issueCode issues a one-time enrolment code for a user of the service
// (form: service, user), by the AdminService's rules, and shows it large
// with a QR code holding the code as text, as typed.
func (h *handler) issueCode(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	service, user := r.PostFormValue("service"), r.PostFormValue("user")
	code, expires, err := h.Admin.IssueEnrolmentCode(r.Context(), p, service, user)
	if err != nil {
		h.fail(w, err)
		return
	}
	v, err := h.peopleOf(r, p, service)
	if err != nil {
		h.fail(w, err)
		return
	}
	v.People.Code, v.People.User, v.People.Expires = code, user, expires
	if v.People.QR, err = qrSVG(code); err != nil {
		h.fail(w, err)
		return
	}
	h.render(w, r, http.StatusOK, "people", v)
}

// revoke revokes a device (form: service, reason), by the AdminService's
// rules, and returns to the service's people page.
func (h *handler) revoke(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		reason = "revoked from the console"
	}
	if _, err := h.Admin.RevokeDevice(r.Context(), p, r.PathValue("id"), truncate(reason, 500)); err != nil {
		h.fail(w, err)
		return
	}
	http.Redirect(w, r, "/console/people?"+url.Values{"service": {r.PostFormValue("service")}}.Encode(), http.StatusSeeOther)
}

// qrSVG draws a QR code of s as inline SVG: one path of the dark modules,
// with a quiet zone, scaled by the page.
func qrSVG(s string) (template.HTML, error) {
	q, err := qrcode.New(s, qrcode.Medium)
	if err != nil {
		return "", err
	}
	bits := q.Bitmap() // with its quiet zone
	var d strings.Builder
	for y, row := range bits {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&d, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	n := len(bits)
	// Every value written is a number or the fixed markup: nothing of s
	// reaches the SVG but as modules.
	return template.HTML(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="256" height="256" role="img" aria-label="QR code of the enrolment code" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		n, n, n, n, d.String())), nil //nolint:gosec // see above
}
