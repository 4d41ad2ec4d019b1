package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

// pathCounter counts webhook deliveries by path and keeps their texts.
func (r *receiver) byPath(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.requests {
		if q.path == path {
			var env struct{ Text string }
			json.Unmarshal(q.body, &env)
			out = append(out, env.Text)
		}
	}
	return out
}

func escalationConfig(url string) string {
	return fmt.Sprintf(`
network: {allow_private: [127.0.0.1/32]}
channels:
  chat: {type: webhook, url: "%[1]s/chat"}
  sms:  {type: webhook, url: "%[1]s/sms"}
  lead: {type: webhook, url: "%[1]s/lead"}
rules:
  - name: page
    on: monitor.down
    key: "{{ .event.data.name }}"
    cancel_on: [monitor.up]
    steps:
      - name: chat
        notify: {channel: chat, text: "{{ .event.data.name }} is down. Acknowledge: {{ ackURL }}"}
      - name: wait-sms
        wait_ack:
          timeout: 5m
          on_timeout:
            - {name: sms, notify: {channel: sms, text: "{{ .event.data.name }} down, nobody acked"}}
      - name: wait-lead
        wait_ack:
          timeout: 15m
          on_timeout:
            - {name: lead, notify: {channel: lead, text: "{{ .event.data.name }} down 20m"}}
`, url)
}

// runOf returns the single run of an event once it exists.
func (h *harness) runOf(eventID string) *herald.Run {
	h.t.Helper()
	var run *herald.Run
	eventually(h.t, "the run", func() bool {
		v := h.event(eventID)
		if len(v.Runs) != 1 {
			return false
		}
		run = v.Runs[0]
		return true
	})
	return run
}

func (h *harness) waitRun(eventID string, cond func(*herald.Run) bool, what string) *herald.Run {
	h.t.Helper()
	var run *herald.Run
	eventually(h.t, what, func() bool {
		run = h.runOf(eventID)
		return cond(run)
	})
	return run
}

func waiting(what string) func(*herald.Run) bool {
	return func(r *herald.Run) bool {
		return r.Status == herald.RunWaiting && strings.HasPrefix(r.WaitingFor, what)
	}
}

func status(s herald.RunStatus) func(*herald.Run) bool {
	return func(r *herald.Run) bool { return r.Status == s }
}

func TestEscalation(t *testing.T) {
	t.Parallel()
	t.Run("nobody acks: chat, then SMS, then the lead", func(t *testing.T) {
		t.Parallel()
		recv := newReceiver(t)
		clk := newClock()
		h := startAt(t, writeConfig(t, escalationConfig(recv.srv.URL)), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)
		id := h.emit(`{"type":"monitor.down","data":{"name":"db1"}}`)
		h.waitRun(id, waiting("ack"), "first wait")
		eventually(t, "chat", func() bool { return len(recv.byPath("/chat")) == 1 })
		clk.advance(h, 4*time.Minute)
		clk.settle(h)
		if n := len(recv.byPath("/sms")); n != 0 {
			t.Fatalf("sms sent after 4 minutes")
		}
		clk.advance(h, time.Minute+time.Second)
		eventually(t, "sms", func() bool { return len(recv.byPath("/sms")) == 1 })
		h.waitRun(id, waiting("ack"), "second wait")
		clk.advance(h, 15*time.Minute)
		eventually(t, "lead", func() bool { return len(recv.byPath("/lead")) == 1 })
		r := h.waitRun(id, status(herald.RunCompleted), "completion")
		if !strings.Contains(string(r.State), `"timed_out":true`) {
			t.Errorf("state %s", r.State)
		}
	})
	t.Run("ack after the SMS stops the lead", func(t *testing.T) {
		t.Parallel()
		recv := newReceiver(t)
		clk := newClock()
		h := startAt(t, writeConfig(t, escalationConfig(recv.srv.URL)), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)
		id := h.emit(`{"type":"monitor.down","data":{"name":"db2"}}`)
		run := h.waitRun(id, waiting("ack"), "first wait")
		clk.advance(h, 5*time.Minute+time.Second)
		eventually(t, "sms", func() bool { return len(recv.byPath("/sms")) == 1 })
		h.waitRun(id, func(r *herald.Run) bool { return waiting("ack")(r) && strings.Contains(string(r.State), "wait-lead") }, "second wait")
		var acked herald.Run
		if code := h.do("POST", "/v1/runs/"+run.ID+"/ack", "application/json", []byte(`{"by":"ada"}`), nil, &acked); code != 200 || acked.AckedBy != "ada" {
			t.Fatalf("ack = %d %+v", code, acked)
		}
		h.waitRun(id, status(herald.RunCompleted), "completion after the ack")
		clk.advance(h, time.Hour)
		clk.settle(h)
		if n := len(recv.byPath("/lead")); n != 0 {
			t.Errorf("lead paged %d times after the ack", n)
		}
	})
	t.Run("ack link at the first stage stops everything", func(t *testing.T) {
		t.Parallel()
		recv := newReceiver(t)
		clk := newClock()
		h := startAt(t, writeConfig(t, escalationConfig(recv.srv.URL)), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)
		id := h.emit(`{"type":"monitor.down","data":{"name":"db3"}}`)
		eventually(t, "chat", func() bool { return len(recv.byPath("/chat")) == 1 })
		link := regexp.MustCompile(`http://\S+/ack/\S+`).FindString(recv.byPath("/chat")[0])
		if link == "" {
			t.Fatalf("no ack link in %q", recv.byPath("/chat")[0])
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "<form method=\"post\">") {
			t.Fatalf("GET link = %d\n%s", resp.StatusCode, page)
		}
		if r := h.runOf(id); !r.AckedAt.IsZero() {
			t.Fatal("GET acknowledged: link scanners would ack every alert")
		}
		resp, err = http.PostForm(link, url.Values{"by": {"grace"}})
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "Acknowledged") {
			t.Fatalf("POST link = %d\n%s", resp.StatusCode, page)
		}
		r := h.waitRun(id, status(herald.RunCompleted), "completion")
		if r.AckedBy != "grace" {
			t.Errorf("acked by %q", r.AckedBy)
		}
		clk.advance(h, time.Hour)
		clk.settle(h)
		if n := len(recv.byPath("/sms")) + len(recv.byPath("/lead")); n != 0 {
			t.Errorf("%d escalations after the ack", n)
		}
		// A forged link is refused.
		resp, err = http.PostForm(link+"x", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("forged link = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("recovery cancels the escalation", func(t *testing.T) {
		t.Parallel()
		recv := newReceiver(t)
		clk := newClock()
		h := startAt(t, writeConfig(t, escalationConfig(recv.srv.URL)), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)
		id := h.emit(`{"type":"monitor.down","data":{"name":"db4"}}`)
		h.waitRun(id, waiting("ack"), "first wait")
		h.emit(`{"type":"monitor.up","data":{"name":"other"}}`) // another key: no effect
		h.emit(`{"type":"monitor.up","data":{"name":"db4"}}`)
		r := h.waitRun(id, status(herald.RunCancelled), "cancellation")
		if !strings.Contains(r.Error, "monitor.up") {
			t.Errorf("cancel reason %q", r.Error)
		}
		clk.advance(h, time.Hour)
		clk.settle(h)
		if n := len(recv.byPath("/sms")); n != 0 {
			t.Errorf("sms after the recovery")
		}
	})
}

const waitEventConfig = `
network: {allow_private: [127.0.0.1/32]}
channels:
  ops: {type: webhook, url: "%s/ops"}
rules:
  - name: ship-watch
    on: order.paid
    steps:
      - name: shipped
        wait_event:
          type: order.shipped
          correlate: "{{ .event.data.order_id }}"
          if: event.data.carrier != nil
          timeout: 24h
          on_timeout:
            - {name: alert, notify: {channel: ops, text: "order {{ .event.data.order_id }} not shipped in time"}}
      - name: thanks
        if: steps.shipped.event_id != nil
        notify: {channel: ops, text: "order {{ .event.data.order_id }} shipped with {{ .steps.shipped.event.data.carrier }}"}
      - name: review
        delay: 72h
      - name: ask-review
        notify: {channel: ops, text: "review order {{ .event.data.order_id }}"}
`

func TestWaitEventAndDelay(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t)
	clk := newClock()
	db := filepath.Join(t.TempDir(), "h.db")
	cfg := writeConfig(t, fmt.Sprintf(waitEventConfig, recv.srv.URL))
	h := startAt(t, cfg, nil, db, clk.Now)

	one := h.emit(`{"type":"order.paid","data":{"order_id":"1"}}`)
	two := h.emit(`{"type":"order.paid","data":{"order_id":"2"}}`)
	h.waitRun(one, waiting("event order.shipped"), "order 1 waiting")
	h.waitRun(two, waiting("event order.shipped"), "order 2 waiting")

	// Another order's shipment, and one without a carrier, do not match.
	h.emit(`{"type":"order.shipped","data":{"order_id":"3","carrier":"UPS"}}`)
	h.emit(`{"type":"order.shipped","data":{"order_id":"1"}}`)
	clk.advance(h, time.Hour)
	clk.settle(h)
	h.waitRun(one, waiting("event order.shipped"), "order 1 still waiting")

	h.emit(`{"type":"order.shipped","data":{"order_id":"1","carrier":"DHL"}}`)
	h.waitRun(one, waiting("delay"), "order 1 in the review delay")
	eventually(t, "thanks", func() bool { return len(recv.byPath("/ops")) == 1 })
	if got := recv.byPath("/ops")[0]; got != "order 1 shipped with DHL" {
		t.Errorf("thanks = %q", got)
	}

	// Restart in the middle of both waits: they go on where they were.
	h.stop()
	h = startAt(t, cfg, nil, db, clk.Now)
	clk.advance(h, 23*time.Hour+time.Second) // order 2's 24h pass
	eventually(t, "timeout alert", func() bool { return contains(recv.byPath("/ops"), "order 2 not shipped in time") })
	h.waitRun(two, waiting("delay"), "order 2 after timeout, in the review delay")
	if r := h.runOf(two); !strings.Contains(string(r.State), `"timed_out":true`) {
		t.Errorf("order 2 state %s", r.State)
	}
	clk.advance(h, 72*time.Hour)
	h.waitRun(one, status(herald.RunCompleted), "order 1 done")
	h.waitRun(two, status(herald.RunCompleted), "order 2 done")
	eventually(t, "review requests", func() bool {
		return contains(recv.byPath("/ops"), "review order 1") && contains(recv.byPath("/ops"), "review order 2")
	})
	if n := len(recv.byPath("/ops")); n != 4 {
		t.Errorf("ops got %d messages, want 4: %q", n, recv.byPath("/ops"))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestCancelRunAPI(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t)
	clk := newClock()
	h := startAt(t, writeConfig(t, escalationConfig(recv.srv.URL)), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)
	id := h.emit(`{"type":"monitor.down","data":{"name":"x"}}`)
	run := h.waitRun(id, waiting("ack"), "wait")
	var got herald.Run
	if code := h.do("GET", "/v1/runs/"+run.ID, "", nil, nil, &got); code != 200 || !strings.HasPrefix(got.WaitingFor, "ack until") || got.DueAt.IsZero() {
		t.Errorf("GET run = %d %+v", code, got)
	}
	if code := h.do("DELETE", "/v1/runs/"+run.ID, "", nil, nil, &got); code != 200 || got.Status != herald.RunCancelled {
		t.Errorf("DELETE run = %d %+v", code, got)
	}
	var p problem
	if code := h.do("DELETE", "/v1/runs/"+run.ID, "", nil, nil, &p); code != 409 {
		t.Errorf("second DELETE = %d %+v", code, p)
	}
	if code := h.do("POST", "/v1/runs/"+herald.NewID()+"/ack", "", nil, nil, &p); code != 404 {
		t.Errorf("ack of unknown run = %d", code)
	}
}
