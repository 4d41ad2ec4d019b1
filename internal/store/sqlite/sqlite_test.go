package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
	"github.com/herald-notify/herald/internal/store/sqlite"
	"github.com/herald-notify/herald/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "herald.db"), slog.New(slog.DiscardHandler), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	s, err := sqlite.Open(ctx, path, slog.New(slog.DiscardHandler), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveConfig(ctx, "v", []store.ConfigSource{{Path: "a", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s, err = sqlite.Open(ctx, path, slog.New(slog.DiscardHandler), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.LoadConfig(ctx, "v"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

// TestGroupFailureIsolated runs many writes at once, some of which fail:
// the failing ones report their error, every other one commits.
func TestGroupFailureIsolated(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "herald.db"), slog.New(slog.DiscardHandler), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	taken := herald.Event{ID: herald.NewID(), SpecID: "taken", Source: "s", Type: "t", Time: now, ReceivedAt: now}
	if _, err := s.Ingest(ctx, []store.IngestItem{{Event: taken}}, 0); err != nil {
		t.Fatal(err)
	}
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ev := herald.Event{ID: herald.NewID(), SpecID: fmt.Sprint(i), Source: "s", Type: "t", Time: now, ReceivedAt: now}
			if i%10 == 0 {
				ev.ID = taken.ID // primary key clash
			}
			_, errs[i] = s.Ingest(ctx, []store.IngestItem{{Event: ev}}, 0)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Errorf("write %d: err = %v", i, err)
		}
	}
}
