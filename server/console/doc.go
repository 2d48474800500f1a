// Package console serves the manager console at /console/ (DESIGN.md
// "Manager console", issue 13): server-rendered html/template pages with
// htmx 2 vendored and embedded (assets/, used without hx-on or eval, so the
// Content-Security-Policy holds script-src 'self'), as thin adapters over
// the same shiftsync.ReviewService the Connect handlers call, so every
// page's access check and audit entry are the RPC's.
//
// A reviewer signs in with a one-time enrolment code ([shiftsync.Console]):
// the browser becomes a revocable device, its session an HttpOnly,
// SameSite=Strict cookie (Secure over TLS) kept server-side by its hash,
// ended by sign-out or idle expiry. State-changing requests pass
// [http.CrossOriginProtection].
//
// Pages: sign-in and sign-out; a service's home (open alerts with
// acknowledge, open findings headed by their rule in words, actions
// overdue and due soon by agency and owner, phones holding unsynced
// records, the open conflict and quarantine counts, each part shown or,
// refused by the review service, named as not shown); the records list
// (filtered by person, type and event time) and a record's history; the
// action tracker in the seed's format and the 24-hour follow-through after
// each multi-agency meeting (actions.go); the quarantine, each change as
// received with its reasons in words (quarantine.go); the conflicts side
// by side with a resolve form (conflicts.go); and weekly trends as inline
// SVG drawn by Go (trends.go, chart.go), each bar a link to its records;
// evidence packs (packs.go): a person and a period chosen, previewed and
// downloaded as HTML or CSV, each an audited export, and a pack file
// handed back verified row by row against the manifest kept at export
// (the one upload, at [VerifyPath], up to 7 MiB); and people and devices
// (people.go), by the AdminService's rules and audit ([shiftsync.Admin]):
// a service's memberships, ended or not, an enrolment code issued and
// shown large with a QR code (inline SVG of the code as text, drawn with
// skip2/go-qrcode), and its staff's devices with their last sync and
// revoke. Each page's handlers are in a file of its own with its template.
package console
