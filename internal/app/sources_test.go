package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"

	"github.com/herald-notify/herald/internal/app"
	"github.com/herald-notify/herald/internal/herald"
)

// health is a monitored service whose status the test sets.
type health struct {
	srv    *httptest.Server
	status atomic.Int64
	checks atomic.Int64
}

func newHealth(t *testing.T) *health {
	h := &health{}
	h.status.Store(http.StatusOK)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.checks.Add(1)
		w.WriteHeader(int(h.status.Load()))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func sourcesConfig(recv, svc string) string {
	return fmt.Sprintf(`
network: {allow_private: [127.0.0.1/32]}
channels:
  hook: {type: webhook, url: "%s/alerts"}
monitors:
  api: {url: "%s/health", interval: 1s, timeout: 1s, failures: 2}
heartbeats:
  worker: {type: worker.beat, interval: 1s}
rules:
  - name: alert
    on: [monitor.*, heartbeat.*]
    steps:
      - notify: {channel: hook, text: "{{ .event.subject }}"}
`, recv, svc)
}

// alerts returns the events the alert rule delivered, in order, as
// "type subject", and their event ids.
func alerts(r *receiver) (lines, ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.requests {
		var env struct {
			EventID   string `json:"event_id"`
			EventType string `json:"event_type"`
			Text      string `json:"text"`
		}
		json.Unmarshal(q.body, &env)
		lines = append(lines, env.EventType+" "+env.Text)
		ids = append(ids, env.EventID)
	}
	return lines, ids
}

func countOf(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if l == s {
			n++
		}
	}
	return n
}

// TestSources runs a whole Herald with a monitor against a service that
// goes down and up, and a heartbeat fed through the API; then restarts it
// on the same database, where the monitor's state is not announced again.
func TestSources(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t)
	svc := newHealth(t)
	cfg := writeConfig(t, sourcesConfig(recv.srv.URL, svc.srv.URL))
	db := filepath.Join(t.TempDir(), "herald.db")
	h := startAt(t, cfg, nil, db, nil)

	has := func(s string, n int) func() bool {
		return func() bool { lines, _ := alerts(recv); return countOf(lines, s) >= n }
	}
	// The service is up at the start: not announced.
	eventually(t, "the monitor's first check", func() bool {
		v, err := h.app.Store().GetState(context.Background(), "monitor/api")
		return err == nil && len(v) > 0
	})
	svc.status.Store(http.StatusServiceUnavailable)
	eventually(t, "monitor.down delivered", has("monitor.down api", 1))
	svc.status.Store(http.StatusOK)
	eventually(t, "monitor.up delivered", has("monitor.up api", 1))

	// Nothing beats: the heartbeat is missed; a beat through the API
	// recovers it.
	eventually(t, "heartbeat.missed delivered", has("heartbeat.missed worker", 1))
	h.emit(`{"type":"worker.beat","subject":"w1"}`)
	eventually(t, "heartbeat.recovered delivered", has("heartbeat.recovered worker", 1))

	lines, ids := alerts(recv)
	for i, line := range lines {
		v := h.event(ids[i])
		wantSource := "herald:monitor/api"
		if line[:9] == "heartbeat" {
			wantSource = "herald:heartbeat/worker"
		}
		if v.Event.Source != wantSource || len(v.Runs) != 1 || v.Runs[0].Rule != "alert" {
			t.Errorf("%s: event %+v with runs %+v", line, v.Event, v.Runs)
		}
		if v.Runs[0].Status != herald.RunCompleted {
			t.Errorf("%s: run %s", line, v.Runs[0].Status)
		}
	}
	if countOf(lines, "monitor.down api") != 1 || countOf(lines, "monitor.up api") != 1 {
		t.Errorf("monitor events announced more than once: %q", lines)
	}

	// Restart while the service is down: one monitor.down, then one
	// monitor.up when it is back, and nothing again for the outage
	// before the restart.
	svc.status.Store(http.StatusInternalServerError)
	eventually(t, "second monitor.down delivered", has("monitor.down api", 2))
	h.stop()
	h = startAt(t, cfg, nil, db, nil)
	// A check runs only after the one before it has emitted what it
	// had to: after three, two failed checks have passed without news.
	before := svc.checks.Load()
	eventually(t, "three checks after the restart", func() bool { return svc.checks.Load() >= before+3 })
	svc.status.Store(http.StatusOK)
	eventually(t, "monitor.up after the restart", has("monitor.up api", 2))
	lines, _ = alerts(recv)
	if n := countOf(lines, "monitor.down api"); n != 2 {
		t.Errorf("%d monitor.down events, want 2 (the restart must not announce again): %q", n, lines)
	}
}

// TestSourcesDocs loads every configuration in docs/sources.md and the
// ops example with the real channel types, as `herald check` does.
func TestSourcesDocs(t *testing.T) {
	t.Parallel()
	env := func(name string) (string, bool) {
		switch name {
		case "OPS_API_URL":
			return "http://127.0.0.1:9000/healthz", true
		case "OPS_CHAT_URL", "OPS_REMEDIATION_URL":
			return "http://127.0.0.1:9001", true
		}
		return "t0ken", true
	}
	doc, err := os.ReadFile("../../docs/sources.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 4 {
		t.Fatalf("found %d yaml blocks", len(blocks))
	}
	for i, b := range blocks {
		if _, err := app.LoadConfig(writeConfig(t, b[1]), env); err != nil {
			t.Errorf("docs/sources.md block %d does not load:\n%v", i+1, err)
		}
	}
	cfg, err := app.LoadConfig("../../examples/ops/herald.yaml", env)
	if err != nil {
		t.Fatalf("examples/ops does not load:\n%v", err)
	}
	if len(cfg.Monitors) != 1 || len(cfg.Heartbeats) != 1 || len(cfg.Schedules) != 1 {
		t.Errorf("examples/ops: %d monitors, %d heartbeats, %d schedules", len(cfg.Monitors), len(cfg.Heartbeats), len(cfg.Schedules))
	}
}

// TestSourcesReload adds a schedule by reloading the configuration.
func TestSourcesReload(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t)
	base := fmt.Sprintf(`
network: {allow_private: [127.0.0.1/32]}
channels:
  hook: {type: webhook, url: "%s/alerts"}
rules:
  - name: tick
    on: tick
    steps:
      - notify: {channel: hook, text: "{{ .event.subject }}"}
`, recv.srv.URL)
	path := writeConfig(t, base)
	h := start(t, path, nil)
	if err := os.WriteFile(path, []byte(base+"schedules:\n  every-second: {cron: '@every 1s', emit: {type: tick, subject: s}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.app.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a tick of the new schedule delivered", func() bool {
		lines, _ := alerts(recv)
		return countOf(lines, "tick s") >= 1
	})
	_, ids := alerts(recv)
	if v := h.event(ids[0]); v.Event.Source != "herald:schedule/every-second" {
		t.Errorf("event source = %q", v.Event.Source)
	}
}
