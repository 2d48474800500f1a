//go:build !race

package replica_test

// raceDetector reports whether the tests were built with -race.
const raceDetector = false
