package app_test

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// retryConfig is a configuration with one webhook channel per receiver
// and fast backoff, so retries happen within the test.
func retryConfig(urls map[string]string, extra string) string {
	cfg := `
network:
  allow_private: [127.0.0.1/32]
delivery:
  max_attempts: 3
  backoff: {initial: 20ms, max: 40ms}
  timeout: 2s
channels:
`
	for name, u := range urls {
		cfg += fmt.Sprintf("  %s:\n    type: webhook\n    url: %s\n", name, u)
	}
	cfg += extra + "\nrules:\n"
	for name := range urls {
		cfg += fmt.Sprintf("  - name: to-%s\n    on: test.%s\n    steps:\n      - notify: {channel: %s, text: \"hello {{ .event.data.n }}\"}\n", name, name, name)
	}
	return cfg
}

// waitMessage waits until the event's single message reaches a final
// status, and returns it with its attempts.
func (h *harness) waitMessage(eventID string, final herald.MessageStatus) *store.MessageView {
	h.t.Helper()
	var m *store.MessageView
	eventually(h.t, "message "+string(final), func() bool {
		v := h.event(eventID)
		if len(v.Messages) != 1 {
			return false
		}
		m = v.Messages[0]
		return m.Status == final
	})
	return m
}

func TestRetries(t *testing.T) {
	t.Parallel()
	flaky := newReceiver(t, answer{status: 500, body: "oops"}, answer{status: 200})
	limited := newReceiver(t, answer{status: 429, header: map[string]string{"Retry-After": "1"}}, answer{status: 204})
	bad := newReceiver(t, answer{status: 400, body: `{"error":"bad payload"}`})
	// A port nothing listens on: connection refused on every attempt.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	h := start(t, writeConfig(t, retryConfig(map[string]string{
		"flaky": flaky.srv.URL, "limited": limited.srv.URL, "bad": bad.srv.URL, "down": closed,
	}, "")), nil)

	t.Run("500 then 200", func(t *testing.T) {
		id := h.emit(`{"type":"test.flaky","data":{"n":1}}`)
		m := h.waitMessage(id, herald.MessageSent)
		if len(m.AttemptList) != 2 || m.AttemptList[0].Outcome != herald.OutcomeRetry || m.AttemptList[0].StatusCode != 500 ||
			m.AttemptList[1].Outcome != herald.OutcomeSent {
			t.Errorf("attempts = %+v %+v", m.AttemptList[0], m.AttemptList[len(m.AttemptList)-1])
		}
		if a, b := flaky.get(0), flaky.get(1); a.header.Get("webhook-id") != b.header.Get("webhook-id") || a.header.Get("webhook-id") != m.ID {
			t.Errorf("webhook-id differs between attempts: %q %q (message %s)", a.header.Get("webhook-id"), b.header.Get("webhook-id"), m.ID)
		}
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		id := h.emit(`{"type":"test.limited","data":{"n":2}}`)
		m := h.waitMessage(id, herald.MessageSent)
		if len(m.AttemptList) != 2 || m.AttemptList[0].StatusCode != 429 {
			t.Fatalf("attempts = %d, first status %d", len(m.AttemptList), m.AttemptList[0].StatusCode)
		}
		// The second attempt waited for Retry-After (1s), not the 20ms backoff.
		if gap := limited.get(1).at.Sub(limited.get(0).at); gap < 900*time.Millisecond {
			t.Errorf("retry came %v after the 429, want at least Retry-After: 1s", gap)
		}
	})
	var deadID string
	t.Run("400 is permanent", func(t *testing.T) {
		id := h.emit(`{"type":"test.bad","data":{"n":3}}`)
		m := h.waitMessage(id, herald.MessageDead)
		if len(m.AttemptList) != 1 || m.AttemptList[0].Outcome != herald.OutcomePermanent || m.AttemptList[0].StatusCode != 400 {
			t.Errorf("attempts = %+v", m.AttemptList)
		}
		if m.AttemptList[0].Response != `{"error":"bad payload"}` {
			t.Errorf("response excerpt = %q", m.AttemptList[0].Response)
		}
		deadID = m.ID
	})
	t.Run("unreachable retries then dies", func(t *testing.T) {
		id := h.emit(`{"type":"test.down","data":{"n":4}}`)
		m := h.waitMessage(id, herald.MessageDead)
		if len(m.AttemptList) != 3 || m.AttemptList[2].Outcome != herald.OutcomeExhausted {
			t.Errorf("attempts = %d, last %+v", len(m.AttemptList), m.AttemptList[len(m.AttemptList)-1])
		}
	})
	t.Run("dead message retried succeeds", func(t *testing.T) {
		if deadID == "" {
			t.Skip("needs the 400 case")
		}
		bad.mu.Lock()
		bad.answers = []answer{{status: 400}, {status: 200}}
		bad.mu.Unlock()
		var got herald.Message
		if code := h.do("POST", "/v1/messages/"+deadID+"/retry", "", nil, nil, &got); code != http.StatusAccepted {
			t.Fatalf("retry = %d", code)
		}
		eventually(t, "retried message sent", func() bool {
			var m store.MessageView
			h.do("GET", "/v1/messages/"+deadID, "", nil, nil, &m)
			return m.Status == herald.MessageSent && len(m.AttemptList) == 2
		})
		var p struct{ Code string }
		if code := h.do("POST", "/v1/messages/"+deadID+"/retry", "", nil, nil, &p); code != http.StatusConflict || p.Code != herald.ECONFLICT {
			t.Errorf("retry of a sent message = %d %q, want 409 conflict", code, p.Code)
		}
	})
}

// TestSlowChannelDoesNotDelayAnother shows per-channel pools: a channel
// whose receiver hangs does not hold up deliveries on another.
func TestSlowChannelDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := newReceiver(t)
	slow.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	fast := newReceiver(t)
	h := start(t, writeConfig(t, retryConfig(map[string]string{"slow": slow.srv.URL, "fast": fast.srv.URL},
		"")+"\n"), nil)
	defer close(release)
	// Fill the slow channel's workers (default concurrency 16) and more.
	for i := range 40 {
		h.emit(fmt.Sprintf(`{"type":"test.slow","data":{"n":%d}}`, i))
	}
	id := h.emit(`{"type":"test.fast","data":{"n":1}}`)
	h.waitMessage(id, herald.MessageSent)
	if fast.count() != 1 {
		t.Errorf("fast receiver got %d requests", fast.count())
	}
}
