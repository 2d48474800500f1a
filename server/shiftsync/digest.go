package shiftsync

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// MutationDigest fingerprints what a device sent of a mutation: not the
// app version (an app updated between two retries still sends the same
// mutation), nor what the server derives (an action's agency). Its
// encoding is fixed, since stored digests must keep matching retries after
// an upgrade: TestMutationDigest pins it.
func MutationDigest(m *Mutation) [sha256.Size]byte {
	sent := struct {
		RecordID, RecordType, ServiceID, PersonID string
		DeviceID, UserID                          string
		Counter                                   uint64
		HLC                                       HLC
		Fields                                    []FieldEdit
		AppVersion                                string // always "": digests have always held the key
	}{m.RecordID, m.RecordType, m.ServiceID, m.PersonID, m.DeviceID, m.UserID, m.Counter, m.HLC, m.Fields, ""}
	b, err := json.Marshal(sent)
	if err != nil {
		// Non-finite doubles cannot be encoded; fingerprint what can be.
		b = fmt.Appendf(nil, "%#v", sent)
	}
	return sha256.Sum256(b)
}
