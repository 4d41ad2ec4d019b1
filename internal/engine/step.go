package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// stepFailure is an error that fails the run (as opposed to an error
// committing it, which leaves the job to be retried).
type stepFailure struct{ msg string }

func (f *stepFailure) Error() string { return f.msg }

func failf(format string, args ...any) error {
	return &stepFailure{msg: fmt.Sprintf(format, args...)}
}

// handoff is a job created by a step, to give to a pool once committed.
type handoff struct {
	pool *pool
	job  *job
}

// executeRun executes a run's steps from its current one until the run
// ends or must wait, and commits the outcome in one transaction.
func (e *Engine) executeRun(j store.RunJob) {
	now := e.now()
	run := j.Run
	out := &store.StepOutcome{RunID: run.ID, Token: j.Lease.Token, Now: now, Step: run.Step}
	var hands []handoff
	err := e.runSteps(&j, out, &hands, now)
	var fail *stepFailure
	switch {
	case errors.As(err, &fail):
		out.Status = herald.RunFailed
		out.Error = fail.msg
		// Keep what earlier steps produced: the ledger shows it, and a
		// run revived by a successful retry continues with it.
		out.State, out.Step = run.State, run.Step
		out.Messages, out.Events = nil, nil
		e.releaseHandoffs(hands)
		hands = nil
	case err != nil:
		// Not the run's fault (a configuration version could not be
		// loaded, say): leave the job; it is retried when its lease ends.
		e.logger.Error("run step", "run", run.ID, "err", err)
		e.releaseHandoffs(hands)
		return
	}
	// The commit waits for the group's fsync: wait for it off the pool, so
	// a worker goes on to the next run instead of idling through it.
	e.async(func() { e.commitStep(&run, out, hands) })
}

// commitStep commits a step's outcome and hands what it created to the
// pools.
func (e *Engine) commitStep(run *herald.Run, out *store.StepOutcome, hands []handoff) {
	err := e.store.CompleteStep(context.WithoutCancel(e.ctx), out)
	if err != nil {
		e.releaseHandoffs(hands)
		if errors.Is(err, store.ErrLeaseLost) {
			e.metrics.leaseLost.Inc()
			e.logger.Warn("run lease lost; another worker took it over", "run", run.ID)
			return
		}
		e.logger.Error("commit run step", "run", run.ID, "err", err)
		return
	}
	if len(out.Supersede) > 0 {
		// Superseded messages may already wait in a pool's queue here:
		// drop them there too.
		e.MarkCancelled(out.Supersede...)
	}
	if out.Status.Final() {
		e.metrics.runsFinished.WithLabelValues(string(out.Status)).Inc()
		if out.Status == herald.RunFailed {
			e.logger.Warn("run failed", "run", run.ID, "rule", run.Rule, "error", out.Error)
		}
	}
	wake := false
	for _, h := range hands {
		if h.job != nil { // emitted runs are pushed by handRuns below
			h.pool.push(h.job, true)
		}
	}
	for _, m := range out.Messages {
		if m.Lease == nil && m.Message.Status == herald.MessagePending {
			wake = true
		}
		if m.Message.Status == herald.MessageDead {
			e.metrics.messages.WithLabelValues(m.Message.Channel, string(herald.MessageDead)).Inc()
		}
	}
	for i := range out.Events {
		e.metrics.eventsEmitted.Inc()
		e.handRuns(&out.Events[i])
		if len(out.Events[i].WaitKeys) > 0 {
			wake = true // it may have woken a waiting run
		}
	}
	if out.Status == herald.RunWaiting {
		wake = true // the poller must learn the new due time
	}
	if wake {
		e.Wake()
	}
}

func (e *Engine) releaseHandoffs(hands []handoff) {
	for _, h := range hands {
		h.pool.release(1)
	}
}

func (e *Engine) runSteps(j *store.RunJob, out *store.StepOutcome, hands *[]handoff, now time.Time) error {
	run := &j.Run
	snap, err := e.snapshot(e.ctx, run.ConfigVersion)
	if err != nil {
		return err
	}
	r := snap.rules[run.Rule]
	if r == nil {
		return failf("rule %q is not in configuration version %s", run.Rule, short(run.ConfigVersion))
	}
	st, err := decodeState(run.State)
	if err != nil {
		return failf("run state is corrupt: %v", err)
	}
	evScope := eventScope(&j.Event)
	step := run.Step
	out.Status = herald.RunRunning
	for step < len(r.Steps) {
		s := r.Steps[step]
		data := scope(evScope, run, st)
		if s.If != nil {
			ok, err := s.If.Eval(data)
			if err != nil {
				return failf("step %s: condition: %v", s.Name, err)
			}
			if !ok {
				st.Steps[s.Name] = map[string]any{"skipped": true}
				delete(st.Steps, failoverKey(s.Name))
				step++
				continue
			}
		}
		switch s.Kind {
		case config.StepNotify, config.StepEmit:
			if s.Kind == config.StepNotify && len(s.Notify.Channels) > 1 {
				done, err := e.failoverStep(snap, r, s, step, j, st, data, out, hands, now)
				if err != nil {
					return err
				}
				if !done {
					break
				}
				out.Status, out.WaitingFor, out.DueAt = herald.RunRunning, "", time.Time{}
				break
			}
			if err := e.fire(snap, r, s, step, j, st, data, out, hands, now); err != nil {
				return err
			}
		case config.StepWebhook:
			if prev, ok := st.Steps[s.Name].(map[string]any); ok {
				if _, done := prev["ok"]; done {
					if prev["ok"] != true {
						// Keep what the run waited for: a successful retry of
						// the call revives the run (store.Resume).
						if id, _ := prev["message"].(string); id != "" {
							out.WaitingFor = store.WaitingForMessage(id)
						}
						return failf("step %s: webhook call failed: %v", s.Name, prev["error"])
					}
					break
				}
			}
			id, err := e.webhook(snap, r, s, step, j, data, out, hands, now)
			if err != nil {
				return err
			}
			out.Status = herald.RunWaiting
			out.WaitingFor = store.WaitingForMessage(id)
		case config.StepDelay:
			if err := e.delay(s, st, data, out, now); err != nil {
				return err
			}
		case config.StepWaitAck:
			if err := e.waitAck(snap, r, s, step, j, st, data, out, hands, now); err != nil {
				return err
			}
		case config.StepDigest:
			if err := e.digest(r, s, j, st, data, out, now); err != nil {
				return err
			}
		case config.StepWaitEvent:
			if err := e.waitEvent(snap, r, s, step, j, st, data, out, hands, now); err != nil {
				return err
			}
		default:
			return failf("step %s: unknown kind %q", s.Name, s.Kind)
		}
		if out.Status == herald.RunWaiting || out.Status == herald.RunCompleted {
			break // waiting, or ended early (its event joined another run's digest)
		}
		step++
	}
	if step >= len(r.Steps) || out.Status == herald.RunCompleted {
		out.Status = herald.RunCompleted
	}
	out.Step = step
	b, err := json.Marshal(st)
	if err != nil {
		return failf("encode run state: %v", err)
	}
	out.State = b
	return nil
}

func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

// newMessage prepares a message of a step, handed to its channel's pool
// if it has room.
func (e *Engine) newMessage(snap *Snapshot, r *config.Rule, s *config.Step, step int, j *store.RunJob,
	chName, recipient string, prio int, content *channel.Content, renderErr error,
	out *store.StepOutcome, hands *[]handoff, now time.Time) string {
	m := herald.Message{
		ID:          herald.NewIDAt(now),
		EventID:     j.Event.ID,
		RunID:       j.Run.ID,
		Step:        step,
		StepName:    s.Name,
		Channel:     chName,
		Recipient:   recipient,
		Key:         j.Run.Key,
		Priority:    herald.Priority(prio),
		Status:      herald.MessagePending,
		MaxAttempts: e.maxAttempts(snap, chName),
		CreatedAt:   now,
		UpdatedAt:   now,
		DueAt:       now,
		// A webhook step waits for its call, and a failover notify step
		// for each of its messages, except inside on_timeout, whose steps
		// run to the end at once.
		Blocking: (s.Kind == config.StepWebhook || (s.Kind == config.StepNotify && len(s.Notify.Channels) > 1)) &&
			!strings.Contains(s.Name, "/"),
	}
	if content != nil {
		m.Content, _ = json.Marshal(content)
	}
	nm := store.NewMessage{Message: m}
	if renderErr != nil {
		// A message that cannot be rendered fails visibly in the ledger
		// instead of sending "<no value>" or being skipped.
		nm.Message.Status = herald.MessageDead
		nm.Message.Error = "render: " + renderErr.Error()
		nm.Message.DueAt = time.Time{}
	} else {
		p := e.pool(chName)
		if p.reserve(1) == 1 {
			lease := e.newLease(e.messageLease(snap, chName))
			nm.Lease = &lease
			mj := store.MessageJob{Message: nm.Message, EventType: j.Event.Type, Lease: lease}
			*hands = append(*hands, handoff{pool: p, job: &job{
				priority: prio, leaseUntil: lease.Until, run: func() { e.deliver(mj) },
			}})
		}
	}
	out.Messages = append(out.Messages, nm)
	return m.ID
}

func (e *Engine) maxAttempts(snap *Snapshot, chName string) int {
	if ch := snap.Config.Channels[chName]; ch != nil && ch.MaxAttempts > 0 {
		return ch.MaxAttempts
	}
	return max(1, snap.Config.Delivery.MaxAttempts)
}

func (e *Engine) attemptTimeout(cfg *config.Config, chName string) time.Duration {
	if ch := cfg.Channels[chName]; ch != nil && ch.Timeout > 0 {
		return ch.Timeout
	}
	if cfg.Delivery.Timeout > 0 {
		return cfg.Delivery.Timeout
	}
	return 10 * time.Second
}

// messageLease covers the attempt timeout: a lease shorter than an
// attempt would let another worker send the same message concurrently.
func (e *Engine) messageLease(snap *Snapshot, chName string) time.Duration {
	return snap.Config.Delivery.Lease + e.attemptTimeout(snap.Config, chName)
}

func (e *Engine) notify(snap *Snapshot, r *config.Rule, s *config.Step, step int, j *store.RunJob,
	data map[string]any, out *store.StepOutcome, hands *[]handoff, now time.Time) ([]string, error) {
	n := s.Notify
	prio := n.Priority
	if prio == 0 {
		prio = r.Priority
	}
	content, renderErr := renderContent(snap.Config, n, data, e.funcs(&j.Run))
	if renderErr != nil {
		content = nil
	}
	recipients := []string{""}
	if len(n.To) > 0 {
		var err error
		recipients, err = renderRecipients(n, data)
		if err != nil {
			id := e.newMessage(snap, r, s, step, j, n.Channel, "", prio, nil, err, out, hands, now)
			return []string{id}, nil
		}
		if len(recipients) == 0 {
			id := e.newMessage(snap, r, s, step, j, n.Channel, "", prio, nil,
				errors.New("recipient: the to templates rendered no address"), out, hands, now)
			return []string{id}, nil
		}
	}
	ids := make([]string, 0, len(recipients))
	for _, to := range recipients {
		ids = append(ids, e.newMessage(snap, r, s, step, j, n.Channel, to, prio, content, renderErr, out, hands, now))
	}
	return ids, nil
}

// renderRecipients renders a notify step's to: templates into addresses
// (each may render a comma-separated list).
func renderRecipients(n *config.Notify, data map[string]any) ([]string, error) {
	var out []string
	for _, t := range n.To {
		to, err := t.Execute(data)
		if err != nil {
			return nil, fmt.Errorf("recipient: %w", err)
		}
		for _, addr := range strings.Split(to, ",") {
			if addr = strings.TrimSpace(addr); addr != "" {
				out = append(out, addr)
			}
		}
	}
	return out, nil
}

// funcs are the per-run template functions (the acknowledgment link).
func (e *Engine) funcs(run *herald.Run) map[string]any {
	if e.ackURL == nil {
		return nil
	}
	id := run.ID
	return map[string]any{"ackURL": func() string { return e.ackURL(id) }}
}

func renderContent(cfg *config.Config, n *config.Notify, data map[string]any, funcs map[string]any) (*channel.Content, error) {
	c := &channel.Content{Priority: n.Priority}
	subject, text, html := n.Subject, n.Text, n.HTML
	if n.Template != "" {
		t := cfg.Templates[n.Template]
		if t == nil {
			return nil, fmt.Errorf("template %q is not defined", n.Template)
		}
		subject, text, html = t.Subject, t.Text, t.HTML
	}
	var err error
	if subject != nil {
		if c.Subject, err = subject.ExecuteFuncs(data, funcs); err != nil {
			return nil, err
		}
	}
	if text != nil {
		if c.Text, err = text.ExecuteFuncs(data, funcs); err != nil {
			return nil, err
		}
	}
	if html != nil {
		if c.HTML, err = html.ExecuteFuncs(data, funcs); err != nil {
			return nil, err
		}
	}
	if n.Data != nil {
		if c.Data, err = n.Data.RenderJSON(data); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (e *Engine) webhook(snap *Snapshot, r *config.Rule, s *config.Step, step int, j *store.RunJob,
	data map[string]any, out *store.StepOutcome, hands *[]handoff, now time.Time) (string, error) {
	w := s.Webhook
	req := &channel.Request{Method: "POST"}
	var err error
	if w.Method != nil {
		if req.Method, err = w.Method.Execute(data); err != nil {
			return "", failf("step %s: method: %v", s.Name, err)
		}
		req.Method = strings.ToUpper(strings.TrimSpace(req.Method))
	}
	if req.URL, err = w.URL.Execute(data); err != nil {
		return "", failf("step %s: url: %v", s.Name, err)
	}
	if len(w.Headers) > 0 {
		req.Headers = make(map[string]string, len(w.Headers))
		for k, t := range w.Headers {
			if req.Headers[k], err = t.Execute(data); err != nil {
				return "", failf("step %s: header %s: %v", s.Name, k, err)
			}
		}
	}
	if w.Body != nil {
		if req.Body, err = w.Body.RenderText(data); err != nil {
			return "", failf("step %s: body: %v", s.Name, err)
		}
	}
	chName := w.Channel
	if chName == "" {
		chName = "http"
	}
	return e.newMessage(snap, r, s, step, j, chName, req.URL, r.Priority, &channel.Content{Request: req}, nil, out, hands, now), nil
}

func (e *Engine) emit(r *config.Rule, s *config.Step, j *store.RunJob, data map[string]any,
	out *store.StepOutcome, hands *[]handoff, now time.Time) (string, error) {
	em := s.Emit
	parent := &j.Event
	chain := append(slices.Clone(parent.Chain), parent.Type)
	if slices.Contains(chain, em.Type) {
		return "", failf("step %s: emit loop detected: %s → %s", s.Name, strings.Join(chain, " → "), em.Type)
	}
	cur := e.current.Load()
	if depth := max(1, cur.Config.Delivery.MaxEmitDepth); len(chain) > depth {
		return "", failf("step %s: emit chain deeper than %d: %s → %s", s.Name, depth, strings.Join(chain, " → "), em.Type)
	}
	ev := herald.Event{
		ID:              herald.NewIDAt(now),
		Source:          "herald:rule/" + r.Name,
		Type:            em.Type,
		Subject:         parent.Subject,
		Time:            now,
		ReceivedAt:      now,
		DataContentType: "application/json",
		ParentID:        parent.ID,
		Chain:           chain,
	}
	ev.SpecID = ev.ID
	var err error
	if em.Source != nil {
		if ev.Source, err = em.Source.Execute(data); err != nil {
			return "", failf("step %s: source: %v", s.Name, err)
		}
	}
	if em.Subject != nil {
		if ev.Subject, err = em.Subject.Execute(data); err != nil {
			return "", failf("step %s: subject: %v", s.Name, err)
		}
	}
	if em.Data != nil {
		if ev.Data, err = em.Data.RenderJSON(data); err != nil {
			return "", failf("step %s: data: %v", s.Name, err)
		}
	}
	runs, err := e.match(cur, &ev, now)
	if err != nil {
		return "", err
	}
	item := store.IngestItem{Event: ev, Runs: runs, Emitter: j.Run.ID}
	item.WaitKeys, item.Cancels = e.correlations(&ev)
	for i := range item.Runs {
		if item.Runs[i].Run.Status != herald.RunRunning || e.runs.reserve(1) != 1 {
			continue
		}
		lease := e.newLease(cur.Config.Delivery.Lease)
		item.Runs[i].Lease = &lease
		// The run job itself is pushed by handRuns after the commit; the
		// reservation is carried by the handoff so a failure releases it.
		*hands = append(*hands, handoff{pool: e.runs, job: nil})
	}
	out.Events = append(out.Events, item)
	return ev.ID, nil
}
