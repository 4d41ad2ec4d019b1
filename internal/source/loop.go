package source

import (
	"context"
	"sync"
	"time"
)

// MaxWait bounds how long a Loop sleeps before it evaluates again. Timers
// run on the monotonic clock while ticks are wall-clock times, so after
// the wall clock is set or the machine wakes from suspend a long sleep
// could overshoot; evaluating at least this often bounds the error.
const MaxWait = time.Minute

// Loop owns one goroutine that calls an evaluation function whenever the
// time it last asked for comes, or when woken, until stopped. Sources
// keep their logic in the function, which tests call directly with an
// injected clock; the Loop only does the waiting.
type Loop struct {
	now  func() time.Time
	eval func(ctx context.Context) time.Time
	wake chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	started bool
	stopped bool
}

// NewLoop returns a Loop around eval, which does the work due at now()
// and returns when it wants to be called next (zero: nothing is due; it
// is still called every MaxWait).
// It does not start: call Start.
func NewLoop(now func() time.Time, eval func(ctx context.Context) time.Time) *Loop {
	ctx, cancel := context.WithCancel(context.Background())
	return &Loop{now: now, eval: eval, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Start starts the goroutine, which evaluates at once. Starting a started
// or stopped Loop does nothing.
func (l *Loop) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return
	}
	l.started = true
	go l.run()
}

// Wake makes the Loop evaluate as soon as it can (after the evaluation in
// progress, if any). It never blocks.
func (l *Loop) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Stop cancels the evaluation in progress (its context ends) and returns
// once the goroutine has exited. It is idempotent and safe to call on a
// Loop that never started.
func (l *Loop) Stop() {
	l.mu.Lock()
	started := l.started
	l.stopped = true
	l.mu.Unlock()
	l.cancel()
	if started {
		<-l.done
	}
}

func (l *Loop) run() {
	defer close(l.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := l.eval(l.ctx)
		if l.ctx.Err() != nil {
			return
		}
		wait := MaxWait
		if !next.IsZero() {
			wait = min(max(next.Sub(l.now()), 0), MaxWait)
		}
		timer.Reset(wait)
		select {
		case <-l.ctx.Done():
			return
		case <-l.wake:
		case <-timer.C:
		}
	}
}
