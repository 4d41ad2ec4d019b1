// Package sourcetest has test doubles for event sources: a clock tests
// move by hand, an emitter that records (or refuses) events, and an
// in-memory state.
package sourcetest

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

// Clock is a clock that moves only when told. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// ErrRefused is what a failing Recorder returns.
var ErrRefused = errors.New("sourcetest: emitter refuses events")

// Recorder is an Emitter that keeps what it accepts and, like the store,
// drops a repeated source+id. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []herald.Event
	seen   map[string]bool
	fail   bool
}

// Emit records events, or fails with ErrRefused (recording nothing)
// while Fail(true) is in effect.
func (r *Recorder) Emit(_ context.Context, events []herald.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return ErrRefused
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	for _, ev := range events {
		if ev.Source == "" || ev.SpecID == "" || ev.Type == "" {
			panic("sourcetest: event without source, id or type")
		}
		if r.seen[ev.DedupKey()] {
			continue
		}
		r.seen[ev.DedupKey()] = true
		r.events = append(r.events, ev)
	}
	return nil
}

// Fail makes Emit fail (true) or succeed again (false).
func (r *Recorder) Fail(fail bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = fail
}

// Events returns what was recorded so far.
func (r *Recorder) Events() []herald.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]herald.Event(nil), r.events...)
}

// Types returns the recorded events' types, each followed by " " and
// its subject when it has one, in order.
func (r *Recorder) Types() []string {
	var out []string
	for _, ev := range r.Events() {
		s := ev.Type
		if ev.Subject != "" {
			s += " " + ev.Subject
		}
		out = append(out, s)
	}
	return out
}

// State is an in-memory source.State.
type State struct {
	mu     sync.Mutex
	values map[string][]byte
	// Puts counts PutState calls.
	puts int
}

// GetState returns the value under key or a herald.ENOTFOUND error.
func (s *State) GetState(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	if !ok {
		return nil, herald.Errorf(herald.ENOTFOUND, "no state %q", key)
	}
	return v, nil
}

// PutState stores value under key.
func (s *State) PutState(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string][]byte{}
	}
	s.values[key] = append([]byte(nil), value...)
	s.puts++
	return nil
}

// ListState returns the values whose keys start with prefix.
func (s *State) ListState(_ context.Context, prefix string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range s.values {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out, nil
}

// Puts returns how many times PutState was called.
func (s *State) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// Snapshot returns a copy of every key and value.
func (s *State) Snapshot() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.values)
}

// Eventually polls cond until it holds, failing the test when a generous
// deadline passes; tests wait on conditions, never on sleeps.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
