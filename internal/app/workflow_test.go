package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/herald"
)

// TestWorkflowFailures covers what fails visibly: a template with a
// missing field, an emit loop, a condition that skips a step, and a
// webhook step whose call dies (the run fails, and continues once the
// call is retried and succeeds).
func TestWorkflowFailures(t *testing.T) {
	t.Parallel()
	api := newReceiver(t, answer{status: 400, body: "nope"}, answer{status: 200, body: `{"ticket":"T-9"}`})
	cfg := fmt.Sprintf(`
network: {allow_private: [127.0.0.1/32]}
delivery: {max_attempts: 2, backoff: {initial: 10ms, max: 20ms}}
channels:
  console: {type: log}
rules:
  - name: greet
    on: user.created
    steps:
      - name: hello
        notify: {channel: console, text: "hello {{ .event.data.user.name }}"}
  - name: ping
    on: loop.ping
    steps:
      - emit: {type: loop.pong}
  - name: pong
    on: loop.pong
    steps:
      - emit: {type: loop.ping}
  - name: vip-only
    on: order.placed
    steps:
      - name: vip
        if: event.data.vip == true
        notify: {channel: console, text: "VIP order"}
      - name: everyone
        notify: {channel: console, text: "order {{ .event.data.id }}"}
  - name: open-ticket
    on: incident.opened
    steps:
      - name: ticket
        webhook:
          url: "%s/tickets"
          body: {title: "{{ .event.data.title }}"}
      - name: announce
        notify: {channel: console, text: "ticket {{ .steps.ticket.response.ticket }} opened"}
`, api.srv.URL)
	h := start(t, writeConfig(t, cfg), nil)

	t.Run("missing field makes the message dead, visibly", func(t *testing.T) {
		id := h.emit(`{"type":"user.created","data":{"user":{"email":"a@b"}}}`)
		m := h.waitMessage(id, herald.MessageDead)
		if !strings.Contains(m.Error, `render: template`) || !strings.Contains(m.Error, `"name"`) || len(m.AttemptList) != 0 {
			t.Errorf("message error %q with %d attempts", m.Error, len(m.AttemptList))
		}
	})
	t.Run("emit loop fails the run with the chain", func(t *testing.T) {
		id := h.emit(`{"type":"loop.ping"}`)
		var failed *herald.Run
		cur := id
		eventually(t, "the loop to be stopped", func() bool {
			for range 5 { // follow the chain: ping → pong → (ping refused)
				v := h.event(cur)
				if len(v.Runs) != 1 {
					return false
				}
				r := v.Runs[0]
				if r.Status == herald.RunFailed {
					failed = r
					return true
				}
				if r.Status != herald.RunCompleted {
					return false
				}
				next := stepEventID(r.State)
				if next == "" {
					return false
				}
				cur = next
			}
			return false
		})
		if !strings.Contains(failed.Error, "emit loop detected: loop.ping → loop.pong → loop.ping") {
			t.Errorf("run error = %q", failed.Error)
		}
	})
	t.Run("if skips a step", func(t *testing.T) {
		id := h.emit(`{"type":"order.placed","data":{"id":7,"vip":false}}`)
		eventually(t, "one message", func() bool {
			v := h.event(id)
			return len(v.Runs) == 1 && v.Runs[0].Status == herald.RunCompleted
		})
		v := h.event(id)
		if len(v.Messages) != 1 || v.Messages[0].StepName != "everyone" || !strings.Contains(string(v.Runs[0].State), `"vip":{"skipped":true}`) {
			t.Errorf("messages %d, state %s", len(v.Messages), v.Runs[0].State)
		}
	})
	t.Run("dead webhook step fails the run; a successful retry continues it", func(t *testing.T) {
		id := h.emit(`{"type":"incident.opened","data":{"title":"disk full"}}`)
		var msgID string
		eventually(t, "the run to fail", func() bool {
			v := h.event(id)
			if len(v.Runs) != 1 || v.Runs[0].Status != herald.RunFailed || len(v.Messages) != 1 {
				return false
			}
			msgID = v.Messages[0].ID
			return true
		})
		if r := h.event(id).Runs[0]; !strings.Contains(r.Error, "step ticket: webhook call failed") {
			t.Errorf("run error %q", r.Error)
		}
		if code := h.do("POST", "/v1/messages/"+msgID+"/retry", "", nil, nil, nil); code != http.StatusAccepted {
			t.Fatalf("retry = %d", code)
		}
		eventually(t, "the run to complete after the retry", func() bool {
			v := h.event(id)
			return len(v.Runs) == 1 && v.Runs[0].Status == herald.RunCompleted && len(v.Messages) == 2
		})
		v := h.event(id)
		if api.get(0).path != "/tickets" || !strings.Contains(string(api.get(0).body), `"title":"disk full"`) {
			t.Errorf("webhook request %s %s", api.get(0).path, api.get(0).body)
		}
		if !strings.Contains(string(v.Messages[1].Content), "ticket T-9 opened") {
			t.Errorf("announcement content %s", v.Messages[1].Content)
		}
	})
}

// stepEventID returns the event id an emit step recorded in a run state.
func stepEventID(state []byte) string {
	s := string(state)
	i := strings.Index(s, `"event_id":"`)
	if i < 0 {
		return ""
	}
	s = s[i+len(`"event_id":"`):]
	return s[:strings.IndexByte(s, '"')]
}
