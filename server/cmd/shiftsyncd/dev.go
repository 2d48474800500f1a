package main

import (
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// printDevExamples prints copy-pasteable curl commands (Connect protocol,
// JSON) that push one incident as the development device and pull it back.
func printDevExamples(w io.Writer, url, token string, p shiftsync.Principal) {
	id := uuid.Must(uuid.NewV7())
	now := time.Now().UTC()
	fmt.Fprintf(w, `
Development token for user %s on device %s (service demo-house):
  %s

Push an incident (run it twice: the second answer is a replay and changes nothing):

curl -sS %s/shiftsync.sync.v1.SyncService/Push \
  -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
  -d '{"client":{"protocolVersion":1,"schemaVersion":1,"appVersion":"curl"},
       "mutations":[{"counter":"1","recordId":"%s","recordType":"incident",
         "serviceId":"demo-house","personId":"person-ada","hlc":{"wallMs":"%d"},
         "fields":[
           {"field":"started_at","value":{"timestampValue":"%s"}},
           {"field":"behaviour_description","value":{"stringValue":"Shouted and pushed the door during the morning transition"}},
           {"field":"behaviour_categories","value":{"listValue":{"values":["BEHAVIOUR_CATEGORY_VERBAL_AGGRESSION"]}}},
           {"field":"intensity_verbal","value":{"intValue":"2"}}]}]}'

Pull everything in the device's scope:

curl -sS %s/shiftsync.sync.v1.SyncService/Pull \
  -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
  -d '{"client":{"protocolVersion":1,"schemaVersion":1}}'

`, p.UserID, p.DeviceID, token, url, token, id, now.UnixMilli(), now.Add(-10*time.Minute).Format(time.RFC3339), url, token)
}
