package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// Accepted is the outcome of accepting one event.
type Accepted struct {
	// ID is Herald's id of the event (the original's, for a duplicate).
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Runs is the number of runs the event started.
	Runs int `json:"runs"`
}

// Accept durably stores events (all or nothing) together with one run per
// matching rule, each with its first step due at once, and returns once
// that has committed. Runs are handed to this process's workers directly.
func (e *Engine) Accept(ctx context.Context, events []herald.Event) ([]Accepted, error) {
	if e.stopped.Load() {
		return nil, herald.Errorf(herald.EUNAVAILABLE, "server is shutting down")
	}
	snap := e.current.Load()
	now := e.now()
	items := make([]store.IngestItem, len(events))
	total := 0
	for i := range events {
		ev := events[i]
		ev.ID = herald.NewIDAt(now)
		ev.ReceivedAt = now
		if ev.Time.IsZero() {
			ev.Time = now
		}
		runs, err := e.match(snap, &ev, now)
		if err != nil {
			return nil, err
		}
		items[i] = store.IngestItem{Event: ev, Runs: runs}
		items[i].WaitKeys, items[i].Cancels = e.correlations(&ev)
		for _, r := range runs {
			if r.Run.Status == herald.RunRunning {
				total++
			}
		}
	}
	reserved := e.runs.reserve(total)
	lease := e.newLease(snap.Config.Delivery.Lease)
	handed := 0
	for i := range items {
		for j := range items[i].Runs {
			if handed < reserved && items[i].Runs[j].Run.Status == herald.RunRunning {
				items[i].Runs[j].Lease = &lease
				handed++
			}
		}
	}
	res, err := e.store.Ingest(context.WithoutCancel(ctx), items, snap.Config.Retention.Idempotency)
	if err != nil {
		e.runs.release(reserved)
		return nil, err
	}
	out := make([]Accepted, len(items))
	for i, r := range res {
		out[i] = Accepted{ID: r.EventID, Duplicate: r.Duplicate}
		if r.Duplicate {
			for _, nr := range items[i].Runs {
				if nr.Lease != nil {
					e.runs.release(1)
				}
			}
			e.metrics.eventsDuplicate.Inc()
			continue
		}
		out[i].Runs = len(items[i].Runs)
		e.metrics.eventsAccepted.Inc()
		e.MarkCancelled(r.CancelledRuns...)
		if r.Woken > 0 {
			e.Wake()
		}
		e.handRuns(&items[i])
	}
	return out, nil
}

// handRuns gives the leased runs of a committed item to the run pool.
func (e *Engine) handRuns(it *store.IngestItem) {
	if e.onAcc != nil {
		e.onAcc(&it.Event)
	}
	for _, nr := range it.Runs {
		e.metrics.runsStarted.Inc()
		if nr.Run.Status != herald.RunRunning {
			e.metrics.runsFinished.WithLabelValues(string(nr.Run.Status)).Inc()
			continue
		}
		if nr.Lease == nil {
			e.Wake()
			continue
		}
		e.pushRun(store.RunJob{Run: nr.Run, Event: it.Event, Lease: *nr.Lease}, true)
	}
}

func (e *Engine) pushRun(j store.RunJob, reserved bool) {
	e.runs.push(&job{leaseUntil: j.Lease.Until, run: func() { e.executeRun(j) }}, reserved)
}

// match returns a new run for every rule the event triggers.
func (e *Engine) match(snap *Snapshot, ev *herald.Event, now time.Time) ([]store.NewRun, error) {
	var runs []store.NewRun
	var evScope map[string]any
	for _, r := range snap.Config.Rules {
		if !matches(r, ev.Type) {
			continue
		}
		if evScope == nil {
			evScope = eventScope(ev)
		}
		run := herald.Run{
			ID:            herald.NewIDAt(now),
			EventID:       ev.ID,
			Rule:          r.Name,
			ConfigVersion: snap.Config.Version,
			Status:        herald.RunRunning,
			CreatedAt:     now,
			UpdatedAt:     now,
			DueAt:         now,
		}
		data := scope(evScope, &run, &runState{Steps: map[string]any{}})
		if r.If != nil {
			ok, err := r.If.Eval(data)
			if err != nil {
				// A condition that cannot be evaluated for this event is
				// recorded as a failed run, not silently skipped.
				run.Status = herald.RunFailed
				run.DueAt = time.Time{}
				run.Error = fmt.Sprintf("rule %s: condition: %v", r.Name, err)
				runs = append(runs, store.NewRun{Run: run})
				continue
			}
			if !ok {
				continue
			}
		}
		key, err := runKey(r, ev, data)
		if err != nil {
			run.Status = herald.RunFailed
			run.DueAt = time.Time{}
			run.Error = fmt.Sprintf("rule %s: key: %v", r.Name, err)
		}
		run.Key = key
		runs = append(runs, store.NewRun{Run: run})
	}
	return runs, nil
}

func matches(r *config.Rule, typ string) bool {
	for _, p := range r.On {
		if p.Match(typ) {
			return true
		}
	}
	return false
}

func runKey(r *config.Rule, ev *herald.Event, data map[string]any) (string, error) {
	if r.Key == nil {
		if ev.Subject == "" {
			return ev.Source, nil
		}
		return ev.Source + "/" + ev.Subject, nil
	}
	return r.Key.Execute(data)
}
