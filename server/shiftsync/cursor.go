package shiftsync

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Cursor is a position in one store's change log: a device that has applied
// every change up to Seq sends it back to pull what follows. StoreID names
// the store that issued it, so a cursor from another store, or from before a
// restore, is recognised instead of silently skipping changes; Epoch names
// the store's epoch it was issued in ("" for a store never restored, see
// [SyncTx.Epoch]), so a cursor from before a restore is recognised even
// once the restored store's change log has grown past it.
// The zero Cursor means "from the beginning".
type Cursor struct {
	StoreID string
	Epoch   string
	Seq     int64
}

// Format 1 ("c1.store:seq") is a cursor of a store's first epoch; format 2
// ("c2.store:epoch:seq") one of a later epoch. Both stay parseable for ever.
const (
	cursorPrefix  = "c1."
	cursorPrefix2 = "c2."
)

// String encodes c as the opaque token sent to devices; the zero Cursor
// encodes as "".
func (c Cursor) String() string {
	if c == (Cursor{}) {
		return ""
	}
	if c.Epoch == "" {
		raw := c.StoreID + ":" + strconv.FormatInt(c.Seq, 10)
		return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(raw))
	}
	raw := c.StoreID + ":" + c.Epoch + ":" + strconv.FormatInt(c.Seq, 10)
	return cursorPrefix2 + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseCursor decodes a token made by [Cursor.String]. An empty token is the
// zero Cursor. It returns CodeInvalid for anything else it cannot decode.
func ParseCursor(token string) (Cursor, error) {
	if token == "" {
		return Cursor{}, nil
	}
	invalid := Errorf(CodeInvalid, "cursor is not one this server issued")
	rest, ok := strings.CutPrefix(token, cursorPrefix)
	second := false
	if !ok {
		rest, second = strings.CutPrefix(token, cursorPrefix2)
	}
	if !ok && !second || len(rest) > 192 {
		return Cursor{}, invalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return Cursor{}, invalid
	}
	store, seqText, ok := strings.Cut(string(raw), ":")
	if !ok || store == "" {
		return Cursor{}, invalid
	}
	var epoch string
	if second {
		if epoch, seqText, ok = strings.Cut(seqText, ":"); !ok || epoch == "" {
			return Cursor{}, invalid
		}
	}
	if strings.Contains(seqText, "+") {
		return Cursor{}, invalid
	}
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil || seq < 0 || strconv.FormatInt(seq, 10) != seqText {
		return Cursor{}, invalid
	}
	return Cursor{StoreID: store, Epoch: epoch, Seq: seq}, nil
}
