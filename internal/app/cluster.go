package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-notify/herald/internal/herald"
)

// elector is a store shared by a cluster (PostgreSQL) that can elect one
// node to run something: the event sources, so a schedule fires once per
// tick and a monitor is checked once, not once per node.
type elector interface {
	Lead(ctx context.Context, name string, fn func(ctx context.Context))
}

// eventTail lets the sources' leader see events other nodes accepted:
// heartbeats must count beats that arrived anywhere in the cluster.
type eventTail interface {
	EventsSince(ctx context.Context, types []string, since time.Time, limit int) ([]herald.Event, error)
}

const (
	// nodeBeat is how often a node records itself and its configuration
	// version in the shared state; a node silent for four beats is gone.
	nodeBeat   = 5 * time.Second
	nodePrefix = "cluster/nodes/"
	// tailEvery and tailLookback shape the heartbeat tail: events are
	// re-read over a window wide enough for commits that finish late.
	tailEvery    = time.Second
	tailLookback = 15 * time.Second
)

// nodeRecord is what each node writes about itself.
type nodeRecord struct {
	Node    string    `json:"node"`
	Host    string    `json:"host,omitempty"`
	Version string    `json:"version"`
	Since   time.Time `json:"since"` // when the node took this version
	Seen    time.Time `json:"seen"`
}

// cluster tracks the nodes sharing the store and whether this node's
// configuration version is the cluster's.
type cluster struct {
	app  *App
	node string
	host string

	mismatch prometheus.Gauge
	nodes    prometheus.Gauge
	leader   prometheus.Gauge

	mu       sync.Mutex
	version  string // this node's version and when it took it
	since    time.Time
	view     clusterView
	isLeader bool
}

// clusterView is what /readyz shows about the cluster.
type clusterView struct {
	Node           string   `json:"node"`
	Nodes          int      `json:"nodes"`
	Version        string   `json:"config_version"`
	ClusterVersion string   `json:"cluster_config_version,omitempty"`
	Mismatch       bool     `json:"config_mismatch"`
	Others         []string `json:"other_versions,omitempty"`
	SourcesLeader  bool     `json:"sources_leader"`
}

func newCluster(a *App, reg prometheus.Registerer) *cluster {
	var b [6]byte
	rand.Read(b[:])
	host, _ := os.Hostname()
	c := &cluster{
		app:  a,
		node: hex.EncodeToString(b[:]),
		host: host,
		mismatch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_config_mismatch",
			Help: "1 when this node's configuration version differs from the one most live nodes run.",
		}),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_cluster_nodes",
			Help: "Live nodes sharing this node's store (1 on SQLite).",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_sources_leader",
			Help: "1 when this node runs the cluster's schedules, heartbeats and monitors.",
		}),
	}
	reg.MustRegister(c.mismatch, c.nodes, c.leader)
	return c
}

func (c *cluster) beatEvery() time.Duration {
	if d := c.app.opts.ClusterBeat; d > 0 {
		return d
	}
	return nodeBeat
}

// setVersion records the configuration version this node now runs.
func (c *cluster) setVersion(v string) {
	c.mu.Lock()
	if v != c.version {
		c.version, c.since = v, c.app.opts.Now()
	}
	c.mu.Unlock()
}

// run writes this node's record and recomputes the view until ctx ends.
func (c *cluster) run(ctx context.Context) {
	t := time.NewTicker(c.beatEvery())
	defer t.Stop()
	for {
		c.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *cluster) beat(ctx context.Context) {
	st := c.app.store
	now := c.app.opts.Now()
	c.mu.Lock()
	rec := nodeRecord{Node: c.node, Host: c.host, Version: c.version, Since: c.since, Seen: now}
	c.mu.Unlock()
	b, _ := json.Marshal(rec)
	if err := st.PutState(ctx, nodePrefix+c.node, b); err != nil {
		if ctx.Err() == nil {
			c.app.logger.Warn("cannot record this node in the cluster state", "err", err)
		}
		return
	}
	vals, err := st.ListState(ctx, nodePrefix)
	if err != nil {
		return
	}
	var live []nodeRecord
	for k, v := range vals {
		var r nodeRecord
		if json.Unmarshal(v, &r) != nil || r.Version == "" {
			continue
		}
		if now.Sub(r.Seen) > 4*c.beatEvery() {
			if now.Sub(r.Seen) > 24*time.Hour {
				// Long gone: forget it. (Best effort; any node may do it.)
				_ = st.DeleteState(ctx, k)
			}
			continue
		}
		live = append(live, r)
	}
	c.update(rec, live)
}

// update computes the cluster's version: the one most live nodes run,
// and on a tie the one adopted most recently (a rolling change).
func (c *cluster) update(self nodeRecord, live []nodeRecord) {
	count := map[string]int{}
	latest := map[string]time.Time{}
	for _, r := range live {
		count[r.Version]++
		if r.Since.After(latest[r.Version]) {
			latest[r.Version] = r.Since
		}
	}
	versions := make([]string, 0, len(count))
	for v := range count {
		versions = append(versions, v)
	}
	sort.Slice(versions, func(i, j int) bool {
		a, b := versions[i], versions[j]
		if count[a] != count[b] {
			return count[a] > count[b]
		}
		if !latest[a].Equal(latest[b]) {
			return latest[a].After(latest[b])
		}
		return a < b
	})
	v := clusterView{Node: self.Node, Nodes: len(live), Version: self.Version}
	if len(versions) > 0 {
		v.ClusterVersion = versions[0]
		v.Mismatch = versions[0] != self.Version
		for _, o := range versions {
			if o != self.Version {
				v.Others = append(v.Others, short(o))
			}
		}
	}
	v.Version = short(v.Version)
	v.ClusterVersion = short(v.ClusterVersion)
	c.mu.Lock()
	v.SourcesLeader = c.isLeader
	c.view = v
	c.mu.Unlock()
	c.nodes.Set(float64(len(live)))
	if v.Mismatch {
		c.mismatch.Set(1)
		c.app.logger.Warn("this node's configuration differs from the cluster's", "node", self.Node,
			"version", v.Version, "cluster_version", v.ClusterVersion)
	} else {
		c.mismatch.Set(0)
	}
}

// View returns the last computed view.
func (c *cluster) View() clusterView {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view
}

func (c *cluster) setLeader(b bool) {
	c.mu.Lock()
	c.isLeader = b
	c.view.SourcesLeader = b
	c.mu.Unlock()
	if b {
		c.leader.Set(1)
	} else {
		c.leader.Set(0)
	}
}

// runSources runs the event sources: on a shared store only while this
// node leads, elsewhere always.
func (a *App) runSources(ctx context.Context) {
	el, ok := a.store.(elector)
	if !ok {
		a.cluster.setLeader(true)
		a.sources.start(a.Config())
		return
	}
	go el.Lead(ctx, "sources", func(lctx context.Context) {
		a.cluster.setLeader(true)
		a.sources.start(a.Config())
		if tail, ok := a.store.(eventTail); ok {
			a.tailBeats(lctx, tail)
		} else {
			<-lctx.Done()
		}
		a.sources.stop()
		a.cluster.setLeader(false)
	})
}

// tailBeats offers the leader's heartbeats the events of their types that
// any node accepted (its own are offered at once by OnAccepted too).
func (a *App) tailBeats(ctx context.Context, tail eventTail) {
	seen := map[string]time.Time{}
	t := time.NewTicker(tailEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var types []string
		for _, hb := range a.Config().Heartbeats {
			types = append(types, hb.Type)
		}
		if len(types) == 0 {
			continue
		}
		now := a.opts.Now()
		evs, err := tail.EventsSince(ctx, types, now.Add(-tailLookback), 10000)
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Warn("cannot read beats accepted by other nodes", "err", err)
			}
			continue
		}
		for i := range evs {
			if _, ok := seen[evs[i].ID]; ok {
				continue
			}
			seen[evs[i].ID] = now
			a.sources.observe(&evs[i])
		}
		for id, at := range seen {
			if now.Sub(at) > 2*tailLookback {
				delete(seen, id)
			}
		}
	}
}

// short is a configuration version as logs and /readyz show it.
func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}
