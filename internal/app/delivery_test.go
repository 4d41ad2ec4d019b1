package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// stepState returns the run's state for a step.
func stepState(t *testing.T, h *harness, eventID, step string) map[string]any {
	t.Helper()
	v := h.event(eventID)
	if len(v.Runs) != 1 {
		t.Fatalf("runs = %d", len(v.Runs))
	}
	var st struct {
		Steps map[string]map[string]any `json:"steps"`
	}
	json.Unmarshal(v.Runs[0].State, &st)
	return st.Steps[step]
}

// TestFailoverStep: a notify step with channels: moves to the next
// channel when a message dies, and when one has not been sent within its
// deadline; the ledger and the run's state show which channel delivered.
func TestFailoverStep(t *testing.T) {
	t.Parallel()
	rejects := newReceiver(t, answer{status: 400, body: `{"error":"unknown chat"}`})
	stuck := newReceiver(t, answer{status: 503, header: map[string]string{"Retry-After": "3600"}})
	good := newReceiver(t, answer{status: 200, body: `{"id":"sms-1"}`})
	clk := newClock()
	cfg := fmt.Sprintf(`
network: {allow_private: [127.0.0.0/8]}
delivery: {max_attempts: 5}
channels:
  wecom: {type: webhook, url: "%s/wecom"}
  slow: {type: webhook, url: "%s/slow", circuit: false}
  sms: {type: webhook, url: "%s/sms"}
rules:
  - name: page-permanent
    on: page.a
    steps:
      - name: page
        notify: {channels: [wecom, sms], within: 10m, text: "disk full"}
      - name: after
        notify: {channel: sms, text: "after {{ .steps.page.channel }}"}
  - name: page-deadline
    on: page.b
    steps:
      - name: page
        notify: {channels: [slow, sms], within: 2m, text: "disk full"}
`, rejects.srv.URL, stuck.srv.URL, good.srv.URL)
	h := startAt(t, writeConfig(t, cfg), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)

	// A permanent failure on the first channel: the second gets it at once.
	id := h.emit(`{"type":"page.a"}`)
	clk.settle(h)
	st := stepState(t, h, id, "page")
	if st["ok"] != true || st["channel"] != "sms" {
		t.Fatalf("step state = %v, want ok on sms", st)
	}
	v := h.event(id)
	byChannel := map[string]herald.MessageStatus{}
	for _, m := range v.Messages {
		byChannel[m.Channel+"/"+m.StepName] = m.Status
	}
	if byChannel["wecom/page"] != herald.MessageDead || byChannel["sms/page"] != herald.MessageSent || byChannel["sms/after"] != herald.MessageSent {
		t.Errorf("messages = %v", byChannel)
	}
	if v.Runs[0].Status != herald.RunCompleted {
		t.Errorf("run %s, want completed (the step after the failover ran)", v.Runs[0].Status)
	}
	if n := good.count(); n != 2 || !strings.Contains(string(good.get(1).body), "after sms") {
		t.Errorf("sms receiver got %d requests", n)
	}

	// A channel that keeps answering 503 with a long Retry-After: after
	// within, the step moves on and the stuck message is superseded.
	id = h.emit(`{"type":"page.b"}`)
	clk.settle(h)
	if st := stepState(t, h, id, "page"); st["channel"] != "slow" || st["ok"] != nil {
		t.Fatalf("before the deadline: %v", st)
	}
	clk.advance(h, 2*time.Minute+time.Second)
	clk.settle(h)
	st = stepState(t, h, id, "page")
	if st["ok"] != true || st["channel"] != "sms" {
		t.Fatalf("after the deadline: %v, want ok on sms", st)
	}
	for _, m := range h.event(id).Messages {
		if m.Channel == "slow" && m.Status != herald.MessageSuppressed {
			t.Errorf("the stuck message is %s, want suppressed (superseded)", m.Status)
		}
	}
}

// TestFailoverChannel: a channel made of providers delivers through the
// second when the first is down, names it in the ledger, and stops trying
// the first once its circuit opens. One delivery at a time, so that the
// number of calls to the primary does not depend on scheduling.
func TestFailoverChannel(t *testing.T) {
	t.Parallel()
	down := newReceiver(t, answer{status: 502})
	backup := newReceiver(t, answer{status: 200, body: `{"id":"b-1"}`})
	h := start(t, writeConfig(t, fmt.Sprintf(`
network: {allow_private: [127.0.0.0/8]}
channels:
  primary: {type: webhook, url: "%s/p"}
  backup: {type: webhook, url: "%s/b"}
  sms: {type: failover, providers: [primary, backup], failures: 3, cooldown: 1h, concurrency: 1}
rules:
  - name: r
    on: alert
    steps:
      - notify: {channel: sms, text: "alert {{ .event.data.n }}"}
`, down.srv.URL, backup.srv.URL)), nil)
	var ids []string
	for i := range 6 {
		ids = append(ids, h.emit(fmt.Sprintf(`{"type":"alert","data":{"n":%d}}`, i)))
	}
	for _, id := range ids {
		m := h.waitMessage(id, herald.MessageSent)
		if len(m.AttemptList) != 1 || !strings.HasPrefix(m.AttemptList[0].ProviderID, "backup:") {
			t.Errorf("attempts %+v: want one, delivered by backup", m.AttemptList)
		}
	}
	if n := down.count(); n != 3 {
		t.Errorf("the failing primary was tried %d times, want 3 (then its circuit opened)", n)
	}
	var chans struct {
		Channels []struct {
			Channel   string                    `json:"channel"`
			State     string                    `json:"state"`
			Providers map[string]map[string]any `json:"providers"`
		} `json:"channels"`
	}
	if code := h.do("GET", "/v1/channels", "", nil, nil, &chans); code != http.StatusOK {
		t.Fatalf("GET /v1/channels = %d", code)
	}
	found := false
	for _, c := range chans.Channels {
		if c.Channel == "sms" {
			found = true
			if c.Providers["primary"]["state"] != "open" || c.Providers["backup"]["state"] != "closed" {
				t.Errorf("sms providers = %v", c.Providers)
			}
		}
	}
	if !found {
		t.Errorf("GET /v1/channels lacks sms: %+v", chans)
	}
}

// TestCircuitBreaker: a channel failing continuously is paused — its
// messages wait without using attempts — then probed and resumed.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, answer{status: 503}, answer{status: 503}, answer{status: 503}, answer{status: 200})
	clk := newClock()
	h := startAt(t, writeConfig(t, fmt.Sprintf(`
network: {allow_private: [127.0.0.0/8]}
delivery: {max_attempts: 10, backoff: {initial: 1s, max: 1s}}
channels:
  hook: {type: webhook, url: "%s/h", circuit: {failures: 3, cooldown: 1m}}
rules:
  - name: r
    on: alert
    steps:
      - notify: {channel: hook, text: "x"}
`, rcv.srv.URL)), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)
	id := h.emit(`{"type":"alert"}`)
	for range 3 {
		clk.advance(h, 2*time.Second)
	}
	clk.settle(h)
	if n := rcv.count(); n != 3 {
		t.Fatalf("requests = %d, want 3 before the circuit opens", n)
	}
	var metrics string
	metricsText := func() string {
		resp, err := http.Get("http://" + h.app.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		ioCopy(&b, resp)
		return b.String()
	}
	metrics = metricsText()
	if !strings.Contains(metrics, `herald_channel_circuit_state{channel="hook"} 2`) {
		t.Errorf("metrics do not show the open circuit")
	}
	// While open, more events wait; nothing is sent and no attempt used.
	id2 := h.emit(`{"type":"alert"}`)
	clk.advance(h, 30*time.Second)
	clk.settle(h)
	if n := rcv.count(); n != 3 {
		t.Errorf("requests while open = %d, want still 3", n)
	}
	v := h.event(id2)
	if len(v.Messages) != 1 || len(v.Messages[0].AttemptList) != 0 || v.Messages[0].Status != herald.MessagePending {
		t.Errorf("a message sent to an open circuit: %+v", v.Messages)
	}
	// After the cooldown one probe goes, succeeds, and the rest follow.
	clk.advance(h, 31*time.Second)
	clk.advance(h, 10*time.Second)
	clk.settle(h)
	for _, eid := range []string{id, id2} {
		m := h.event(eid).Messages[0]
		if m.Status != herald.MessageSent {
			t.Errorf("message of %s: %s after the circuit closed", eid, m.Status)
		}
	}
	if !strings.Contains(metricsText(), `herald_channel_circuit_state{channel="hook"} 0`) {
		t.Errorf("metrics do not show the closed circuit")
	}
}

// TestPacing: messages to one destination are spaced by the channel's
// pace, and none fails for it (the gap is a lower bound, which a slow
// machine only widens).
func TestPacing(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	h := start(t, writeConfig(t, fmt.Sprintf(`
network: {allow_private: [127.0.0.0/8]}
channels:
  chat: {type: webhook, url: "%s/c", pace: 300ms}
rules:
  - name: r
    on: chat
    steps:
      - notify: {channel: chat, to: ["{{ .event.data.to }}"], text: "m"}
`, rcv.srv.URL)), nil)
	for i := range 4 {
		h.emit(fmt.Sprintf(`{"type":"chat","data":{"to":"room-%d"}}`, i%2))
	}
	eventually(t, "4 deliveries", func() bool { return rcv.count() == 4 })
	byRoom := map[string][]time.Time{}
	for i := range 4 {
		r := rcv.get(i)
		var body struct {
			To string `json:"to"`
		}
		json.Unmarshal(r.body, &body)
		byRoom[body.To] = append(byRoom[body.To], r.at)
	}
	for room, at := range byRoom {
		if len(at) == 2 && at[1].Sub(at[0]) < 250*time.Millisecond {
			t.Errorf("%s: two messages %v apart, want paced 300ms", room, at[1].Sub(at[0]))
		}
	}
	// The last attempts are recorded just after the receiver answered.
	eventually(t, "every paced message recorded as sent", func() bool {
		msgs, _, err := h.app.Store().ListMessages(context.Background(), store.MessageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Status != herald.MessageSent {
				return false
			}
		}
		return len(msgs) == 4
	})
}

// TestPacingLong: a pace longer than a worker sleeps postpones the later
// messages to their slots (no attempt used) and sends every one of them,
// spaced by the pace.
func TestPacingLong(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	clk := newClock()
	h := startAt(t, writeConfig(t, fmt.Sprintf(`
network: {allow_private: [127.0.0.0/8]}
channels:
  robot: {type: webhook, url: "%s/r", pace: 3s}
rules:
  - name: r
    on: chat
    steps:
      - notify: {channel: robot, text: "m {{ .event.data.n }}"}
`, rcv.srv.URL)), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)
	for i := range 3 {
		h.emit(fmt.Sprintf(`{"type":"chat","data":{"n":%d}}`, i))
	}
	clk.settle(h)
	if n := rcv.count(); n != 1 {
		t.Fatalf("sent %d at once, want 1 (the others paced)", n)
	}
	clk.advance(h, 3*time.Second)
	clk.settle(h)
	if n := rcv.count(); n != 2 {
		t.Fatalf("after one pace: %d sent, want 2", n)
	}
	clk.advance(h, 3*time.Second)
	clk.settle(h)
	if n := rcv.count(); n != 3 {
		t.Fatalf("after two paces: %d sent, want 3", n)
	}
	msgs, _, err := h.app.Store().ListMessages(context.Background(), store.MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Status != herald.MessageSent || m.Attempts != 1 {
			t.Errorf("paced message: %s after %d attempts, want sent after 1", m.Status, m.Attempts)
		}
	}
}
