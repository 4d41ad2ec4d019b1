package sqlite_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

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
