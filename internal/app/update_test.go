package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/herald-notify/herald/internal/herald"
)

// TestRecoveryUpdatesTheAlert runs the whole path — event, rule with a
// correlation key, engine, store, Slack adapter — against a local server
// speaking Slack's Web API: the alert is posted with chat.postMessage,
// and the recovery, with the same correlation key, edits that message
// with chat.update (the provider id the first attempt stored).
func TestRecoveryUpdatesTheAlert(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls []string
	var bodies []map[string]any
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer xoxb-test-token-123" {
			w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
			return
		}
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(b, &body)
		mu.Lock()
		calls = append(calls, r.URL.Path)
		bodies = append(bodies, body)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/chat.postMessage":
			w.Write([]byte(`{"ok":true,"channel":"C0123","ts":"1700000000.000100","message":{"text":"x"}}`))
		case "/api/chat.update":
			w.Write([]byte(`{"ok":true,"channel":"C0123","ts":"1700000000.000100","text":"x"}`))
		default:
			w.WriteHeader(404)
		}
	}))
	defer slack.Close()
	h := start(t, writeConfig(t, fmt.Sprintf(`
network: {allow_private: [127.0.0.0/8]}
channels:
  ops:
    type: slack
    token: xoxb-test-token-123
    channel: C0123
    api_url: %s/api
    pace: 0
rules:
  - name: alerts
    on: "monitor.*"
    key: "{{ .event.subject }}"
    steps:
      - notify: {channel: ops, text: "{{ .event.subject }} is {{ .event.data.state }}"}
`, slack.URL)), nil)
	first := h.emit(`{"type":"monitor.down","subject":"api","data":{"state":"down"}}`)
	h.waitMessage(first, herald.MessageDelivered)
	second := h.emit(`{"type":"monitor.up","subject":"api","data":{"state":"up"}}`)
	m := h.waitMessage(second, herald.MessageDelivered)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] != "/api/chat.postMessage" || calls[1] != "/api/chat.update" {
		t.Fatalf("calls = %v, want postMessage then update", calls)
	}
	if bodies[1]["ts"] != "1700000000.000100" || bodies[1]["channel"] != "C0123" || bodies[1]["text"] != "api is up" {
		t.Errorf("chat.update body = %v", bodies[1])
	}
	if m.ProviderID == "" {
		t.Errorf("the update's provider id is not stored")
	}
}
