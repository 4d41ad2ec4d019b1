package engine

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/breaker"
	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// The delivery policies a channel's configuration asks for, applied
// around each attempt: a circuit breaker, per-destination pacing and the
// treatment of over-long text. Their state is per process (see
// docs/delivery.md for what that means in a cluster).

// maxPaceSleep is the longest a worker waits for a destination's pace;
// a longer wait gives the message back to the queue until its slot.
const maxPaceSleep = 2 * time.Second

// policies holds the per-process state of the delivery policies.
type policies struct {
	mu       sync.Mutex
	breakers map[string]*breaker.Breaker // by channel
	settings map[string]breaker.Settings
	slots    map[string]time.Time // next free slot, by channel + destination
}

func newPolicies() *policies {
	return &policies{
		breakers: map[string]*breaker.Breaker{},
		settings: map[string]breaker.Settings{},
		slots:    map[string]time.Time{},
	}
}

// breaker returns the channel's breaker, creating it (or replacing it,
// when its settings changed) from the channel's configuration.
func (p *policies) breaker(cfg *config.Config, name string) *breaker.Breaker {
	var s breaker.Settings
	if ch := cfg.Channels[name]; ch != nil {
		s = ch.Circuit
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.breakers[name]
	if !ok || p.settings[name] != s {
		b = breaker.New(s)
		p.breakers[name], p.settings[name] = b, s
	}
	return b
}

// slot returns the next free slot of a destination paced at every
// interval. It books the slot only when it is at most maxWait away (the
// caller will wait for it and send); a message that must come back
// later books nothing, or each return would push its own slot further.
func (p *policies) slot(key string, every, maxWait time.Duration, now time.Time) (at time.Time, booked bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.slots) > 10000 {
		for k, t := range p.slots {
			if t.Before(now) {
				delete(p.slots, k)
			}
		}
	}
	at = now
	if next, ok := p.slots[key]; ok && next.After(now) {
		at = next
	}
	if at.Sub(now) > maxWait {
		return at, false
	}
	p.slots[key] = at.Add(every)
	return at, true
}

// CircuitStatus is a channel's circuit as the API shows it.
type CircuitStatus struct {
	Channel string `json:"channel"`
	breaker.Status
	// Providers are the circuits of a failover channel's providers.
	Providers map[string]breaker.Status `json:"providers,omitempty"`
}

// Circuits returns the circuit of every channel of the current
// configuration, by name.
func (e *Engine) Circuits() []CircuitStatus {
	snap := e.current.Load()
	names := make([]string, 0, len(snap.Config.Channels))
	for n := range snap.Config.Channels {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]CircuitStatus, 0, len(names))
	for _, n := range names {
		cs := CircuitStatus{Channel: n, Status: e.policy.breaker(snap.Config, n).Status()}
		if f, ok := snap.Senders[n].(interface {
			Status() map[string]breaker.Status
		}); ok {
			cs.Providers = f.Status()
		}
		out = append(out, cs)
	}
	return out
}

// fit applies the channel's overflow policy: with "split", a text longer
// than the provider takes is sent as several parts (Content.Parts); with
// "truncate" (the default) the adapter shortens it.
func fit(ch *config.Channel, sender channel.Sender, c *channel.Content) {
	if ch == nil || ch.Overflow != "split" || len(c.Parts) > 0 {
		return
	}
	d, ok := sender.(channel.Describer)
	if !ok {
		return
	}
	caps := d.Capabilities()
	if caps.MaxLength <= 0 || !caps.Split || utf8.RuneCountInString(c.Text) <= caps.MaxLength {
		return
	}
	c.Parts = channel.Split(c.Text, caps.MaxLength)
}

// gate decides whether an attempt may go now. It returns false after
// giving the message back to the queue (no attempt counted) when the
// channel's circuit is open or its destination's pace asks for a wait
// longer than a worker should sleep; it sleeps through a short pace.
func (e *Engine) gate(cfg *config.Config, j store.MessageJob, b *breaker.Breaker) bool {
	m := &j.Message
	now := e.now()
	if ok, until := b.Allow(now); !ok {
		e.postpone(m, j.Lease.Token, until, "circuit open")
		return false
	}
	ch := cfg.Channels[m.Channel]
	if ch == nil || ch.Pace <= 0 {
		return true
	}
	at, booked := e.policy.slot(m.Channel+"\x00"+m.Recipient, ch.Pace, maxPaceSleep, now)
	if !booked {
		b.Neutral() // if this was the probe, let another message probe
		e.postpone(m, j.Lease.Token, at, "paced")
		return false
	}
	wait := at.Sub(now)
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.ctx.Done():
		b.Neutral()
		return false
	}
}

// postpone gives a claimed message back, due at until, without an
// attempt: nothing is dropped, the message waits.
func (e *Engine) postpone(m *herald.Message, token string, until time.Time, why string) {
	e.metrics.postponed.WithLabelValues(m.Channel, why).Inc()
	e.async(func() {
		err := e.store.PostponeMessage(context.WithoutCancel(e.ctx), m.ID, token, until, e.now())
		if err != nil && e.ctx.Err() == nil {
			e.logger.Warn("postpone message", "message", m.ID, "err", err)
		}
	})
}

// observe feeds an attempt's outcome to the channel's breaker: failures
// that speak of the provider's health count, permanent errors about one
// message do not.
func (e *Engine) observe(b *breaker.Breaker, name string, err error) {
	now := e.now()
	var ce *channel.Error
	switch {
	case err == nil:
		b.Success(now)
	case errors.As(err, &ce) && ce.Reason == channel.ReasonCircuitOpen:
		// A failover channel whose providers are all paused: the channel
		// itself is not failing.
		b.Neutral()
		return
	case ce != nil && ce.Class == channel.ClassPermanent:
		b.Neutral()
	default:
		// Retryable or retry-after, or an unclassified error (retryable).
		if b.Failure(now) {
			e.logger.Warn("channel circuit opened: sending paused until a probe succeeds", "channel", name,
				"next_probe", b.Status().NextProbe)
		}
	}
	e.metrics.circuit.WithLabelValues(name).Set(float64(b.State()))
}
