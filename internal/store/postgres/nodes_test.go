package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
	"github.com/herald-notify/herald/internal/store/postgres"
	"github.com/herald-notify/herald/internal/store/postgres/pgtest"
)

// TestTwoNodes opens two stores (two nodes' pools) on one schema: the
// same Idempotency-Key ingested through both at once is one event, jobs
// claimed by both are never claimed twice, a commit on one wakes the
// other, and exactly one of them leads at a time.
func TestTwoNodes(t *testing.T) {
	url, schema := pgtest.Schema(t)
	ctx := context.Background()
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, url, slog.New(slog.DiscardHandler), postgres.Options{Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	at := time.Now().UTC()

	// Deduplication across nodes.
	var wg sync.WaitGroup
	results := make([]store.IngestResult, 20)
	for i := range results {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			ev := herald.Event{ID: herald.NewIDAt(at), Source: "test", SpecID: fmt.Sprint(i), Type: "x",
				Time: at, ReceivedAt: at, IdempotencyKey: "the-same-key"}
			res, err := s.Ingest(ctx, []store.IngestItem{{Event: ev}}, time.Hour)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res[0]
		})
	}
	wg.Wait()
	stored := 0
	for _, r := range results {
		if !r.Duplicate {
			stored++
		}
		if r.EventID != results[0].EventID {
			t.Errorf("answers name different events: %s and %s", r.EventID, results[0].EventID)
		}
	}
	if stored != 1 {
		t.Errorf("stored %d events for one Idempotency-Key across two nodes", stored)
	}

	// Claims across nodes: 200 due runs, both nodes claiming at once.
	var items []store.IngestItem
	for i := range 200 {
		ev := herald.Event{ID: herald.NewIDAt(at), Source: "test", SpecID: fmt.Sprint("r", i), Type: "y", Time: at, ReceivedAt: at}
		items = append(items, store.IngestItem{Event: ev, Runs: []store.NewRun{{Run: herald.Run{
			ID: herald.NewID(), EventID: ev.ID, Rule: "r", ConfigVersion: "v", Status: herald.RunRunning,
			CreatedAt: at, UpdatedAt: at, DueAt: at}}}})
	}
	// b hears the commit a makes (NOTIFY): drain what b heard so far.
	for len(b.Wakeups()) > 0 {
		<-b.Wakeups()
	}
	if _, err := a.Ingest(ctx, items, time.Hour); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Wakeups():
	case <-time.After(10 * time.Second):
		t.Error("node b was not woken by node a's commit of due runs")
	}
	claimed := map[string]string{}
	var mu sync.Mutex
	for _, s := range []*postgres.Store{a, b, a, b} {
		wg.Go(func() {
			for {
				jobs, err := s.ClaimRuns(ctx, store.Lease{Token: herald.NewID(), Until: at.Add(time.Hour)}, at.Add(time.Second), 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					if prev, ok := claimed[j.Run.ID]; ok {
						t.Errorf("run %s claimed twice (%s, %s)", j.Run.ID, prev, j.Lease.Token)
					}
					claimed[j.Run.ID] = j.Lease.Token
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != 200 {
		t.Errorf("claimed %d runs, want 200", len(claimed))
	}

	// Leadership: one at a time; the other takes over when it steps down.
	var leaders sync.Map
	count := func() int {
		n := 0
		leaders.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	lead := func(name string, s *postgres.Store, ctx context.Context) {
		s.Lead(ctx, "test", func(lctx context.Context) {
			leaders.Store(name, true)
			<-lctx.Done()
			leaders.Delete(name)
		})
	}
	actx, stopA := context.WithCancel(ctx)
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	go lead("a", a, actx)
	waitFor(t, "a leader", func() bool { return count() == 1 })
	go lead("b", b, bctx)
	time.Sleep(1500 * time.Millisecond) // b tries at least once meanwhile
	if n := count(); n != 1 {
		t.Fatalf("%d leaders at once", n)
	}
	_, aLeads := leaders.Load("a")
	if !aLeads {
		t.Fatal("b took over while a still led")
	}
	stopA()
	waitFor(t, "b to take over", func() bool { _, ok := leaders.Load("b"); return ok && count() == 1 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGroupFailureIsolated: calls gathered into one group transaction
// stay all or nothing each: a call that fails (an event id that already
// exists) fails alone, the calls committed beside it are stored.
func TestGroupFailureIsolated(t *testing.T) {
	s := pgtest.Open(t)
	ctx := context.Background()
	at := time.Now().UTC()
	taken := herald.Event{ID: herald.NewIDAt(at), Source: "test", SpecID: "taken", Type: "x", Time: at, ReceivedAt: at}
	if _, err := s.Ingest(ctx, []store.IngestItem{{Event: taken}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	const calls = 40
	errs := make([]error, calls)
	ids := make([]string, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			ev := herald.Event{ID: herald.NewIDAt(at), Source: "test", SpecID: fmt.Sprint("g", i), Type: "x", Time: at, ReceivedAt: at}
			if i == 7 {
				ev.ID = taken.ID // a primary key that exists: this call must fail
			}
			res, err := s.Ingest(ctx, []store.IngestItem{{Event: ev}}, time.Hour)
			errs[i] = err
			if err == nil {
				ids[i] = res[0].EventID
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == 7 && err == nil:
			t.Errorf("the call reusing an event id succeeded")
		case i != 7 && err != nil:
			t.Errorf("call %d failed beside the bad one: %v", i, err)
		case i != 7:
			if _, err := s.GetEvent(ctx, ids[i]); err != nil {
				t.Errorf("call %d answered %s but it is not stored: %v", i, ids[i], err)
			}
		}
	}
}
