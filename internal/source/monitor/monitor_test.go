package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/netguard"
	"github.com/herald-notify/herald/internal/source/sourcetest"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// service is an HTTP endpoint whose answers the test sets.
type service struct {
	*httptest.Server
	mu      sync.Mutex
	status  int
	body    string
	hang    bool
	headers []http.Header
}

func newService(t *testing.T) *service {
	s := &service{status: 200, body: "ok"}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		status, body, hang := s.status, s.body, s.hang
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		if hang {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *service) answer(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.hang = status, body, false
}

func (s *service) hangs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = true
}

type fixture struct {
	t     *testing.T
	clock *sourcetest.Clock
	rec   *sourcetest.Recorder
	state *sourcetest.State
	guard *netguard.Guard
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, clock: sourcetest.NewClock(t0), rec: &sourcetest.Recorder{}, state: &sourcetest.State{},
		guard: netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})}
}

func monitorConfig(url string, failures, successes int) *config.Monitor {
	return &config.Monitor{Name: "api", URL: url, Method: http.MethodGet, Interval: 30 * time.Second,
		Timeout: 10 * time.Second, Failures: failures, Successes: successes}
}

// start builds the monitor's check as a server start would.
func (f *fixture) start(cfg *config.Monitor) *check {
	m := New(map[string]*config.Monitor{cfg.Name: cfg}, Options{Emitter: f.rec, State: f.state, Now: f.clock.Now, Guard: f.guard})
	f.t.Cleanup(m.Stop)
	return m.checks[0]
}

// checkNow moves the clock to the check's next due time and runs it.
func (f *fixture) checkNow(c *check) {
	f.t.Helper()
	if !c.last.IsZero() {
		f.clock.Set(c.last.Add(c.cfg.Interval))
	}
	before := c.last
	c.evaluate(context.Background())
	if !c.last.After(before) {
		f.t.Fatalf("no check ran at %s", f.clock.Now())
	}
}

// log describes the recorded events as "type since status error", with
// since relative to t0.
func (f *fixture) log() []string {
	var out []string
	for _, ev := range f.rec.Events() {
		var d struct {
			Since  time.Time `json:"since"`
			Status *int      `json:"status"`
			Error  string    `json:"error"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			f.t.Fatal(err)
		}
		status := "-"
		if d.Status != nil {
			status = fmt.Sprint(*d.Status)
		}
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s %s", ev.Type, d.Since.Sub(t0), status, d.Error)))
	}
	return out
}

// TestFlapping drives a service through failures and recoveries shorter
// and longer than the monitor's thresholds (3 failures, 2 successes).
func TestFlapping(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	f := newFixture(t)
	c := f.start(monitorConfig(svc.URL+"/health", 3, 2))
	// Every check is 30s after the one before.
	steps := []int{200, 500, 500, 200, 500, 500, 500, 500, 200, 503, 200, 200, 200, 500}
	for _, status := range steps {
		svc.answer(status, "")
		f.checkNow(c)
	}
	want := []string{
		"monitor.down 2m0s 500 status 500, want 2xx", // checks 5–7 (2m–3m) fail
		"monitor.up 5m0s 200",                        // checks 11–12 (5m, 5m30s) pass
	}
	if diff := cmp.Diff(want, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	down := f.rec.Events()[0]
	if down.Source != "herald:monitor/api" || down.Subject != "api" || down.SpecID != fmt.Sprintf("api/down/%d", t0.Add(2*time.Minute).UnixMilli()) {
		t.Errorf("down event = %+v", down)
	}
	var d map[string]any
	json.Unmarshal(down.Data, &d)
	if d["name"] != "api" || d["url"] != svc.URL+"/health" {
		t.Errorf("down data = %v", d)
	}
	if _, ok := d["latency_ms"].(float64); !ok {
		t.Errorf("latency_ms = %v", d["latency_ms"])
	}
}

// TestFirstStartAndRestart: a new monitor that is up says nothing; one
// that is down says so; a restart does not announce the state again.
func TestFirstStartAndRestart(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	f := newFixture(t)
	cfg := monitorConfig(svc.URL, 2, 1)
	c := f.start(cfg)
	f.checkNow(c) // up: not announced
	if got := f.state.Snapshot()["monitor/api"]; !strings.Contains(string(got), `"state":"up"`) {
		t.Errorf("state = %s", got)
	}
	svc.answer(502, "")
	f.checkNow(c)
	f.checkNow(c) // down
	// Restart: still failing, nothing new.
	f.clock.Advance(time.Hour)
	c = f.start(cfg)
	f.checkNow(c)
	f.checkNow(c)
	f.checkNow(c)
	svc.answer(200, "")
	f.checkNow(c) // up
	want := []string{"monitor.down 30s 502 status 502, want 2xx", "monitor.up 1h2m30s 200"}
	if diff := cmp.Diff(want, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}

	// A monitor that is down from its first check says so.
	f2 := newFixture(t)
	svc2 := newService(t)
	svc2.answer(500, "")
	f2.checkNow(f2.start(monitorConfig(svc2.URL, 1, 1)))
	if diff := cmp.Diff([]string{"monitor.down 0s 500 status 500, want 2xx"}, f2.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// TestProbe checks what counts as a failed check, and why.
func TestProbe(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	tests := []struct {
		name     string
		cfg      func(*config.Monitor)
		status   int
		body     string
		hang     bool
		guard    *netguard.Guard
		wantCode int
		wantErr  string
	}{
		{name: "2xx by default", status: 204, wantCode: 204},
		{name: "3xx is not followed", status: 301, wantCode: 301, wantErr: "status 301, want 2xx"},
		{name: "listed statuses", cfg: func(m *config.Monitor) { m.Status = []int{200, 401} }, status: 401, wantCode: 401},
		{name: "unlisted status", cfg: func(m *config.Monitor) { m.Status = []int{200, 401} }, status: 204, wantCode: 204, wantErr: "status 204, want 200 or 401"},
		{name: "body contains", cfg: func(m *config.Monitor) { m.BodyContains = `"db":"ok"` }, status: 200, body: `{"db":"ok"}`, wantCode: 200},
		{name: "body lacks", cfg: func(m *config.Monitor) { m.BodyContains = `"db":"ok"` }, status: 200, body: `{"db":"down"}`, wantCode: 200, wantErr: `the body does not contain "\"db\":\"ok\""`},
		{name: "timeout", cfg: func(m *config.Monitor) { m.Timeout = 20 * time.Millisecond }, hang: true, wantErr: "no answer within 20ms"},
		{name: "private address refused", guard: netguard.New(nil), status: 200,
			wantErr: "netguard: refusing to connect to non-public address 127.0.0.1 (allow it in network.allow_private)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			if tt.guard != nil {
				f.guard = tt.guard
			}
			cfg := monitorConfig(svc.URL, 1, 1)
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			c := f.start(cfg)
			// Each subtest has its own answer: serve it from its own
			// server, so parallel subtests do not interfere.
			own := newService(t)
			own.answer(tt.status, tt.body)
			if tt.hang {
				own.hangs()
			}
			c.cfg.URL = own.URL
			r := c.probe(context.Background())
			if r.status != tt.wantCode || r.err != tt.wantErr {
				t.Errorf("probe = status %d, err %q; want %d, %q", r.status, r.err, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	f := newFixture(t)
	cfg := monitorConfig(svc.URL, 1, 1)
	cfg.Headers = map[string]channel.Secret{"Authorization": "Bearer t0ken"}
	f.checkNow(f.start(cfg))
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if h := svc.headers[0]; h.Get("Authorization") != "Bearer t0ken" || h.Get("User-Agent") != userAgent {
		t.Errorf("request headers = %v", h)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"https://user:pass@api.example.com:8443/health?token=s3cret#x": "https://api.example.com:8443/health",
		"http://example.com":   "http://example.com",
		"http://[::1]:80/a/b?": "http://[::1]:80/a/b",
	}
	for in, want := range tests {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEmitFails: a state change that cannot be emitted is not recorded;
// the next check announces it.
func TestEmitFails(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	svc.answer(500, "")
	f := newFixture(t)
	c := f.start(monitorConfig(svc.URL, 1, 1))
	f.rec.Fail(true)
	f.checkNow(c)
	if len(f.state.Snapshot()) != 0 {
		t.Errorf("state recorded although nothing was emitted")
	}
	f.rec.Fail(false)
	f.checkNow(c)
	if diff := cmp.Diff([]string{"monitor.down 0s 500 status 500, want 2xx"}, f.log()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// TestMonitorsLoop runs the real goroutines with an injected clock.
func TestMonitorsLoop(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	f := newFixture(t)
	m := New(map[string]*config.Monitor{"api": monitorConfig(svc.URL, 1, 1)},
		Options{Emitter: f.rec, State: f.state, Now: f.clock.Now, Guard: f.guard})
	m.Start()
	defer m.Stop()
	sourcetest.Eventually(t, "first check", func() bool { return len(f.state.Snapshot()) == 1 })
	svc.answer(500, "")
	f.clock.Advance(30 * time.Second)
	m.Wake()
	sourcetest.Eventually(t, "monitor.down", func() bool { return len(f.rec.Events()) == 1 })
	svc.hangs()
	f.clock.Advance(30 * time.Second)
	m.Wake()
	m.Stop() // cancels the hanging check
	m.Stop()
}
