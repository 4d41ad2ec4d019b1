package engine

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/config"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{20, 5 * time.Second, 10 * time.Second}, // capped at max
	}
	for _, tc := range tests {
		for range 50 {
			d := backoff(time.Second, 10*time.Second, tc.n)
			if d < tc.min || d > tc.max {
				t.Errorf("backoff(1s, 10s, %d) = %v, want within [%v, %v]", tc.n, d, tc.min, tc.max)
			}
		}
	}
}

func TestIDTime(t *testing.T) {
	t.Parallel()
	got, ok := idTime("01a21d87-2e97-75bf-a4b8-3e2d99ba5d53")
	if !ok || got.Year() != 2026 {
		t.Errorf("idTime = %v %v", got, ok)
	}
	if _, ok := idTime("nope"); ok {
		t.Error("idTime accepted a bad id")
	}
}

// TestPoolStartsIdleWorkers checks that a job is not held behind a busy
// worker while the limit allows another.
func TestPoolStartsIdleWorkers(t *testing.T) {
	t.Parallel()
	p := newPool("test", 4, 100, time.Now, 0)
	block := make(chan struct{})
	started := make(chan int, 10)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		p.push(&job{run: func() { defer wg.Done(); started <- i; <-block }}, false)
	}
	for range 3 {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("a job waited behind a busy worker although the limit allows more")
		}
	}
	close(block)
	wg.Wait()
	p.stop()
	if q, r := p.depth(); q != 0 || r != 0 {
		t.Errorf("after stop: queued %d running %d", q, r)
	}
}

// TestPoolPriorityAndReservations checks ordering and the capacity count.
func TestPoolPriorityAndReservations(t *testing.T) {
	t.Parallel()
	p := newPool("test", 1, 3, time.Now, 0)
	if n := p.reserve(5); n != 3 {
		t.Fatalf("reserve(5) with capacity 3 = %d", n)
	}
	if n := p.reserve(1); n != 0 {
		t.Fatalf("reserve beyond capacity = %d", n)
	}
	p.release(1)
	gate := make(chan struct{})
	var order []int
	var mu sync.Mutex
	done := make(chan struct{}, 3)
	record := func(v int) func() {
		return func() { mu.Lock(); order = append(order, v); mu.Unlock(); done <- struct{}{} }
	}
	p.push(&job{run: func() { <-gate; done <- struct{}{} }}, true) // occupies the one worker
	p.push(&job{priority: 0, run: record(0)}, true)
	p.release(0)
	p.push(&job{priority: 1, run: record(1)}, false)
	close(gate)
	for range 3 {
		<-done
	}
	p.stop()
	if len(order) != 2 || order[0] != 1 || order[1] != 0 {
		t.Errorf("order = %v, want high priority first", order)
	}
	// Jobs too close to their lease's end are dropped, not run.
	q := newPool("lease", 1, 3, time.Now, time.Minute)
	ran := false
	dropped := make(chan struct{}, 1)
	q.dropped = func() { dropped <- struct{}{} }
	q.push(&job{leaseUntil: time.Now().Add(time.Second), run: func() { ran = true }}, false)
	<-dropped
	q.stop()
	if ran {
		t.Error("a job with less lease than the margin ran")
	}
}

func TestFitSplitsOnlyWhenAsked(t *testing.T) {
	long := strings.Repeat("word ", 50) // 250 runes
	split := &config.Channel{Overflow: "split"}
	tests := []struct {
		name  string
		ch    *config.Channel
		caps  channel.Capabilities
		parts int
	}{
		{"split", split, channel.Capabilities{MaxLength: 100, Split: true}, 3},
		{"truncate is the adapter's", &config.Channel{}, channel.Capabilities{MaxLength: 100, Split: true}, 0},
		{"provider cannot split", split, channel.Capabilities{MaxLength: 100}, 0},
		{"fits", split, channel.Capabilities{MaxLength: 1000, Split: true}, 0},
	}
	for _, tt := range tests {
		c := &channel.Content{Text: long}
		fit(tt.ch, capsSender{tt.caps}, c)
		if len(c.Parts) != tt.parts {
			t.Errorf("%s: %d parts, want %d", tt.name, len(c.Parts), tt.parts)
		}
		for _, p := range c.Parts {
			if utf8.RuneCountInString(p) > tt.caps.MaxLength {
				t.Errorf("%s: part of %d runes exceeds %d", tt.name, utf8.RuneCountInString(p), tt.caps.MaxLength)
			}
		}
	}
}

type capsSender struct{ c channel.Capabilities }

func (s capsSender) Send(context.Context, *channel.Message) (*channel.Receipt, error) {
	return nil, nil
}
func (s capsSender) Capabilities() channel.Capabilities { return s.c }
