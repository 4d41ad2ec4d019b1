package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-notify/herald/internal/loadgen"
	"github.com/herald-notify/herald/internal/store/postgres/pgtest"
)

// TestClusterKill runs three real `herald serve` nodes on one PostgreSQL
// schema, spreads a stream of events over them, SIGKILLs one node in the
// middle, and checks that every event any node answered 202 for reaches
// the receiver at least once (the dead node's work is taken over when its
// leases expire), that duplicates are redeliveries of the same message,
// and that the schedule every node is configured with fires once per
// tick across the cluster, from one elected node, also after that node
// is the one killed.
func TestClusterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three real servers; skipped in -short mode")
	}
	url, schema := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := buildHerald(ctx, t, dir)

	rcv := loadgen.NewReceiver(nil)
	if err := rcv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	ticks := newTickCounter()
	tickSrv := httptest.NewServer(ticks)
	defer tickSrv.Close()

	cfg := loadgen.Config(loadgen.ConfigOptions{
		ReceiverURL: rcv.URL(), Lease: 2 * time.Second, Timeout: 2 * time.Second,
	})
	// The generated file ends with its rules list: the tick rule joins
	// it, then the schedule every node carries (only the elected node
	// may run it).
	cfg = []byte(strings.Replace(string(cfg), "channels:\n", fmt.Sprintf("channels:\n  ticks:\n    type: webhook\n    url: %q\n", tickSrv.URL+"/tick"), 1))
	cfg = append(cfg, `  - name: tick
    on: cluster.tick
    steps:
      - notify:
          channel: ticks
          data: {event_id: "{{ .event.id }}"}
schedules:
  every-second:
    cron: "@every 1s"
    emit: {type: cluster.tick}
`...)
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := make([]*tailBuffer, 3)
	nodes := make([]*loadgen.Server, 3)
	for i := range nodes {
		logs[i] = &tailBuffer{max: 200}
		n, err := loadgen.StartServer(ctx, loadgen.ServerOptions{
			Binary: bin, Config: cfgPath, Storage: url, Schema: schema, Log: logs[i],
		})
		if err != nil {
			t.Fatalf("node %d: %v\n%s", i, err, logs[i])
		}
		defer n.Kill()
		nodes[i] = n
	}
	defer func() {
		if t.Failed() {
			for i, l := range logs {
				t.Logf("node %d log (last lines):\n%s", i, l.String())
			}
		}
	}()

	// Which node leads the sources? Kill that one: the hardest case.
	leader := -1
	poll(ctx, t, "one node leading the sources", func() bool {
		leader = leaderOf(ctx, nodes)
		return leader >= 0
	})

	const (
		rate    = 300 // per node
		perNode = 1500
	)
	drivers := make([]*loadgen.Driver, 3)
	results := make([]*loadgen.Result, 3)
	var wg sync.WaitGroup
	for i := range drivers {
		drivers[i] = &loadgen.Driver{URL: nodes[i].URL, Rate: rate, Count: perNode, Concurrency: 32,
			FirstSeq: int64(i * perNode), KeyPrefix: fmt.Sprintf("cluster-%d-", i)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := drivers[i].Run(ctx)
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		}()
	}
	poll(ctx, t, "a third of the victim's stream accepted", func() bool {
		_, acc, _ := drivers[leader].Progress()
		return acc >= perNode/3
	})
	ticksAtKill := ticks.count()
	nodes[leader].Kill()
	wg.Wait()

	var accepted []int64
	for _, r := range results {
		accepted = append(accepted, r.Accepted()...)
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, 2*time.Minute)
	missing, _ := rcv.WaitAll(waitCtx, accepted)
	waitCancel()

	// A new leader takes over the schedule: ticks keep coming.
	survivors := []*loadgen.Server{}
	for i, n := range nodes {
		if i != leader {
			survivors = append(survivors, n)
		}
	}
	poll(ctx, t, "a surviving node leading the sources", func() bool { return leaderOf(ctx, survivors) >= 0 })
	poll(ctx, t, "ticks after the failover", func() bool { return ticks.count() >= ticksAtKill+3 })

	st := rcv.Stats()
	t.Logf("accepted %d of %d sent over 3 nodes (node %d killed); delivered %d, lost %d, duplicate deliveries %d (same key)",
		len(accepted), 3*perNode, leader, len(accepted)-len(missing), len(missing), st.Duplicates)
	if len(missing) > 0 {
		t.Errorf("lost %d accepted events; first: %v", len(missing), missing[:min(20, len(missing))])
	}
	if st.ExtraKeys > 0 {
		t.Errorf("%d deliveries repeated an event under a new idempotency key", st.ExtraKeys)
	}
	if st.Malformed > 0 {
		t.Errorf("the receiver got %d deliveries it could not attribute", st.Malformed)
	}
	for i, r := range results {
		if i != leader && len(r.Accepted()) != perNode {
			t.Errorf("surviving node %d accepted %d of %d: %v", i, len(r.Accepted()), perNode, r.Errors())
		}
	}

	// Once per tick: one event per tick id in the database, and no tick
	// delivered under two different messages.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var events, distinct int
	err = conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT spec_id) FROM `+schema+`.events WHERE type = 'cluster.tick'`).Scan(&events, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	var runs int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.runs WHERE rule = 'tick'`).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	dupTicks, keys := ticks.duplicates()
	t.Logf("schedule: %d tick events (%d distinct ticks), %d runs, %d tick deliveries, %d redelivered with the same key",
		events, distinct, runs, keys, dupTicks)
	if events != distinct || runs != events {
		t.Errorf("a tick fired more than once: %d events for %d ticks, %d runs", events, distinct, runs)
	}
	if ticks.extraMessages() > 0 {
		t.Errorf("%d ticks were delivered as more than one message", ticks.extraMessages())
	}
	for _, n := range survivors {
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
}

// leaderOf returns the index of the node whose /metrics says it leads the
// sources, or -1 when none (or more than one) does.
func leaderOf(ctx context.Context, nodes []*loadgen.Server) int {
	found := -1
	for i, n := range nodes {
		v, ok, err := loadgen.ScrapeMetric(ctx, http.DefaultClient, n.URL, "herald_sources_leader")
		if err != nil || !ok {
			continue
		}
		if v == 1 {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

// tickCounter counts deliveries of schedule ticks by event id (from the
// message body) and by message (the Idempotency-Key).
type tickCounter struct {
	mu     sync.Mutex
	byKey  map[string]int
	byTick map[string]map[string]bool // tick event id -> message keys
}

func newTickCounter() *tickCounter {
	return &tickCounter{byKey: map[string]int{}, byTick: map[string]map[string]bool{}}
}

func (c *tickCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var env struct {
		EventID string `json:"event_id"`
	}
	json.Unmarshal(body, &env)
	key := r.Header.Get("Idempotency-Key")
	c.mu.Lock()
	c.byKey[key]++
	if c.byTick[env.EventID] == nil {
		c.byTick[env.EventID] = map[string]bool{}
	}
	c.byTick[env.EventID][key] = true
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (c *tickCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byTick)
}

// duplicates returns redeliveries (same key twice) and the number of keys.
func (c *tickCounter) duplicates() (dups, keys int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.byKey {
		dups += n - 1
	}
	return dups, len(c.byKey)
}

// extraMessages counts ticks delivered under more than one message.
func (c *tickCounter) extraMessages() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, keys := range c.byTick {
		if len(keys) > 1 {
			n++
		}
	}
	return n
}
