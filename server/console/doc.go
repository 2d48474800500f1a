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
// So far: sign-in, sign-out, and a home page of a service: open alerts
// with acknowledge, open findings, phones holding unsynced records, and
// the open conflict and quarantine counts, each part shown or, refused by
// the review service, named as not shown; the records list and a record's
// history; evidence packs (packs.go): a person and a period chosen,
// previewed and downloaded as HTML or CSV, each an audited export, and a
// pack file handed back verified row by row against the manifest kept at
// export (the one upload, at [VerifyPath], up to 7 MiB); and people and
// devices (people.go), by the AdminService's rules and audit
// ([shiftsync.Admin]): a service's memberships, ended or not, an
// enrolment code issued and shown large with a QR code (inline SVG of the
// code as text, drawn with skip2/go-qrcode), and its staff's devices with
// their last sync and revoke.
package console
