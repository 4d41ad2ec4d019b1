package engine

import (
	"context"
	"time"
)

// wakeupSource is a store that signals when work became due for any
// worker (another node's commit, an acknowledgment, a retry).
type wakeupSource interface {
	Wakeups() <-chan struct{}
}

// storeWakeSpacing is the least time between two polls triggered by the
// store's wake-ups (other nodes' commits).
const storeWakeSpacing = 20 * time.Millisecond

// claimBatch is the most jobs one claim takes from one queue.
const claimBatch = 256

// pollLoop claims due work the in-process hand-off did not cover:
// retries that came due, work created while pools were full, and work
// whose lease expired because its holder died.
func (e *Engine) pollLoop() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	// A shared store (PostgreSQL) tells when another node made work due,
	// so idle nodes need not poll tightly; SQLite has no other writers.
	var wakeups <-chan struct{}
	if w, ok := e.store.(wakeupSource); ok {
		wakeups = w.Wakeups()
	}
	var last time.Time
	for {
		select {
		case <-e.pollCtx.Done():
			return
		case <-e.wake:
		case <-wakeups:
			// Another node's commits wake every node: under load that is
			// a notification per transaction. Poll at most every
			// storeWakeSpacing for them; the wake-ups meanwhile fold into
			// one (the channel holds one).
			if d := storeWakeSpacing - time.Since(last); d > 0 {
				select {
				case <-time.After(d):
				case <-e.pollCtx.Done():
					return
				}
			}
		case <-timer.C:
		}
		last = time.Now()
		more := e.pollOnce()
		wait := e.pollInt
		if more {
			wait = 0
		} else if next, err := e.store.NextDue(e.pollCtx); err == nil && next.After(e.now()) {
			// Sleep until the next job is due. Work already due that could
			// not be claimed (full pools) waits for a wake-up or the
			// interval, not a busy loop.
			wait = min(wait, next.Sub(e.now()))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wait, time.Millisecond))
	}
}

// pollOnce claims due jobs into the pools that have room and reports
// whether a full batch was claimed (so there may be more).
func (e *Engine) pollOnce() bool {
	if e.stopped.Load() {
		return false
	}
	ctx := e.pollCtx
	now := e.now()
	next, err := e.store.NextDue(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.logger.Error("poll", "err", err)
		}
		return false
	}
	if next.IsZero() || next.After(now) {
		return false
	}
	more := false
	snap := e.current.Load()
	if n := e.runs.reserve(claimBatch); n > 0 {
		lease := e.newLease(snap.Config.Delivery.Lease)
		jobs, err := e.store.ClaimRuns(ctx, lease, now, n)
		if err != nil && ctx.Err() == nil {
			e.logger.Error("claim runs", "err", err)
		}
		e.runs.release(n - len(jobs))
		for _, j := range jobs {
			e.metrics.claimed.WithLabelValues("runs").Inc()
			e.pushRun(j, true)
		}
		more = more || len(jobs) == n
	}
	// Claim for every channel that has due messages, including channels
	// no longer configured: their messages die visibly ("not configured")
	// instead of staying pending forever.
	names, err := e.store.DueChannels(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			e.logger.Error("poll", "err", err)
		}
		return more
	}
	for _, name := range names {
		p := e.pool(name)
		n := p.reserve(claimBatch)
		if n == 0 {
			continue
		}
		lease := e.newLease(e.messageLease(snap, name))
		jobs, err := e.store.ClaimMessages(ctx, []string{name}, lease, now, n)
		if err != nil && ctx.Err() == nil {
			e.logger.Error("claim messages", "channel", name, "err", err)
		}
		p.release(n - len(jobs))
		for _, j := range jobs {
			e.metrics.claimed.WithLabelValues(name).Inc()
			p.push(&job{priority: int(j.Message.Priority), leaseUntil: j.Lease.Until, run: func() { e.deliver(j) }}, true)
		}
		more = more || len(jobs) == n
	}
	return more
}

// pruneLoop deletes old finished records, a slice at a time.
func (e *Engine) pruneLoop() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-e.pollCtx.Done():
			return
		case <-t.C:
		}
		e.Prune(e.pollCtx)
	}
}

// Prune deletes events (with their runs, messages and attempts) older
// than the retention, in slices so ingestion is never blocked for long.
func (e *Engine) Prune(ctx context.Context) int {
	cfg := e.current.Load().Config
	if cfg.Retention.Events <= 0 {
		return 0
	}
	now := e.now()
	total := 0
	for ctx.Err() == nil {
		n, err := e.store.Prune(ctx, now.Add(-cfg.Retention.Events), now.Add(-cfg.Retention.Idempotency), 500)
		if err != nil {
			e.logger.Error("prune", "err", err)
			break
		}
		total += n
		if n < 500 {
			break
		}
	}
	if total > 0 {
		e.logger.Info("pruned old events", "events", total)
	}
	return total
}
