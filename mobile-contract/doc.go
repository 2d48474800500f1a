// Package contract holds the executable part of the shiftsync mobile
// contract: golden client exchanges, in testdata/, that the test replays
// against a real server. A client written in another language can replay
// the same files against its own transport to check it speaks the protocol.
//
// Each folder of testdata/ is one scenario run against a fresh server, with
// one device (user "worker-1", device "phone-1", service "house-a") and the
// server clock at 2026-03-02T07:00:00Z (1772434800000 ms). Its steps are
// files named NN_name.json, run in order, each holding:
//
//	{"rpc": "Push" | "Pull", "request": {...}, "response": {...}}
//
// or, for a call that must fail, "error": {"code": "<connect code>",
// "errorInfo": "<shiftsync.sync.v1.ErrorInfo code>"} in place of
// "response". Requests and responses are protojson (Connect's JSON). In a
// request, the string "$cursor" stands for the next_cursor of the latest
// pull; in a response, "$any" for a next_cursor matches any non-empty one.
// Responses are compared as messages, not as text.
package contract
