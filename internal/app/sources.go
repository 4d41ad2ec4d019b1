package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/engine"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/netguard"
	"github.com/herald-notify/herald/internal/source"
	"github.com/herald-notify/herald/internal/source/heartbeat"
	"github.com/herald-notify/herald/internal/source/monitor"
	"github.com/herald-notify/herald/internal/source/schedule"
)

// sources runs the configuration's event sources — schedules, heartbeats
// and monitors — next to the engine: started after it, stopped before it,
// and replaced on a reload. Their events go through the engine's Accept
// like any other, and every accepted event is offered to the heartbeats.
type sources struct {
	engine *engine.Engine
	state  source.State
	logger *slog.Logger
	now    func() time.Time

	// beats is read by every Accept, so it is swapped atomically.
	beats atomic.Pointer[heartbeat.Tracker]

	mu      sync.Mutex
	running bool
	// started is when the sources first started (the process's start,
	// for heartbeats replaced by a reload).
	started  time.Time
	schedule *schedule.Scheduler
	monitors *monitor.Monitors
}

func newSources(e *engine.Engine, st source.State, logger *slog.Logger, now func() time.Time) *sources {
	return &sources{engine: e, state: st, logger: logger, now: now}
}

// observe offers an event the engine committed (from the API, a source
// or an emit step; never a duplicate) to the heartbeats.
func (s *sources) observe(ev *herald.Event) {
	if tr := s.beats.Load(); tr != nil {
		tr.Observe(ev)
	}
}

// emit is the sources' Emitter.
func (s *sources) emit(ctx context.Context, events []herald.Event) error {
	_, err := s.engine.Accept(ctx, events)
	return err
}

// start starts the sources of cfg. Starting running sources does
// nothing.
func (s *sources) start(cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	s.running = true
	if s.started.IsZero() {
		s.started = s.now()
	}
	s.startLocked(cfg)
}

func (s *sources) startLocked(cfg *config.Config) {
	emitter := source.EmitFunc(s.emit)
	tr := heartbeat.New(cfg.Heartbeats, heartbeat.Options{
		Emitter: emitter, State: s.state, Logger: s.logger, Now: s.now, Started: s.started,
	})
	// The new tracker takes beats before the old one writes its last;
	// when it reads the state it keeps whichever beat is newer.
	if old := s.beats.Swap(tr); old != nil {
		old.Stop()
	}
	tr.Start()
	s.schedule = schedule.New(cfg.Schedules, schedule.Options{
		Emitter: emitter, State: s.state, Logger: s.logger, Now: s.now,
	})
	s.schedule.Start()
	s.monitors = monitor.New(cfg.Monitors, monitor.Options{
		Emitter: emitter, State: s.state, Logger: s.logger, Now: s.now,
		Guard: netguard.New(cfg.Network.AllowPrivate),
	})
	s.monitors.Start()
	if n := len(cfg.Schedules) + len(cfg.Heartbeats) + len(cfg.Monitors); n > 0 {
		s.logger.Info("event sources started", "schedules", len(cfg.Schedules), "heartbeats", len(cfg.Heartbeats), "monitors", len(cfg.Monitors))
	}
}

// reload replaces running sources by those of cfg. Schedules and
// monitors continue from their durable state; heartbeats keep their
// deadlines.
func (s *sources) reload(cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return // start reads the configuration in use
	}
	s.schedule.Stop()
	s.monitors.Stop()
	s.startLocked(cfg)
}

// stop stops every source and returns once their goroutines have exited
// and the heartbeats' last-seen times are written. It is idempotent.
func (s *sources) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	s.running = false
	s.schedule.Stop()
	s.monitors.Stop()
	// Beats go nowhere until the sources start again (on a cluster,
	// when this node leads again).
	if tr := s.beats.Swap(nil); tr != nil {
		tr.Stop()
	}
}
