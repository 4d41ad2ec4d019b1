package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// leasedRun ingests an event with one run already leased to token.
func leasedRun(t *testing.T, s store.Store, typ, token string, at time.Time) (herald.Event, store.NewRun) {
	t.Helper()
	ev := newEvent(typ, herald.NewID(), at)
	r := newRun(&ev, at)
	r.Lease = &store.Lease{Token: token, Until: at.Add(time.Hour)}
	ingestOne(t, s, ev, r)
	return ev, r
}

// waitFor completes the run's step as waiting for an event of typ with
// the correlation value key, until the timeout.
func waitFor(t *testing.T, s store.Store, runID, token, typ, key string, since, now time.Time) {
	t.Helper()
	err := s.CompleteStep(context.Background(), &store.StepOutcome{
		RunID: runID, Token: token, Status: herald.RunWaiting, Step: 1,
		WaitingFor: "event " + typ, DueAt: now.Add(time.Hour), Now: now,
		Wait:      &store.Wait{Type: typ, Key: key, StepName: "wait", Since: since},
		WakeOnHit: true,
	})
	if err != nil {
		t.Fatalf("CompleteStep (wait): %v", err)
	}
}

func hitIDs(t *testing.T, s store.Store, runID string) []string {
	t.Helper()
	evs, err := s.Hits(context.Background(), runID)
	if err != nil {
		t.Fatalf("Hits: %v", err)
	}
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	return ids
}

// testWaitsAndHits: a correlated event wakes the run waiting for its
// (type, key), not one waiting for another key; the emitter is skipped.
func testWaitsAndHits(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, a := leasedRun(t, s, "ticket.opened", "ta", base)
	_, b := leasedRun(t, s, "ticket.opened", "tb", base)
	waitFor(t, s, a.Run.ID, "ta", "ticket.resolved", "T-1", base, base.Add(time.Second))
	waitFor(t, s, b.Run.ID, "tb", "ticket.resolved", "T-2", base, base.Add(time.Second))

	res := newEvent("ticket.resolved", "r1", base.Add(time.Minute))
	out, err := s.Ingest(ctx, []store.IngestItem{{Event: res, WaitKeys: []string{"T-1"}}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Woken != 1 {
		t.Errorf("Woken = %d, want 1", out[0].Woken)
	}
	if got := hitIDs(t, s, a.Run.ID); len(got) != 1 || got[0] != res.ID {
		t.Errorf("hits of the waiting run = %v, want [%s]", got, res.ID)
	}
	if got := hitIDs(t, s, b.Run.ID); len(got) != 0 {
		t.Errorf("hits of the run waiting for another key = %v", got)
	}
	ra, err := s.GetRun(ctx, a.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ra.Status != herald.RunRunning || !ra.DueAt.Equal(res.ReceivedAt) {
		t.Errorf("woken run: status %s due %v, want running due %v", ra.Status, ra.DueAt, res.ReceivedAt)
	}
	rb, _ := s.GetRun(ctx, b.Run.ID)
	if rb.Status != herald.RunWaiting {
		t.Errorf("other run: status %s, want waiting", rb.Status)
	}
	// The woken run is claimable with its event.
	jobs, err := s.ClaimRuns(ctx, store.Lease{Token: "w", Until: base.Add(2 * time.Hour)}, base.Add(2*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Run.ID != a.Run.ID || jobs[0].Event.Type != "ticket.opened" {
		t.Fatalf("claimed = %+v", jobs)
	}
	// Consuming the hit and finishing clears the run's waits.
	err = s.CompleteStep(ctx, &store.StepOutcome{RunID: a.Run.ID, Token: "w", Status: herald.RunCompleted,
		Now: base.Add(3 * time.Minute), ConsumedHits: []string{res.ID}, ClearWaits: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := hitIDs(t, s, a.Run.ID); len(got) != 0 {
		t.Errorf("hits after completion = %v", got)
	}
	again := newEvent("ticket.resolved", "r2", base.Add(4*time.Minute))
	out, err = s.Ingest(ctx, []store.IngestItem{{Event: again, WaitKeys: []string{"T-1"}}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Woken != 0 {
		t.Errorf("a finished run was woken again")
	}
}

// testSignalBeforeWait: an event that arrived while the run was still
// busy with earlier steps counts once the run starts waiting.
func testSignalBeforeWait(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, r := leasedRun(t, s, "order.paid", "t", base)
	early := newEvent("order.shipped", "s1", base.Add(time.Second))
	if _, err := s.Ingest(ctx, []store.IngestItem{{Event: early, WaitKeys: []string{"O-1"}}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	before := newEvent("order.shipped", "s0", base.Add(-time.Hour))
	if _, err := s.Ingest(ctx, []store.IngestItem{{Event: before, WaitKeys: []string{"O-1"}}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, r.Run.ID, "t", "order.shipped", "O-1", base, base.Add(2*time.Second))
	if got := hitIDs(t, s, r.Run.ID); len(got) != 1 || got[0] != early.ID {
		t.Errorf("hits = %v, want only the event received since the run's own [%s]", got, early.ID)
	}
	run, err := s.GetRun(ctx, r.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != herald.RunRunning {
		t.Errorf("run with a hit waiting: status %s, want running (woken at commit)", run.Status)
	}
}

// testAckAndCancel: the first acknowledgment counts and wakes a run that
// waits for one; cancelling suppresses unsent messages and is refused
// for finished or unknown runs.
func testAckAndCancel(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev, r := leasedRun(t, s, "alert.fired", "t", base)
	msg := store.NewMessage{Message: herald.Message{
		ID: herald.NewID(), EventID: ev.ID, RunID: r.Run.ID, StepName: "page", Channel: "sms",
		Key: "k", Status: herald.MessagePending, MaxAttempts: 3,
		CreatedAt: base, UpdatedAt: base, DueAt: base.Add(time.Hour),
	}}
	err := s.CompleteStep(ctx, &store.StepOutcome{RunID: r.Run.ID, Token: "t", Status: herald.RunWaiting,
		Step: 1, WaitingFor: "ack", DueAt: base.Add(time.Hour), Now: base, Messages: []store.NewMessage{msg}, WakeOnAck: true})
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.AckRun(ctx, r.Run.ID, "alice", base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if run.AckedBy != "alice" || !run.AckedAt.Equal(base.Add(time.Minute)) || run.Status != herald.RunRunning || !run.DueAt.Equal(base.Add(time.Minute)) {
		t.Errorf("after ack: %+v", run)
	}
	run, err = s.AckRun(ctx, r.Run.ID, "bob", base.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if run.AckedBy != "alice" || !run.AckedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("a second ack replaced the first: %+v", run)
	}
	if _, err := s.AckRun(ctx, herald.NewID(), "x", base); !isCode(err, herald.ENOTFOUND) {
		t.Errorf("ack of an unknown run: %v, want not found", err)
	}

	run, err = s.CancelRun(ctx, r.Run.ID, "operator", base.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != herald.RunCancelled || run.Error != "operator" || !run.DueAt.IsZero() {
		t.Errorf("cancelled run = %+v", run)
	}
	m, _, err := s.GetMessage(ctx, msg.Message.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != herald.MessageSuppressed {
		t.Errorf("unsent message of a cancelled run: %s, want suppressed", m.Status)
	}
	if _, err := s.CancelRun(ctx, r.Run.ID, "again", base); !isCode(err, herald.ECONFLICT) {
		t.Errorf("cancelling a cancelled run: %v, want conflict", err)
	}
	if _, err := s.CancelRun(ctx, herald.NewID(), "x", base); !isCode(err, herald.ENOTFOUND) {
		t.Errorf("cancelling an unknown run: %v, want not found", err)
	}
	// Cancel by correlation key at ingestion, sparing the emitter.
	_, r2 := leasedRun(t, s, "alert.fired", "t2", base)
	_, r3 := leasedRun(t, s, "alert.fired", "t3", base)
	rec := newEvent("alert.resolved", "res", base.Add(time.Hour))
	out, err := s.Ingest(ctx, []store.IngestItem{{Event: rec, Cancels: []store.RuleKey{{Rule: "r1", Key: "k"}}, Emitter: r3.Run.ID}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(out[0].CancelledRuns) != 1 || out[0].CancelledRuns[0] != r2.Run.ID {
		t.Errorf("cancelled by key = %v, want [%s]", out[0].CancelledRuns, r2.Run.ID)
	}
}

func isCode(err error, code string) bool {
	var he *herald.Error
	return errors.As(err, &he) && he.Code == code
}

// testWaitRace registers waits and ingests the matching events at the
// same moment, many times over: however the two interleave, the run
// must end up holding the hit and being due, never waiting forever.
func testWaitRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 40
	type pair struct {
		run store.NewRun
		key string
	}
	pairs := make([]pair, n)
	for i := range pairs {
		_, r := leasedRun(t, s, "job.started", fmt.Sprintf("t%d", i), base)
		pairs[i] = pair{run: r, key: fmt.Sprintf("J-%d", i)}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i, p := range pairs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := s.CompleteStep(ctx, &store.StepOutcome{
				RunID: p.run.Run.ID, Token: fmt.Sprintf("t%d", i), Status: herald.RunWaiting, Step: 1,
				WaitingFor: "event job.finished", DueAt: base.Add(time.Hour), Now: base.Add(time.Second),
				Wait:      &store.Wait{Type: "job.finished", Key: p.key, StepName: "wait", Since: base},
				WakeOnHit: true,
			})
			if err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			ev := newEvent("job.finished", "f-"+p.key, base.Add(time.Second))
			if _, err := s.Ingest(ctx, []store.IngestItem{{Event: ev, WaitKeys: []string{p.key}}}, time.Hour); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, p := range pairs {
		if got := hitIDs(t, s, p.run.Run.ID); len(got) != 1 {
			t.Errorf("run %s: %d hits, want 1", p.key, len(got))
		}
		r, err := s.GetRun(ctx, p.run.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != herald.RunRunning || r.DueAt.After(base.Add(time.Minute)) {
			t.Errorf("run %s: status %s due %v; its event arrived, it must be running and due now", p.key, r.Status, r.DueAt)
		}
	}
}
