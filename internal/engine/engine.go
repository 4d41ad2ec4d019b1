// Package engine runs Herald's workflows: it accepts events, starts a run
// for every matching rule, executes each run's steps, delivers the
// messages they create through the channels with retries and backoff,
// and records everything in the store.
//
// Work moves between three places: the HTTP request that accepts an
// event (one group-committed transaction for the event, its runs and
// their first jobs), in-process worker pools (a run or message created by
// this process is handed to a pool already leased, without a database
// round trip), and the poller, which claims from the database whatever is
// due and not held: retries, work beyond the pools' capacity, and work
// whose holder died.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// Snapshot is one configuration version with the senders built for it.
type Snapshot struct {
	Config *config.Config
	// Senders by channel name. Snapshots of old versions loaded for
	// runs that started under them have none: delivery always uses the
	// current senders, so a fixed password or URL applies to retries.
	Senders map[string]channel.Sender
	rules   map[string]*config.Rule
	// waits lists, by event type, the wait_event steps waiting for it, so
	// an arriving event computes its correlation values once per step.
	waits map[string][]*config.WaitEvent
}

// NewSnapshot indexes a configuration for the engine.
func NewSnapshot(cfg *config.Config, senders map[string]channel.Sender) *Snapshot {
	s := &Snapshot{Config: cfg, Senders: senders, rules: make(map[string]*config.Rule, len(cfg.Rules)),
		waits: map[string][]*config.WaitEvent{}}
	for _, r := range cfg.Rules {
		s.rules[r.Name] = r
		for _, st := range r.Steps {
			if st.WaitEvent != nil && st.WaitEvent.Type != "" {
				s.waits[st.WaitEvent.Type] = append(s.waits[st.WaitEvent.Type], st.WaitEvent)
			}
		}
	}
	return s
}

// VersionLoader loads a configuration version a run started under, after
// a restart or a reload replaced it in memory.
type VersionLoader func(ctx context.Context, version string) (*config.Config, error)

// Options configures an Engine.
type Options struct {
	Store   store.Store
	Logger  *slog.Logger
	Metrics *Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// LoadVersion loads configuration versions not in memory.
	LoadVersion VersionLoader
	// PollInterval is the longest the poller sleeps (default 250ms).
	PollInterval time.Duration
	// QueueCapacity bounds the jobs one pool holds in memory (default 2048).
	QueueCapacity int
	// RunConcurrency is the number of runs executed at once (default 8).
	RunConcurrency int
	// AckURL returns the acknowledgment link of a run, for the ackURL
	// template function (nil: ackURL renders "").
	AckURL func(runID string) string
	// OnAccepted, when set, is called with every event after it is
	// committed (accepted or emitted, never a duplicate). It must be fast.
	OnAccepted func(ev *herald.Event)
}

// Engine executes workflows. Start it once; Stop it once.
type Engine struct {
	store   store.Store
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time
	load    VersionLoader
	pollInt time.Duration
	qcap    int
	ackURL  func(runID string) string
	onAcc   func(ev *herald.Event)

	current  atomic.Pointer[Snapshot]
	mu       sync.Mutex
	versions map[string]*Snapshot
	pools    map[string]*pool // by channel name
	runs     *pool

	node string
	seq  atomic.Uint64
	wake chan struct{}
	// ctx bounds deliveries and steps; it is cancelled only when a
	// drain runs out of time. pollCtx stops the poller and the pruner
	// first, so nothing new is claimed while draining.
	ctx        context.Context
	cancel     context.CancelFunc
	pollCtx    context.Context
	pollCancel context.CancelFunc
	wg         sync.WaitGroup
	started    atomic.Bool
	stopped    atomic.Bool
	// commits tracks goroutines waiting for a commit (see async).
	commits inflight

	// cancelled remembers runs cancelled recently through this process,
	// so messages of theirs already queued in memory are not sent.
	cmu       sync.Mutex
	cancelled map[string]time.Time

	// policy is the state of the channels' delivery policies.
	policy *policies
}

// MarkCancelled records runs as cancelled: their messages still queued
// in this process are dropped instead of sent (the store has already
// suppressed them).
func (e *Engine) MarkCancelled(ids ...string) {
	if len(ids) == 0 {
		return
	}
	now := e.now()
	e.cmu.Lock()
	defer e.cmu.Unlock()
	if e.cancelled == nil {
		e.cancelled = map[string]time.Time{}
	}
	if len(e.cancelled) > 10000 {
		for id, at := range e.cancelled {
			if now.Sub(at) > time.Hour {
				delete(e.cancelled, id)
			}
		}
	}
	for _, id := range ids {
		e.cancelled[id] = now
	}
}

func (e *Engine) isCancelled(runID string) bool {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	_, ok := e.cancelled[runID]
	return ok
}

// async runs fn, a commit and what follows it, in its own goroutine that
// Stop waits for.
func (e *Engine) async(fn func()) {
	e.commits.add()
	go func() {
		defer e.commits.done()
		fn()
	}()
}

// inflight counts goroutines and waits for none to be left. Unlike a
// WaitGroup, it may gain members while somebody waits (a delivery that
// finishes during the drain starts its commit).
type inflight struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

func (f *inflight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 && f.cond != nil {
		f.cond.Broadcast()
	}
	f.mu.Unlock()
}

// wait returns once no member is left.
func (f *inflight) wait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cond == nil {
		f.cond = sync.NewCond(&f.mu)
	}
	for f.n > 0 {
		f.cond.Wait()
	}
}

// New returns an engine running cfg. It does not start work: call Start.
func New(snap *Snapshot, opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.QueueCapacity <= 0 {
		opts.QueueCapacity = 2048
	}
	if opts.RunConcurrency <= 0 {
		opts.RunConcurrency = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	var node [6]byte
	rand.Read(node[:])
	e := &Engine{
		store:    opts.Store,
		logger:   opts.Logger,
		metrics:  opts.Metrics,
		now:      opts.Now,
		load:     opts.LoadVersion,
		pollInt:  opts.PollInterval,
		ackURL:   opts.AckURL,
		onAcc:    opts.OnAccepted,
		qcap:     opts.QueueCapacity,
		versions: map[string]*Snapshot{},
		pools:    map[string]*pool{},
		node:     hex.EncodeToString(node[:]),
		wake:     make(chan struct{}, 1),
		policy:   newPolicies(),
	}
	e.runs = e.newPool("runs", opts.RunConcurrency)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.pollCtx, e.pollCancel = context.WithCancel(e.ctx)
	e.SetConfig(snap)
	return e
}

func (e *Engine) newPool(name string, limit int) *pool {
	p := newPool(name, limit, e.qcap, e.now, time.Second)
	p.dropped = func() { e.metrics.leaseDropped.Inc() }
	return p
}

// SetConfig makes snap the configuration new events run under. Runs that
// started under an earlier version keep it.
func (e *Engine) SetConfig(snap *Snapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.versions[snap.Config.Version] = snap
	e.current.Store(snap)
	for name, ch := range snap.Config.Channels {
		limit := ch.Concurrency
		if limit <= 0 {
			limit = snap.Config.Delivery.Concurrency
		}
		p, ok := e.pools[name]
		if ok {
			p.setLimit(limit)
		} else {
			p = e.newPool(name, limit)
			e.pools[name] = p
		}
		p.setMargin(e.attemptTimeout(snap.Config, name) + time.Second)
	}
	e.metrics.configVersion(snap.Config.Version)
}

// Config returns the current configuration.
func (e *Engine) Config() *config.Config { return e.current.Load().Config }

// snapshot returns the snapshot of a configuration version, loading it
// from the store if needed.
func (e *Engine) snapshot(ctx context.Context, version string) (*Snapshot, error) {
	e.mu.Lock()
	s, ok := e.versions[version]
	e.mu.Unlock()
	if ok {
		return s, nil
	}
	if e.load == nil {
		return nil, fmt.Errorf("configuration version %s is not loaded", version)
	}
	cfg, err := e.load(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("load configuration version %s: %w", version, err)
	}
	s = NewSnapshot(cfg, nil)
	e.mu.Lock()
	if old, ok := e.versions[version]; ok {
		s = old
	} else {
		e.versions[version] = s
	}
	e.mu.Unlock()
	return s, nil
}

// pool returns the delivery pool of a channel.
func (e *Engine) pool(name string) *pool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.pools[name]
	if !ok {
		// A channel that exists only in an old version: deliver with
		// the default limit so its messages still drain (or die visibly).
		cfg := e.current.Load().Config
		p = e.newPool(name, cfg.Delivery.Concurrency)
		p.setMargin(e.attemptTimeout(cfg, name) + time.Second)
		e.pools[name] = p
	}
	return p
}

// newLease returns a fresh lease token valid for d.
func (e *Engine) newLease(d time.Duration) store.Lease {
	return store.Lease{
		Token: e.node + "-" + strconv.FormatUint(e.seq.Add(1), 36),
		Until: e.now().Add(d),
	}
}

// Start starts the poller and the pruner. Workers start on demand.
func (e *Engine) Start() {
	if !e.started.CompareAndSwap(false, true) {
		return
	}
	// Runs still waiting under older configuration versions must have
	// their wait_event steps matched by arriving events: load them now.
	if vs, err := e.store.ActiveVersions(e.ctx); err != nil {
		e.logger.Error("list active configuration versions", "err", err)
	} else {
		for _, v := range vs {
			if _, err := e.snapshot(e.ctx, v); err != nil {
				e.logger.Error("load configuration version of active runs", "version", short(v), "err", err)
			}
		}
	}
	e.wg.Add(2)
	go func() { defer e.wg.Done(); e.pollLoop() }()
	go func() { defer e.wg.Done(); e.pruneLoop() }()
}

// Stop stops claiming new work, lets the work already in memory finish
// (queued and running), and returns. If ctx ends first, running attempts
// are cancelled and queued jobs abandoned: their leases lapse and they are
// taken up again after a restart. Stop is idempotent.
func (e *Engine) Stop(ctx context.Context) error {
	if !e.stopped.CompareAndSwap(false, true) {
		return nil
	}
	e.pollCancel()
	e.wg.Wait()
	e.mu.Lock()
	pools := []*pool{e.runs}
	for _, p := range e.pools {
		pools = append(pools, p)
	}
	e.mu.Unlock()
	done := make(chan struct{})
	go func() {
		// Runs first: a step that finishes while draining hands its
		// messages to the channel pools, which must still take them.
		e.runs.stop()
		e.commits.wait()
		var wg sync.WaitGroup
		for _, p := range pools[1:] {
			wg.Go(p.stop)
		}
		wg.Wait()
		e.commits.wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("engine: drain: %w", ctx.Err())
		for _, p := range pools {
			p.abandon()
		}
		e.cancel()
		<-done
	}
	e.cancel()
	return err
}

// Wake tells the poller to look for due work now.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Idle reports whether no job is queued or running in memory and no
// commit is in flight: everything due so far has been done. Tests use it
// before asserting that something did not happen.
func (e *Engine) Idle() bool {
	e.commits.mu.Lock()
	n := e.commits.n
	e.commits.mu.Unlock()
	return n == 0 && e.Drained()
}

// Drained reports whether no job is queued or running in memory; tests
// and the load tool use it.
func (e *Engine) Drained() bool {
	e.mu.Lock()
	pools := []*pool{e.runs}
	for _, p := range e.pools {
		pools = append(pools, p)
	}
	e.mu.Unlock()
	for _, p := range pools {
		// A reservation is a job on its way: a claim that has committed
		// but not been pushed yet is not idle.
		if q, r := p.depth(); q+r+p.reservations() > 0 {
			return false
		}
	}
	return true
}
