package postgres

// crashPoint names a moment of a write transaction where a build for the
// crash tests (tag faults, see fault.go) may end the process.
type crashPoint string

const (
	beforeCommit crashPoint = "before_commit" // its statements ran, COMMIT not sent
	afterCommit  crashPoint = "after_commit"  // committed, the caller not yet answered
)
