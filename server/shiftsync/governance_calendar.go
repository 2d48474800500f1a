package shiftsync

import (
	"slices"
	"time"
)

// firstBy returns, for the records of a type, the earliest time field per
// value of key (a reference to another record).
func (e *evaluation) firstBy(recordType, key, timeField string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, r := range e.byType[recordType] {
		id, at := r.Text(key), r.Time(timeField)
		if id == "" || at.IsZero() {
			continue
		}
		if prev, ok := out[id]; !ok || at.Before(prev) {
			out[id] = at
		}
	}
	return out
}

// WeekStart returns the start (Monday 00:00) of the ISO week holding t in
// loc.
func WeekStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	offset := (int(t.Weekday()) + 6) % 7 // days since Monday
	return time.Date(t.Year(), t.Month(), t.Day()-offset, 0, 0, 0, 0, loc)
}

// AddWorkingDays returns t plus n working days (Monday to Friday) in loc.
func AddWorkingDays(t time.Time, n int, loc *time.Location) time.Time {
	t = t.In(loc)
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return t
}

// firstIn returns the earliest time in ts not before from (and not after
// to, unless to is zero), or zero.
func firstIn(ts []time.Time, from, to time.Time) time.Time {
	var first time.Time
	for _, t := range ts {
		if t.Before(from) || (!to.IsZero() && t.After(to)) {
			continue
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}

// firstAfter returns the earliest of ts not before from, or zero.
func firstAfter(from time.Time, ts ...time.Time) time.Time {
	return firstIn(slices.DeleteFunc(ts, time.Time.IsZero), from, time.Time{})
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// earliest returns the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
