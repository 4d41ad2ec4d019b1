// Package schedule is the cron event source: every configured schedule
// emits its event on each tick of its expression, in its time zone.
//
// The last tick fired is kept in the store's state (schedule/<name>), so
// ticks missed while the server was down are noticed at start: with
// catch_up (the default) the latest of them fires once, marked with the
// extension catchup=true; without, they are skipped. A tick's event has
// the id "<name>/<tick unix seconds>", so a tick that is emitted again
// (a crash between emitting and recording it) starts nothing new.
package schedule

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/source"
)

// Kind names schedules in event sources and state keys.
const Kind = "schedule"

// Retry bounds for a tick whose event could not be emitted (the store is
// unavailable): the tick is retried, never dropped.
const (
	minRetry = time.Second
	maxRetry = time.Minute
)

// Options are what a Scheduler needs from its caller.
type Options struct {
	Emitter source.Emitter
	State   source.State
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Scheduler runs schedules, one goroutine each.
type Scheduler struct {
	jobs []*job
	// loops are the jobs' goroutines, in the same order.
	loops []*source.Loop
}

// New returns a Scheduler for the schedules. Ticks due before now (the
// moment New is called) count as missed while the server was down. It
// does not start: call Start.
func New(schedules map[string]*config.Schedule, opts Options) *Scheduler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{}
	started := opts.Now()
	for _, cfg := range schedules {
		j := &job{
			cfg:     cfg,
			opts:    opts,
			ticks:   newTicks(cfg.Cron, cfg.Location),
			started: started,
			key:     source.StateKey(Kind, cfg.Name),
			spec:    cfg.Expression + " " + cfg.Location.String(),
			log:     opts.Logger.With("schedule", cfg.Name),
		}
		s.jobs = append(s.jobs, j)
	}
	slices.SortFunc(s.jobs, func(a, b *job) int { return cmp.Compare(a.cfg.Name, b.cfg.Name) })
	for _, j := range s.jobs {
		s.loops = append(s.loops, source.NewLoop(opts.Now, j.evaluate))
	}
	return s
}

// Start starts every schedule's goroutine.
func (s *Scheduler) Start() {
	for _, l := range s.loops {
		l.Start()
	}
}

// Wake makes every schedule look at the clock again now (after a test
// moved it).
func (s *Scheduler) Wake() {
	for _, l := range s.loops {
		l.Wake()
	}
}

// Stop stops every schedule and returns once their goroutines have
// exited. It is idempotent.
func (s *Scheduler) Stop() {
	for _, l := range s.loops {
		l.Stop()
	}
}

// state is a schedule's durable state.
type state struct {
	// Last is the last tick fired, or when the schedule was first seen:
	// the ticks after it are still to fire.
	Last time.Time `json:"last"`
	// Spec is the expression and time zone Last belongs to. When it
	// changes, the schedule starts afresh rather than catching up on
	// ticks of an expression that was never configured.
	Spec string `json:"spec"`
}

// job is one schedule. Only its Loop's goroutine (or a test) calls
// evaluate, so its fields need no lock.
type job struct {
	cfg     *config.Schedule
	opts    Options
	ticks   *ticks
	started time.Time
	key     string
	spec    string
	log     *slog.Logger

	loaded bool
	last   time.Time
	retry  time.Duration
}

// evaluate fires the tick that is due, if any, and returns when the next
// one is.
func (j *job) evaluate(ctx context.Context) time.Time {
	now := j.opts.Now()
	if !j.loaded {
		if err := j.load(ctx, now); err != nil {
			j.log.Warn("schedule state unavailable; retrying", "err", err)
			return now.Add(j.backoff())
		}
	}
	first := j.ticks.next(j.last)
	if first.IsZero() {
		return time.Time{} // no tick within five years; look again later
	}
	if first.After(now) {
		return first
	}
	// Several ticks may have passed (downtime, a suspended machine): they
	// fire once, as the latest of them.
	tick := j.ticks.latest(first, now)
	catchUp := tick.Before(j.started)
	if catchUp && !j.cfg.CatchUp {
		j.log.Info("skipping ticks missed while the server was down (catch_up: false)", "first", first, "last", tick)
	} else {
		if err := j.opts.Emitter.Emit(ctx, []herald.Event{j.event(tick, catchUp)}); err != nil {
			j.log.Warn("cannot emit the schedule's event; retrying", "tick", tick, "err", err)
			return now.Add(j.backoff())
		}
		if catchUp {
			j.log.Info("fired a tick missed while the server was down", "tick", tick, "first_missed", first)
		} else {
			j.log.Debug("schedule fired", "tick", tick)
		}
	}
	j.retry = 0
	j.last = tick
	if err := source.PutJSON(ctx, j.opts.State, j.key, state{Last: tick, Spec: j.spec}); err != nil {
		// The tick fired; if it fires again after a restart, its id
		// makes it a duplicate.
		j.log.Warn("cannot record the schedule's tick", "tick", tick, "err", err)
	}
	return j.ticks.next(tick)
}

// load reads the last tick fired. A schedule seen for the first time (or
// whose expression changed) starts now, and says so durably, so that a
// tick missed before its first one fired is still caught up.
func (j *job) load(ctx context.Context, now time.Time) error {
	var st state
	found, err := source.GetJSON(ctx, j.opts.State, j.key, &st)
	if err != nil {
		return err
	}
	if found && st.Spec == j.spec {
		j.last, j.loaded = st.Last, true
		return nil
	}
	if err := source.PutJSON(ctx, j.opts.State, j.key, state{Last: now, Spec: j.spec}); err != nil {
		return err
	}
	j.last, j.loaded = now, true
	return nil
}

// event is the event of one tick.
func (j *job) event(tick time.Time, catchUp bool) herald.Event {
	ev := herald.Event{
		SpecID:  j.cfg.Name + "/" + strconv.FormatInt(tick.Unix(), 10),
		Source:  source.Name(Kind, j.cfg.Name),
		Type:    j.cfg.Event.Type,
		Subject: j.cfg.Event.Subject,
		Time:    tick.UTC(),
		Data:    j.cfg.Event.Data,
	}
	if len(ev.Data) > 0 {
		ev.DataContentType = "application/json"
	}
	if catchUp {
		ev.Extensions = map[string]any{"catchup": true}
	}
	return ev
}

func (j *job) backoff() time.Duration {
	j.retry = min(max(2*j.retry, minRetry), maxRetry)
	return j.retry
}
