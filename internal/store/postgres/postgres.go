// Package postgres is Herald's scale-out storage backend: every node of a
// cluster points at one PostgreSQL database and shares its work.
//
// Jobs are claimed with FOR UPDATE SKIP LOCKED, so no two nodes hold the
// same job; transactions that make work due for any node NOTIFY a channel
// the nodes LISTEN on, so an idle node wakes at once instead of polling
// tightly; decisions that SQLite gets from its single writer (one event
// per producer key, one digest leader, a hit never missed by a run that
// starts waiting) are made under transaction-scoped advisory locks.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Interface guard.
var _ store.Store = (*Store)(nil)

// errClosed is returned by ingests after Close.
var errClosed = &herald.Error{Code: herald.EUNAVAILABLE, Message: "store is closed"}

// Options tunes the store.
type Options struct {
	// Schema is the PostgreSQL schema Herald's tables live in (default
	// "public"); it is created if missing. Tests give each test its own.
	Schema string
	// MaxConns bounds the connection pool (default 16).
	MaxConns int32
	// NoMigrate skips applying migrations at Open (`herald serve
	// --no-migrate`, for clusters that run `herald migrate` as a step).
	NoMigrate bool
}

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool    *pgxpool.Pool
	logger  *slog.Logger
	schema  string
	channel string // the LISTEN/NOTIFY channel of this schema

	wake   chan struct{}
	group  *grouper
	cancel context.CancelFunc
	bg     sync.WaitGroup
	once   sync.Once
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,50}$`)

// Open connects to the database at url (a postgres:// URL or a
// key=value DSN), creates the schema, applies migrations and starts
// listening for work notifications.
func Open(ctx context.Context, url string, logger *slog.Logger, opts Options) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Schema == "" {
		opts.Schema = "public"
	}
	if !schemaName.MatchString(opts.Schema) {
		return nil, fmt.Errorf("postgres: schema %q must be lower-case letters, digits and _", opts.Schema)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors do not repeat the password.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	cfg.ConnConfig.RuntimeParams["application_name"] = "herald"
	// A node cut off by the network must lose its session (and the
	// sources' leadership lock) in seconds, not after the kernel's two
	// hours of TCP keepalive.
	for k, v := range map[string]string{"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"} {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{
		pool:    pool,
		logger:  logger,
		schema:  opts.Schema,
		channel: "herald_work_" + opts.Schema,
		wake:    make(chan struct{}, 1),
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, unavailable("connect", err)
	}
	if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{opts.Schema}.Sanitize()); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: create schema %s: %w", opts.Schema, err)
	}
	if !opts.NoMigrate {
		if err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	s.group = newGrouper(s)
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.bg.Add(1)
	go s.listen(bg)
	return s, nil
}

// Migrate applies the embedded migrations that the schema has not seen,
// under an advisory lock so nodes starting together apply each once.
func (s *Store) Migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	sort.Strings(names)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return unavailable("migrate", err)
	}
	defer conn.Release()
	lock := "herald-migrate/" + s.schema
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, lock); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, lock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var applied int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if applied > len(names) {
		return fmt.Errorf("postgres: schema %s is at migration %d, newer than this Herald knows (%d); upgrade Herald", s.schema, applied, len(names))
	}
	for i, name := range names {
		n := i + 1
		if n <= applied {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				n, strings.TrimPrefix(name, "migrations/"), nanos(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", name, err)
		}
		s.logger.Info("applied migration", "schema", s.schema, "migration", name)
	}
	return nil
}

// MigrationVersion returns the newest migration applied to the schema.
func (s *Store) MigrationVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("postgres: migration version: %w", err)
	}
	return v, nil
}

// maxTxAttempts bounds the retries of a transaction that PostgreSQL
// aborted to break a deadlock or a serialization conflict.
const maxTxAttempts = 8

// tx runs fn in a transaction, retrying it when PostgreSQL aborts it for
// a deadlock or serialization failure (fn must reset whatever it fills).
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil {
			return nil
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") && attempt < maxTxAttempts {
			continue
		}
		return classify(err)
	}
}

// classify turns a failure to reach the database into herald.EUNAVAILABLE
// (the API answers 503 with Retry-After) and leaves other errors as they
// are: a herald.Error from the store's own logic, or a database error.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var he *herald.Error
	if errors.As(err, &he) || errors.Is(err, store.ErrLeaseLost) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %w", err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08 (connection exception), 57P0x (shutdown, cannot
		// connect now), 53 (insufficient resources): the database is
		// there but cannot serve us right now.
		if strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "53") {
			return unavailable("query", err)
		}
		return fmt.Errorf("postgres: %w", err)
	}
	if connectionError(err) {
		return unavailable("query", err)
	}
	// A decode or encode error, a bug: not the database's absence.
	return fmt.Errorf("postgres: %w", err)
}

// connectionError reports whether err says the database could not be
// reached or the connection broke (as opposed to a query's own error).
func connectionError(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, puddle.ErrClosedPool) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "connection refused")
}

func unavailable(op string, err error) error {
	var ne net.Error
	msg := "database unavailable"
	if errors.As(err, &ne) && ne.Timeout() {
		msg = "database did not answer in time"
	}
	return &herald.Error{Code: herald.EUNAVAILABLE, Message: msg, Err: fmt.Errorf("postgres: %s: %w", op, err)}
}

// notify asks every node (this one too) to look for due work once tx
// commits. PostgreSQL folds repeated notifications of one transaction.
func (s *Store) notify(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, s.channel); err != nil {
		return fmt.Errorf("postgres: notify: %w", err)
	}
	return nil
}

// Wakeups delivers a value when another transaction (on any node) made
// work due for any worker. The engine's poller waits on it.
func (s *Store) Wakeups() <-chan struct{} { return s.wake }

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// listen holds a connection that LISTENs for work notifications,
// reconnecting with backoff when it breaks. After a reconnect it signals
// once, since notifications sent meanwhile are lost.
func (s *Store) listen(ctx context.Context) {
	defer s.bg.Done()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.logger.Warn("work notifications interrupted; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is LISTENing; it must not go back to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	s.signal()
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
			return err
		}
		s.signal()
	}
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close stops listening and closes the pool. It is idempotent.
func (s *Store) Close() error {
	s.once.Do(func() {
		if s.group != nil {
			s.group.close()
		}
		if s.cancel != nil {
			s.cancel()
		}
		s.bg.Wait()
		s.pool.Close()
	})
	return nil
}

// DropSchema removes a schema and everything in it. Tests use it to clean
// up the schema they created.
func DropSchema(ctx context.Context, url, schema string) error {
	if !schemaName.MatchString(schema) || schema == "public" {
		return fmt.Errorf("postgres: refusing to drop schema %q", schema)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return unavailable("connect", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	return err
}

// lockKeys takes transaction-scoped advisory locks on the given keys, in
// a fixed order so two transactions locking overlapping sets cannot
// deadlock. The keys are hashed into PostgreSQL's 64-bit lock space.
func lockKeys(ctx context.Context, tx pgx.Tx, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(h) FROM
		(SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k) AS l ORDER BY h`, keys)
	if err != nil {
		return fmt.Errorf("postgres: lock: %w", err)
	}
	return nil
}

func waitLock(typ, key string) string { return clean("wait\x1f" + typ + "\x1f" + key) }

func itoa(n int) string { return strconv.Itoa(n) }
