package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/loadgen"
)

// waitsCrashConfig has one rule per kind of wait. Every notification
// carries an "id" naming it (kind:seq), so the receiver can tell which
// logical notification each delivery is. The lease is short so the
// restarted server takes over quickly.
const waitsCrashConfig = `
network: {allow_private: [127.0.0.1/32]}
delivery: {lease: 2s, timeout: 2s}
channels:
  receiver: {type: webhook, url: %q}
rules:
  - name: delay
    on: crash.delay
    steps:
      - {name: sleep, delay: 5s}
      - name: after
        notify: {channel: receiver, data: {id: "delay:{{ .event.data.seq }}"}}
  - name: acked
    on: crash.ack
    steps:
      - name: wait
        wait_ack:
          timeout: 1h
          on_timeout:
            - {name: escalate, notify: {channel: receiver, data: {id: "escalated:{{ .event.data.seq }}"}}}
      - name: after
        notify: {channel: receiver, data: {id: "acked:{{ .event.data.seq }}", by: "{{ .steps.wait.acked_by }}"}}
  - name: unacked
    on: crash.noack
    steps:
      - name: wait
        wait_ack:
          timeout: 5s
          on_timeout:
            - {name: escalate, notify: {channel: receiver, data: {id: "escalated:{{ .event.data.seq }}"}}}
      - name: after
        notify: {channel: receiver, data: {id: "noack-done:{{ .event.data.seq }}"}}
  - name: shipping
    on: crash.order
    steps:
      - name: shipped
        wait_event:
          type: crash.shipped
          correlate: "{{ .event.data.order }}"
          timeout: 1h
          on_timeout:
            - {name: late, notify: {channel: receiver, data: {id: "late:{{ .event.data.order }}"}}}
      - name: after
        notify: {channel: receiver, data: {id: "shipped:{{ .event.data.order }}", carrier: "{{ .steps.shipped.event.data.carrier }}"}}
  - name: updates
    on: crash.update
    steps:
      - name: batch
        digest: {key: "{{ .event.data.group }}", for: 5s}
      - name: after
        notify: {channel: receiver, data: {id: "digest:{{ (index .digest.events 0).data.group }}", count: "{{ .digest.count }}"}}
`

// TestWaitsSurviveKill starts the real binary, puts runs into every kind
// of wait (delay, wait_ack that is acknowledged, wait_ack that times out
// and escalates, wait_event, digest), SIGKILLs the server while they
// wait, restarts it on the same data, acknowledges some runs and posts
// the awaited events, and checks that every run completes and every
// logical notification arrives — exactly the expected ones, each under a
// single Idempotency-Key however often it was delivered.
func TestWaitsSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, runs and kills the real server; skipped in -short mode")
	}
	// Deadlines are generous: they bound a broken run, they do not time a
	// working one.
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := buildHerald(ctx, t, dir)

	rcv := &notifications{byID: map[string][]delivery{}}
	hook := httptest.NewServer(rcv)
	defer hook.Close()
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, waitsCrashConfig, hook.URL+"/hook"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &tailBuffer{max: 300}
	defer func() {
		if t.Failed() {
			t.Logf("server log (last lines):\n%s", logs.String())
		}
	}()
	sopts := loadgen.ServerOptions{Binary: bin, Config: cfgPath, DB: filepath.Join(dir, "data", "herald.db"), Log: logs}
	first, err := loadgen.StartServer(ctx, sopts)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Kill()

	// The events, and the notifications they must cause.
	type posted struct{ id, rule string }
	var events []posted
	want := map[string]string{} // notification id → extra field it must carry ("" none)
	emit := func(rule, body string) {
		events = append(events, posted{postEvent(ctx, t, first.URL, body), rule})
	}
	for i := range 4 {
		emit("delay", fmt.Sprintf(`{"type":"crash.delay","data":{"seq":"%d"}}`, i))
		want[fmt.Sprintf("delay:%d", i)] = ""
	}
	for i := range 3 {
		emit("acked", fmt.Sprintf(`{"type":"crash.ack","data":{"seq":"%d"}}`, i))
		want[fmt.Sprintf("acked:%d", i)] = "by=crash-test"
		emit("unacked", fmt.Sprintf(`{"type":"crash.noack","data":{"seq":"%d"}}`, 100+i))
		want[fmt.Sprintf("escalated:%d", 100+i)] = ""
		want[fmt.Sprintf("noack-done:%d", 100+i)] = ""
		emit("shipping", fmt.Sprintf(`{"type":"crash.order","data":{"order":"o%d"}}`, i))
		want[fmt.Sprintf("shipped:o%d", i)] = "carrier=dhl"
	}
	for _, g := range []string{"a", "b"} {
		for i := range 3 {
			emit("updates", fmt.Sprintf(`{"type":"crash.update","data":{"group":"%s","n":%d}}`, g, i))
		}
		want["digest:"+g] = "count=3"
	}

	// Wait until every run waits (a digest's joiners end at once; on a
	// very slow machine a 5s wait may even be over already).
	waitingAtKill := map[string]int{}
	poll(ctx, t, "every run waiting", func() bool {
		clear(waitingAtKill)
		for _, e := range events {
			v := getEvent(ctx, t, first.URL, e.id)
			if len(v.Runs) != 1 {
				return false
			}
			switch r := v.Runs[0]; {
			case r.Status == "waiting":
				kind, _, _ := strings.Cut(r.WaitingFor, " ")
				waitingAtKill[kind]++
			case r.Status == "completed" && (e.rule == "updates" || e.rule == "delay" || e.rule == "unacked"):
			default:
				return false
			}
		}
		return true
	})
	t.Logf("waiting when killed: %v", waitingAtKill)
	for _, kind := range []string{"delay", "ack", "event", "digest"} {
		if waitingAtKill[kind] == 0 {
			t.Logf("note: no run was waiting on %s at the kill (slow machine?)", kind)
		}
	}
	first.Kill()

	sopts.Listen = first.Addr
	second, err := loadgen.StartServer(ctx, sopts)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Kill()

	// Acknowledge the runs of the acked rule, and ship the orders.
	for _, e := range events {
		if e.rule == "acked" {
			run := getEvent(ctx, t, second.URL, e.id).Runs[0]
			status, body := call(ctx, t, http.MethodPost, second.URL+"/v1/runs/"+run.ID+"/ack", `{"by":"crash-test"}`)
			if status != http.StatusOK {
				t.Fatalf("ack run %s: %d %s", run.ID, status, body)
			}
		}
	}
	for i := range 3 {
		postEvent(ctx, t, second.URL, fmt.Sprintf(`{"type":"crash.shipped","data":{"order":"o%d","carrier":"dhl"}}`, i))
	}

	poll(ctx, t, "every run completed", func() bool {
		for _, e := range events {
			v := getEvent(ctx, t, second.URL, e.id)
			if len(v.Runs) != 1 {
				return false
			}
			switch v.Runs[0].Status {
			case "completed":
			case "failed", "cancelled":
				t.Fatalf("run of %s (%s) ended %s: %s", e.id, e.rule, v.Runs[0].Status, v.Runs[0].Error)
			default:
				return false
			}
		}
		return true
	})
	poll(ctx, t, "every notification", func() bool { return rcv.has(want) })

	// Exactly the expected notifications, each under one key, with the
	// content its wait produced.
	got := rcv.snapshot()
	for id, extra := range want {
		ds := got[id]
		keys := map[string]bool{}
		for _, d := range ds {
			keys[d.key] = true
			if extra != "" {
				k, v, _ := strings.Cut(extra, "=")
				if d.body[k] != v {
					t.Errorf("%s: %s = %q, want %q", id, k, d.body[k], v)
				}
			}
		}
		if len(keys) != 1 {
			t.Errorf("%s arrived %d times under %d keys; a repeat must carry the key of the first delivery", id, len(ds), len(keys))
		}
		if len(ds) > 1 {
			t.Logf("%s arrived %d times (same key: a redelivery)", id, len(ds))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected notification %s (%d deliveries)", id, len(got[id]))
		}
	}
	if n := rcv.malformed(); n > 0 {
		t.Errorf("%d deliveries without an id or an Idempotency-Key", n)
	}
	// Each run's steps committed once: one message per notify step.
	wantMsgs := map[string]int{"delay": 1, "acked": 1, "unacked": 2, "shipping": 1}
	leaders := 0
	for _, e := range events {
		v := getEvent(ctx, t, second.URL, e.id)
		if e.rule == "updates" {
			leaders += len(v.Messages)
			continue
		}
		if len(v.Messages) != wantMsgs[e.rule] {
			t.Errorf("event %s (%s) has %d messages, want %d", e.id, e.rule, len(v.Messages), wantMsgs[e.rule])
		}
	}
	if leaders != 2 {
		t.Errorf("the digests made %d messages, want 2 (one per group)", leaders)
	}
	if err := second.Stop(ctx); err != nil {
		t.Errorf("stop the restarted server: %v", err)
	}
}

// notifications records webhook deliveries by the "id" in their body.
type notifications struct {
	mu   sync.Mutex
	byID map[string][]delivery
	bad  int
}

type delivery struct {
	key  string
	body map[string]string
}

func (n *notifications) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]string
	err := json.Unmarshal(raw, &body)
	key := r.Header.Get("Idempotency-Key")
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil || body["id"] == "" || key == "" {
		n.bad++
		http.Error(w, "need an id and an Idempotency-Key", http.StatusBadRequest)
		return
	}
	n.byID[body["id"]] = append(n.byID[body["id"]], delivery{key: key, body: body})
}

func (n *notifications) has(want map[string]string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id := range want {
		if len(n.byID[id]) == 0 {
			return false
		}
	}
	return true
}

func (n *notifications) snapshot() map[string][]delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string][]delivery, len(n.byID))
	for id, ds := range n.byID {
		out[id] = slices.Clone(ds)
	}
	return out
}

func (n *notifications) malformed() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bad
}

// eventView is the part of GET /v1/events/{id} the test reads.
type eventView struct {
	Runs []struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		WaitingFor string `json:"waiting_for"`
		Error      string `json:"error"`
	}
	Messages []struct {
		ID string `json:"id"`
	}
}

func call(ctx context.Context, t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func postEvent(ctx context.Context, t *testing.T, base, body string) string {
	t.Helper()
	status, out := call(ctx, t, http.MethodPost, base+"/v1/events", body)
	var acc struct{ ID string }
	if status != http.StatusAccepted || json.Unmarshal(out, &acc) != nil || acc.ID == "" {
		t.Fatalf("POST /v1/events %s: %d %s", body, status, out)
	}
	return acc.ID
}

func getEvent(ctx context.Context, t *testing.T, base, id string) eventView {
	t.Helper()
	status, out := call(ctx, t, http.MethodGet, base+"/v1/events/"+id, "")
	var v eventView
	if status != http.StatusOK || json.Unmarshal(out, &v) != nil {
		t.Fatalf("GET /v1/events/%s: %d %s", id, status, out)
	}
	return v
}
