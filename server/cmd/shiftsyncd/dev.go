package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// The demo organisation -dev seeds.
const (
	demoOrganisation = "demo-care"
	demoService      = "demo-house"
	demoPerson       = "person-ada"
	demoWorker       = "dev-worker"
	demoManager      = "dev-manager"
)

// devSetup is what -dev seeded: a one-time enrolment code for the demo
// support worker, and one with which the demo manager signs in to the
// console.
type devSetup struct {
	code        string
	expires     time.Time
	consoleCode string
}

// seedDev creates the demo organisation, service, person, support worker
// and manager if they are missing, and issues an enrolment code for each.
func seedDev(ctx context.Context, identity shiftsync.IdentityStore) (*devSetup, error) {
	operator := shiftsync.Principal{UserID: "shiftsyncd-dev"}
	steps := []func() error{
		func() error { return identity.CreateOrganisation(ctx, operator, demoOrganisation, "Demo Care Ltd") },
		func() error {
			return identity.CreateService(ctx, operator, demoService, demoOrganisation, "Demo House")
		},
		func() error { return identity.CreatePerson(ctx, operator, demoPerson, demoService, "Ada") },
		func() error {
			return identity.CreateUser(ctx, operator, demoWorker, demoOrganisation, "Dev Worker", "")
		},
		func() error {
			return identity.CreateUser(ctx, operator, demoManager, demoOrganisation, "Dev Manager", "")
		},
	}
	for _, step := range steps {
		if err := step(); err != nil && shiftsync.ErrorCode(err) != shiftsync.CodeAlreadyExists {
			return nil, err
		}
	}
	for user, role := range map[string]shiftsync.Role{demoWorker: shiftsync.RoleSupportWorker, demoManager: shiftsync.RoleManager} {
		ms, err := identity.Memberships(ctx, user)
		if err != nil {
			return nil, err
		}
		if len(ms) == 0 {
			m := shiftsync.Membership{UserID: user, ServiceID: demoService, Role: role, Start: time.Now().Add(-24 * time.Hour)}
			if _, err := identity.AddMembership(ctx, operator, m); err != nil {
				return nil, err
			}
		}
	}
	var d devSetup
	var err error
	if d.code, d.expires, err = identity.IssueEnrolmentCode(ctx, operator, demoWorker); err != nil {
		return nil, err
	}
	if d.consoleCode, _, err = identity.IssueEnrolmentCode(ctx, operator, demoManager); err != nil {
		return nil, err
	}
	return &d, nil
}

// print writes copy-pasteable commands (Connect protocol, JSON) that enrol
// a device with the one-time code, push one incident and pull it back, and
// the same through the device simulator.
func (d *devSetup) print(w io.Writer, url string) {
	id := uuid.Must(uuid.NewV7())
	now := time.Now().UTC()
	fmt.Fprintf(w, `
Development mode: organisation %[10]s, service %[1]s, person supported
%[7]s, and support worker %[2]s, who has a one-time enrolment code (it
expires at %[3]s; restart for another).

1. Enrol a device with the code. The answer, kept in data/device.json, holds
   the device id and its credential (keep them: Refresh with them gets a new
   access token) and an access token for 5 minutes, which TOKEN holds:

curl -sS --fail-with-body %[4]s/shiftsync.auth.v1.AuthService/Enrol \
  -H 'Content-Type: application/json' -d '{"code":"%[5]s","deviceLabel":"curl"}' \
  -o data/device.json; cat data/device.json; echo
TOKEN=$(sed -n 's/.*"accessToken": *"\([^"]*\)".*/\1/p' data/device.json); echo "$TOKEN"

   When it expires, Refresh takes the saved answer as it is (it reads the
   deviceId and deviceCredential and ignores the rest):

TOKEN=$(curl -sS --fail-with-body %[4]s/shiftsync.auth.v1.AuthService/Refresh \
  -H 'Content-Type: application/json' -d @data/device.json \
  | sed -n 's/.*"accessToken": *"\([^"]*\)".*/\1/p'); echo "$TOKEN"

2. Push an incident (run it twice: the second answer is a replay and changes nothing):

curl -sS --fail-with-body %[4]s/shiftsync.sync.v1.SyncService/Push \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"client":{"protocolVersion":1,"schemaVersion":1,"appVersion":"curl"},
       "mutations":[{"counter":"1","recordId":"%[6]s","recordType":"incident",
         "serviceId":"%[1]s","personId":"%[7]s","hlc":{"wallMs":"%[8]d"},
         "fields":[
           {"field":"started_at","value":{"timestampValue":"%[9]s"}},
           {"field":"behaviour_description","value":{"stringValue":"Shouted and pushed the door during the morning transition"}},
           {"field":"behaviour_categories","value":{"listValue":{"values":["BEHAVIOUR_CATEGORY_VERBAL_AGGRESSION"]}}},
           {"field":"intensity_verbal","value":{"intValue":"2"}}]}]}'; echo

3. Pull everything in the device's scope:

curl -sS --fail-with-body %[4]s/shiftsync.sync.v1.SyncService/Pull \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"client":{"protocolVersion":1,"schemaVersion":1}}'; echo

4. Or be a phone: the device simulator enrols with a new code, logs offline,
   and syncs with its own tokens (make demo shows three phones); its
   replica is ./data/phone.db:

CODE=$(go run ./server/cmd/shiftsyncd admin issue-code -user %[2]s)
go run ./mobile-contract/cmd/shiftsync --device ./data/phone.db --server %[4]s enrol "$CODE"
go run ./mobile-contract/cmd/shiftsync --device ./data/phone.db log incident --service %[1]s \
  --person %[7]s --place kitchen --severity 2 --description "Threw a cup when the plan changed"
go run ./mobile-contract/cmd/shiftsync --device ./data/phone.db sync

5. Review it as manager %[11]s in the console: open %[4]s/console/ and sign
   in with the one-time code %[12]s (it expires at %[3]s too).

`, demoService, demoWorker, d.expires.Local().Format("15:04 MST"), url, d.code,
		id, demoPerson, now.UnixMilli(), now.Add(-10*time.Minute).Format(time.RFC3339), demoOrganisation,
		demoManager, d.consoleCode)
}
