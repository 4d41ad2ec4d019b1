package config

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/herald-notify/herald/internal/channel"
)

func loadYAML(t *testing.T, files ...string) (*Config, error) {
	t.Helper()
	srcs := make([]Source, len(files))
	for i, f := range files {
		srcs[i] = Source{Path: string(rune('a'+i)) + ".yaml", Data: []byte(f)}
	}
	return LoadSources(srcs, testOptions())
}

func TestSchedules(t *testing.T) {
	t.Parallel()
	cfg, err := loadYAML(t, `
schedules:
  nightly:
    cron: "30 2 * * *"
    timezone: Europe/Berlin
    emit:
      type: report.due
      subject: sales
      data: {report: sales, days: 1, tags: [a, b]}
  every-5m:
    cron: "@every 5m"
    catch_up: false
    emit: {type: tick}
  seconds:
    cron: "*/10 * * * * *"
    catch_up: "true"
    emit: {type: tick.fast}
`)
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Expression string
		Zone       string
		CatchUp    bool
		Event      SourceEvent
		Line       int
	}
	got := map[string]view{}
	for name, s := range cfg.Schedules {
		if s.Name != name || s.Cron == nil {
			t.Errorf("schedule %q: Name %q, Cron %v", name, s.Name, s.Cron)
		}
		got[name] = view{s.Expression, s.Location.String(), s.CatchUp, s.Event, s.Pos.Line}
	}
	want := map[string]view{
		"nightly": {"30 2 * * *", "Europe/Berlin", true, SourceEvent{Type: "report.due", Subject: "sales",
			Data: []byte(`{"days":1,"report":"sales","tags":["a","b"]}`)}, 3},
		"every-5m": {"@every 5m", "UTC", false, SourceEvent{Type: "tick"}, 10},
		"seconds":  {"*/10 * * * * *", "UTC", true, SourceEvent{Type: "tick.fast"}, 14},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schedules mismatch (-want +got):\n%s", diff)
	}
	// Six fields put seconds first.
	from := time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	if next := cfg.Schedules["seconds"].Cron.Next(from); !next.Equal(from.Add(7 * time.Second)) {
		t.Errorf("*/10 seconds: next after %s = %s", from, next)
	}
}

func TestHeartbeatsAndMonitors(t *testing.T) {
	t.Parallel()
	cfg, err := loadYAML(t, `
network:
  allow_private: [127.0.0.1]
heartbeats:
  backup:
    type: backup.done
    key: "{{ .event.subject }}"
    interval: 1d
    grace: 1h
  cron:
    type: cron.ran
    interval: 5m
monitors:
  api:
    url: https://api.example.com/healthz
    method: HEAD
    headers: {Authorization: "Bearer ${env:HERALD_TOKEN}"}
    status: [200, 204]
    body_contains: ok
    interval: 30s
    timeout: 5s
    failures: 3
    successes: 2
  local:
    url: http://127.0.0.1:9000/
    interval: 2s
    status: 503
`)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Heartbeats["backup"]
	if b.Type != "backup.done" || b.Key == nil || b.Interval != 24*time.Hour || b.Grace != time.Hour {
		t.Errorf("backup heartbeat = %+v", b)
	}
	if c := cfg.Heartbeats["cron"]; c.Key != nil || c.Interval != 5*time.Minute || c.Grace != 0 {
		t.Errorf("cron heartbeat = %+v", c)
	}
	want := map[string]*Monitor{
		"api": {Name: "api", URL: "https://api.example.com/healthz", Method: http.MethodHead,
			Headers: map[string]channel.Secret{"Authorization": "Bearer tok-s3cret"},
			Status:  []int{200, 204}, BodyContains: "ok", Interval: 30 * time.Second, Timeout: 5 * time.Second,
			Failures: 3, Successes: 2},
		// The timeout defaults to 10s, but never past the interval.
		"local": {Name: "local", URL: "http://127.0.0.1:9000/", Method: http.MethodGet, Status: []int{503},
			Interval: 2 * time.Second, Timeout: 2 * time.Second, Failures: 1, Successes: 1},
	}
	if diff := cmp.Diff(want, cfg.Monitors, cmpopts.IgnoreFields(Monitor{}, "Pos"), cmpopts.IgnoreUnexported(Monitor{})); diff != "" {
		t.Errorf("monitors mismatch (-want +got):\n%s", diff)
	}
}

func TestSourceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{
			name: "duplicate across files",
			files: []string{
				"monitors:\n  api: {url: https://a.example.com}\n",
				"monitors:\n  api: {url: https://b.example.com}\n",
			},
			want: `b.yaml:2:3: monitors.api: monitor "api" is already declared at a.yaml:2:3`,
		},
		{
			name: "allow_private in another file",
			files: []string{
				"monitors:\n  db: {url: 'http://[fd00::1]:5432/'}\n",
				"network:\n  allow_private: [10.0.0.0/8]\n",
			},
			want: `a.yaml:2:13: monitors.db.url: fd00::1 is a private address, which outbound calls refuse: list it in network.allow_private (e.g. allow_private: [fd00::1/128])`,
		},
		{
			name:  "schedule is a list",
			files: []string{"schedules:\n  - cron: '@daily'\n"},
			want:  `a.yaml:2:3: schedules: want a mapping (key: value), got a list`,
		},
		{
			name:  "every not whole seconds",
			files: []string{"schedules:\n  x: {cron: '@every 1500ms', emit: {type: a}}\n"},
			want:  `a.yaml:2:13: schedules.x.cron: bad cron expression "@every 1500ms": @every needs whole seconds, at least 1s`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadYAML(t, tt.files...)
			if err == nil {
				t.Fatal("loaded")
			}
			if got := strings.TrimSpace(err.Error()); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
