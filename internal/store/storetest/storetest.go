// Package storetest is the conformance suite every storage backend runs:
// the same tests, against a real database, for SQLite today and
// PostgreSQL later.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// Open returns a fresh, empty store for one test; the suite closes it.
type Open func(t *testing.T) store.Store

// Run runs the whole conformance suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"IngestAndGet", testIngestAndGet},
		{"Deduplication", testDeduplication},
		{"BatchAllOrNothing", testBatchAllOrNothing},
		{"ClaimLeaseAndExpiry", testClaimLeaseAndExpiry},
		{"CompleteStepFenced", testCompleteStepFenced},
		{"AttemptsAndResume", testAttemptsAndResume},
		{"RetryMessage", testRetryMessage},
		{"ListMessagesPaginates", testListMessages},
		{"ProviderIDs", testProviderIDs},
		{"Configs", testConfigs},
		{"Prune", testPrune},
		{"ConcurrentIngest", testConcurrentIngest},
		{"NanosecondTimes", testNanosecondTimes},
		{"State", testState},
		{"DigestConcurrent", testDigestConcurrent},
		{"WaitsAndHits", testWaitsAndHits},
		{"SignalBeforeWait", testSignalBeforeWait},
		{"AckAndCancel", testAckAndCancel},
		{"WaitRace", testWaitRace},
		{"PostponeAndSupersede", testPostponeAndSupersede},
		{"NULInResume", testNULInResume},
		{"ConcurrentDuplicates", testConcurrentDuplicates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var base = time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)

func newEvent(typ, specID string, at time.Time) herald.Event {
	return herald.Event{
		ID: herald.NewIDAt(at), SpecID: specID, Source: "test", Type: typ, Subject: "s1",
		Time: at, ReceivedAt: at, Data: json.RawMessage(`{"n":1}`),
	}
}

func newRun(ev *herald.Event, due time.Time) store.NewRun {
	return store.NewRun{Run: herald.Run{
		ID: herald.NewID(), EventID: ev.ID, Rule: "r1", ConfigVersion: "v1", Key: "k",
		Status: herald.RunRunning, CreatedAt: due, UpdatedAt: due, DueAt: due,
	}}
}

func ingestOne(t *testing.T, s store.Store, ev herald.Event, runs ...store.NewRun) store.IngestResult {
	t.Helper()
	res, err := s.Ingest(context.Background(), []store.IngestItem{{Event: ev, Runs: runs}}, time.Hour)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	return res[0]
}

func testIngestAndGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev := newEvent("order.paid", "a1", base)
	ev.Extensions = map[string]any{"tenant": "acme"}
	ev.IdempotencyKey = "idem-1"
	run := newRun(&ev, base)
	res := ingestOne(t, s, ev, run)
	if res.Duplicate || res.EventID != ev.ID {
		t.Fatalf("result = %+v, want new event %s", res, ev.ID)
	}
	v, err := s.GetEvent(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, v.Event); diff != "" {
		t.Errorf("event round trip (-want +got):\n%s", diff)
	}
	if len(v.Runs) != 1 || v.Runs[0].ID != run.Run.ID || v.Runs[0].Status != herald.RunRunning {
		t.Errorf("runs = %+v", v.Runs)
	}
	_, err = s.GetEvent(ctx, herald.NewID())
	if herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("GetEvent(unknown) error = %v, want not_found", err)
	}
}

func testDeduplication(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := newEvent("order.paid", "dup", base)
	ingestOne(t, s, first)

	again := newEvent("order.paid", "dup", base.Add(time.Minute))
	if res := ingestOne(t, s, again); !res.Duplicate || res.EventID != first.ID {
		t.Errorf("same source+id within window: %+v, want duplicate of %s", res, first.ID)
	}
	other := newEvent("order.paid", "dup", base.Add(time.Minute))
	other.Source = "elsewhere"
	if res := ingestOne(t, s, other); res.Duplicate {
		t.Errorf("same id, other source: duplicate, want new")
	}
	late := newEvent("order.paid", "dup", base.Add(2*time.Hour))
	if res := ingestOne(t, s, late); res.Duplicate {
		t.Errorf("same source+id outside window: duplicate, want new")
	}

	k1 := newEvent("x", "k1", base)
	k1.IdempotencyKey = "key"
	ingestOne(t, s, k1)
	k2 := newEvent("x", "k2", base.Add(time.Second))
	k2.IdempotencyKey = "key"
	if res := ingestOne(t, s, k2); !res.Duplicate || res.EventID != k1.ID {
		t.Errorf("same Idempotency-Key: %+v, want duplicate of %s", res, k1.ID)
	}
	k3 := newEvent("x", "k3", base.Add(3*time.Hour))
	k3.IdempotencyKey = "key"
	if res := ingestOne(t, s, k3); res.Duplicate {
		t.Errorf("Idempotency-Key reused after window: duplicate, want new")
	}
	// Within one batch the second copy is a duplicate of the first.
	b1 := newEvent("x", "b", base)
	b2 := newEvent("x", "b", base)
	res, err := s.Ingest(ctx, []store.IngestItem{{Event: b1}, {Event: b2}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Duplicate || !res[1].Duplicate || res[1].EventID != b1.ID {
		t.Errorf("in-batch duplicate: %+v", res)
	}
}

func testBatchAllOrNothing(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := newEvent("x", "a", base)
	b := newEvent("x", "b", base)
	b.ID = a.ID // primary key clash makes the second insert fail
	if _, err := s.Ingest(ctx, []store.IngestItem{{Event: a}, {Event: b}}, time.Hour); err == nil {
		t.Fatal("Ingest with a failing item succeeded")
	}
	if _, err := s.GetEvent(ctx, a.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("first item of a failed batch was stored (err %v)", err)
	}
	// A failed write in a group must not affect the others in it.
	c := newEvent("x", "c", base)
	ingestOne(t, s, c)
}

func testClaimLeaseAndExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev := newEvent("x", "1", base)
	due := newRun(&ev, base)
	future := newRun(&ev, base.Add(time.Hour))
	held := newRun(&ev, base)
	held.Lease = &store.Lease{Token: "other", Until: base.Add(10 * time.Second)}
	ingestOne(t, s, ev, due, future, held)

	l1 := store.Lease{Token: "t1", Until: base.Add(15 * time.Second)}
	jobs, err := s.ClaimRuns(ctx, l1, base.Add(time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Run.ID != due.Run.ID {
		t.Fatalf("claimed %d runs, want only the due one", len(jobs))
	}
	if jobs[0].Event.ID != ev.ID || jobs[0].Event.Type != "x" {
		t.Errorf("claimed run carries event %+v", jobs[0].Event)
	}
	// Nothing more is due until a lease runs out.
	if jobs, _ := s.ClaimRuns(ctx, store.Lease{Token: "t2", Until: base.Add(20 * time.Second)}, base.Add(2*time.Second), 10); len(jobs) != 0 {
		t.Errorf("claimed %d leased runs", len(jobs))
	}
	next, err := s.NextDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := base.Add(10 * time.Second); !next.Equal(want) {
		t.Errorf("NextDue = %v, want the held lease's expiry %v", next, want)
	}
	// After the other worker's lease expires, its run can be taken over.
	jobs, err = s.ClaimRuns(ctx, store.Lease{Token: "t3", Until: base.Add(40 * time.Second)}, base.Add(11*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Run.ID != held.Run.ID {
		t.Fatalf("after expiry claimed %d runs, want the abandoned one", len(jobs))
	}
	// The old holder can no longer commit.
	err = s.CompleteStep(ctx, &store.StepOutcome{RunID: held.Run.ID, Token: "other", Status: herald.RunCompleted, Now: base})
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("CompleteStep with a lost lease: %v, want ErrLeaseLost", err)
	}
}

func testCompleteStepFenced(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev := newEvent("order.paid", "1", base)
	r := newRun(&ev, base)
	r.Lease = &store.Lease{Token: "me", Until: base.Add(time.Minute)}
	ingestOne(t, s, ev, r)

	msg := store.NewMessage{Message: herald.Message{
		ID: herald.NewID(), EventID: ev.ID, RunID: r.Run.ID, Step: 0, StepName: "mail",
		Channel: "email", Recipient: "a@example.com", Key: "k", Status: herald.MessagePending,
		Content: json.RawMessage(`{"text":"hi"}`), MaxAttempts: 3,
		CreatedAt: base, UpdatedAt: base, DueAt: base,
	}}
	child := newEvent("order.followup", herald.NewID(), base)
	child.ParentID = ev.ID
	child.Chain = []string{"order.paid"}
	childRun := newRun(&child, base)
	err := s.CompleteStep(ctx, &store.StepOutcome{
		RunID: r.Run.ID, Token: "me", Status: herald.RunCompleted, Step: 2,
		State: json.RawMessage(`{"steps":{}}`), Now: base.Add(time.Second),
		Messages: []store.NewMessage{msg},
		Events:   []store.IngestItem{{Event: child, Runs: []store.NewRun{childRun}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.GetEvent(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Runs[0].Status != herald.RunCompleted || v.Runs[0].Step != 2 || !v.Runs[0].DueAt.IsZero() {
		t.Errorf("run after completion = %+v", v.Runs[0])
	}
	if len(v.Messages) != 1 || v.Messages[0].Recipient != "a@example.com" || v.Messages[0].Status != herald.MessagePending {
		t.Errorf("messages = %+v", v.Messages)
	}
	cv, err := s.GetEvent(ctx, child.ID)
	if err != nil {
		t.Fatalf("emitted event not stored: %v", err)
	}
	if cv.Event.ParentID != ev.ID || len(cv.Runs) != 1 {
		t.Errorf("emitted event = %+v, runs %d", cv.Event, len(cv.Runs))
	}
	// Completing twice with the same token fails: the lease was released.
	err = s.CompleteStep(ctx, &store.StepOutcome{RunID: r.Run.ID, Token: "me", Status: herald.RunCompleted, Now: base})
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("second completion: %v, want ErrLeaseLost", err)
	}
	// The message is claimable on its channel only.
	if jobs, _ := s.ClaimMessages(ctx, []string{"slack"}, store.Lease{Token: "x", Until: base.Add(time.Hour)}, base.Add(time.Second), 10); len(jobs) != 0 {
		t.Errorf("claimed %d messages of another channel", len(jobs))
	}
	jobs, err := s.ClaimMessages(ctx, []string{"email", "slack"}, store.Lease{Token: "x", Until: base.Add(time.Hour)}, base.Add(time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].EventType != "order.paid" || string(jobs[0].Message.Content) != `{"text":"hi"}` {
		t.Fatalf("claimed messages = %+v", jobs)
	}
}

func seedMessage(t *testing.T, s store.Store, blocking bool) (herald.Event, herald.Run, herald.Message) {
	t.Helper()
	ctx := context.Background()
	ev := newEvent("order.paid", herald.NewID(), base)
	r := newRun(&ev, base)
	r.Lease = &store.Lease{Token: "run", Until: base.Add(time.Minute)}
	ingestOne(t, s, ev, r)
	m := herald.Message{
		ID: herald.NewID(), EventID: ev.ID, RunID: r.Run.ID, StepName: "warehouse", Channel: "http",
		Key: "order-1", Status: herald.MessagePending, MaxAttempts: 2, Blocking: blocking,
		CreatedAt: base, UpdatedAt: base,
	}
	status := herald.RunCompleted
	if blocking {
		status = herald.RunWaiting
	}
	err := s.CompleteStep(ctx, &store.StepOutcome{
		RunID: r.Run.ID, Token: "run", Status: status, Now: base,
		WaitingFor: waitingFor(blocking, m.ID),
		Messages:   []store.NewMessage{{Message: m, Lease: &store.Lease{Token: "msg", Until: base.Add(time.Minute)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev, r.Run, m
}

func waitingFor(blocking bool, id string) string {
	if !blocking {
		return ""
	}
	return "message " + id
}

func attempt(m herald.Message, n int, outcome herald.Outcome) herald.Attempt {
	return herald.Attempt{ID: herald.NewID(), MessageID: m.ID, Number: n, StartedAt: base,
		Duration: 1500 * time.Microsecond, Outcome: outcome, StatusCode: 500, Error: "boom"}
}

func testAttemptsAndResume(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev, run, m := seedMessage(t, s, true)
	// First attempt fails: retry scheduled, the run keeps waiting.
	errs, err := s.RecordAttempts(ctx, []*store.AttemptOutcome{{
		Token: "msg", Attempt: attempt(m, 1, herald.OutcomeRetry), Status: herald.MessageFailed,
		Error: "boom", Attempts: 1, DueAt: base.Add(time.Minute), Now: base,
	}})
	if err != nil || errs[0] != nil {
		t.Fatalf("RecordAttempts: %v %v", err, errs)
	}
	jobs, err := s.ClaimMessages(ctx, []string{"http"}, store.Lease{Token: "msg2", Until: base.Add(2 * time.Minute)}, base.Add(time.Minute), 10)
	if err != nil || len(jobs) != 1 || jobs[0].Message.Attempts != 1 {
		t.Fatalf("claim retry: %v %+v", err, jobs)
	}
	// A stale token is refused but the attempt is still recorded.
	errs, err = s.RecordAttempts(ctx, []*store.AttemptOutcome{{
		Token: "msg", Attempt: attempt(m, 2, herald.OutcomeSent), Status: herald.MessageSent, Attempts: 2, Now: base,
	}})
	if err != nil || !errors.Is(errs[0], store.ErrLeaseLost) {
		t.Fatalf("stale token: %v %v, want ErrLeaseLost", err, errs)
	}
	out := json.RawMessage(`{"ok":true,"status":200,"response":{"id":"wh-1"}}`)
	a := attempt(m, 2, herald.OutcomeSent)
	a.StatusCode = 200
	a.Response = `{"id":"wh-1"}`
	errs, err = s.RecordAttempts(ctx, []*store.AttemptOutcome{{
		Token: "msg2", Attempt: a, Status: herald.MessageSent, ProviderID: "wh-1", Attempts: 2, Now: base.Add(time.Minute),
		Resume: &store.Resume{RunID: run.ID, StepName: "warehouse", Output: out},
	}})
	if err != nil || errs[0] != nil {
		t.Fatalf("RecordAttempts: %v %v", err, errs)
	}
	v, err := s.GetEvent(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := v.Messages[0]
	if got.Status != herald.MessageSent || got.ProviderID != "wh-1" || got.Attempts != 2 || len(got.AttemptList) != 3 {
		t.Errorf("message = %+v with %d attempts", got.Message, len(got.AttemptList))
	}
	if got.AttemptList[2].Response != `{"id":"wh-1"}` || got.AttemptList[0].Duration != 1500*time.Microsecond {
		t.Errorf("attempt = %+v", got.AttemptList[2])
	}
	r := v.Runs[0]
	if r.Status != herald.RunRunning || r.DueAt.IsZero() {
		t.Errorf("resumed run = %+v", r)
	}
	var state struct {
		Steps map[string]json.RawMessage `json:"steps"`
	}
	if err := json.Unmarshal(r.State, &state); err != nil {
		t.Fatalf("run state %s: %v", r.State, err)
	}
	var gotOut, wantOut any
	json.Unmarshal(state.Steps["warehouse"], &gotOut)
	json.Unmarshal(out, &wantOut)
	if diff := cmp.Diff(wantOut, gotOut); diff != "" {
		t.Errorf("step output (-want +got):\n%s", diff)
	}
}

func testRetryMessage(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, _, m := seedMessage(t, s, false)
	if _, err := s.RetryMessage(ctx, m.ID, 3, base); herald.ErrorCode(err) != herald.ECONFLICT {
		t.Errorf("retry of a pending message: %v, want conflict", err)
	}
	errs, err := s.RecordAttempts(ctx, []*store.AttemptOutcome{{
		Token: "msg", Attempt: attempt(m, 1, herald.OutcomePermanent), Status: herald.MessageDead,
		Error: "400 Bad Request", Attempts: 1, Now: base,
	}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	// A failed message whose retry is being sent right now is not retried
	// again (that would send it twice at once).
	_, _, busy := seedMessage(t, s, false)
	errs, err = s.RecordAttempts(ctx, []*store.AttemptOutcome{{
		Token: "msg", Attempt: attempt(busy, 1, herald.OutcomeRetry), Status: herald.MessageFailed,
		Attempts: 1, DueAt: base, Now: base,
	}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if jobs, err := s.ClaimMessages(ctx, []string{"http"}, store.Lease{Token: "busy", Until: base.Add(time.Minute)}, base, 10); err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %d", err, len(jobs))
	}
	if _, err := s.RetryMessage(ctx, busy.ID, 3, base.Add(time.Second)); herald.ErrorCode(err) != herald.ECONFLICT {
		t.Errorf("retry of a message being sent: %v, want conflict", err)
	}
	if ch, err := s.DueChannels(ctx, base.Add(time.Hour)); err != nil || len(ch) != 1 || ch[0] != "http" {
		t.Errorf("DueChannels = %v %v, want [http] (the dead message is not due; the leased one is, once its lease ends)", ch, err)
	}

	got, err := s.RetryMessage(ctx, m.ID, 3, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != herald.MessagePending || got.MaxAttempts != 4 || !got.DueAt.Equal(base.Add(time.Hour)) {
		t.Errorf("retried message = %+v", got)
	}
	jobs, err := s.ClaimMessages(ctx, []string{"http"}, store.Lease{Token: "r", Until: base.Add(2 * time.Hour)}, base.Add(time.Hour), 5)
	found := false
	for _, j := range jobs {
		found = found || j.Message.ID == m.ID
	}
	if err != nil || !found {
		t.Errorf("retried message not claimable: %v %d", err, len(jobs))
	}
	if _, err := s.RetryMessage(ctx, herald.NewID(), 3, base); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("retry unknown: %v, want not_found", err)
	}
}

func testListMessages(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev := newEvent("x", "1", base)
	r := newRun(&ev, base)
	r.Lease = &store.Lease{Token: "run", Until: base.Add(time.Minute)}
	ingestOne(t, s, ev, r)
	var msgs []store.NewMessage
	for i := range 7 {
		ch := "email"
		if i%2 == 1 {
			ch = "http"
		}
		msgs = append(msgs, store.NewMessage{Message: herald.Message{
			ID: herald.NewID(), EventID: ev.ID, RunID: r.Run.ID, Channel: ch, Status: herald.MessagePending,
			MaxAttempts: 1, CreatedAt: base, UpdatedAt: base, DueAt: base,
		}})
	}
	if err := s.CompleteStep(ctx, &store.StepOutcome{RunID: r.Run.ID, Token: "run", Status: herald.RunCompleted, Now: base, Messages: msgs}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		got, next, err := s.ListMessages(ctx, store.MessageFilter{Status: herald.MessagePending, Channel: "email", Limit: 2, Cursor: cursor, Now: base})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			seen = append(seen, m.ID)
		}
		if next == "" {
			break
		}
		cursor = next
		if page > 10 {
			t.Fatal("pagination does not end")
		}
	}
	var want []string
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Message.Channel == "email" {
			want = append(want, msgs[i].Message.ID)
		}
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("paged ids, newest first (-want +got):\n%s", diff)
	}
	if _, _, err := s.ListMessages(ctx, store.MessageFilter{Cursor: "!!"}); herald.ErrorCode(err) != herald.EINVALID {
		t.Errorf("bad cursor: %v, want invalid", err)
	}
}

func testProviderIDs(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, _, m := seedMessage(t, s, false)
	errs, err := s.RecordAttempts(ctx, []*store.AttemptOutcome{{
		Token: "msg", Attempt: attempt(m, 1, herald.OutcomeSent), Status: herald.MessageSent,
		ProviderID: "p-1", Attempts: 1, Now: base,
	}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	ids, err := s.ProviderIDs(ctx, "http", "order-1", 5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"p-1"}, ids); diff != "" {
		t.Errorf("provider ids (-want +got):\n%s", diff)
	}
}

func testConfigs(t *testing.T, s store.Store) {
	ctx := context.Background()
	srcs := []store.ConfigSource{{Path: "a.yaml", Data: []byte("rules: []\n")}}
	for range 2 { // idempotent
		if err := s.SaveConfig(ctx, "v1", srcs); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.LoadConfig(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(srcs, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if _, err := s.LoadConfig(ctx, "nope"); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("unknown version: %v", err)
	}
}

func testPrune(t *testing.T, s store.Store) {
	ctx := context.Background()
	old := time.Now().Add(-48 * time.Hour)
	done := newEvent("x", "old", old)
	ingestOne(t, s, done)
	active := newEvent("x", "active", old)
	ingestOne(t, s, active, newRun(&active, old))
	fresh := newEvent("x", "fresh", time.Now())
	ingestOne(t, s, fresh)
	n, err := s.Prune(ctx, time.Now().Add(-24*time.Hour), time.Now().Add(-24*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("pruned %d events, want 1 (the finished old one)", n)
	}
	if _, err := s.GetEvent(ctx, done.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("old finished event still there")
	}
	for _, id := range []string{active.ID, fresh.ID} {
		if _, err := s.GetEvent(ctx, id); err != nil {
			t.Errorf("event %s pruned: %v", id, err)
		}
	}
}

func testConcurrentIngest(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	ids := make(chan string, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ev := newEvent("load", fmt.Sprintf("%d-%d", w, i), base)
				res, err := s.Ingest(ctx, []store.IngestItem{{Event: ev, Runs: []store.NewRun{newRun(&ev, base)}}}, time.Hour)
				if err != nil {
					errs <- err
					continue
				}
				ids <- res[0].EventID
			}
		})
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	for range ids {
		n++
	}
	if n != writers*each {
		t.Fatalf("ingested %d, want %d", n, writers*each)
	}
	claimed := 0
	for {
		jobs, err := s.ClaimRuns(ctx, store.Lease{Token: "c", Until: base.Add(time.Hour)}, base, 64)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			break
		}
		claimed += len(jobs)
	}
	if claimed != writers*each {
		t.Errorf("claimed %d runs, want %d", claimed, writers*each)
	}
}

func testNanosecondTimes(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.FixedZone("x", 3600))
	ev := newEvent("x", "ns", at)
	ingestOne(t, s, ev)
	v, err := s.GetEvent(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Event.Time.Equal(at) || v.Event.Time.Location() != time.UTC || v.Event.Time.Nanosecond() != 999999999 {
		t.Errorf("time = %v, want %v in UTC with nanoseconds", v.Event.Time, at)
	}
}

func testState(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetState(ctx, "schedule/a"); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("missing key: %v, want not_found", err)
	}
	for _, kv := range [][2]string{{"schedule/a", "1"}, {"schedule/a", "2"}, {"schedule/b", "3"}, {"heartbeat/x", "4"}} {
		if err := s.PutState(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.GetState(ctx, "schedule/a"); err != nil || string(v) != "2" {
		t.Errorf("GetState = %q %v, want the latest value", v, err)
	}
	got, err := s.ListState(ctx, "schedule/")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"schedule/a": []byte("2"), "schedule/b": []byte("3")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListState (-want +got):\n%s", diff)
	}
	if err := s.DeleteState(ctx, "schedule/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteState(ctx, "schedule/absent"); err != nil {
		t.Errorf("deleting an absent key: %v", err)
	}
	if _, err := s.GetState(ctx, "schedule/a"); !isCode(err, herald.ENOTFOUND) {
		t.Errorf("GetState after DeleteState: %v, want not found", err)
	}
	if got, _ := s.ListState(ctx, "schedule/"); len(got) != 1 {
		t.Errorf("ListState after a delete: %v", got)
	}
}

// testDigestConcurrent joins many runs of two keys at once: each key gets
// exactly one leader, every run lands in its own key's group, and asking
// again gives the same answer.
func testDigestConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const perKey = 40
	type result struct {
		key  string
		run  string
		role *store.DigestRole
	}
	results := make(chan result, 2*perKey)
	var wg sync.WaitGroup
	for i := range 2 * perKey {
		key := []string{"ticket-1", "ticket-2"}[i%2]
		wg.Go(func() {
			ev := newEvent("ticket.updated", fmt.Sprintf("d%d", i), base)
			r := newRun(&ev, base)
			ingestOne(t, s, ev, r)
			run := r.Run.ID
			role, err := s.Digest(ctx, store.DigestJoin{Rule: "r", Step: "batch", Key: key, RunID: run,
				EventID: ev.ID, Now: base, ClosesAt: base.Add(10 * time.Minute)})
			if err != nil {
				t.Error(err)
				return
			}
			again, err := s.Digest(ctx, store.DigestJoin{Rule: "r", Step: "batch", Key: key, RunID: run,
				EventID: ev.ID, Now: base.Add(time.Second), ClosesAt: base.Add(20 * time.Minute)})
			if err != nil || *again != *role {
				t.Errorf("second Digest for the same run = %+v %v, want %+v", again, err, role)
			}
			results <- result{key, run, role}
		})
	}
	wg.Wait()
	close(results)
	leaders := map[string]string{}
	members := map[string]int{}
	for r := range results {
		if r.role.Role == store.DigestLead {
			if prev, ok := leaders[r.key]; ok {
				t.Fatalf("key %s has two leaders: %s and %s", r.key, prev, r.run)
			}
			leaders[r.key] = r.run
		}
	}
	if len(leaders) != 2 {
		t.Fatalf("leaders = %v, want one per key", leaders)
	}
	for key, leader := range leaders {
		events, err := s.CloseDigest(ctx, "r", "batch", leader)
		if err != nil {
			t.Fatal(err)
		}
		members[key] = len(events)
	}
	if members["ticket-1"] != perKey || members["ticket-2"] != perKey {
		t.Errorf("group sizes = %v, want %d each", members, perKey)
	}
	// Two digest steps of one rule keep separate groups for one run.
	for _, key := range []string{"ticket-1", "ticket-2"} {
		leader := leaders[key]
		role, err := s.Digest(ctx, store.DigestJoin{Rule: "r", Step: "second", Key: key, RunID: leader,
			EventID: "x", Now: base.Add(time.Hour), ClosesAt: base.Add(2 * time.Hour)})
		if err != nil || role.Role != store.DigestLead || !role.ClosesAt.Equal(base.Add(2*time.Hour)) {
			t.Errorf("second digest step: %+v %v, want a new group of its own", role, err)
		}
	}
	// After the close, a new run starts a new group.
	ev := newEvent("ticket.updated", "late", base)
	late := newRun(&ev, base)
	ingestOne(t, s, ev, late)
	role, err := s.Digest(ctx, store.DigestJoin{Rule: "r", Step: "batch", Key: "ticket-1", RunID: late.Run.ID,
		EventID: ev.ID, Now: base.Add(time.Minute), ClosesAt: base.Add(11 * time.Minute)})
	if err != nil || role.Role != store.DigestLead {
		t.Errorf("after close: %+v %v, want a new leader", role, err)
	}
	// Lookback: nothing sent lately passes; within the window it digests.
	for i := range 2 {
		ev := newEvent("x", fmt.Sprintf("lb%d", i), base)
		r := newRun(&ev, base)
		ingestOne(t, s, ev, r)
		run := r.Run.ID
		role, err := s.Digest(ctx, store.DigestJoin{Rule: "r", Step: "lb", Key: "k", RunID: run, EventID: ev.ID,
			Now: base.Add(time.Duration(i) * time.Minute), Lookback: true, Window: 10 * time.Minute})
		want := []string{store.DigestPass, store.DigestLead}[i]
		if err != nil || role.Role != want {
			t.Errorf("lookback run %d: %+v %v, want %s", i, role, err, want)
		}
		if i == 1 && !role.ClosesAt.Equal(base.Add(10*time.Minute)) {
			t.Errorf("lookback digest closes at %v, want 10m after the pass-through", role.ClosesAt)
		}
	}
}
