package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// queueHit queues the two statements of a hit: the signal kept for runs
// that will wait for it later (see completeWaits), and the wake-up of
// the runs waiting now, whose row count is the runs woken. A run busy
// right now (leased) sees the hit when it commits (WakeOnHit). The caller
// holds the advisory lock of (type, key) (see ingestLocks), which
// completeWaits takes too, so a run that starts waiting concurrently
// either is found here or finds the signal there.
func queueHit(b *pgx.Batch, ev *herald.Event, key, emitter string, woken func(n int64)) {
	b.Queue(`INSERT INTO signals (type, key, event_id, received_at, emitter)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		ev.Type, clean(key), ev.ID, nanos(ev.ReceivedAt), emitter)
	b.Queue(`WITH w AS (SELECT run_id FROM waits WHERE type = $1 AND key = $2 AND run_id <> $3),
		h AS (INSERT INTO hits (run_id, event_id) SELECT run_id, $4 FROM w ON CONFLICT DO NOTHING)
		UPDATE runs SET status = 'running', due_at = $5, updated_at = $5
		WHERE id IN (SELECT run_id FROM w) AND status = 'waiting' AND lease_token IS NULL`,
		ev.Type, clean(key), emitter, ev.ID, nanos(ev.ReceivedAt)).Exec(func(ct pgconn.CommandTag) error {
		woken(ct.RowsAffected())
		return nil
	})
}

// clockSkew widens the "received since the run's own event" check of a
// new wait: nodes stamp receptions with their own clocks, and a
// correlated event accepted by a node whose clock is behind must still
// count.
const clockSkew = 2 * time.Second

// completeWaits applies the wait bookkeeping of a step outcome. It
// reports whether it made the run due for any worker.
func (s *Store) completeWaits(ctx context.Context, tx pgx.Tx, out *store.StepOutcome) (bool, error) {
	if out.Wait != nil || (out.Status == herald.RunWaiting && out.WakeOnHit) {
		// Serialise with ingests of the events this run waits for.
		var locks []string
		if w := out.Wait; w != nil {
			locks = append(locks, waitLock(w.Type, w.Key))
		}
		rows, err := tx.Query(ctx, `SELECT type, key FROM waits WHERE run_id = $1`, out.RunID)
		if err != nil {
			return false, fmt.Errorf("postgres: waits: %w", err)
		}
		for rows.Next() {
			var typ, key string
			if err := rows.Scan(&typ, &key); err != nil {
				rows.Close()
				return false, fmt.Errorf("postgres: waits: %w", err)
			}
			locks = append(locks, waitLock(typ, key))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("postgres: waits: %w", err)
		}
		if err := lockKeys(ctx, tx, locks); err != nil {
			return false, err
		}
	}
	if len(out.ConsumedHits) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM hits WHERE run_id = $1 AND event_id = ANY($2)`, out.RunID, out.ConsumedHits); err != nil {
			return false, fmt.Errorf("postgres: consume hits: %w", err)
		}
	}
	if out.ClearWaits || out.Status.Final() {
		if _, err := tx.Exec(ctx, `DELETE FROM waits WHERE run_id = $1`, out.RunID); err != nil {
			return false, fmt.Errorf("postgres: clear waits: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM hits WHERE run_id = $1`, out.RunID); err != nil {
			return false, fmt.Errorf("postgres: clear hits: %w", err)
		}
	}
	if w := out.Wait; w != nil {
		tag, err := tx.Exec(ctx, `INSERT INTO waits (type, key, run_id, step_name) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, w.Type, clean(w.Key), out.RunID, w.StepName)
		if err != nil {
			return false, fmt.Errorf("postgres: register wait: %w", err)
		}
		if tag.RowsAffected() > 0 && !w.Since.IsZero() {
			// First registration: events that arrived since the run's own
			// event, while its earlier steps ran, are hits too.
			if _, err := tx.Exec(ctx, `INSERT INTO hits (run_id, event_id)
				SELECT $1, event_id FROM signals WHERE type = $2 AND key = $3 AND received_at >= $4 AND emitter <> $1
				ON CONFLICT DO NOTHING`,
				out.RunID, w.Type, clean(w.Key), nanos(w.Since)-int64(clockSkew)); err != nil {
				return false, fmt.Errorf("postgres: earlier signals: %w", err)
			}
		}
	}
	if out.Status == herald.RunWaiting && (out.WakeOnAck || out.WakeOnHit) {
		// Something the run waits for may have arrived while the step
		// ran (the run was leased, so it was not woken then).
		tag, err := tx.Exec(ctx, `UPDATE runs SET status = 'running', due_at = $1, lease_token = NULL
			WHERE id = $2 AND status = 'waiting'
			AND (($3 AND acked_at IS NOT NULL) OR ($4 AND EXISTS (SELECT 1 FROM hits WHERE run_id = runs.id)))`,
			nanos(out.Now), out.RunID, out.WakeOnAck, out.WakeOnHit)
		if err != nil {
			return false, fmt.Errorf("postgres: wake run: %w", err)
		}
		return tag.RowsAffected() > 0, nil
	}
	return false, nil
}

// cancelByKey cancels the active runs of a rule with a correlation key,
// except the run that emitted the event.
func (s *Store) cancelByKey(ctx context.Context, tx pgx.Tx, c store.RuleKey, ev *herald.Event, emitter string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM runs WHERE rule = $1 AND key = $2 AND status IN ('running', 'waiting') AND id <> $3
		ORDER BY id FOR UPDATE`, c.Rule, clean(c.Key), emitter)
	if err != nil {
		return nil, fmt.Errorf("postgres: find runs to cancel: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: find runs to cancel: %w", err)
	}
	for _, id := range ids {
		if err := cancelTx(ctx, tx, id, fmt.Sprintf("cancelled by event %s (%s)", ev.ID, ev.Type), ev.ReceivedAt); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func cancelTx(ctx context.Context, tx pgx.Tx, id, reason string, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE runs SET status = 'cancelled', error = $1, due_at = NULL,
		lease_token = NULL, waiting_for = NULL, updated_at = $2 WHERE id = $3`, clean(reason), nanos(now), id); err != nil {
		return fmt.Errorf("postgres: cancel run: %w", err)
	}
	for _, q := range []string{`DELETE FROM waits WHERE run_id = $1`, `DELETE FROM hits WHERE run_id = $1`} {
		if _, err := tx.Exec(ctx, q, id); err != nil {
			return fmt.Errorf("postgres: cancel run: %w", err)
		}
	}
	// Messages not yet sent are suppressed, leased ones too: their
	// outcome no longer changes the status (qFinishMsg only updates
	// pending or failed messages).
	if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'suppressed', error = 'run cancelled', due_at = NULL,
		lease_token = NULL, updated_at = $1 WHERE run_id = $2 AND status IN ('pending', 'failed')`, nanos(now), id); err != nil {
		return fmt.Errorf("postgres: suppress messages: %w", err)
	}
	// A digest group it leads closes: later runs start a new one.
	if _, err := tx.Exec(ctx, `UPDATE digests SET closed = true WHERE leader = $1`, id); err != nil {
		return fmt.Errorf("postgres: close digest: %w", err)
	}
	return nil
}

// Hits implements store.Store.
func (s *Store) Hits(ctx context.Context, runID string) ([]herald.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColsE+` FROM hits h
		JOIN events e ON e.id = h.event_id WHERE h.run_id = $1 ORDER BY e.id`, runID)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []herald.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, classify(fmt.Errorf("postgres: hits: %w", err))
		}
		out = append(out, *ev)
	}
	return out, classify(rows.Err())
}

// AckRun implements store.Store. The UPDATE locks the run's row, so an
// ack and a step completing at the same moment are ordered: the step
// sees the ack (WakeOnAck), or the ack sees the waiting run and wakes it.
func (s *Store) AckRun(ctx context.Context, runID, by string, now time.Time) (*herald.Run, error) {
	var r herald.Run
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var woke bool
		err := tx.QueryRow(ctx, `UPDATE runs SET
			acked_by = CASE WHEN acked_at IS NULL THEN $1 ELSE acked_by END,
			acked_at = COALESCE(acked_at, $2),
			status = CASE WHEN status = 'waiting' AND lease_token IS NULL AND waiting_for LIKE 'ack%' THEN 'running' ELSE status END,
			due_at = CASE WHEN status = 'waiting' AND lease_token IS NULL AND waiting_for LIKE 'ack%' THEN $2 ELSE due_at END
			WHERE id = $3
			RETURNING status = 'running' AND due_at = $2 AND lease_token IS NULL`, clean(by), nanos(now), runID).Scan(&woke)
		if errors.Is(err, pgx.ErrNoRows) {
			return herald.Errorf(herald.ENOTFOUND, "run %s not found", runID)
		}
		if err != nil {
			return fmt.Errorf("postgres: ack run: %w", err)
		}
		if woke {
			if err := s.notify(ctx, tx); err != nil {
				return err
			}
		}
		return scanRun(tx.QueryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, runID), &r)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// CancelRun implements store.Store.
func (s *Store) CancelRun(ctx context.Context, runID, reason string, now time.Time) (*herald.Run, error) {
	var r herald.Run
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := scanRun(tx.QueryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1 FOR UPDATE`, runID), &r); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return herald.Errorf(herald.ENOTFOUND, "run %s not found", runID)
			}
			return err
		}
		if r.Status.Final() {
			return herald.Errorf(herald.ECONFLICT, "run %s is already %s", runID, r.Status)
		}
		if err := cancelTx(ctx, tx, runID, reason, now); err != nil {
			return err
		}
		return scanRun(tx.QueryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, runID), &r)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, runID string) (*herald.Run, error) {
	var r herald.Run
	err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, runID), &r)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "run %s not found", runID)
	}
	if err != nil {
		return nil, classify(err)
	}
	return &r, nil
}

// ActiveVersions implements store.Store.
func (s *Store) ActiveVersions(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT config_version FROM runs WHERE status IN ('running', 'waiting')`)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, classify(err)
}
