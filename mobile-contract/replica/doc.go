// Package replica is the reference implementation of the device side of the
// shiftsync mobile contract (mobile-contract/README.md): a library that owns
// one SQLite file on a phone, lets the app log and edit care records with no
// signal, and reconciles them with a shiftsync server without ever losing
// one.
//
// It is written as an app team would write it from the contract alone: it
// speaks the wire protocol (syncproto) and shares no sync code with the
// server, so its HLC and merge rule are its own, and the tests that run it
// against a real server check that the contract is enough. The one thing
// it shares is the record schema: the rules a record's fields must keep
// have one source, the declarations in records.proto, read by the server's
// registry (server/schema) and checked by its validation (server/shiftsync,
// standard library only), so a change the device refuses is one the server
// would quarantine, for the same reasons.
//
// # Checked before saving
//
// [Replica.Create] and [Replica.Edit] check a change against the schema
// before writing anything, and refuse one the server would quarantine for
// its content: an unknown field, a value of the wrong kind, outside its
// code list, range or length, a required field missing (from a creation)
// or emptied, an end before its start, an event time later than the
// server's clock (the device's plus the offset last learnt) plus the skew
// it allows, or before 2000. The refusal names every failing field in plain
// words; [ErrorCode] is the first one's reason code, the server's, and
// [FieldErrorsJSON] lists them all for the app to mark each field. What
// only the server can judge (access, locks, references to records the
// device does not hold) it still quarantines; see Rejected changes.
//
// # What it keeps
//
// The schema is migrations.Replica. Each record has per-field values and,
// per field, the version (HLC wall_ms and logical, and device id) of the
// value it holds. Every local change is written to the record and appended
// to the outbox in one transaction, with the next counter, its HLC and, per
// field, its base (the version the field held before). The device row keeps
// the device id, the last counter, the last HLC, the greatest HLC the server
// is known to hold, the clock offset from the server, the pull cursor,
// when the last sync ran and, once enrolled, the server, the user and the
// device credential (an app keeps the credential in the platform keystore
// instead). The file uses WAL with synchronous=FULL, so a change that
// [Replica.Create] or [Replica.Edit] has returned from survives the app
// being killed or the phone losing power.
//
// # Merge rule
//
// A pulled value replaces the local one only when its version is greater:
// compare wall_ms, then logical, then device id as bytes. Pulling never
// touches the outbox. This is the server's rule, so every replica converges
// on the server's state whatever order changes arrive in.
//
// # Re-stamping
//
// A device whose clock is more than five minutes ahead of the server's gets
// RESTAMP_REQUIRED. The replica then takes the offset between the server's
// clock and its own, adds it to every later HLC reading, and gives the
// refused mutation and every later pending one a new HLC ticked from the
// greatest HLC the server is known to hold (so no new stamp reuses a version
// or precedes a base), moving the local field versions and later bases that
// named the old stamps. The refused stamps were stored nowhere but on the
// device, so nothing else needs them. The clock offset is refreshed from
// every push answer.
//
// # Rejected changes
//
// A mutation the server quarantines stays in the outbox marked rejected with
// the server's reason code and message, and its record is marked rejected:
// the user sees it with every problem the server found ([Replica.RecordJSON]
// "rejected"), and a manager sees the server's copy in quarantine. It is
// never resent. Its values stay on the device. A later edit of the record
// corrects it when an edit can fix what was refused (a missing, invalid or
// out-of-order value, an implausible time, a wrong reference; not access or
// the envelope): it carries, besides the fields the user set, every field of
// those rejected changes with the value the device holds (for a
// rejected creation, the whole record, sent as its creation again), names
// them in Mutation.corrects, and is checked before it is saved as the
// server will check it, so it is refused on the phone, naming the field,
// while a rejected value is still wrong. Each field's base is the version
// the server still holds, not the rejected one. When the server accepts the
// correction, it marks the quarantine entries corrected, and the replica
// drops the rejected entries and clears the record's rejection.
//
// # Enrolment and access tokens
//
// [Replica.Enrol] exchanges a manager's one-time code for a device id and a
// device credential (AuthService.Enrol) and keeps them, with the user and
// the server, in the device row; the replica takes the server's device id,
// which is why only a replica that never made a change (or a wiped one) may
// enrol. [Replica.SyncEnrolled] then gets access tokens from the credential
// (AuthService.Refresh), reuses one until a minute before it expires by the
// server's clock, and refreshes once more if the server still refuses it.
// [Replica.Sync] takes a token from the caller instead, as tests do.
//
// # Purges
//
// A pulled page may name scopes the user no longer has access to. Unless
// the outbox holds an unsent change to a record of the scope (the purge then
// waits for the next sync, which pushes first), the scope's records are
// deleted with their versions, history, conflicts and rejected changes, in
// the transaction that stores the page's cursor. Purges repeat on every
// pull while the access stays lost, so applying one twice changes nothing.
//
// # Revocation
//
// When the server answers "device_revoked" (to a push, a pull or a token
// refresh), the replica deletes every record, version, conflict and outbox
// entry, the cursor and the credential, marks itself revoked, and refuses
// local writes and syncs with that code from then on. Enrolling again with
// a new code makes it a new device.
//
// # Mobile bindings
//
// The exported API is shaped for gomobile (gobind): only strings, bools,
// int/int64, errors, pointers to structs of such fields, and interfaces
// ([Clock]); no maps, slices, channels or context. Structured results are
// JSON strings. Errors carry a stable code, read with [ErrorCode].
package replica
