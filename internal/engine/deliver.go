package engine

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// maxRetryAfter caps how long a provider's Retry-After may delay a
// message: beyond it, the wait is as long as the longest backoff.
const maxRetryAfter = 24 * time.Hour

// maxErrorText bounds the error text stored on an attempt.
const maxErrorText = 2048

// deliver makes one delivery attempt of a claimed message and records it.
func (e *Engine) deliver(j store.MessageJob) {
	m := &j.Message
	cur := e.current.Load()
	cfg := cur.Config
	number := m.Attempts + 1
	o := &store.AttemptOutcome{
		Token:    j.Lease.Token,
		Attempts: number,
		Attempt: herald.Attempt{
			ID: herald.NewID(), MessageID: m.ID, Number: number,
		},
	}
	if m.RunID != "" && e.isCancelled(m.RunID) {
		return // the run was cancelled; the store has suppressed the message
	}
	if e.isCancelled(m.ID) {
		return // superseded by a failover step: the store has suppressed it
	}
	sender := cur.Senders[m.Channel]
	start := e.now()
	var rc *channel.Receipt
	var err error
	// Prepare before the gate, so that a message that cannot be sent
	// never holds a circuit's probe.
	cm := &channel.Message{
		ID: m.ID, IdempotencyKey: m.ID, Attempt: number, EventType: j.EventType,
		EventID: m.EventID, Key: m.Key, To: m.Recipient,
	}
	if sender == nil {
		err = channel.Permanent("no_channel", 0, errors.New("channel "+m.Channel+" is not configured"))
	} else if len(m.Content) > 0 {
		if uerr := json.Unmarshal(m.Content, &cm.Content); uerr != nil {
			err = channel.Permanent("bad_content", 0, uerr)
		}
	}
	if err == nil {
		br := e.policy.breaker(cfg, m.Channel)
		if !e.gate(cfg, j, br) {
			return
		}
		start = e.now()
		fit(cfg.Channels[m.Channel], sender, &cm.Content)
		if d, ok := sender.(channel.Describer); ok && d.Capabilities().Update && m.Key != "" {
			cm.PreviousIDs, _ = e.store.ProviderIDs(e.ctx, m.Channel, m.Key, 5)
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.attemptTimeout(cfg, m.Channel))
		rc, err = sender.Send(ctx, cm)
		cancel()
		if e.ctx.Err() != nil {
			// Shutdown cut the attempt short: it says nothing about the
			// provider. Record nothing; the lease lapses and the message
			// is sent again after a restart.
			br.Neutral()
			return
		}
		e.observe(br, m.Channel, err)
		var ce *channel.Error
		if errors.As(err, &ce) && ce.Reason == channel.ReasonCircuitOpen {
			// Not sent at all: wait for the first provider's probe
			// without using up an attempt.
			e.postpone(m, j.Lease.Token, e.now().Add(ce.After), "circuit open")
			return
		}
	}
	end := e.now()
	o.Now = end
	o.Attempt.StartedAt = start
	o.Attempt.Duration = end.Sub(start)
	e.classify(cfg, m, o, rc, err, end)
	if m.Blocking && o.Status.Final() {
		o.Resume = &store.Resume{RunID: m.RunID, StepName: m.StepName, Output: stepOutput(o, rc)}
	}
	// Recording waits for the group's fsync: do it off the channel's pool,
	// so the channel's concurrency limits calls to the provider, not
	// commit waits. The lease stays held until the record commits.
	e.async(func() { e.record(m, o, number, end) })
}

// record commits one attempt's outcome.
func (e *Engine) record(m *herald.Message, o *store.AttemptOutcome, number int, end time.Time) {
	errs, werr := e.store.RecordAttempts(context.WithoutCancel(e.ctx), []*store.AttemptOutcome{o})
	e.metrics.attemptDuration.WithLabelValues(m.Channel, string(o.Attempt.Outcome)).Observe(o.Attempt.Duration.Seconds())
	switch {
	case werr != nil:
		e.logger.Error("record attempt", "message", m.ID, "err", werr)
		return
	case errors.Is(errs[0], store.ErrLeaseLost):
		e.metrics.leaseLost.Inc()
		e.logger.Warn("message lease lost; another worker took it over", "message", m.ID)
		return
	}
	e.metrics.messages.WithLabelValues(m.Channel, string(o.Status)).Inc()
	if o.Status == herald.MessageSent || o.Status == herald.MessageDelivered {
		// Latency from the event's acceptance to the provider's: the
		// number PRODUCT.md promises to keep in milliseconds.
		if t, ok := idTime(m.EventID); ok && number == 1 {
			e.metrics.deliveryLatency.WithLabelValues(m.Channel).Observe(end.Sub(t).Seconds())
		}
	}
	if o.Status == herald.MessageDead {
		e.logger.Warn("message dead", "message", m.ID, "channel", m.Channel, "attempts", number, "error", o.Error)
	}
	if o.Resume != nil || !o.DueAt.IsZero() {
		e.Wake()
	}
}

// classify turns a send result into the message's next status.
func (e *Engine) classify(cfg *config.Config, m *herald.Message, o *store.AttemptOutcome, rc *channel.Receipt, err error, now time.Time) {
	a := &o.Attempt
	if err == nil {
		a.Outcome = herald.OutcomeSent
		o.Status = herald.MessageSent
		if rc != nil {
			if rc.Delivered {
				o.Status = herald.MessageDelivered
			}
			a.StatusCode = rc.StatusCode
			a.ProviderID = rc.ProviderID
			a.Response = string(rc.Response)
			o.ProviderID = rc.ProviderID
		}
		return
	}
	var ce *channel.Error
	if !errors.As(err, &ce) {
		ce = channel.Retryable("error", 0, err)
	}
	a.StatusCode = ce.StatusCode
	a.Error = truncate(err.Error(), maxErrorText)
	a.Response = string(ce.Response)
	o.Error = a.Error
	if ce.Class == channel.ClassPermanent {
		a.Outcome = herald.OutcomePermanent
		o.Status = herald.MessageDead
		return
	}
	if o.Attempts >= m.MaxAttempts {
		a.Outcome = herald.OutcomeExhausted
		o.Status = herald.MessageDead
		return
	}
	a.Outcome = herald.OutcomeRetry
	o.Status = herald.MessageFailed
	wait := backoff(cfg.Delivery.BackoffInitial, cfg.Delivery.BackoffMax, o.Attempts)
	if ce.Class == channel.ClassRetryAfter && ce.After > 0 {
		wait = min(ce.After, maxRetryAfter)
	}
	o.DueAt = now.Add(wait)
}

// backoff returns the wait before the attempt after attempt n (1-based):
// exponential from initial, capped at max, with "equal jitter" (half
// fixed, half random) so retries of a burst spread out but never come
// back sooner than half the nominal wait.
func backoff(initial, maxWait time.Duration, n int) time.Duration {
	if initial <= 0 {
		initial = time.Second
	}
	if maxWait < initial {
		maxWait = initial
	}
	d := initial
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// stepOutput is what a webhook step leaves in the run's state.
func stepOutput(o *store.AttemptOutcome, rc *channel.Receipt) json.RawMessage {
	out := map[string]any{
		"ok":      o.Status == herald.MessageSent || o.Status == herald.MessageDelivered,
		"status":  o.Attempt.StatusCode,
		"message": o.Attempt.MessageID,
	}
	if o.Error != "" {
		out["error"] = o.Error
	}
	var body []byte
	if rc != nil {
		body = rc.Response
	}
	if len(body) > 0 {
		var v any
		if json.Unmarshal(body, &v) == nil {
			out["response"] = v
		} else {
			out["response"] = string(body)
		}
	}
	b, _ := json.Marshal(out)
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// idTime returns the creation time encoded in a Herald id.
func idTime(id string) (time.Time, bool) {
	if !herald.ValidID(id) {
		return time.Time{}, false
	}
	var ms int64
	n := 0
	for i := 0; i < len(id) && n < 12; i++ {
		c := id[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c == '-':
			continue
		default:
			return time.Time{}, false
		}
		ms = ms<<4 | int64(v)
		n++
	}
	return time.UnixMilli(ms), true
}
