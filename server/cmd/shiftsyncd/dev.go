package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/demo"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// The demo organisation -dev seeds.
const (
	demoOrganisation = "demo-care"
	demoService      = "demo-house"
	demoPerson       = "person-ada"
	demoWorker       = "dev-worker"
	demoLead         = "dev-pbs-lead"
	demoManager      = "dev-manager"
)

// devSetup is what -dev seeded: a one-time enrolment code for the demo
// support worker, one with which the demo manager signs in to the
// console, and how many demo records the first start pushed.
type devSetup struct {
	code        string
	expires     time.Time
	consoleCode string
	seeded      bool
}

// seedDev creates the demo organisation, service, people, support worker,
// PBS lead and manager if they are missing, and issues an enrolment code
// for the worker and the manager. On the first start (when it created the
// memberships) it also pushes four weeks of demo records ([demo.Seed])
// through sync, from a phone of the worker's and one of the lead's,
// enrolled as any phone is.
func seedDev(ctx context.Context, identity shiftsync.IdentityStore, admin shiftsync.Admin, sync *shiftsync.Sync) (*devSetup, error) {
	operator := shiftsync.Principal{UserID: "shiftsyncd-dev"}
	steps := []func() error{
		func() error { return identity.CreateOrganisation(ctx, operator, demoOrganisation, "Demo Care Ltd") },
		func() error {
			return identity.CreateService(ctx, operator, demoService, demoOrganisation, "Demo House")
		},
		func() error {
			return identity.CreateUser(ctx, operator, demoWorker, demoOrganisation, "Dev Worker", "")
		},
		func() error {
			return identity.CreateUser(ctx, operator, demoLead, demoOrganisation, "Dev PBS Lead", "")
		},
		func() error {
			return identity.CreateUser(ctx, operator, demoManager, demoOrganisation, "Dev Manager", "")
		},
	}
	for _, p := range demo.People {
		steps = append(steps, func() error { return identity.CreatePerson(ctx, operator, p.ID, demoService, p.Name) })
	}
	for _, step := range steps {
		if err := step(); err != nil && shiftsync.ErrorCode(err) != shiftsync.CodeAlreadyExists {
			return nil, err
		}
	}
	var d devSetup
	first := false
	for _, u := range []struct {
		id   string
		role shiftsync.Role
	}{{demoWorker, shiftsync.RoleSupportWorker}, {demoLead, shiftsync.RolePBSLead}, {demoManager, shiftsync.RoleManager}} {
		ms, err := identity.Memberships(ctx, u.id)
		if err != nil {
			return nil, err
		}
		if len(ms) == 0 { // since before the demo's first week, so its records were written with access
			m := shiftsync.Membership{UserID: u.id, ServiceID: demoService, Role: u.role, Start: time.Now().AddDate(0, 0, -60)}
			if _, err := identity.AddMembership(ctx, operator, m); err != nil {
				return nil, err
			}
			first = true
		}
	}
	if first {
		worker, err := enrolDemoPhone(ctx, identity, admin, operator, demoWorker)
		if err != nil {
			return nil, err
		}
		lead, err := enrolDemoPhone(ctx, identity, admin, operator, demoLead)
		if err != nil {
			return nil, err
		}
		if err := demo.Seed(ctx, sync, demoService, worker, lead, time.Now()); err != nil {
			return nil, err
		}
		d.seeded = true
	}
	var err error
	if d.code, d.expires, err = identity.IssueEnrolmentCode(ctx, operator, demoWorker); err != nil {
		return nil, err
	}
	if d.consoleCode, _, err = identity.IssueEnrolmentCode(ctx, operator, demoManager); err != nil {
		return nil, err
	}
	return &d, nil
}

// enrolDemoPhone enrols a phone for the user with a one-time code, as a
// phone enrols, and returns it as the principal that pushes from it.
func enrolDemoPhone(ctx context.Context, identity shiftsync.IdentityStore, admin shiftsync.Admin, operator shiftsync.Principal, user string) (shiftsync.Principal, error) {
	code, _, err := identity.IssueEnrolmentCode(ctx, operator, user)
	if err != nil {
		return shiftsync.Principal{}, err
	}
	device, _, err := identity.Enrol(ctx, code, "demo records", admin.RedeemsEnrolmentCode)
	if err != nil {
		return shiftsync.Principal{}, err
	}
	return shiftsync.Principal{UserID: user, DeviceID: device.ID}, nil
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
   in with the one-time code %[12]s (it expires at %[3]s too).%[13]s

`, demoService, demoWorker, d.expires.Local().Format("15:04 MST"), url, d.code,
		id, demoPerson, now.UnixMilli(), now.Add(-10*time.Minute).Format(time.RFC3339), demoOrganisation,
		demoManager, d.consoleCode, seededNote(d.seeded))
}

// seededNote says what the first start seeded, for the printed help.
func seededNote(seeded bool) string {
	if !seeded {
		return ""
	}
	return `
   This first start seeded four weeks of records about Ada, Ben and Cara
   (the transition incidents before and after a brief, a week of more holds
   and its debrief, an overdue assessment and an escalation), and a prone
   restraint yesterday: the console opens on its alert.`
}
