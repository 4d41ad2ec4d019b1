package source_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/source"
	"github.com/herald-notify/herald/internal/source/sourcetest"
)

func TestLoop(t *testing.T) {
	t.Parallel()
	clock := sourcetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var calls atomic.Int64
	stopped := make(chan struct{})
	l := source.NewLoop(clock.Now, func(ctx context.Context) time.Time {
		calls.Add(1)
		go func() {
			<-ctx.Done()
			select {
			case <-stopped:
			default:
				close(stopped)
			}
		}()
		return clock.Now().Add(time.Hour) // far away: only Wake calls again
	})
	l.Start()
	l.Start()
	sourcetest.Eventually(t, "first evaluation", func() bool { return calls.Load() == 1 })
	l.Wake()
	sourcetest.Eventually(t, "evaluation on Wake", func() bool { return calls.Load() == 2 })
	l.Stop()
	<-stopped // Stop cancelled the evaluation's context
	l.Stop()
	l.Wake() // after Stop: does nothing, does not block
	l.Start()
	if n := calls.Load(); n != 2 {
		t.Errorf("%d evaluations after Stop and Start, want 2", n)
	}
}

func TestLoopStopWithoutStart(t *testing.T) {
	t.Parallel()
	l := source.NewLoop(time.Now, func(context.Context) time.Time { t.Error("evaluated"); return time.Time{} })
	l.Stop()
	l.Start()
	l.Stop()
}
