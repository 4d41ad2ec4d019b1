package app

import (
	"context"
	"log/slog"
	"strings"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/store"
	"github.com/herald-notify/herald/internal/store/postgres"
	"github.com/herald-notify/herald/internal/store/sqlite"
)

// IsPostgresURL reports whether a storage value names a PostgreSQL
// database rather than a SQLite file.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// openStore opens the backend the configuration (or an override) names:
// PostgreSQL for a postgres:// URL, otherwise the SQLite file.
func openStore(ctx context.Context, cfg config.Storage, opts Options, logger *slog.Logger) (store.Store, error) {
	if opts.Storage != "" {
		if IsPostgresURL(opts.Storage) {
			cfg.URL, cfg.Path = opts.Storage, ""
		} else {
			cfg.URL, cfg.Path = "", opts.Storage
		}
	}
	if opts.DBPath != "" {
		cfg.URL, cfg.Path = "", opts.DBPath
	}
	if opts.Schema != "" {
		cfg.Schema = opts.Schema
	}
	if cfg.URL != "" {
		return postgres.Open(ctx, cfg.URL, logger, postgres.Options{
			Schema:    cfg.Schema,
			MaxConns:  int32(cfg.MaxConns),
			NoMigrate: cfg.NoMigrate || opts.NoMigrate,
		})
	}
	return sqlite.Open(ctx, cfg.Path, logger, sqlite.Options{Synchronous: opts.Synchronous})
}
