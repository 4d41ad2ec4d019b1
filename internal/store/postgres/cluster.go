package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

// leaderRetry is how often a node that is not the leader tries to become
// it, and how often the leader checks that it still holds its lock.
const leaderRetry = time.Second

// Lead runs fn while this process holds the cluster-wide leadership of
// name, and returns when ctx ends. Leadership is a session advisory lock
// on a dedicated connection: if the leader dies or its connection breaks,
// PostgreSQL releases the lock and another node takes over within about
// leaderRetry. fn's context ends when leadership is lost; fn must return
// then, and Lead waits for it before trying again.
func (s *Store) Lead(ctx context.Context, name string, fn func(ctx context.Context)) {
	key := "herald-leader/" + s.schema + "/" + name
	for ctx.Err() == nil {
		held, err := s.leadOnce(ctx, key, fn)
		if err != nil && ctx.Err() == nil {
			s.logger.Warn("leadership check failed", "role", name, "err", err)
		}
		if held && ctx.Err() == nil {
			s.logger.Warn("leadership lost", "role", name)
		}
		select {
		case <-ctx.Done():
		case <-time.After(leaderRetry):
		}
	}
}

func (s *Store) leadOnce(ctx context.Context, key string, fn func(ctx context.Context)) (held bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil {
		conn.Release()
		return false, err
	}
	if !ok {
		conn.Release()
		return false, nil
	}
	// The lock belongs to this session: keep the connection out of the
	// pool, and close it (releasing the lock) when done.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	s.logger.Info("leadership acquired", "role", key)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); fn(lctx) }()
	defer func() { cancel(); <-done }()
	t := time.NewTicker(leaderRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case <-done:
			return true, nil
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*leaderRetry)
		err := pc.Ping(pctx)
		pcancel()
		if err != nil {
			return true, err
		}
	}
}

// EventsSince returns events of the given types whose ids are at or after
// since's id boundary, oldest first (at most limit). The sources' leader
// reads it to see beats other nodes accepted.
func (s *Store) EventsSince(ctx context.Context, types []string, since time.Time, limit int) ([]herald.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventCols+` FROM events
		WHERE id >= $1 AND type = ANY($2) ORDER BY id LIMIT $3`, herald.MinIDAt(since), types, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []herald.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, classify(fmt.Errorf("postgres: events since: %w", err))
		}
		out = append(out, *ev)
	}
	return out, classify(rows.Err())
}
