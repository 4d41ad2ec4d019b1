package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/herald-notify/herald/internal/app"
)

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file or folder (default: the built-in demo)")
	listen := fs.String("listen", "", "address to listen on (default: server.listen, 127.0.0.1:8080)")
	db := fs.String("db", "", "SQLite database file (default: storage.path, data/herald.db)")
	storage := fs.String("storage", os.Getenv("HERALD_STORAGE"), "storage: a postgres:// URL shared by a cluster, or a SQLite file (default: the storage section; env HERALD_STORAGE)")
	schema := fs.String("schema", "", "PostgreSQL schema (default: storage.schema, public)")
	noMigrate := fs.Bool("no-migrate", false, "do not apply PostgreSQL migrations at start (run herald migrate instead)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{"--log-level: " + err.Error()}
	}
	hopts := &slog.HandlerOptions{Level: level}
	var logger *slog.Logger
	switch *logFormat {
	case "json":
		logger = slog.New(slog.NewJSONHandler(stderr, hopts))
	case "text":
		logger = slog.New(slog.NewTextHandler(stderr, hopts))
	default:
		return usageError{"--log-format must be text or json"}
	}
	a, err := app.New(ctx, app.Options{
		ConfigPath: *configPath,
		Listen:     *listen,
		DBPath:     *db,
		Storage:    *storage,
		Schema:     *schema,
		NoMigrate:  *noMigrate,
		Logger:     logger,
		LookupEnv:  os.LookupEnv,
	})
	if err != nil {
		return err
	}
	// SIGHUP reloads the configuration; a bad one is logged and ignored.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if *configPath == "" {
					logger.Warn("SIGHUP ignored: running the built-in demo configuration")
					continue
				}
				a.Reload(ctx)
			}
		}
	}()
	return a.Run(ctx)
}
