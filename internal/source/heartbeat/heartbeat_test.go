package heartbeat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/render"
	"github.com/herald-notify/herald/internal/source"
	"github.com/herald-notify/herald/internal/source/sourcetest"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	clock *sourcetest.Clock
	rec   *sourcetest.Recorder
	state *sourcetest.State
	emit  source.Emitter
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, clock: sourcetest.NewClock(t0), rec: &sourcetest.Recorder{}, state: &sourcetest.State{}}
	f.emit = f.rec
	return f
}

func heartbeat(t *testing.T, name, typ, key string, interval, grace time.Duration) *config.Heartbeat {
	h := &config.Heartbeat{Name: name, Type: typ, Interval: interval, Grace: grace}
	if key != "" {
		tmpl, err := render.New("heartbeats."+name+".key", key)
		if err != nil {
			t.Fatal(err)
		}
		h.Key = tmpl
	}
	return h
}

// start builds a Tracker as a server start would, at the clock's time.
func (f *fixture) start(hbs ...*config.Heartbeat) *Tracker {
	m := map[string]*config.Heartbeat{}
	for _, h := range hbs {
		m[h.Name] = h
	}
	return New(m, Options{Emitter: f.emit, State: f.state, Now: f.clock.Now, FlushEvery: time.Minute})
}

func (f *fixture) at(d time.Duration) { f.clock.Set(t0.Add(d)) }

func (f *fixture) beat(tr *Tracker, typ, subject string) {
	tr.Observe(&herald.Event{ID: "e", Type: typ, Source: "cron", Subject: subject})
}

// evaluate runs one evaluation and returns when the tracker asks to be
// called next, relative to t0.
func (f *fixture) evaluate(tr *Tracker) time.Duration {
	next := tr.evaluate(context.Background())
	if next.IsZero() {
		return 0
	}
	return next.Sub(t0)
}

// log describes the recorded events: "type subject last_seen expected_by"
// with times relative to t0.
func (f *fixture) log() []string {
	rel := func(v any) string {
		s, ok := v.(string)
		if !ok {
			return "never"
		}
		at, _ := time.Parse(time.RFC3339Nano, s)
		return at.Sub(t0).String()
	}
	var out []string
	for _, ev := range f.rec.Events() {
		var d map[string]any
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s seen=%s by=%s", ev.Type, ev.Subject, rel(d["last_seen"]), rel(d["expected_by"])))
	}
	return out
}

func TestHeartbeatOutages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.start(heartbeat(t, "backup", "backup.done", "", 10*time.Minute, time.Minute))
	if next := f.evaluate(tr); next != 11*time.Minute {
		t.Errorf("first deadline = %s, want 11m (interval + grace from the start)", next)
	}
	f.at(5 * time.Minute)
	f.beat(tr, "backup.done", "")
	f.beat(tr, "other.type", "")
	if next := f.evaluate(tr); next != 16*time.Minute {
		t.Errorf("deadline after a beat = %s, want 16m", next)
	}
	f.at(16 * time.Minute)
	f.evaluate(tr)
	f.at(40 * time.Minute)
	f.evaluate(tr) // still missing: no second announcement
	f.at(41 * time.Minute)
	f.beat(tr, "backup.done", "")
	f.evaluate(tr)
	f.at(52 * time.Minute)
	f.evaluate(tr)
	want := []string{
		"heartbeat.missed backup seen=5m0s by=16m0s",
		"heartbeat.recovered backup seen=41m0s by=16m0s",
		"heartbeat.missed backup seen=41m0s by=52m0s",
	}
	if diff := cmp.Diff(want, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	ev := f.rec.Events()[0]
	if ev.Source != "herald:heartbeat/backup" || ev.SpecID != fmt.Sprintf("backup/missed/%d", t0.Add(16*time.Minute).UnixMilli()) ||
		!ev.Time.Equal(t0.Add(16*time.Minute)) {
		t.Errorf("missed event = %+v", ev)
	}
	if ev := f.rec.Events()[1]; ev.SpecID != fmt.Sprintf("backup/recovered/%d", t0.Add(16*time.Minute).UnixMilli()) {
		t.Errorf("recovered id = %s", ev.SpecID)
	}
}

func TestHeartbeatKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.start(
		heartbeat(t, "backups", "backup.done", "{{ .event.subject }}", time.Hour, 0),
		heartbeat(t, "any-backup", "backup.done", "", 2*time.Hour, 0),
	)
	f.evaluate(tr)
	f.beat(tr, "backup.done", "db")
	f.beat(tr, "backup.done", "files")
	f.at(50 * time.Minute)
	f.beat(tr, "backup.done", "db")
	f.at(time.Hour)
	f.evaluate(tr) // files missed; db not
	f.at(110 * time.Minute)
	f.evaluate(tr) // db missed; any-backup not (beats from db at 50m)
	want := []string{
		"heartbeat.missed backups/files seen=0s by=1h0m0s",
		"heartbeat.missed backups/db seen=50m0s by=1h50m0s",
	}
	if diff := cmp.Diff(want, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	var d map[string]any
	json.Unmarshal(f.rec.Events()[0].Data, &d)
	if d["name"] != "backups" || d["key"] != "files" {
		t.Errorf("data = %v", d)
	}
}

// TestHeartbeatRestart restarts the tracker on the same state after a
// crash (no Stop), and after a clean stop.
func TestHeartbeatRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hbs := []*config.Heartbeat{
		heartbeat(t, "jobs", "job.ran", "{{ .event.subject }}", 10*time.Minute, 0),
	}
	tr := f.start(hbs...)
	f.evaluate(tr)
	f.beat(tr, "job.ran", "a")
	f.beat(tr, "job.ran", "b")
	f.at(2 * time.Minute)
	f.beat(tr, "job.ran", "a")
	f.at(11 * time.Minute)
	f.evaluate(tr) // b missed (written at once); a's beats written (FlushEvery is 1m)
	f.at(11*time.Minute + 30*time.Second)
	f.beat(tr, "job.ran", "a") // not written yet: lost in the crash
	f.evaluate(tr)

	// Crash, and start again two hours later: b is still missed (not
	// announced again); a counts as seen at the start.
	f.at(2*time.Hour + 11*time.Minute)
	tr = f.start(hbs...)
	if next := f.evaluate(tr); next != 2*time.Hour+21*time.Minute {
		t.Errorf("next after restart = %s, want a's deadline 2h21m", next)
	}
	f.at(2*time.Hour + 12*time.Minute)
	f.beat(tr, "job.ran", "b")
	f.evaluate(tr)
	f.at(2*time.Hour + 12*time.Minute + 10*time.Second)
	f.beat(tr, "job.ran", "b")
	tr.Stop() // writes b's last beat
	tr.Stop()

	f.at(2*time.Hour + 30*time.Minute)
	tr = f.start(hbs...)
	f.evaluate(tr)
	f.at(2*time.Hour + 45*time.Minute)
	f.evaluate(tr)
	want := []string{
		"heartbeat.missed jobs/b seen=0s by=10m0s",
		"heartbeat.recovered jobs/b seen=2h12m0s by=10m0s",
		// Both count as seen at the last start (2h30m); the data shows
		// the last beats written: a's at 11m30s was lost in the crash.
		"heartbeat.missed jobs/a seen=2m0s by=2h40m0s",
		"heartbeat.missed jobs/b seen=2h12m10s by=2h40m0s",
	}
	if diff := cmp.Diff(want, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// TestHeartbeatReload replaces a tracker by another, as a configuration
// reload does: deadlines stay where they were.
func TestHeartbeatReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hbs := []*config.Heartbeat{
		heartbeat(t, "one", "a.b", "", 10*time.Minute, 0),
		heartbeat(t, "keyed", "x.y", "{{ .event.subject }}", 10*time.Minute, 0),
	}
	tr := f.start(hbs...)
	f.evaluate(tr)
	f.at(3 * time.Minute)
	f.beat(tr, "x.y", "k")
	f.at(5 * time.Minute)
	tr.Stop()
	tr = New(map[string]*config.Heartbeat{hbs[0].Name: hbs[0], hbs[1].Name: hbs[1]},
		Options{Emitter: f.rec, State: f.state, Now: f.clock.Now, Started: t0})
	if next := f.evaluate(tr); next != 10*time.Minute {
		t.Errorf("next after reload = %s, want 10m (one never beat since t0)", next)
	}
	f.at(10 * time.Minute)
	f.evaluate(tr) // one missed
	if next := f.evaluate(tr); next != 13*time.Minute {
		t.Errorf("next = %s, want 13m (keyed/k beat at 3m)", next)
	}
	if diff := cmp.Diff([]string{"heartbeat.missed one seen=never by=10m0s"}, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// TestHeartbeatEmitFails: nothing changes until the events are emitted.
func TestHeartbeatEmitFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.start(heartbeat(t, "hb", "x.y", "", time.Minute, 0))
	f.evaluate(tr)
	f.at(time.Minute)
	f.rec.Fail(true)
	if next := f.evaluate(tr); next != time.Minute+time.Second {
		t.Errorf("retry at %s", next)
	}
	if st := string(f.state.Snapshot()["heartbeat/hb/"]); strings.Contains(st, "missed") {
		t.Errorf("outage recorded although nothing was emitted: %s", st)
	}
	f.rec.Fail(false)
	f.at(time.Minute + time.Second)
	f.evaluate(tr)
	if diff := cmp.Diff([]string{"heartbeat.missed hb seen=never by=1m0s"}, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// TestHeartbeatBeatDuringEmit: a beat that arrives while the missed event
// is being emitted ends the outage right after.
func TestHeartbeatBeatDuringEmit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var tr *Tracker
	f.emit = source.EmitFunc(func(ctx context.Context, events []herald.Event) error {
		if events[0].Type == TypeMissed {
			f.beat(tr, "x.y", "")
		}
		return f.rec.Emit(ctx, events)
	})
	tr = f.start(heartbeat(t, "hb", "x.y", "", time.Minute, 0))
	f.evaluate(tr)
	f.at(time.Minute)
	if next := f.evaluate(tr); next != time.Minute {
		t.Errorf("next = %s, want at once", next)
	}
	f.evaluate(tr)
	want := []string{"heartbeat.missed hb seen=never by=1m0s", "heartbeat.recovered hb seen=1m0s by=1m0s"}
	if diff := cmp.Diff(want, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestHeartbeatMaxKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := New(map[string]*config.Heartbeat{"k": heartbeat(t, "k", "x.y", "{{ .event.subject }}", time.Minute, 0)},
		Options{Emitter: f.rec, State: f.state, Now: f.clock.Now, MaxKeys: 2})
	for _, s := range []string{"a", "b", "c"} {
		f.beat(tr, "x.y", s)
	}
	f.at(time.Minute)
	f.evaluate(tr)
	if diff := cmp.Diff([]string{"heartbeat.missed k/a seen=0s by=1m0s", "heartbeat.missed k/b seen=0s by=1m0s"}, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// TestTrackerLoop runs the real goroutine: a beat during an outage wakes
// it.
func TestTrackerLoop(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.start(heartbeat(t, "hb", "x.y", "", time.Minute, 0))
	tr.Start()
	defer tr.Stop()
	f.at(time.Minute)
	tr.Wake()
	sourcetest.Eventually(t, "missed", func() bool { return len(f.rec.Events()) == 1 })
	f.at(2 * time.Minute)
	f.beat(tr, "x.y", "")
	sourcetest.Eventually(t, "recovered", func() bool { return len(f.rec.Events()) == 2 })
}

func BenchmarkObserveOtherType(b *testing.B) {
	f := &fixture{clock: sourcetest.NewClock(t0), rec: &sourcetest.Recorder{}, state: &sourcetest.State{}}
	f.emit = f.rec
	tr := New(map[string]*config.Heartbeat{"hb": {Name: "hb", Type: "x.y", Interval: time.Minute}}, Options{Emitter: f.rec, State: f.state})
	ev := &herald.Event{Type: "order.paid"}
	for b.Loop() {
		tr.Observe(ev)
	}
}

func BenchmarkObserveBeat(b *testing.B) {
	tr := New(map[string]*config.Heartbeat{"hb": {Name: "hb", Type: "x.y", Interval: time.Minute}}, Options{Emitter: &sourcetest.Recorder{}, State: &sourcetest.State{}})
	ev := &herald.Event{Type: "x.y"}
	for b.Loop() {
		tr.Observe(ev)
	}
}
