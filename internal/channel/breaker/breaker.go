// Package breaker is the circuit breaker Herald puts in front of each
// channel (and each provider of a failover channel): after a run of
// failures that say "the provider is in trouble" (timeouts, 5xx, 429),
// the circuit opens and nothing is sent for a cooldown; then one probe
// goes through (half-open); its success closes the circuit, its failure
// opens it again for twice as long, up to a maximum.
//
// Messages are never dropped by a breaker: the engine postpones them
// until the next probe. The state is per process: each node of a cluster
// learns about a failing provider from its own attempts.
package breaker

import (
	"sync"
	"time"
)

// State is a circuit's state.
type State int

// States, in the order of the herald_channel_circuit_state gauge.
const (
	Closed State = iota
	HalfOpen
	Open
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "closed"
}

// Settings tune a breaker. The zero value means the defaults.
type Settings struct {
	// Failures is how many consecutive failures open the circuit
	// (default 5); negative disables the breaker.
	Failures int
	// Cooldown is the first open period (default 30s); each failed probe
	// doubles it, up to MaxCooldown (default 10m).
	Cooldown    time.Duration
	MaxCooldown time.Duration
}

// Breaker is one circuit. It is safe for concurrent use.
type Breaker struct {
	s Settings

	mu       sync.Mutex
	state    State
	failures int
	cooldown time.Duration
	since    time.Time // when the state last changed
	probeAt  time.Time // open: when the next probe may go
	probing  bool      // half-open: the probe is in flight
}

// New returns a closed breaker.
func New(s Settings) *Breaker {
	if s.Failures == 0 {
		s.Failures = 5
	}
	if s.Cooldown <= 0 {
		s.Cooldown = 30 * time.Second
	}
	if s.MaxCooldown < s.Cooldown {
		s.MaxCooldown = max(10*time.Minute, s.Cooldown)
	}
	return &Breaker{s: s, cooldown: s.Cooldown}
}

// Allow reports whether a message may be sent now. When it may not, until
// is when to try again. A true answer in the open state makes the caller
// the probe: it must report its outcome with Success or Failure (or
// Neutral if it did not send after all, or the outcome says nothing of
// the provider's health).
func (b *Breaker) Allow(now time.Time) (ok bool, until time.Time) {
	if b == nil || b.s.Failures < 0 {
		return true, time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Open:
		if now.Before(b.probeAt) {
			return false, b.probeAt
		}
		b.state, b.since, b.probing = HalfOpen, now, true
		return true, time.Time{}
	case HalfOpen:
		if b.probing {
			// Wait for the probe's outcome; look again shortly.
			return false, now.Add(min(b.cooldown, 5*time.Second))
		}
		b.probing = true
		return true, time.Time{}
	}
	return true, time.Time{}
}

// Success records a successful send: the circuit closes.
func (b *Breaker) Success(now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Closed {
		b.since = now
	}
	b.state, b.failures, b.probing, b.cooldown = Closed, 0, false, b.s.Cooldown
}

// Failure records a failed send that speaks of the provider's health.
// It reports whether this failure opened the circuit.
func (b *Breaker) Failure(now time.Time) (opened bool) {
	if b == nil || b.s.Failures < 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case HalfOpen:
		b.cooldown = min(2*b.cooldown, b.s.MaxCooldown)
		b.state, b.since, b.probeAt, b.probing = Open, now, now.Add(b.cooldown), false
		return true
	case Closed:
		b.failures++
		if b.failures >= b.s.Failures {
			b.state, b.since, b.probeAt = Open, now, now.Add(b.cooldown)
			return true
		}
	}
	return false
}

// Neutral records an outcome that says nothing about the provider's
// health (a permanent error about one message): a probe that ends so
// lets the next message probe.
func (b *Breaker) Neutral() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}

// Status is a breaker's state for the API and metrics.
type Status struct {
	State    string    `json:"state"`
	Since    time.Time `json:"since,omitzero"`
	Failures int       `json:"consecutive_failures"`
	// NextProbe is when an open circuit lets the next message through.
	NextProbe time.Time `json:"next_probe,omitzero"`
}

// Status returns the breaker's current state.
func (b *Breaker) Status() Status {
	if b == nil {
		return Status{State: Closed.String()}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Status{State: b.state.String(), Since: b.since, Failures: b.failures}
	if b.state == Open {
		st.NextProbe = b.probeAt
	}
	return st
}

// State returns the current state.
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
