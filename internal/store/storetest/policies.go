package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// testPostponeAndSupersede: a postponed message goes back to the queue
// without an attempt, fenced by its lease; a superseded message that was
// not sent is suppressed, a sent one keeps its status.
func testPostponeAndSupersede(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev, r := leasedRun(t, s, "page.needed", "run", base)
	mk := func(ch string) store.NewMessage {
		return store.NewMessage{Message: herald.Message{
			ID: herald.NewID(), EventID: ev.ID, RunID: r.Run.ID, StepName: "page", Channel: ch,
			Key: "k", Status: herald.MessagePending, MaxAttempts: 3, Blocking: true,
			CreatedAt: base, UpdatedAt: base, DueAt: base,
		}}
	}
	a, b := mk("wecom"), mk("sms")
	err := s.CompleteStep(ctx, &store.StepOutcome{RunID: r.Run.ID, Token: "run", Status: herald.RunWaiting, Step: 0,
		WaitingFor: store.WaitingForMessage(a.Message.ID), DueAt: base.Add(time.Minute), Now: base,
		Messages: []store.NewMessage{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.ClaimMessages(ctx, []string{"wecom"}, store.Lease{Token: "m1", Until: base.Add(time.Hour)}, base, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %d", err, len(jobs))
	}
	if err := s.PostponeMessage(ctx, a.Message.ID, "wrong", base.Add(time.Minute), base); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("postpone with another token: %v, want ErrLeaseLost", err)
	}
	if err := s.PostponeMessage(ctx, a.Message.ID, "m1", base.Add(30*time.Second), base); err != nil {
		t.Fatal(err)
	}
	m, atts, err := s.GetMessage(ctx, a.Message.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != herald.MessagePending || !m.DueAt.Equal(base.Add(30*time.Second)) || m.Attempts != 0 || len(atts) != 0 {
		t.Errorf("postponed message: status %s due %v attempts %d (%d rows)", m.Status, m.DueAt, m.Attempts, len(atts))
	}
	if jobs, _ := s.ClaimMessages(ctx, []string{"wecom"}, store.Lease{Token: "m2", Until: base.Add(time.Hour)}, base.Add(10*time.Second), 10); len(jobs) != 0 {
		t.Errorf("a postponed message was claimed before its time")
	}
	// Send b, then supersede both: only the unsent one is suppressed.
	jobs, err = s.ClaimMessages(ctx, []string{"sms"}, store.Lease{Token: "m3", Until: base.Add(time.Hour)}, base, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim sms: %v %d", err, len(jobs))
	}
	if _, err := s.RecordAttempts(ctx, []*store.AttemptOutcome{{Token: "m3", Status: herald.MessageSent, Attempts: 1, Now: base,
		Attempt: herald.Attempt{ID: herald.NewID(), MessageID: b.Message.ID, Number: 1, StartedAt: base, Outcome: herald.OutcomeSent}}}); err != nil {
		t.Fatal(err)
	}
	rjobs, err := s.ClaimRuns(ctx, store.Lease{Token: "run2", Until: base.Add(time.Hour)}, base.Add(2*time.Minute), 10)
	if err != nil || len(rjobs) != 1 {
		t.Fatalf("claim run at its deadline: %v %d", err, len(rjobs))
	}
	err = s.CompleteStep(ctx, &store.StepOutcome{RunID: r.Run.ID, Token: "run2", Status: herald.RunCompleted, Step: 1,
		Now: base.Add(2 * time.Minute), Supersede: []string{a.Message.ID, b.Message.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if m, _, _ := s.GetMessage(ctx, a.Message.ID); m.Status != herald.MessageSuppressed || !m.DueAt.IsZero() {
		t.Errorf("superseded unsent message: %s due %v, want suppressed", m.Status, m.DueAt)
	}
	if m, _, _ := s.GetMessage(ctx, b.Message.ID); m.Status != herald.MessageSent {
		t.Errorf("superseded sent message: %s, want sent", m.Status)
	}
}

// testNULInResume: a provider response holding a NUL byte (a JSON
// \u0000) resumes the waiting run like any other; it must not make the
// commit fail (and the message be sent again and again).
func testNULInResume(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev, r := leasedRun(t, s, "call.needed", "run", base)
	msg := store.NewMessage{Message: herald.Message{
		ID: herald.NewID(), EventID: ev.ID, RunID: r.Run.ID, StepName: "call", Channel: "http",
		Status: herald.MessagePending, MaxAttempts: 3, Blocking: true, CreatedAt: base, UpdatedAt: base, DueAt: base,
	}}
	err := s.CompleteStep(ctx, &store.StepOutcome{RunID: r.Run.ID, Token: "run", Status: herald.RunWaiting,
		WaitingFor: store.WaitingForMessage(msg.Message.ID), Now: base, Messages: []store.NewMessage{msg},
		State: []byte(`{"steps":{"before":{"text":"x\u0000y"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.ClaimMessages(ctx, []string{"http"}, store.Lease{Token: "m", Until: base.Add(time.Hour)}, base, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %d", err, len(jobs))
	}
	errs, err := s.RecordAttempts(ctx, []*store.AttemptOutcome{{Token: "m", Status: herald.MessageSent, Attempts: 1, Now: base,
		Attempt: herald.Attempt{ID: herald.NewID(), MessageID: msg.Message.ID, Number: 1, StartedAt: base, Outcome: herald.OutcomeSent, Response: "a\x00b"},
		Resume:  &store.Resume{RunID: r.Run.ID, StepName: "call", Output: []byte(`{"ok":true,"response":"a\u0000b"}`)}}})
	if err != nil || errs[0] != nil {
		t.Fatalf("RecordAttempts with a NUL in the response: %v %v", err, errs)
	}
	run, err := s.GetRun(ctx, r.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != herald.RunRunning || !strings.Contains(string(run.State), `"call"`) {
		t.Errorf("run after resume: %s %s", run.Status, run.State)
	}
}

// testConcurrentDuplicates: many writers ingest the same producer keys
// and Idempotency-Keys at the same moment; each key is stored once and
// every writer is told the same event id.
func testConcurrentDuplicates(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers, keys = 8, 20
	type answer struct {
		key int
		id  string
		dup bool
	}
	answers := make(chan answer, writers*keys*2)
	errs := make(chan error, writers*keys*2)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for k := range keys {
				// Half by producer key, half by Idempotency-Key (with a
				// different producer id each time).
				ev := newEvent("dup", fmt.Sprintf("spec-%d", k), base)
				if k%2 == 1 {
					ev.SpecID = fmt.Sprintf("w%d-%d", w, k)
					ev.IdempotencyKey = fmt.Sprintf("idem-%d", k)
				}
				res, err := s.Ingest(ctx, []store.IngestItem{{Event: ev}}, time.Hour)
				if err != nil {
					errs <- err
					continue
				}
				answers <- answer{key: k, id: res[0].EventID, dup: res[0].Duplicate}
			}
		})
	}
	wg.Wait()
	close(answers)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ids := map[int]map[string]bool{}
	stored := map[int]int{}
	for a := range answers {
		if ids[a.key] == nil {
			ids[a.key] = map[string]bool{}
		}
		ids[a.key][a.id] = true
		if !a.dup {
			stored[a.key]++
		}
	}
	for k := range keys {
		if len(ids[k]) != 1 || stored[k] != 1 {
			t.Errorf("key %d: %d distinct ids, stored %d times; want one event", k, len(ids[k]), stored[k])
		}
	}
}
