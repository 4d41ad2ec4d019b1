package schedule

import (
	"time"

	"github.com/robfig/cron/v3"
)

// allHours is the hour field of an expression that fires every hour.
const allHours = 1<<24 - 1

// maxWallSkips bounds the wall-clock candidates next looks at before it
// gives up (a candidate is skipped when it lies in a DST gap already
// passed, or before the reference time in a repeated hour).
const maxWallSkips = 100_000

// ticks computes a cron expression's ticks in a time zone.
//
// Across daylight saving changes, the parser's own arithmetic skips a
// fixed-hour tick that falls in the hour that does not exist (02:30 on
// the spring change in Europe/Berlin) and fires twice for one in the
// hour that repeats (autumn). A daily job should run once a day, so for
// expressions with fixed hours, ticks are wall-clock times, each fired
// once:
//   - a time that does not exist fires as much later as the clock jumped
//     (02:30 fires at 03:30 summer time);
//   - a time that occurs twice fires at its first occurrence.
//
// Expressions that fire every hour (minute or second steps, @hourly)
// follow elapsed time instead: they fire in both passes of a repeated
// hour and not in a skipped one, so their spacing stays regular. @every
// intervals count from the Unix epoch, so every process (and every
// restart) agrees on the ticks: @every 1h fires on the hour, UTC.
type ticks struct {
	sched cron.Schedule
	loc   *time.Location
	// wall is the expression read in UTC, for wall-clock arithmetic;
	// nil when ticks follow elapsed time.
	wall *cron.SpecSchedule
}

func newTicks(sched cron.Schedule, loc *time.Location) *ticks {
	if loc == nil {
		loc = time.UTC
	}
	t := &ticks{sched: sched, loc: loc}
	if s, ok := sched.(*cron.SpecSchedule); ok && s.Hour&allHours != allHours {
		w := *s
		w.Location = time.UTC
		t.wall = &w
	}
	return t
}

// next returns the first tick strictly after t, or zero if there is none
// within the parser's five-year horizon.
func (k *ticks) next(t time.Time) time.Time {
	switch s := k.sched.(type) {
	case cron.ConstantDelaySchedule:
		d := int64(s.Delay / time.Second)
		if d <= 0 {
			return time.Time{}
		}
		u := t.Unix()
		n := u - mod(u, d) + d
		return time.Unix(n, 0).In(k.loc)
	case *cron.SpecSchedule:
		if k.wall == nil {
			return s.Next(t.In(k.loc))
		}
	default:
		return k.sched.Next(t.In(k.loc))
	}
	c := wallClock(t.In(k.loc))
	for range maxWallSkips {
		c = k.wall.Next(c)
		if c.IsZero() {
			return c
		}
		if at, ok := k.resolve(c, t); ok {
			return at
		}
	}
	return time.Time{}
}

// resolve returns the instant a wall-clock time c (in UTC fields) stands
// for in k.loc, if that instant is after t: its first occurrence after t
// when the time occurs twice, and for a time the clock skipped, the time
// read with the offset from before the change.
func (k *ticks) resolve(c, t time.Time) (time.Time, bool) {
	u := c.Unix()
	// The true instant is within 14 hours of u, so the offsets a day
	// either side are those before and after any change near it.
	_, before := time.Unix(u-86400, 0).In(k.loc).Zone()
	_, after := time.Unix(u+86400, 0).In(k.loc).Zone()
	var found []time.Time
	for _, off := range []int{before, after} {
		at := time.Unix(u-int64(off), 0).In(k.loc)
		if wallClock(at).Equal(c) && (len(found) == 0 || !found[0].Equal(at)) {
			found = append(found, at)
		}
	}
	if len(found) == 0 {
		found = append(found, time.Unix(u-int64(before), 0).In(k.loc))
	}
	if len(found) == 2 && found[1].Before(found[0]) {
		found[0], found[1] = found[1], found[0]
	}
	for _, at := range found {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// latest returns the last tick at or before now, given first, the first
// tick after the last one fired (first <= now). It looks back from now in
// doubling windows instead of walking every tick since first, so a
// per-second schedule after a week's downtime costs microseconds.
func (k *ticks) latest(first, now time.Time) time.Time {
	last := first
	for w := time.Second; ; w *= 2 {
		from := now.Add(-w)
		if !from.After(first) || w > 1<<60 {
			break
		}
		if t := k.next(from); !t.IsZero() && !t.After(now) {
			last = t
			break
		}
	}
	for range maxWallSkips {
		t := k.next(last)
		if t.IsZero() || t.After(now) {
			break
		}
		last = t
	}
	return last
}

// wallClock returns t's wall-clock reading as a UTC time.
func wallClock(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
