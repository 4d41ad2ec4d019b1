package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/app"
	"github.com/herald-notify/herald/internal/store"
	"github.com/herald-notify/herald/internal/store/postgres/pgtest"
)

// TestConfigMismatch runs two nodes on one PostgreSQL schema with
// different configurations: the node that is not on the cluster's
// version says so in /readyz and in herald_config_mismatch, and stays
// ready; one node leads the sources.
func TestConfigMismatch(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	node := func(text string) (*app.App, func()) {
		a, err := app.New(context.Background(), app.Options{
			ConfigPath:  writeConfig(t, "rules:\n  - name: r\n    on: x\n    steps:\n      - notify: {channel: log, text: \""+text+"\"}\nchannels:\n  log: {type: log}\n"),
			Listen:      "127.0.0.1:0",
			Storage:     url,
			Schema:      schema,
			Logger:      slog.New(slog.DiscardHandler),
			LookupEnv:   func(string) (string, bool) { return "", false },
			ClusterBeat: 50 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return a, func() { cancel(); <-done }
	}
	a, stopA := node("one")
	defer stopA()
	// b starts later with another version: on a tie, the version adopted
	// last is the cluster's, so a is the odd one out.
	b, stopB := node("two")
	defer stopB()

	type view struct {
		Status  string `json:"status"`
		Cluster struct {
			Nodes          int    `json:"nodes"`
			Mismatch       bool   `json:"config_mismatch"`
			ClusterVersion string `json:"cluster_config_version"`
			Leader         bool   `json:"sources_leader"`
		} `json:"cluster"`
	}
	ready := func(x *app.App) (int, view) {
		resp, err := http.Get("http://" + x.Addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v view
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	eventually(t, "both nodes to see each other", func() bool {
		_, va := ready(a)
		_, vb := ready(b)
		return va.Cluster.Nodes == 2 && vb.Cluster.Nodes == 2 && va.Cluster.Mismatch && !vb.Cluster.Mismatch
	})
	code, va := ready(a)
	if code != http.StatusOK || va.Status != "ready" {
		t.Errorf("the mismatched node is not ready (%d %s): a mismatch is reported, not failed", code, va.Status)
	}
	metric := func(x *app.App, name string) string {
		resp, err := http.Get("http://" + x.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, name+" ") {
				return strings.TrimPrefix(line, name+" ")
			}
		}
		return ""
	}
	if m := metric(a, "herald_config_mismatch"); m != "1" {
		t.Errorf("herald_config_mismatch on the odd node = %q, want 1", m)
	}
	if m := metric(b, "herald_config_mismatch"); m != "0" {
		t.Errorf("herald_config_mismatch on the cluster's node = %q, want 0", m)
	}
	_, vb := ready(b)
	if va.Cluster.Leader == vb.Cluster.Leader {
		t.Errorf("sources leader: a=%v b=%v, want exactly one", va.Cluster.Leader, vb.Cluster.Leader)
	}
}

// TestHeartbeatAcrossNodes: a heartbeat is tracked by the node that leads
// the sources, and beats sent to the other node count: the leader reads
// the events every node accepted, so no false "missed" is emitted.
func TestHeartbeatAcrossNodes(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	cfgPath := writeConfig(t, `
heartbeats:
  worker:
    type: worker.alive
    interval: 1s
    grace: 3s
rules:
  - name: missed
    on: heartbeat.missed
    steps:
      - notify: {channel: log, text: missed}
channels:
  log: {type: log}
`)
	node := func() (*app.App, func()) {
		a, err := app.New(context.Background(), app.Options{
			ConfigPath: cfgPath, Listen: "127.0.0.1:0", Storage: url, Schema: schema,
			Logger: slog.New(slog.DiscardHandler), LookupEnv: func(string) (string, bool) { return "", false },
			ClusterBeat: 50 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return a, func() { cancel(); <-done }
	}
	a, stopA := node()
	defer stopA()
	b, stopB := node()
	defer stopB()
	leads := func(x *app.App) bool {
		resp, err := http.Get("http://" + x.Addr() + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var v struct {
			Cluster struct {
				Leader bool `json:"sources_leader"`
			} `json:"cluster"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		return v.Cluster.Leader
	}
	eventually(t, "a sources leader", func() bool { return leads(a) || leads(b) })
	follower := b
	if leads(b) {
		follower = a
	}
	// Beat every 300ms for 7s, always through the follower: well beyond
	// the heartbeat's interval plus grace (4s), whose margin leaves room
	// for a slow machine.
	deadline := time.Now().Add(7 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Post("http://"+follower.Addr()+"/v1/events", "application/json",
			strings.NewReader(`{"type":"worker.alive"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("beat: %d", resp.StatusCode)
		}
		time.Sleep(300 * time.Millisecond)
	}
	msgs, _, err := a.Store().ListMessages(context.Background(), store.MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 0 {
		t.Errorf("%d heartbeat.missed notifications, want none: the leader did not see the follower's beats", len(msgs))
	}
}
