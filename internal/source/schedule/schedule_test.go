package schedule

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/source/sourcetest"
)

type fixture struct {
	t     *testing.T
	clock *sourcetest.Clock
	rec   *sourcetest.Recorder
	state *sourcetest.State
}

func newFixture(t *testing.T, now string) *fixture {
	t.Helper()
	at, err := time.Parse(time.RFC3339, now)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, clock: sourcetest.NewClock(at), rec: &sourcetest.Recorder{}, state: &sourcetest.State{}}
}

func (f *fixture) schedule(name, expr, zone string, catchUp bool) *config.Schedule {
	return &config.Schedule{
		Name:       name,
		Expression: expr,
		Cron:       mustParse(f.t, expr),
		Location:   mustZone(f.t, zone),
		CatchUp:    catchUp,
		Event:      config.SourceEvent{Type: "report.due", Subject: "sales", Data: json.RawMessage(`{"report":"sales"}`)},
	}
}

// start builds a Scheduler as a server start would (the clock's time is
// the start) and returns its only job.
func (f *fixture) start(s *config.Schedule) *job {
	sc := New(map[string]*config.Schedule{s.Name: s}, Options{Emitter: f.rec, State: f.state, Now: f.clock.Now})
	return sc.jobs[0]
}

func (f *fixture) ticks() []string {
	var out []string
	for _, ev := range f.rec.Events() {
		s := ev.Time.UTC().Format(time.RFC3339)
		if ev.Extensions["catchup"] == true {
			s += " catch-up"
		}
		out = append(out, s)
	}
	return out
}

// run evaluates like the Loop does, moving the clock to each time the
// job asks for, until the clock passes until.
func (f *fixture) run(j *job, until string) {
	f.t.Helper()
	end, _ := time.Parse(time.RFC3339, until)
	for {
		next := j.evaluate(context.Background())
		if next.IsZero() || next.After(end) {
			return
		}
		if !next.After(f.clock.Now()) {
			f.t.Fatalf("evaluate at %s asks to be called again at %s", f.clock.Now(), next)
		}
		f.clock.Set(next)
	}
}

func TestScheduleEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-05-04T10:00:00Z")
	j := f.start(f.schedule("nightly", "30 2 * * *", "Europe/Berlin", true))
	f.run(j, "2026-05-06T00:00:00Z")
	want := []herald.Event{
		{
			SpecID: "nightly/1777941000", Source: "herald:schedule/nightly", Type: "report.due", Subject: "sales",
			Time: time.Date(2026, 5, 5, 0, 30, 0, 0, time.UTC), DataContentType: "application/json", Data: json.RawMessage(`{"report":"sales"}`),
		},
	}
	if diff := cmp.Diff(want, f.rec.Events()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	var st state
	if err := json.Unmarshal(f.state.Snapshot()["schedule/nightly"], &st); err != nil {
		t.Fatal(err)
	}
	if !st.Last.Equal(want[0].Time) || st.Spec != "30 2 * * * Europe/Berlin" {
		t.Errorf("state = %+v", st)
	}
}

// TestScheduleDST runs a daily 02:30 Europe/Berlin schedule through both
// changes of 2026 with an injected clock.
func TestScheduleDST(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, from, until string
		want              []string
	}{
		{"spring", "2026-03-27T12:00:00Z", "2026-03-31T12:00:00Z", []string{
			"2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z",
		}},
		{"autumn", "2026-10-23T12:00:00Z", "2026-10-27T12:00:00Z", []string{
			"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.from)
			j := f.start(f.schedule("nightly", "30 2 * * *", "Europe/Berlin", true))
			f.run(j, tt.until)
			if diff := cmp.Diff(tt.want, f.ticks()); diff != "" {
				t.Errorf("ticks mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScheduleRestart stops the server for a while and starts it again on
// the same state: what happens to the ticks missed meanwhile.
func TestScheduleRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		catchUp bool
		// down and up are when the server stops and starts again.
		down, up string
		want     []string
	}{
		{"missed ticks fire once", true, "2026-05-01T12:00:00Z", "2026-05-04T10:00:00Z",
			[]string{"2026-05-01T02:00:00Z", "2026-05-04T02:00:00Z catch-up", "2026-05-05T02:00:00Z"}},
		{"missed ticks are skipped", false, "2026-05-01T12:00:00Z", "2026-05-04T10:00:00Z",
			[]string{"2026-05-01T02:00:00Z", "2026-05-05T02:00:00Z"}},
		{"nothing missed", true, "2026-05-01T12:00:00Z", "2026-05-01T13:00:00Z",
			[]string{"2026-05-01T02:00:00Z", "2026-05-02T02:00:00Z", "2026-05-03T02:00:00Z", "2026-05-04T02:00:00Z", "2026-05-05T02:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "2026-04-30T12:00:00Z")
			s := f.schedule("daily", "0 2 * * *", "UTC", tt.catchUp)
			f.run(f.start(s), tt.down)
			f.clock.Set(mustTime(t, tt.up))
			f.run(f.start(s), "2026-05-05T12:00:00Z")
			if diff := cmp.Diff(tt.want, f.ticks()); diff != "" {
				t.Errorf("ticks mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScheduleFirstStart: a schedule seen for the first time does not
// fire for the past, but records when it was first seen, so a tick missed
// before its first one fired is caught up.
func TestScheduleFirstStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-05-01T10:00:00Z")
	s := f.schedule("daily", "0 2 * * *", "UTC", true)
	if next := f.start(s).evaluate(context.Background()); !next.Equal(mustTime(t, "2026-05-02T02:00:00Z")) {
		t.Errorf("first next = %s", next)
	}
	f.clock.Set(mustTime(t, "2026-05-02T09:00:00Z")) // down over the first tick
	f.start(s).evaluate(context.Background())
	if diff := cmp.Diff([]string{"2026-05-02T02:00:00Z catch-up"}, f.ticks()); diff != "" {
		t.Errorf("ticks mismatch (-want +got):\n%s", diff)
	}
}

// TestScheduleChangedExpression: after the expression changes, ticks of
// the new one before the change are not "missed".
func TestScheduleChangedExpression(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-05-01T10:00:00Z")
	f.run(f.start(f.schedule("daily", "0 2 * * *", "UTC", true)), "2026-05-01T12:00:00Z")
	f.clock.Set(mustTime(t, "2026-05-03T12:00:00Z"))
	f.run(f.start(f.schedule("daily", "0 3 * * *", "UTC", true)), "2026-05-04T12:00:00Z")
	if diff := cmp.Diff([]string{"2026-05-04T03:00:00Z"}, f.ticks()); diff != "" {
		t.Errorf("ticks mismatch (-want +got):\n%s", diff)
	}
}

// TestScheduleEmitFails: a tick that cannot be emitted is retried with
// backoff, not lost; a tick emitted twice is one event.
func TestScheduleEmitFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-05-01T10:00:00Z")
	j := f.start(f.schedule("hourly", "0 * * * *", "UTC", true))
	ctx := context.Background()
	f.clock.Set(j.evaluate(ctx))
	f.rec.Fail(true)
	var retries []time.Duration
	for range 4 {
		next := j.evaluate(ctx)
		retries = append(retries, next.Sub(f.clock.Now()))
		f.clock.Set(next)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, retries); diff != "" {
		t.Errorf("retry delays mismatch (-want +got):\n%s", diff)
	}
	f.rec.Fail(false)
	if next := j.evaluate(ctx); !next.Equal(mustTime(t, "2026-05-01T12:00:00Z")) {
		t.Errorf("next after recovery = %s", next)
	}
	// A second process (or a retry after a crash) emitting the same tick.
	if err := f.rec.Emit(ctx, []herald.Event{j.event(mustTime(t, "2026-05-01T11:00:00Z"), false)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"2026-05-01T11:00:00Z"}, f.ticks()); diff != "" {
		t.Errorf("ticks mismatch (-want +got):\n%s", diff)
	}
}

// TestSchedulerLoop runs the real goroutines with an injected clock,
// woken after the clock moves.
func TestSchedulerLoop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-05-01T10:59:59Z")
	a := f.schedule("a", "0 * * * *", "UTC", true)
	b := f.schedule("b", "@every 30m", "UTC", true)
	sc := New(map[string]*config.Schedule{"a": a, "b": b}, Options{Emitter: f.rec, State: f.state, Now: f.clock.Now})
	sc.Start()
	defer sc.Stop()
	sourcetest.Eventually(t, "state written", func() bool { return len(f.state.Snapshot()) == 2 })
	f.clock.Advance(time.Second)
	sc.Wake()
	sourcetest.Eventually(t, "two events", func() bool { return len(f.rec.Events()) == 2 })
	sc.Stop()
	sc.Stop()
	got := map[string]string{}
	for _, ev := range f.rec.Events() {
		got[ev.Source] = ev.SpecID
	}
	want := map[string]string{"herald:schedule/a": "a/1777633200", "herald:schedule/b": "b/1777633200"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}
