package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/herald-notify/herald/internal/app"
	"github.com/herald-notify/herald/internal/store/postgres"
)

// runMigrate applies the PostgreSQL migrations and reports the schema's
// version. Nodes apply them at start too (under an advisory lock); a
// deployment that prefers an explicit step runs this first and starts
// nodes with --no-migrate.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file or folder whose storage section names the database")
	storage := fs.String("storage", os.Getenv("HERALD_STORAGE"), "postgres:// URL (overrides the configuration; env HERALD_STORAGE)")
	schema := fs.String("schema", "", "PostgreSQL schema (default: storage.schema, public)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	url, sc := *storage, *schema
	if url == "" && *configPath != "" {
		cfg, err := app.LoadConfig(*configPath, os.LookupEnv)
		if err != nil {
			return err
		}
		url = cfg.Storage.URL
		if sc == "" {
			sc = cfg.Storage.Schema
		}
	}
	if !app.IsPostgresURL(url) {
		return usageError{"migrate needs a PostgreSQL database: --storage postgres://... or a configuration whose storage is one (SQLite migrates itself at start)"}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := postgres.Open(ctx, url, logger, postgres.Options{Schema: sc, MaxConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.MigrationVersion(ctx)
	if err != nil {
		return err
	}
	if sc == "" {
		sc = "public"
	}
	fmt.Fprintf(stdout, "schema %s is at migration %d\n", sc, v)
	return nil
}
