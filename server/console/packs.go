package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/evidence"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// VerifyPath is where a pack file is handed back to be verified: the one
// console path whose body may be larger than a form's (up to
// [shiftsync.MaxPackFileBytes] and the multipart framing), so the server's
// edge gives it the limit of an authenticated request.
const VerifyPath = "/console/evidence/verify"

// maxUploadBytes bounds the body of a verify request: the file and its
// multipart framing.
const maxUploadBytes = shiftsync.MaxPackFileBytes + 64<<10

// packForm is the evidence page's choice of person and period, as typed:
// dates are days (2006-01-02), the period from the start of From to the
// end of To, in UTC.
type packForm struct {
	Service, Person, From, To string
}

// packView is what the evidence page shows of an export or a verification.
type packView struct {
	Form     packForm
	Pack     *shiftsync.EvidencePack
	Download map[string]string // by format, the download link
	Verified *shiftsync.PackVerification
	FileName string
}

// period parses the form's period: whole days, from the start of the first
// to the end of the last, in the time zone governance counts days in (the
// default thresholds', Europe/London), so no hour of a day in British
// Summer Time and no millisecond of its last second is left out.
func (f packForm) period() (from, to time.Time, err error) {
	loc := shiftsync.DefaultThresholds.Location()
	from, err1 := time.ParseInLocation(time.DateOnly, f.From, loc)
	to, err2 := time.ParseInLocation(time.DateOnly, f.To, loc)
	if err1 != nil || err2 != nil {
		return from, to, shiftsync.Errorf(shiftsync.CodeInvalid, "give the period as two dates, from and to")
	}
	return from, to.AddDate(0, 0, 1).Add(-time.Nanosecond), nil
}

func (f packForm) query() string {
	return url.Values{"service": {f.Service}, "person": {f.Person}, "from": {f.From}, "to": {f.To}}.Encode()
}

// evidence shows the evidence page of a service: the choice of a person and
// a period and the form to hand a pack back. Given a person and a period,
// it exports their pack (the RPC's export: checked, stored, audited) and
// previews its rows, with links to download it.
func (h *handler) evidence(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	q := r.URL.Query()
	f := packForm{Service: q.Get("service"), Person: q.Get("person"), From: q.Get("from"), To: q.Get("to")}
	if f.Service == "" {
		services, err := h.Console.Services(r.Context(), p)
		if err != nil || len(services) == 0 {
			h.fail(w, cmpErr(err, shiftsync.Errorf(shiftsync.CodePermissionDenied, "you review no service")))
			return
		}
		f.Service = services[0]
	}
	v := view{Title: "Evidence packs", Principal: p, Service: f.Service, Pack: packView{Form: f}}
	if f.Person != "" {
		pack, err := h.export(r, p, f)
		if err != nil {
			v.Error = h.message(err)
			h.render(w, r, statusOf(err), "evidence", v)
			return
		}
		v.Pack.Pack, v.Pack.Download = &pack, map[string]string{}
		for _, format := range []string{"html", "csv"} {
			v.Pack.Download[format] = "/console/evidence/download?format=" + format + "&" + f.query()
		}
	}
	h.render(w, r, http.StatusOK, "evidence", v)
}

func (h *handler) export(r *http.Request, p shiftsync.Principal, f packForm) (shiftsync.EvidencePack, error) {
	from, to, err := f.period()
	if err != nil {
		return shiftsync.EvidencePack{}, err
	}
	return h.Review.ExportEvidencePack(r.Context(), p, f.Service, f.Person, from, to)
}

// download exports a pack and sends it as a file: ?format=html or csv.
func (h *handler) download(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	q := r.URL.Query()
	f := packForm{Service: q.Get("service"), Person: q.Get("person"), From: q.Get("from"), To: q.Get("to")}
	write, contentType := evidence.WriteHTML, "text/html; charset=utf-8"
	switch q.Get("format") {
	case "csv":
		write, contentType = evidence.WriteCSV, "text/csv; charset=utf-8"
	case "html":
	default:
		http.Error(w, "format is html or csv", http.StatusBadRequest)
		return
	}
	pack, err := h.export(r, p, f)
	if err != nil {
		h.fail(w, err)
		return
	}
	var b bytes.Buffer
	if err := write(&b, pack); err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="evidence-%s-%s-%s.%s"`, fileSafe(f.Person), f.From, f.To, q.Get("format")))
	_, _ = w.Write(b.Bytes())
}

// fileSafe keeps the letters, digits, - and _ of s, for a file name.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, truncate(s, 64))
}

// verify checks a pack file handed back (multipart, field "pack"): its rows
// against the manifest kept at export, as the RPC does, and shows what
// still matches.
func (h *handler) verify(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	v := view{Title: "Evidence pack verified", Principal: p}
	fail := func(err error) {
		v.Error = h.message(err)
		h.render(w, r, statusOf(err), "evidence", v)
	}
	name, file, err := readUpload(w, r)
	if err != nil {
		fail(err)
		return
	}
	v.Pack.FileName = name
	pack, err := evidence.ReadPack(file)
	if err != nil {
		fail(shiftsync.Errorf(shiftsync.CodeInvalid, "%s: %v", truncate(name, 120), err))
		return
	}
	res, err := h.Review.VerifyEvidencePack(r.Context(), p, "", &pack)
	if err != nil {
		fail(err)
		return
	}
	v.Pack.Verified = &res
	h.render(w, r, http.StatusOK, "evidence", v)
}

// readUpload reads the file of the form's "pack" field, at most
// MaxPackFileBytes of it.
func readUpload(w http.ResponseWriter, r *http.Request) (string, []byte, error) {
	tooLarge := shiftsync.Errorf(shiftsync.CodeInvalid, "the file is larger than %d MiB: no pack is", shiftsync.MaxPackFileBytes>>20)
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, shiftsync.Errorf(shiftsync.CodeInvalid, "choose a pack file to verify")
	}
	for {
		part, err := mr.NextPart()
		var maxBytes *http.MaxBytesError
		switch {
		case errors.As(err, &maxBytes):
			return "", nil, tooLarge
		case err != nil:
			return "", nil, shiftsync.Errorf(shiftsync.CodeInvalid, "choose a pack file to verify")
		case part.FormName() != "pack":
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, shiftsync.MaxPackFileBytes+1))
		switch {
		case errors.As(err, &maxBytes) || len(b) > shiftsync.MaxPackFileBytes:
			return "", nil, tooLarge
		case err != nil:
			return "", nil, shiftsync.Errorf(shiftsync.CodeInvalid, "the file did not arrive whole; try again")
		}
		return part.FileName(), b, nil
	}
}

// rowReason is a changed row's reason in words.
func rowReason(reason string) string {
	switch reason {
	case shiftsync.RowChanged:
		return "its cells differ from the row exported"
	case shiftsync.RowHashAltered:
		return "its cells match; the hash it shows was altered"
	case shiftsync.RowAdded:
		return "the pack exported had no row here"
	case shiftsync.RowMissing:
		return "missing from the file"
	}
	return reason
}
