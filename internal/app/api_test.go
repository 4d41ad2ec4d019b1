package app_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/herald"
)

const apiConfig = `
server:
  max_body: 2KiB
  max_batch: 3
channels:
  console: {type: log}
rules:
  - name: all
    on: "**"
    steps:
      - notify: {channel: console, text: "{{ .event.type }}"}
`

type problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Detail string             `json:"detail"`
	Code   string             `json:"code"`
	Errors []herald.ItemError `json:"errors"`
}

// TestBadRequests checks that malformed input gets a problem detail that
// says exactly what is wrong, and that it stores nothing.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	h := start(t, writeConfig(t, apiConfig), nil)
	tests := []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		status                          int
		code                            string
		detail                          string // a substring of the detail
	}{
		{"malformed JSON", "POST", "/v1/events", "application/json", `{"type": "a",}`, nil, 400, herald.EINVALID, "malformed JSON at byte offset 14"},
		{"missing type", "POST", "/v1/events", "application/json", `{"data": {}}`, nil, 400, herald.EINVALID, `"type"`},
		{"structured without specversion", "POST", "/v1/events", "application/cloudevents+json", `{"type":"a","source":"s","id":"1"}`, nil, 400, herald.EINVALID, "specversion"},
		{"bad time", "POST", "/v1/events", "application/cloudevents+json", `{"specversion":"1.0","type":"a","source":"s","id":"1","time":"yesterday"}`, nil, 400, herald.EINVALID, `"time"`},
		{"unsupported content type", "POST", "/v1/events", "text/plain", `hello`, nil, 400, herald.EINVALID, "application/cloudevents+json"},
		{"body over limit", "POST", "/v1/events", "application/json", `{"type":"a","data":"` + strings.Repeat("x", 3000) + `"}`, nil, 413, herald.ETOOLARGE, "2048 bytes"},
		{"batch over limit", "POST", "/v1/events", "application/cloudevents-batch+json", `[` + strings.Repeat(`{"specversion":"1.0","type":"a","source":"s","id":"1"},`, 3) + `{"specversion":"1.0","type":"a","source":"s","id":"2"}]`, nil, 413, herald.ETOOLARGE, "3"},
		{"empty batch", "POST", "/v1/events", "application/cloudevents-batch+json", `[]`, nil, 400, herald.EINVALID, "empty"},
		{"long idempotency key", "POST", "/v1/events", "application/json", `{"type":"a"}`, map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}, 400, herald.EINVALID, "Idempotency-Key"},
		{"bad event id", "GET", "/v1/events/nope", "", "", nil, 400, herald.EINVALID, "not a Herald event id"},
		{"unknown event", "GET", "/v1/events/" + herald.NewID(), "", "", nil, 404, herald.ENOTFOUND, "not found"},
		{"bad status filter", "GET", "/v1/messages?status=lost", "", "", nil, 400, herald.EINVALID, "unknown status"},
		{"bad since", "GET", "/v1/messages?since=today", "", "", nil, 400, herald.EINVALID, "RFC 3339"},
		{"bad cursor", "GET", "/v1/messages?cursor=zzz", "", "", nil, 400, herald.EINVALID, "cursor"},
		{"unknown route", "GET", "/v2/things", "", "", nil, 404, herald.ENOTFOUND, "no route"},
		{"retry of an unknown message", "POST", "/v1/messages/" + herald.NewID() + "/retry", "", "", nil, 404, herald.ENOTFOUND, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p problem
			code := h.do(tc.method, tc.path, tc.ctype, []byte(tc.body), tc.header, &p)
			if code != tc.status || p.Status != tc.status || p.Code != tc.code || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("got %d %+v\nwant %d %s with detail containing %q", code, p, tc.status, tc.code, tc.detail)
			}
			if p.Type == "" || p.Title == "" {
				t.Errorf("problem lacks type or title: %+v", p)
			}
		})
	}
	// Nothing above was stored.
	var list struct{ Messages []herald.Message }
	h.do("GET", "/v1/messages", "", nil, nil, &list)
	if len(list.Messages) != 0 {
		t.Errorf("%d messages exist after only bad requests", len(list.Messages))
	}
}

func TestBatchAndIdempotency(t *testing.T) {
	t.Parallel()
	h := start(t, writeConfig(t, apiConfig), nil)
	var batch struct {
		Events []struct {
			ID        string
			Duplicate bool
			Runs      int
		}
	}
	body := `[{"specversion":"1.0","type":"a.b","source":"s","id":"1"},{"specversion":"1.0","type":"a.c","source":"s","id":"2"}]`
	if code := h.do("POST", "/v1/events", "application/cloudevents-batch+json", []byte(body), nil, &batch); code != 202 {
		t.Fatalf("batch = %d", code)
	}
	if len(batch.Events) != 2 || batch.Events[0].Runs != 1 || batch.Events[1].ID == batch.Events[0].ID {
		t.Fatalf("batch result %+v", batch)
	}
	// The same source+id again: the original id, nothing new.
	var again struct {
		ID        string
		Duplicate bool
	}
	one := `{"specversion":"1.0","type":"a.b","source":"s","id":"1"}`
	if code := h.do("POST", "/v1/events", "application/cloudevents+json", []byte(one), nil, &again); code != 200 || !again.Duplicate || again.ID != batch.Events[0].ID {
		t.Errorf("repeat = %d %+v, want 200 duplicate of %s", code, again, batch.Events[0].ID)
	}
	// Idempotency-Key: two short-form events (fresh ids) with one key.
	hdr := map[string]string{"Idempotency-Key": "order-42"}
	var first, second struct {
		ID        string
		Duplicate bool
	}
	h.do("POST", "/v1/events", "application/json", []byte(`{"type":"x"}`), hdr, &first)
	code := h.do("POST", "/v1/events", "application/json", []byte(`{"type":"x"}`), hdr, &second)
	if code != 200 || !second.Duplicate || second.ID != first.ID {
		t.Errorf("Idempotency-Key repeat = %d %+v, want duplicate of %s", code, second, first.ID)
	}
	// Binary mode.
	req := map[string]string{"ce-specversion": "1.0", "ce-type": "bin.ary", "ce-source": "/s", "ce-id": "b1"}
	var bin struct{ ID string }
	if code := h.do("POST", "/v1/events", "application/json", []byte(`{"k":1}`), req, &bin); code != 202 {
		t.Fatalf("binary mode = %d", code)
	}
	v := h.event(bin.ID)
	if v.Event.Type != "bin.ary" || string(v.Event.Data) != `{"k":1}` || v.Event.SpecID != "b1" {
		t.Errorf("binary event = %+v", v.Event)
	}
}

func TestAuthAndOperations(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, apiConfig)
	// Write a config with a token, then reload it with a broken one.
	cfg := strings.Replace(apiConfig, "server:\n", "server:\n  token: ${env:TOKEN}\n", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, path, map[string]string{"TOKEN": "s3cret"})
	var p problem
	if code := h.do("POST", "/v1/events", "application/json", []byte(`{"type":"a"}`), nil, &p); code != http.StatusUnauthorized || p.Code != herald.EUNAUTHORIZED {
		t.Errorf("no token = %d %+v", code, p)
	}
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	if code := h.do("POST", "/v1/events", "application/json", []byte(`{"type":"a"}`), auth, nil); code != 202 {
		t.Errorf("with token = %d", code)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code := h.do("GET", path, "", nil, nil, nil); code != 200 {
			t.Errorf("%s = %d", path, code)
		}
	}
	// The event's message is delivered in the background: poll /metrics.
	var metrics string
	eventually(t, "metrics of the delivery", func() bool {
		resp, err := http.Get(h.app.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b := new(strings.Builder)
		_, _ = ioCopy(b, resp)
		metrics = b.String()
		return strings.Contains(metrics, `herald_messages_total{channel="console",status="delivered"} 1`)
	})
	for _, want := range []string{"herald_events_accepted_total 1", "herald_queue_oldest_due_seconds", "herald_attempt_duration_seconds", "herald_delivery_latency_seconds"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// A broken configuration is rejected on reload; the old one stays.
	old := h.app.Config().Version
	if err := os.WriteFile(path, []byte("rules: [{name: x, on: a, steps: [{notify: {channel: nope}}]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := h.do("POST", "/-/reload", "", nil, auth, &p); code != 400 || !strings.Contains(p.Detail, `unknown channel "nope"`) {
		t.Errorf("reload of a broken config = %d %+v", code, p)
	}
	if h.app.Config().Version != old {
		t.Error("broken configuration replaced the running one")
	}
	// A good one is taken.
	if err := os.WriteFile(path, []byte(strings.Replace(cfg, "on: \"**\"", "on: \"a.**\"", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var ok struct{ Version string }
	if code := h.do("POST", "/-/reload", "", nil, auth, &ok); code != 200 || ok.Version == old || h.app.Config().Version != ok.Version {
		t.Errorf("reload = %d %+v", code, ok)
	}
}
