// Package demo seeds a service with four weeks of care records, pushed
// through the sync engine as the phones of a support worker and a PBS lead
// would have pushed them, so that a newcomer's first console shows a real
// service: the seed's three examples (../shared/domain/
// seed-multi-agency-working.txt) about three people. It is for
// shiftsyncd serve -dev only.
package demo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// People are the people supported the demo writes about, by id, with
// their names.
var People = []struct{ ID, Name string }{
	{"person-ada", "Ada"}, {"person-ben", "Ben"}, {"person-cara", "Cara"},
}

// Seed pushes the demo records of the service through sync, as the
// worker's and the lead's devices, with events in the four weeks before
// the week of now; the lead's first, so the records the worker's name are
// stored. The people must exist, and the worker (a support worker) and the
// lead (a PBS lead) must have held their memberships since before the
// first week. It fails unless every record is accepted.
//
// The records:
//   - Ada (example 1): three transition incidents in week 1; a
//     multi-agency meeting on its Thursday whose brief and action tracker
//     are issued 22 hours later and acknowledged; fewer incidents after;
//     a professionals' meeting in week 3 whose brief was never issued.
//   - Ben (example 2): one standing hold a week, then three in week 4 and
//     a post-incident review that week; and a prone restraint yesterday,
//     an alert still to acknowledge.
//   - Cara (example 3): a community team's assessment overdue since week 1
//     and an escalation at stage 1, the evidence pack sent in week 3.
func Seed(ctx context.Context, sync *shiftsync.Sync, serviceID string, worker, lead shiftsync.Principal, now time.Time) error {
	s := &seed{now: now.UTC()}
	s.start = monday(s.now).AddDate(0, 0, -28)
	s.ada()
	s.ben()
	s.cara()
	for _, d := range []struct {
		p       shiftsync.Principal
		records []record
	}{{lead, s.lead}, {worker, s.worker}} {
		if err := push(ctx, sync, serviceID, d.p, d.records); err != nil {
			return fmt.Errorf("demo: %s: %w", d.p.UserID, err)
		}
	}
	return nil
}

// record is one record a device wrote at (its HLC), about person.
type record struct {
	id, recordType, person string
	at                     time.Time
	fields                 map[string]shiftsync.Value
}

// seed collects the demo's records for each device.
type seed struct {
	now, start   time.Time // start: the Monday of week 1
	worker, lead []record
}

// day is the time h:m on day d of the demo (0: the Monday of week 1).
func (s *seed) day(d, h, m int) time.Time {
	return s.start.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// write adds a record to the device's list, written at, and returns its id.
func (s *seed) write(device *[]record, recordType, person string, at time.Time, fields map[string]shiftsync.Value) string {
	id := uuid.Must(uuid.NewV7()).String()
	*device = append(*device, record{id: id, recordType: recordType, person: person, at: at, fields: fields})
	return id
}

func (s *seed) ada() {
	const ada = "person-ada"
	incident := func(at time.Time, what string) {
		s.write(&s.worker, "incident", ada, at.Add(40*time.Minute), map[string]shiftsync.Value{
			"started_at": ts(at), "ended_at": ts(at.Add(12 * time.Minute)), "baseline_regained_at": ts(at.Add(40 * time.Minute)),
			"place": str("Front door"), "setting_events": list("SETTING_EVENT_TRANSITION"),
			"behaviour_categories": list("BEHAVIOUR_CATEGORY_VERBAL_AGGRESSION"), "behaviour_description": str(what),
			"intensity_verbal": num(2), "harm_to_person": enum("HARM_LEVEL_NONE"),
		})
	}
	for i, what := range []string{"Shouted when the minibus was late", "Pushed the door at handover", "Threw her bag at the front door"} {
		incident(s.day(i, 7, 40), what)
		s.write(&s.worker, "shift_reflection", ada, s.day(i, 15, 5), map[string]shiftsync.Value{
			"shift_started_at": ts(s.day(i, 7, 0)), "shift_ended_at": ts(s.day(i, 15, 0)),
			"what_worked": str("Visual timetable at breakfast"), "learning_point": str("Ada needs the minibus time confirmed the night before"),
			"support_minutes": num(480),
		})
	}
	meeting := s.write(&s.lead, "meeting", "", s.day(3, 11, 5), map[string]shiftsync.Value{
		"meeting_type": enum("MEETING_TYPE_MDT_REVIEW"), "started_at": ts(s.day(3, 10, 0)), "ended_at": ts(s.day(3, 11, 0)),
		"person_ids": list(ada), "decisions": str("A PBS-competent lead at the 07:00-09:00 transition for two weeks; a transition script"),
	})
	brief := s.write(&s.lead, "shift_brief", ada, s.day(4, 9, 0), map[string]shiftsync.Value{
		"version": num(1), "published_at": ts(s.day(4, 9, 0)), "source_meeting_id": str(meeting),
		"transition_routine": str("Minibus time confirmed the night before; lead at the door 07:00-09:00"),
		"changes_summary":    str("Transition script and lead at the door"),
	})
	action := s.write(&s.lead, "action", ada, s.day(4, 9, 1), map[string]shiftsync.Value{
		"action_text": str("Confirm the minibus time each evening"), "definition_of_done": str("Time written on Ada's board by 20:00"),
		"source": enum("ACTION_SOURCE_MEETING"), "source_record_id": str(meeting), "agency": str("provider"),
		"owner_role": str("Shift lead"), "deputy_role": str("Registered manager"),
		"created_at": ts(s.day(4, 9, 0)), "deadline": ts(s.now.Add(52 * time.Hour)), "interim_check_at": ts(s.day(11, 12, 0)),
		"status": enum("ACTION_STATUS_ON_TRACK"),
	})
	s.write(&s.lead, "action_tracker", "", s.day(4, 9, 2), map[string]shiftsync.Value{
		"meeting_id": str(meeting), "issued_at": ts(s.day(4, 9, 0)),
		"shared_with": list("community_ld_team", "la_social_work"), "action_ids": list(action),
	})
	s.write(&s.worker, "brief_acknowledgement", "", s.day(4, 16, 0), map[string]shiftsync.Value{
		"brief_id": str(brief), "acknowledged_at": ts(s.day(4, 16, 0)),
	})
	incident(s.day(8, 7, 45), "Paced and shouted; settled with the script")
	for _, d := range []int{9, 16, 23} {
		s.write(&s.worker, "early_warning_sign", ada, s.day(d, 7, 50), map[string]shiftsync.Value{
			"observed_at": ts(s.day(d, 7, 30)), "sign": str("Pacing by the front door"),
			"outcome": enum("EARLY_WARNING_OUTCOME_SETTLED"), "settled_at": ts(s.day(d, 7, 45)),
		})
	}
	// Week 3: a professionals' meeting whose brief was never issued.
	s.write(&s.lead, "meeting", "", s.day(16, 13, 5), map[string]shiftsync.Value{
		"meeting_type": enum("MEETING_TYPE_PROFESSIONALS"), "started_at": ts(s.day(16, 12, 0)), "ended_at": ts(s.day(16, 13, 0)),
		"person_ids": list(ada), "decisions": str("Housing to repair the front door lock"),
	})
}

func (s *seed) ben() {
	const ben = "person-ben"
	// hold is an incident and a hold used in it, recorded in full; its
	// post-incident review follows the next day unless reviewed is unset.
	hold := func(at time.Time, minutes int, typeCode string, inPlan, reviewed bool) {
		incident := s.write(&s.worker, "incident", ben, at.Add(30*time.Minute), map[string]shiftsync.Value{
			"started_at": ts(at), "behaviour_description": str("Hit out at staff at the front door"), "intensity_others": num(3),
		})
		s.write(&s.worker, "restrictive_intervention", ben, at.Add(31*time.Minute), map[string]shiftsync.Value{
			"incident_id": str(incident), "type_code": enum(typeCode),
			"reason_code": enum("RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS"),
			"started_at":  ts(at.Add(2 * time.Minute)), "ended_at": ts(at.Add(time.Duration(2+minutes) * time.Minute)),
			"in_care_plan": shiftsync.Value{Kind: shiftsync.KindBool, Bool: inPlan}, "legal_basis": enum("LEGAL_BASIS_COMMON_LAW"),
			"staff_involved":         list("dev-worker", "bank-staff-1"),
			"how_used":               str("Two staff, arms held at the elbow and wrist, standing, for the shortest time"),
			"less_restrictive_tried": str("Offered the garden and his headphones; gave space at the door"),
			"injury_to_person":       shiftsync.Value{Kind: shiftsync.KindBool}, "injury_to_staff": shiftsync.Value{Kind: shiftsync.KindBool},
			"outcome":     str("Released once calm; Ben chose to go to his room"),
			"notified_at": ts(at.Add(25 * time.Minute)),
		})
		if reviewed {
			s.write(&s.lead, "debrief", ben, at.Add(26*time.Hour), map[string]shiftsync.Value{
				"kind": enum("DEBRIEF_KIND_POST_INCIDENT_REVIEW"), "held_at": ts(at.Add(25 * time.Hour)), "incident_ids": list(incident),
				"plan_followed": enum("PLAN_FOLLOWED_YES"), "learning_points": str("Early signs at the door were missed at handover"),
			})
		}
	}
	for week := range 3 {
		hold(s.day(7*week+1, 10, 0), 5, "RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING", true, true)
	}
	for i, d := range []int{22, 23, 24} {
		hold(s.day(d, 10, 0), 4+i, "RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING", true, true)
	}
	s.write(&s.lead, "debrief", ben, s.day(25, 14, 0), map[string]shiftsync.Value{
		"kind": enum("DEBRIEF_KIND_POST_INCIDENT_REVIEW"), "held_at": ts(s.day(25, 13, 0)), "for_week_of": ts(s.day(21, 0, 0)),
		"plan_followed": enum("PLAN_FOLLOWED_PARTLY"), "learning_points": str("Holds clustered at the front door after 09:30 drop-offs"),
		"plan_change": str("Move the drop-off to 09:00; second staff at the door"),
	})
	// Yesterday afternoon: a prone restraint, not in the plan.
	hold(s.now.Add(-20*time.Hour).Truncate(time.Hour), 3, "RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_PRONE", false, false)
}

func (s *seed) cara() {
	const cara = "person-cara"
	s.write(&s.lead, "action", cara, s.day(0, 9, 0), map[string]shiftsync.Value{
		"action_text": str("Clinical assessment of Cara's changed needs"), "definition_of_done": str("Assessment report shared"),
		"agency": str("community_ld_team"), "owner_role": str("Community LD nurse"), "deputy_role": str("Team manager, community LD team"),
		"created_at": ts(s.day(0, 9, 0)), "deadline": ts(s.day(4, 17, 0)), "status": enum("ACTION_STATUS_NOT_STARTED"),
	})
	s.write(&s.lead, "escalation", cara, s.day(18, 16, 5), map[string]shiftsync.Value{
		"level": enum("ESCALATION_LEVEL_EVIDENCE_PACK"), "reason": str("Assessment 14 days overdue; incidents rising at transitions"),
		"raised_at": ts(s.day(18, 15, 0)), "addressee_agency": str("icb"), "evidence_pack_sent_at": ts(s.day(18, 16, 0)),
	})
}

// push pushes the records in the order they were written, as one device,
// in pushes of at most [shiftsync.MaxMutationsPerPush], and fails unless
// every one is accepted.
func push(ctx context.Context, sync *shiftsync.Sync, serviceID string, p shiftsync.Principal, records []record) error {
	slices.SortStableFunc(records, func(a, b record) int { return a.at.Compare(b.at) })
	batch := make([]shiftsync.Mutation, 0, len(records))
	for i, r := range records {
		m := shiftsync.Mutation{
			RecordRef: shiftsync.RecordRef{RecordID: r.id, RecordType: r.recordType, ServiceID: serviceID, PersonID: r.person},
			Counter:   uint64(i + 1), HLC: shiftsync.HLC{WallMS: r.at.UnixMilli()},
		}
		names := make([]string, 0, len(r.fields))
		for name := range r.fields {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			m.Fields = append(m.Fields, shiftsync.FieldEdit{Field: name, Value: r.fields[name]})
		}
		batch = append(batch, m)
	}
	for len(batch) > 0 {
		n := min(len(batch), shiftsync.MaxMutationsPerPush)
		res, err := sync.Push(ctx, p, batch[:n])
		if err != nil {
			return err
		}
		for _, r := range res.Results {
			if r.Status != shiftsync.StatusAccepted {
				return fmt.Errorf("record %d not accepted: status %v %s: %s", r.Counter, r.Status, r.Reason, r.Message)
			}
		}
		batch = batch[n:]
	}
	return nil
}

// monday returns the start (00:00 UTC) of the ISO week of t.
func monday(t time.Time) time.Time {
	d := t.Truncate(24 * time.Hour)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

func ts(t time.Time) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: t} }
func str(s string) shiftsync.Value   { return shiftsync.Value{Kind: shiftsync.KindString, String: s} }
func num(n int64) shiftsync.Value    { return shiftsync.Value{Kind: shiftsync.KindInt, Int: n} }
func enum(s string) shiftsync.Value  { return shiftsync.Value{Kind: shiftsync.KindEnum, String: s} }
func list(items ...string) shiftsync.Value {
	return shiftsync.Value{Kind: shiftsync.KindList, List: items}
}
