// Package monitor is the HTTP check event source: every configured
// monitor requests its URL each interval and emits monitor.down after
// `failures` failed checks in a row and monitor.up after `successes` good
// ones — only when the state changes, so a flapping service does not
// become a storm of messages.
//
// The state (up or down, and since when) is kept in the store's state
// (monitor/<name>), so a restart does not announce it again. A monitor
// seen for the first time starts unknown: reaching up from there is not
// announced (nothing was down), reaching down is.
//
// Checks go through netguard: loopback and private addresses are refused
// unless network.allow_private allows them, and redirects are not
// followed (a 3xx is the check's answer).
package monitor

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/netguard"
	"github.com/herald-notify/herald/internal/source"
)

// Kind names monitors in event sources and state keys.
const Kind = "monitor"

// The event types monitors emit.
const (
	TypeDown = "monitor.down"
	TypeUp   = "monitor.up"
)

// Monitor states.
const (
	stateUnknown = ""
	stateUp      = "up"
	stateDown    = "down"
)

// Options are what Monitors need from their caller.
type Options struct {
	Emitter source.Emitter
	State   source.State
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Guard decides which addresses checks may reach; default: public
	// addresses only.
	Guard *netguard.Guard
}

// Monitors runs HTTP checks, one goroutine per monitor, so a slow check
// never delays another.
type Monitors struct {
	checks []*check
	loops  []*source.Loop
}

// New returns the checks of the monitors. It does not start: call Start.
func New(monitors map[string]*config.Monitor, opts Options) *Monitors {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Guard == nil {
		opts.Guard = netguard.New(nil)
	}
	m := &Monitors{}
	for _, cfg := range monitors {
		m.checks = append(m.checks, &check{
			cfg:    cfg,
			opts:   opts,
			client: opts.Guard.HTTPClient(cfg.Timeout),
			key:    source.StateKey(Kind, cfg.Name),
			url:    redactURL(cfg.URL),
			log:    opts.Logger.With("monitor", cfg.Name),
		})
	}
	slices.SortFunc(m.checks, func(a, b *check) int { return cmp.Compare(a.cfg.Name, b.cfg.Name) })
	for _, c := range m.checks {
		m.loops = append(m.loops, source.NewLoop(opts.Now, c.evaluate))
	}
	return m
}

// Start starts every monitor's goroutine; each checks at once.
func (m *Monitors) Start() {
	for _, l := range m.loops {
		l.Start()
	}
}

// Wake makes every monitor look at the clock again now (after a test
// moved it).
func (m *Monitors) Wake() {
	for _, l := range m.loops {
		l.Wake()
	}
}

// Stop stops every monitor, cancelling checks in flight, and returns once
// their goroutines have exited. It is idempotent.
func (m *Monitors) Stop() {
	for _, l := range m.loops {
		l.Stop()
	}
	for _, c := range m.checks {
		c.client.CloseIdleConnections()
	}
}

// stored is a monitor's durable state.
type stored struct {
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

// check is one monitor. Only its Loop's goroutine (or a test) calls
// evaluate, so its fields need no lock.
type check struct {
	cfg    *config.Monitor
	opts   Options
	client *http.Client
	key    string
	url    string
	log    *slog.Logger

	loaded bool
	state  string
	since  time.Time
	// fails and oks count the current streak, which began at
	// streakSince.
	fails, oks  int
	streakSince time.Time
	// last is when the last check started (zero: none yet).
	last  time.Time
	retry time.Duration
}

// evaluate runs the check if it is due, emits a state change, and returns
// when the next check is due.
func (c *check) evaluate(ctx context.Context) time.Time {
	now := c.opts.Now()
	if !c.loaded {
		var st stored
		found, err := source.GetJSON(ctx, c.opts.State, c.key, &st)
		if err != nil {
			c.log.Warn("monitor state unavailable; retrying", "err", err)
			c.retry = min(max(2*c.retry, time.Second), c.cfg.Interval)
			return now.Add(c.retry)
		}
		if found {
			c.state, c.since = st.State, st.Since
		}
		c.loaded = true
	}
	if due := c.last.Add(c.cfg.Interval); !c.last.IsZero() && now.Before(due) {
		return due
	}
	c.last = now
	r := c.probe(ctx)
	if ctx.Err() != nil {
		return time.Time{} // stopping: a cancelled check says nothing
	}
	c.observe(ctx, now, r)
	return now.Add(c.cfg.Interval)
}

// observe counts one check's result and changes state when a streak is
// long enough.
func (c *check) observe(ctx context.Context, now time.Time, r result) {
	if r.ok() {
		if c.oks == 0 {
			c.streakSince = now
		}
		c.oks, c.fails = c.oks+1, 0
	} else {
		if c.fails == 0 {
			c.streakSince = now
		}
		c.fails, c.oks = c.fails+1, 0
		c.log.Debug("monitor check failed", "status", r.status, "err", r.err, "failures", c.fails)
	}
	to := c.state
	switch {
	case c.state != stateUp && c.oks >= c.cfg.Successes:
		to = stateUp
	case c.state != stateDown && c.fails >= c.cfg.Failures:
		to = stateDown
	}
	if to == c.state {
		return
	}
	// From unknown (first start) only down is news.
	if c.state != stateUnknown || to == stateDown {
		if err := c.opts.Emitter.Emit(ctx, []herald.Event{c.event(to, r)}); err != nil {
			// The streak goes on; the next check tries again.
			c.log.Warn("cannot emit the monitor's state change; retrying at the next check", "state", to, "err", err)
			return
		}
		c.log.Info("monitor "+to, "since", c.streakSince, "status", r.status, "err", r.err)
	}
	c.state, c.since = to, c.streakSince
	if err := source.PutJSON(ctx, c.opts.State, c.key, stored{State: c.state, Since: c.since}); err != nil {
		// Announced but not recorded: after a restart the change may be
		// announced again, under the same id.
		c.log.Warn("cannot record the monitor's state", "err", err)
	}
}
