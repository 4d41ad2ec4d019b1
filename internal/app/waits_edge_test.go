package app_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

// TestEventBeforeTheWait: the correlated event arrives while the run is
// still busy with an earlier step (a slow webhook call). It must count
// when the run reaches wait_event, not be lost to a false timeout.
func TestEventBeforeTheWait(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	called := make(chan struct{}, 1)
	slow := newReceiver(t)
	slow.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called <- struct{}{}
		<-release
	})
	clk := newClock()
	cfg := fmt.Sprintf(`
network: {allow_private: [127.0.0.1/32]}
rules:
  - name: fulfil
    on: order.paid
    steps:
      - name: reserve
        webhook: {url: "%s/reserve", body: {order: "{{ .event.data.id }}"}}
      - name: shipped
        wait_event: {type: order.shipped, correlate: "{{ .event.data.id }}", timeout: 1h}
`, slow.srv.URL)
	h := startAt(t, writeConfig(t, cfg), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)
	id := h.emit(`{"type":"order.paid","data":{"id":"9"}}`)
	<-called
	h.emit(`{"type":"order.shipped","data":{"id":"9"}}`) // while the webhook step runs
	close(release)
	r := h.waitRun(id, status(herald.RunCompleted), "the run to see the earlier shipment")
	if strings.Contains(string(r.State), "timed_out") || !strings.Contains(string(r.State), `"event_id"`) {
		t.Errorf("state %s", r.State)
	}
}

// TestWaitSurvivesConfigChangeAndRestart: a run waiting under the old
// configuration is still woken by its event after a restart with a new
// configuration that no longer has the rule.
func TestWaitSurvivesConfigChangeAndRestart(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t)
	clk := newClock()
	db := filepath.Join(t.TempDir(), "h.db")
	v1 := fmt.Sprintf(`
network: {allow_private: [127.0.0.1/32]}
channels:
  ops: {type: webhook, url: "%s/ops"}
rules:
  - name: watch
    on: order.paid
    steps:
      - name: shipped
        wait_event: {type: order.shipped, correlate: "{{ .event.data.id }}", timeout: 24h}
      - notify: {channel: ops, text: "order {{ .event.data.id }} shipped"}
`, recv.srv.URL)
	path := writeConfig(t, v1)
	h := startAt(t, path, nil, db, clk.Now)
	id := h.emit(`{"type":"order.paid","data":{"id":"5"}}`)
	h.waitRun(id, waiting("event order.shipped"), "waiting")
	h.stop()
	v2 := fmt.Sprintf("network: {allow_private: [127.0.0.1/32]}\nchannels:\n  ops: {type: webhook, url: \"%s/ops\"}\nrules: []\n", recv.srv.URL)
	if err := os.WriteFile(path, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	h = startAt(t, path, nil, db, clk.Now)
	h.emit(`{"type":"order.shipped","data":{"id":"5"}}`)
	h.waitRun(id, status(herald.RunCompleted), "the old run to finish under its own version")
	eventually(t, "the notification", func() bool { return contains(recv.byPath("/ops"), "order 5 shipped") })
}

// TestCancelledDigestLeader: cancelling the run that leads a digest group
// closes the group; later events start a new one and are delivered.
func TestCancelledDigestLeader(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t)
	clk := newClock()
	h := startAt(t, writeConfig(t, fmt.Sprintf(digestConfig, recv.srv.URL)), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)
	lead := h.emit(`{"type":"ticket.updated","data":{"ticket":"T-1"}}`)
	r := h.waitRun(lead, waiting("digest"), "the leader")
	if code := h.do("DELETE", "/v1/runs/"+r.ID, "", nil, nil, nil); code != 200 {
		t.Fatalf("cancel = %d", code)
	}
	next := h.emit(`{"type":"ticket.updated","data":{"ticket":"T-1"}}`)
	h.waitRun(next, waiting("digest"), "a new leader")
	clk.advance(h, 10*time.Minute+time.Second)
	eventually(t, "the new digest", func() bool { return contains(recv.byPath("/agent"), "1 updates on T-1") })
}
