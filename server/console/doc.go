// Package console will serve the manager console at /console/: server-rendered
// html/template pages with vendored htmx, thin adapters over the same
// shiftsync.ReviewService the Connect handlers call (see DESIGN.md "Manager
// console" and issue 13). So far it holds the tests of the console's
// sign-in, [shiftsync.Console], through a real server on real SQLite; the
// pages come next.
package console
