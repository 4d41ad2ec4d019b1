package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/store/postgres/pgtest"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--storage", url, "--schema", schema}, &out, &errs); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errs.String())
	}
	if !strings.Contains(out.String(), "schema "+schema+" is at migration 2") {
		t.Errorf("output %q", out.String())
	}
	// Again: nothing to apply, same answer.
	out.Reset()
	if err := run(context.Background(), []string{"migrate", "--storage", url, "--schema", schema}, &out, &errs); err != nil || !strings.Contains(out.String(), "migration 2") {
		t.Errorf("second migrate: %v %q", err, out.String())
	}
	err := run(context.Background(), []string{"migrate", "--storage", "data/herald.db"}, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "needs a PostgreSQL database") {
		t.Errorf("migrate on a SQLite path: %v", err)
	}
}
