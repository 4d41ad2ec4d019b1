// Package sqlite is Herald's embedded storage backend: one SQLite file in
// WAL mode, written by a single goroutine that group-commits whatever
// writes are waiting (many events per fsync), read through a separate
// pool of connections.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Interface guard.
var _ store.Store = (*Store)(nil)

// errClosed is returned by writes after Close.
var errClosed = &herald.Error{Code: herald.EUNAVAILABLE, Message: "store is closed"}

// maxGroup is the most writes committed in one transaction; it bounds the
// latency a large group adds to the first write in it.
const maxGroup = 512

// Store is the SQLite implementation of store.Store.
type Store struct {
	path   string
	logger *slog.Logger
	wdb    *sql.DB // exactly one connection: the writer's
	rdb    *sql.DB // readers (WAL lets them run beside the writer)

	writes chan *writeReq
	quit   chan struct{}
	done   chan struct{}
	// mu is held (shared) by writers from their closed check until their
	// request is queued, and (exclusive) by Close to set closed, so no
	// write is queued after the writer goroutine has drained and exited.
	mu     sync.RWMutex
	closed bool

	// stmts caches prepared statements on the writer connection; only
	// the writer goroutine touches it.
	stmts map[string]*sql.Stmt
}

type writeReq struct {
	fn   func(tx *sql.Tx) error
	done chan error
}

// Options tunes the store.
type Options struct {
	// Synchronous is the SQLite synchronous pragma: "FULL" (default, an
	// fsync per commit: an acknowledged event survives power loss) or
	// "NORMAL" (survives a process crash, not power loss).
	Synchronous string
	// Readers is the size of the read pool (default 4).
	Readers int
}

// Open opens (creating if needed) the database at path and applies
// migrations.
func Open(ctx context.Context, path string, logger *slog.Logger, opts Options) (*Store, error) {
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create data folder: %w", err)
		}
	}
	base := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(OFF)&_pragma=synchronous(" + opts.Synchronous + ")"
	wdb, err := sql.Open("sqlite", base+"&_txlock=immediate&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	rdb, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(opts.Readers)
	rdb.SetMaxIdleConns(opts.Readers)
	s := &Store{
		path:   path,
		logger: logger,
		wdb:    wdb,
		rdb:    rdb,
		writes: make(chan *writeReq, 4096),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		stmts:  make(map[string]*sql.Stmt),
	}
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// migrate applies the embedded migrations newer than PRAGMA user_version.
func migrate(ctx context.Context, db *sql.DB) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	sort.Strings(names)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	for i, name := range names {
		n := i + 1
		if n <= version {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
	}
	return nil
}

// write runs fn inside the writer's next group transaction and returns
// once that transaction has committed (or fn's own error). fn runs under
// a savepoint, so its failure rolls back only its own changes.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	req := &writeReq{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, the write will be attempted; wait for its outcome even
	// if ctx ends, so the caller never reports failure for a commit.
	return <-req.done
}

func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*writeReq, 0, maxGroup)
	for {
		var first *writeReq
		select {
		case first = <-s.writes:
		case <-s.quit:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-s.writes:
					s.commit([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxGroup {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*writeReq) {
	ctx := context.Background()
	fail := func(err error) {
		for _, r := range batch {
			r.done <- err
		}
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	errs := make([]error, len(batch))
	if len(batch) == 1 {
		errs[0] = batch[0].fn(tx)
		if errs[0] != nil {
			tx.Rollback()
			batch[0].done <- errs[0]
			return
		}
	} else {
		for i, r := range batch {
			if _, err := tx.Exec("SAVEPOINT w"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("sqlite: savepoint: %w", err))
				return
			}
			if errs[i] = r.fn(tx); errs[i] != nil {
				if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
					tx.Rollback()
					fail(fmt.Errorf("sqlite: rollback to savepoint: %w", err))
					return
				}
			}
			if _, err := tx.Exec("RELEASE w"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("sqlite: release savepoint: %w", err))
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// preparedQueries are prepared once on the writer connection at Open:
// preparing later would need the connection the open transaction holds.
var preparedQueries = []string{
	qFindSpec, qFindIdem, qForgetKey, qInsEvent, qInsRun, qClaimRuns, qCompleteStep,
	qInsMsg, qFinishMsg, qInsAttempt, qResume, qRetryMsg, qMsgStatus, qEventByID, qEventType,
}

func (s *Store) prepare(ctx context.Context) error {
	for _, q := range preparedQueries {
		st, err := s.wdb.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return nil
}

// stmt returns a statement prepared on the writer connection, bound to tx.
// Only the writer goroutine calls it, with one of preparedQueries.
func (s *Store) stmt(tx *sql.Tx, query string) *sql.Stmt {
	st, ok := s.stmts[query]
	if !ok {
		panic("sqlite: query not in preparedQueries: " + query)
	}
	return tx.Stmt(st)
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.rdb.PingContext(ctx)
}

// Close completes queued writes and closes the database. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	for _, st := range s.stmts {
		st.Close()
	}
	return errors.Join(s.rdb.Close(), s.wdb.Close())
}
