// Package shiftsync is the domain of the shiftsync sync server: care records,
// the mutations devices make to them, and the pure rules that merge those
// mutations. It imports only the standard library; storage and transport live
// in adapter packages beside it.
//
// The sync model: a device records changes offline as [Mutation]s, each
// numbered by a per-device counter (so a retry is recognised and changes
// nothing) and stamped with a hybrid logical clock ([HLC]). The server merges
// every field independently: the value with the greatest [Version], that is
// (HLC, device id), wins, so every replica converges whatever order mutations
// arrive in. Each mutation names, per field, the version its author saw (its
// base); when that is not the version currently winning, two people edited the
// field concurrently, and the server keeps both values and opens a conflict
// rather than losing either. Every version of every field is kept. Mutations
// that fail validation are quarantined with a reason, never dropped. Devices
// pull the fields changed after an opaque [Cursor], page by page.
package shiftsync
