package breaker

import (
	"testing"
	"time"
)

func TestBreakerCycle(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	b := New(Settings{Failures: 3, Cooldown: 10 * time.Second, MaxCooldown: 25 * time.Second})
	for i := 0; i < 2; i++ {
		if ok, _ := b.Allow(t0); !ok {
			t.Fatal("closed breaker refused")
		}
		if b.Failure(t0) {
			t.Fatalf("opened after %d failures", i+1)
		}
	}
	b.Success(t0) // a success resets the count
	for i := 0; i < 3; i++ {
		b.Failure(t0)
	}
	if b.State() != Open {
		t.Fatalf("state %v after 3 failures, want open", b.State())
	}
	if ok, until := b.Allow(t0.Add(5 * time.Second)); ok || !until.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("open breaker: ok=%v until=%v", ok, until)
	}
	// The probe goes; others wait while it is in flight.
	if ok, _ := b.Allow(t0.Add(10 * time.Second)); !ok || b.State() != HalfOpen {
		t.Fatal("no probe after the cooldown")
	}
	if ok, _ := b.Allow(t0.Add(10 * time.Second)); ok {
		t.Fatal("a second message went while the probe was in flight")
	}
	// The probe fails: open for twice as long.
	if !b.Failure(t0.Add(11 * time.Second)) {
		t.Fatal("failed probe did not reopen")
	}
	if _, until := b.Allow(t0.Add(12 * time.Second)); !until.Equal(t0.Add(31 * time.Second)) {
		t.Fatalf("reopened until %v, want +20s", until)
	}
	// Next failed probe: capped at MaxCooldown.
	b.Allow(t0.Add(31 * time.Second))
	b.Failure(t0.Add(31 * time.Second))
	if st := b.Status(); !st.NextProbe.Equal(t0.Add(56*time.Second)) || st.State != "open" {
		t.Fatalf("status %+v, want next probe at +56s (cooldown capped at 25s)", st)
	}
	// A probe that succeeds closes the circuit.
	b.Allow(t0.Add(56 * time.Second))
	b.Success(t0.Add(57 * time.Second))
	if b.State() != Closed {
		t.Fatal("successful probe did not close")
	}
	// A neutral outcome of a probe frees the probe slot.
	for i := 0; i < 3; i++ {
		b.Failure(t0.Add(time.Minute))
	}
	b.Allow(t0.Add(2 * time.Minute))
	b.Neutral()
	if ok, _ := b.Allow(t0.Add(2 * time.Minute)); !ok {
		t.Fatal("after a neutral probe, the next message may probe")
	}
}

func TestBreakerDisabled(t *testing.T) {
	b := New(Settings{Failures: -1})
	for i := 0; i < 100; i++ {
		b.Failure(time.Now())
	}
	if ok, _ := b.Allow(time.Now()); !ok {
		t.Fatal("a disabled breaker refused")
	}
	var nb *Breaker
	if ok, _ := nb.Allow(time.Now()); !ok {
		t.Fatal("nil breaker refused")
	}
}
