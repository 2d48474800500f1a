// Package auditfile keeps what vouches for the audit log outside the
// database, in files beside it: the audit key that signs the chain's heads
// (<db>.audit-key) and the signed heads (<db>.audit-heads). Someone who can
// write the database file but not these can rewrite the chain, but cannot
// sign a head over it nor remove the heads already signed; copies of the
// heads file shipped off the machine keep that true against someone who can
// write everything on it.
package auditfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// KeyPath returns where the audit key of the database at db is kept.
func KeyPath(db string) string { return db + ".audit-key" }

// HeadsPath returns where the signed heads of the database at db are kept.
func HeadsPath(db string) string { return db + ".audit-heads" }

// OpenKey returns the audit key in the file at path, creating the file
// (mode 0600, PKCS #8 PEM) with a new key if there is none, and reports
// whether it did. A key file that others may read or write is refused: the
// key is what a database writer lacks.
func OpenKey(path string) (ed25519.PrivateKey, bool, error) {
	key, err := ReadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("audit key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("audit key: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return nil, false, fmt.Errorf("audit key: %w", err)
	}
	return key, true, nil
}

// ReadKey returns the audit key in the file at path; an error wrapping
// [fs.ErrNotExist] if there is none.
func ReadKey(path string) (ed25519.PrivateKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit key %s: others may read or write it (mode %v); chmod 600 it", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit key %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit key %s: not an Ed25519 key", path)
	}
	return key, nil
}

// Heads is a file of signed audit heads, one JSON object a line
// ([shiftsync.AuditHead]), appended to by every writer of the database.
type Heads struct {
	Path string
}

var _ shiftsync.AuditHeadWriter = Heads{}

// WriteAuditHead implements [shiftsync.AuditHeadWriter]: it appends the
// head in one write, on a line of its own (after a newline if the file
// does not end in one: a line cut short by a crash), and fsyncs the file
// before it returns.
func (f Heads) WriteAuditHead(_ context.Context, h shiftsync.AuditHead) error {
	line, err := json.Marshal(h)
	if err != nil {
		return err
	}
	file, err := os.OpenFile(f.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("audit heads: %w", err)
	}
	err = writeLine(file, line)
	if err := errors.Join(err, file.Sync(), file.Close()); err != nil {
		return fmt.Errorf("audit heads %s: %w", f.Path, err)
	}
	return nil
}

// writeLine appends line and a newline to file, opened to append, starting
// a new line first if the file's last byte is not a newline.
func writeLine(file *os.File, line []byte) error {
	info, err := file.Stat()
	if err != nil {
		return err
	}
	b := append(line, '\n')
	if info.Size() > 0 {
		last := make([]byte, 1)
		if _, err := file.ReadAt(last, info.Size()-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			b = append([]byte{'\n'}, b...)
		}
	}
	_, err = file.Write(b)
	return err
}

// ReadHeads returns the heads in the file, in file order, and the numbers
// of the lines it left out as torn: a head cut short by a crash while it
// was written (its JSON ends early), whether on the last line or on one a
// later write ended. Any other line that is not a head is an error naming
// it.
func ReadHeads(path string) (heads []shiftsync.AuditHead, torn []int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var h shiftsync.AuditHead
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		err := d.Decode(&h)
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			torn = append(torn, n)
			continue
		case err == nil && d.More():
			err = errors.New("text after the head")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("audit heads %s line %d: %w", path, n, err)
		}
		heads = append(heads, h)
	}
	return heads, torn, sc.Err()
}
