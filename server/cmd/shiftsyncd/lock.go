package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// dbLock is the exclusive lock one process holds on a SQLite database while
// it serves or restores it: a restore must not replace the files under a
// running server (which would go on writing to the replaced ones), and two
// servers on one file would each sign audit heads the other does not know.
// It is an flock on the file <db>.lock, so the kernel releases it when the
// process dies, SIGKILL included, and a crashed server never wedges the
// next start.
type dbLock struct{ f *os.File }

// lockPath returns the lock file of the SQLite database at db.
func lockPath(db string) string { return db + ".lock" }

// lockDB takes the lock on the SQLite database at db for holder (e.g.
// "shiftsyncd serve"), without waiting: when another process holds it the
// error names that process (its holder text and pid).
func lockDB(db, holder string) (*dbLock, error) {
	f, err := os.OpenFile(lockPath(db), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", db, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			by, _ := os.ReadFile(lockPath(db))
			return nil, fmt.Errorf("%s is in use by %s: stop it first", db, lockHolder(by))
		}
		return nil, fmt.Errorf("locking %s: %w", db, err)
	}
	text := fmt.Sprintf("%s (pid %d)\n", holder, os.Getpid())
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(text), 0) // the holder's name only explains a refusal
	}
	return &dbLock{f: f}, nil
}

// lockHolder returns who a lock file's text says holds it.
func lockHolder(text []byte) string {
	if s := strings.TrimSpace(string(text)); s != "" {
		return s
	}
	return "another process"
}

// Release releases the lock. The file stays: removing it would let a
// process that opened it before the removal lock a file no one else sees.
func (l *dbLock) Release() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
