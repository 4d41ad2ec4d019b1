package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// A notify step with channels: [a, b, ...] sends one message at a time:
// to a first, and to the next channel when that message dies (a
// permanent failure or exhausted retries) or has not been sent within the
// step's within: deadline. The run waits on each message like a webhook
// step does; the store resumes it with the message's outcome, and the
// deadline is the run's due time.

// failoverKey is where a failover step keeps its progress in the run's
// state, beside the step's own output (which the store's resume replaces).
func failoverKey(step string) string { return step + "~failover" }

// failoverStep advances a failover notify step. It returns done when the
// step is over (a channel delivered, or all failed) and the run goes on.
func (e *Engine) failoverStep(snap *Snapshot, r *config.Rule, s *config.Step, step int, j *store.RunJob,
	st *runState, data map[string]any, out *store.StepOutcome, hands *[]handoff, now time.Time) (done bool, err error) {
	n := s.Notify
	key := failoverKey(s.Name)
	prog, _ := st.Steps[key].(map[string]any)
	if prog == nil {
		return e.failoverSend(snap, r, s, step, j, st, data, out, hands, now, 0, nil)
	}
	idx := int(num(prog["index"]))
	msgID, _ := prog["message"].(string)
	tried, _ := prog["tried"].([]any)
	prev, _ := st.Steps[s.Name].(map[string]any)
	if prev != nil && prev["message"] == msgID {
		if ok, has := prev["ok"]; has {
			if ok == true {
				st.Steps[s.Name] = map[string]any{"ok": true, "channel": n.Channels[idx], "message": msgID, "tried": tried}
				delete(st.Steps, key)
				return true, nil
			}
			// Dead on this channel: the next one.
			return e.failoverSend(snap, r, s, step, j, st, data, out, hands, now, idx+1, tried)
		}
	}
	deadline, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(prog["deadline"]))
	if !deadline.IsZero() && now.Before(deadline) {
		// Woken early (a restart, a stray wake-up): keep waiting.
		e.waitFor(out, msgID, deadline)
		return false, nil
	}
	// Not sent within the deadline: give up on it (if it is sent after
	// all, the recipient hears twice, which beats not at all) and go on.
	out.Supersede = append(out.Supersede, msgID)
	return e.failoverSend(snap, r, s, step, j, st, data, out, hands, now, idx+1, tried)
}

// failoverSend sends the step's message to channel idx, or ends the step
// as failed when there is none left.
func (e *Engine) failoverSend(snap *Snapshot, r *config.Rule, s *config.Step, step int, j *store.RunJob,
	st *runState, data map[string]any, out *store.StepOutcome, hands *[]handoff, now time.Time,
	idx int, tried []any) (bool, error) {
	n := s.Notify
	if idx >= len(n.Channels) {
		// Every channel failed: the step records it and the run goes on
		// (a later step may escalate), as a failed notify does.
		st.Steps[s.Name] = map[string]any{"ok": false, "error": "every channel of the failover list failed", "tried": tried}
		delete(st.Steps, failoverKey(s.Name))
		e.logger.Warn("failover step: every channel failed", "run", j.Run.ID, "step", s.Name, "channels", n.Channels)
		return true, nil
	}
	ch := n.Channels[idx]
	prio := n.Priority
	if prio == 0 {
		prio = r.Priority
	}
	content, renderErr := renderContent(snap.Config, n, data, e.funcs(&j.Run))
	if renderErr != nil {
		content = nil
	}
	to := ""
	if len(n.To) > 0 {
		addrs, err := renderRecipients(n, data)
		switch {
		case err != nil:
			renderErr = err
		case len(addrs) != 1:
			renderErr = errors.New("recipient: a failover step sends one message at a time; to: rendered " + fmt.Sprint(len(addrs)) + " addresses")
		default:
			to = addrs[0]
		}
	}
	id := e.newMessage(snap, r, s, step, j, ch, to, prio, content, renderErr, out, hands, now)
	tried = append(tried, map[string]any{"channel": ch, "message": id})
	prog := map[string]any{"index": idx, "message": id, "tried": tried}
	var deadline time.Time
	if n.Within > 0 {
		deadline = now.Add(n.Within)
		prog["deadline"] = deadline.Format(time.RFC3339Nano)
	}
	st.Steps[failoverKey(s.Name)] = prog
	st.Steps[s.Name] = map[string]any{"channel": ch, "message": id, "tried": tried}
	if renderErr != nil {
		// The message is dead already: try the next channel at once.
		return e.failoverSend(snap, r, s, step, j, st, data, out, hands, now, idx+1, tried)
	}
	e.waitFor(out, id, deadline)
	return false, nil
}

// waitFor makes the run wait for a message's outcome, until deadline
// (zero: no deadline).
func (e *Engine) waitFor(out *store.StepOutcome, messageID string, deadline time.Time) {
	out.Status = herald.RunWaiting
	out.WaitingFor = store.WaitingForMessage(messageID)
	out.DueAt = deadline
}

// num reads a number from run state: an int when the state was built in
// this execution, a float64 once it went through JSON.
func num(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	return 0
}
