package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// stepState returns the state map of a step, creating it.
func stepState(st *runState, name string) map[string]any {
	m, _ := st.Steps[name].(map[string]any)
	if m == nil {
		m = map[string]any{}
		st.Steps[name] = m
	}
	return m
}

// untilOf returns the deadline a waiting step recorded when it started.
func untilOf(m map[string]any) (time.Time, bool) {
	s, ok := m["until"].(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func setUntil(m map[string]any, t time.Time) { m["until"] = t.UTC().Format(time.RFC3339Nano) }

// wait makes the run wait until t for what.
func wait(out *store.StepOutcome, what string, until time.Time) {
	out.Status = herald.RunWaiting
	out.WaitingFor = what + " until " + until.UTC().Format(time.RFC3339)
	out.DueAt = until
}

// delay pauses the run for a duration or until a time. The deadline is
// fixed when the step starts, so a restart does not extend it.
func (e *Engine) delay(s *config.Step, st *runState, data map[string]any, out *store.StepOutcome, now time.Time) error {
	m := stepState(st, s.Name)
	until, started := untilOf(m)
	if !started {
		d := s.Delay
		switch {
		case d.For != nil:
			txt, err := d.For.Execute(data)
			if err != nil {
				return failf("step %s: %v", s.Name, err)
			}
			dur, err := config.ParseDuration(txt)
			if err != nil {
				return failf("step %s: %q is not a duration: %v", s.Name, txt, err)
			}
			until = now.Add(dur)
		case d.Until != nil:
			txt, err := d.Until.Execute(data)
			if err != nil {
				return failf("step %s: %v", s.Name, err)
			}
			t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(txt))
			if err != nil {
				return failf("step %s: until %q is not an RFC 3339 time", s.Name, txt)
			}
			until = t
		}
		setUntil(m, until)
	}
	if now.Before(until) {
		wait(out, "delay", until)
		return nil
	}
	m["done"] = true
	return nil
}

// waitAck pauses the run until it is acknowledged or the timeout passes.
// A run acknowledged at any earlier point passes at once, which is what
// makes a chain of wait_ack steps an escalation that an ack stops.
func (e *Engine) waitAck(snap *Snapshot, r *config.Rule, s *config.Step, step int, j *store.RunJob,
	st *runState, data map[string]any, out *store.StepOutcome, hands *[]handoff, now time.Time) error {
	m := stepState(st, s.Name)
	if run := &j.Run; !run.AckedAt.IsZero() {
		m["acked"] = true
		m["acked_by"] = run.AckedBy
		m["acked_at"] = run.AckedAt.UTC().Format(time.RFC3339Nano)
		return nil
	}
	until, started := untilOf(m)
	if !started {
		until = now.Add(s.WaitAck.Timeout)
		setUntil(m, until)
	}
	if now.Before(until) {
		wait(out, "ack", until)
		out.WakeOnAck = true
		return nil
	}
	m["timed_out"] = true
	return e.onTimeout(snap, r, s.WaitAck.OnTimeout, step, j, st, data, out, hands, now)
}

// waitEvent pauses the run until a correlated event arrives (the store
// records it as a hit and wakes the run) for which the step's condition
// holds, or the timeout passes.
func (e *Engine) waitEvent(snap *Snapshot, r *config.Rule, s *config.Step, step int, j *store.RunJob,
	st *runState, data map[string]any, out *store.StepOutcome, hands *[]handoff, now time.Time) error {
	w := s.WaitEvent
	m := stepState(st, s.Name)
	until, started := untilOf(m)
	if started {
		hits, err := e.store.Hits(e.ctx, j.Run.ID)
		if err != nil {
			return fmt.Errorf("read hits: %w", err)
		}
		for i := range hits {
			h := &hits[i]
			out.ConsumedHits = append(out.ConsumedHits, h.ID)
			if w.If != nil {
				env := scope(data["event"].(map[string]any), &j.Run, st)
				env["event"] = eventScope(h)
				ok, err := w.If.Eval(env)
				if err != nil {
					e.logger.Warn("wait_event condition", "run", j.Run.ID, "step", s.Name, "event", h.ID, "err", err)
				}
				if !ok {
					continue
				}
			}
			m["event_id"] = h.ID
			m["event"] = eventScope(h)
			out.ClearWaits = true
			return nil
		}
	} else {
		until = now.Add(w.Timeout)
		setUntil(m, until)
	}
	if now.Before(until) {
		key := ""
		if w.Correlate != nil {
			var err error
			if key, err = w.Correlate.Execute(data); err != nil {
				return failf("step %s: correlate: %v", s.Name, err)
			}
		}
		out.Wait = &store.Wait{Type: w.Type, Key: key, StepName: s.Name, Since: j.Event.ReceivedAt}
		wait(out, "event "+w.Type, until)
		out.WakeOnHit = true
		return nil
	}
	m["timed_out"] = true
	out.ClearWaits = true
	return e.onTimeout(snap, r, w.OnTimeout, step, j, st, data, out, hands, now)
}

// onTimeout runs the steps of a wait's on_timeout list, all at once.
func (e *Engine) onTimeout(snap *Snapshot, r *config.Rule, steps []*config.Step, step int, j *store.RunJob,
	st *runState, data map[string]any, out *store.StepOutcome, hands *[]handoff, now time.Time) error {
	for _, s := range steps {
		if s.If != nil {
			ok, err := s.If.Eval(data)
			if err != nil {
				return failf("step %s: condition: %v", s.Name, err)
			}
			if !ok {
				st.Steps[s.Name] = map[string]any{"skipped": true}
				continue
			}
		}
		if err := e.fire(snap, r, s, step, j, st, data, out, hands, now); err != nil {
			return err
		}
	}
	return nil
}

// fire executes a step that completes at once: notify, emit, or a
// webhook not waited for (in on_timeout), recording what it created.
func (e *Engine) fire(snap *Snapshot, r *config.Rule, s *config.Step, step int, j *store.RunJob,
	st *runState, data map[string]any, out *store.StepOutcome, hands *[]handoff, now time.Time) error {
	switch s.Kind {
	case config.StepNotify:
		ids, err := e.notify(snap, r, s, step, j, data, out, hands, now)
		if err != nil {
			return err
		}
		st.Steps[s.Name] = map[string]any{"messages": ids}
	case config.StepWebhook:
		id, err := e.webhook(snap, r, s, step, j, data, out, hands, now)
		if err != nil {
			return err
		}
		st.Steps[s.Name] = map[string]any{"message": id}
	case config.StepEmit:
		id, err := e.emit(r, s, j, data, out, hands, now)
		if err != nil {
			return err
		}
		st.Steps[s.Name] = map[string]any{"event_id": id}
	default:
		return failf("step %s: %s is not allowed in on_timeout", s.Name, s.Kind)
	}
	return nil
}

// correlations returns, for an arriving event, its correlation values for
// the runs waiting on its type, and the active runs it cancels.
func (e *Engine) correlations(ev *herald.Event) ([]string, []store.RuleKey) {
	var keys []string
	var cancels []store.RuleKey
	var data map[string]any
	// Decoding the event's data is the costly part: only when needed.
	scopeOnce := func() map[string]any {
		if data == nil {
			data = scope(eventScope(ev), &herald.Run{}, &runState{Steps: map[string]any{}})
		}
		return data
	}
	seen := map[string]bool{}
	e.mu.Lock()
	snaps := make([]*Snapshot, 0, len(e.versions))
	for _, s := range e.versions {
		snaps = append(snaps, s)
	}
	e.mu.Unlock()
	for _, s := range snaps {
		for _, w := range s.waits[ev.Type] {
			key := ""
			if w.Correlate != nil {
				var err error
				if key, err = w.Correlate.Execute(scopeOnce()); err != nil {
					continue // this event lacks the field: it correlates with nothing
				}
			}
			if !seen[key] {
				seen[key] = true
				keys = append(keys, key)
			}
		}
	}
	for _, r := range e.current.Load().Config.Rules {
		for _, p := range r.CancelOn {
			if !p.Match(ev.Type) {
				continue
			}
			if key, err := runKey(r, ev, scopeOnce()); err == nil {
				cancels = append(cancels, store.RuleKey{Rule: r.Name, Key: key})
			}
			break
		}
	}
	return keys, cancels
}

// digest groups the runs that reach this step within a window, per key:
// the first leads the group and waits for the window to close, the others
// join it and end; the leader goes on with every event (.digest).
func (e *Engine) digest(r *config.Rule, s *config.Step, j *store.RunJob, st *runState,
	data map[string]any, out *store.StepOutcome, now time.Time) error {
	d := s.Digest
	m := stepState(st, s.Name)
	role, _ := m["role"].(string)
	if role == "" {
		key := j.Run.Key
		if d.Key != nil {
			var err error
			if key, err = d.Key.Execute(data); err != nil {
				return failf("step %s: key: %v", s.Name, err)
			}
		}
		closes := now.Add(d.Window)
		if d.Next != nil {
			closes = d.Next(now)
		}
		res, err := e.store.Digest(e.ctx, store.DigestJoin{
			Rule: r.Name, Step: s.Name, Key: key, RunID: j.Run.ID, EventID: j.Event.ID,
			Now: now, ClosesAt: closes, Lookback: d.Lookback, Window: d.Window,
		})
		if err != nil {
			return fmt.Errorf("digest: %w", err)
		}
		role = res.Role
		m["role"], m["leader"], m["key"] = res.Role, res.Leader, key
		setUntil(m, res.ClosesAt)
	}
	switch role {
	case store.DigestPass:
		st.Digest = map[string]any{"events": []any{eventScope(&j.Event)}, "count": 1}
		return nil
	case store.DigestJoined:
		out.Status = herald.RunCompleted
		return nil
	}
	until, _ := untilOf(m)
	if now.Before(until) {
		wait(out, "digest", until)
		return nil
	}
	events, err := e.store.CloseDigest(e.ctx, r.Name, s.Name, j.Run.ID)
	if err != nil {
		return fmt.Errorf("close digest: %w", err)
	}
	list := make([]any, len(events))
	for i := range events {
		list[i] = eventScope(&events[i])
	}
	st.Digest = map[string]any{"events": list, "count": len(events)}
	m["count"] = len(events)
	return nil
}
