//go:build !faults

package postgres

// crash does nothing: only a build with the faults tag injects crashes.
func crash(crashPoint, *Tx) {}
