package app_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

const digestConfig = `
network: {allow_private: [127.0.0.1/32]}
channels:
  agent: {type: webhook, url: "%[1]s/agent"}
  storm: {type: webhook, url: "%[1]s/storm"}
rules:
  - name: ticket-updates
    on: ticket.updated
    steps:
      - name: batch
        digest: {key: "{{ .event.data.ticket }}", for: 10m}
      - notify:
          channel: agent
          text: "{{ .digest.count }} updates on {{ (index .digest.events 0).data.ticket }}"
  - name: alert-storm
    on: alert.fired
    steps:
      - name: calm
        digest: {key: "all", for: 5m, lookback: true}
      - notify:
          channel: storm
          text: "{{ .digest.count }} alert(s)"
`

// TestDigest sends events for two tickets concurrently: each ticket gets
// one message with all its updates when the window closes. In lookback
// mode the first alert goes out at once and the storm after it is one
// message.
func TestDigest(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t)
	clk := newClock()
	h := startAt(t, writeConfig(t, fmt.Sprintf(digestConfig, recv.srv.URL)), nil, filepath.Join(t.TempDir(), "h.db"), clk.Now)

	var wg sync.WaitGroup
	ids := make(chan string, 30)
	for i := range 30 {
		wg.Go(func() {
			ids <- h.emit(fmt.Sprintf(`{"type":"ticket.updated","data":{"ticket":"T-%d","n":%d}}`, i%2, i))
		})
	}
	wg.Wait()
	close(ids)
	// Every run has either joined a digest (completed) or leads one.
	for id := range ids {
		h.waitRun(id, func(r *herald.Run) bool {
			return r.Status == herald.RunCompleted || strings.HasPrefix(r.WaitingFor, "digest")
		}, "digest placement")
	}
	if n := len(recv.byPath("/agent")); n != 0 {
		t.Fatalf("%d messages before the window closed", n)
	}
	clk.advance(h, 10*time.Minute+time.Second)
	eventually(t, "two digests", func() bool { return len(recv.byPath("/agent")) == 2 })
	got := recv.byPath("/agent")
	for _, want := range []string{"15 updates on T-0", "15 updates on T-1"} {
		if !contains(got, want) {
			t.Errorf("digests %q lack %q", got, want)
		}
	}

	h.emit(`{"type":"alert.fired","data":{"n":1}}`)
	eventually(t, "the first alert at once", func() bool { return len(recv.byPath("/storm")) == 1 })
	for i := range 5 {
		id := h.emit(fmt.Sprintf(`{"type":"alert.fired","data":{"n":%d}}`, i+2))
		h.waitRun(id, func(r *herald.Run) bool {
			return r.Status == herald.RunCompleted || strings.HasPrefix(r.WaitingFor, "digest")
		}, "digest placement")
	}
	clk.advance(h, time.Minute)
	clk.settle(h)
	if n := len(recv.byPath("/storm")); n != 1 {
		t.Fatalf("storm messages = %d during the window, want 1", n)
	}
	clk.advance(h, 4*time.Minute+time.Second)
	eventually(t, "the storm digest", func() bool { return len(recv.byPath("/storm")) == 2 })
	if got := recv.byPath("/storm"); got[0] != "1 alert(s)" || got[1] != "5 alert(s)" {
		t.Errorf("storm = %q", got)
	}
}
