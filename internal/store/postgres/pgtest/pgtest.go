// Package pgtest gives each test its own PostgreSQL schema on the test
// database, so tests run in parallel without seeing each other's rows
// (notification channels include the schema name too).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/store/postgres"
	"github.com/herald-notify/herald/internal/testenv"
)

// Schema creates nothing yet: it returns the database URL and a fresh
// schema name, dropped with everything in it when the test ends.
func Schema(t testing.TB) (url, schema string) {
	t.Helper()
	url = testenv.Postgres(t)
	var b [6]byte
	rand.Read(b[:])
	schema = "t_" + strings.ToLower(hex.EncodeToString(b[:]))
	t.Cleanup(func() {
		if err := postgres.DropSchema(context.Background(), url, schema); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}

// Open returns a store on a fresh schema, closed when the test ends.
func Open(t testing.TB) *postgres.Store {
	t.Helper()
	url, schema := Schema(t)
	s, err := postgres.Open(context.Background(), url, slog.New(slog.DiscardHandler), postgres.Options{Schema: schema, MaxConns: 8})
	if err != nil {
		t.Fatalf("open PostgreSQL store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
