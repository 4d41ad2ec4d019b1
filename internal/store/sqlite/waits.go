package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// hit gives ev to every run waiting for (ev.Type, key) and makes those
// that are idle due now. It returns how many runs it woke.
func (s *Store) hit(tx *sql.Tx, ev *herald.Event, key, emitter string) (int, error) {
	// Kept for runs that will wait for it later (see completeWaits).
	if _, err := tx.Exec(`INSERT OR IGNORE INTO signals (type, key, event_id, received_at, emitter) VALUES (?, ?, ?, ?, ?)`,
		ev.Type, key, ev.ID, nanos(ev.ReceivedAt), emitter); err != nil {
		return 0, fmt.Errorf("sqlite: record signal: %w", err)
	}
	rows, err := tx.Query(`SELECT run_id FROM waits WHERE type = ? AND key = ? AND run_id <> ?`, ev.Type, key, emitter)
	if err != nil {
		return 0, fmt.Errorf("sqlite: find waits: %w", err)
	}
	var runs []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: find waits: %w", err)
		}
		runs = append(runs, id)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("sqlite: find waits: %w", err)
	}
	n := 0
	for _, id := range runs {
		if _, err := tx.Exec(`INSERT OR IGNORE INTO hits (run_id, event_id) VALUES (?, ?)`, id, ev.ID); err != nil {
			return 0, fmt.Errorf("sqlite: record hit: %w", err)
		}
		// A run busy right now (leased) sees the hit when it commits
		// (StepOutcome.WakeOnHit).
		res, err := tx.Exec(`UPDATE runs SET status = 'running', due_at = ?, updated_at = ?
			WHERE id = ? AND status = 'waiting' AND lease_token IS NULL`, nanos(ev.ReceivedAt), nanos(ev.ReceivedAt), id)
		if err != nil {
			return 0, fmt.Errorf("sqlite: wake run: %w", err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, nil
}

// completeWaits applies the wait bookkeeping of a step outcome.
func (s *Store) completeWaits(tx *sql.Tx, out *store.StepOutcome) error {
	for _, id := range out.ConsumedHits {
		if _, err := tx.Exec(`DELETE FROM hits WHERE run_id = ? AND event_id = ?`, out.RunID, id); err != nil {
			return fmt.Errorf("sqlite: consume hit: %w", err)
		}
	}
	if out.ClearWaits || out.Status.Final() {
		if _, err := tx.Exec(`DELETE FROM waits WHERE run_id = ?`, out.RunID); err != nil {
			return fmt.Errorf("sqlite: clear waits: %w", err)
		}
		if _, err := tx.Exec(`DELETE FROM hits WHERE run_id = ?`, out.RunID); err != nil {
			return fmt.Errorf("sqlite: clear hits: %w", err)
		}
	}
	if w := out.Wait; w != nil {
		res, err := tx.Exec(`INSERT OR IGNORE INTO waits (type, key, run_id, step_name) VALUES (?, ?, ?, ?)`,
			w.Type, w.Key, out.RunID, w.StepName)
		if err != nil {
			return fmt.Errorf("sqlite: register wait: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 && !w.Since.IsZero() {
			// First registration: events that arrived since the run's own
			// event, while its earlier steps ran, are hits too.
			if _, err := tx.Exec(`INSERT OR IGNORE INTO hits (run_id, event_id)
				SELECT ?, event_id FROM signals WHERE type = ? AND key = ? AND received_at >= ? AND emitter <> ?`,
				out.RunID, w.Type, w.Key, nanos(w.Since), out.RunID); err != nil {
				return fmt.Errorf("sqlite: earlier signals: %w", err)
			}
		}
	}
	if out.Status == herald.RunWaiting && (out.WakeOnAck || out.WakeOnHit) {
		// Something the run waits for may have arrived while the step
		// ran (the run was leased, so it was not woken then).
		_, err := tx.Exec(`UPDATE runs SET status = 'running', due_at = ?, lease_token = NULL
			WHERE id = ? AND status = 'waiting'
			AND ((? AND acked_at IS NOT NULL) OR (? AND EXISTS (SELECT 1 FROM hits WHERE run_id = runs.id)))`,
			nanos(out.Now), out.RunID, out.WakeOnAck, out.WakeOnHit)
		if err != nil {
			return fmt.Errorf("sqlite: wake run: %w", err)
		}
	}
	return nil
}

// cancelByKey cancels the active runs of a rule with a correlation key,
// except the run that emitted the event.
func (s *Store) cancelByKey(tx *sql.Tx, c store.RuleKey, ev *herald.Event, emitter string) ([]string, error) {
	rows, err := tx.Query(`SELECT id FROM runs WHERE rule = ? AND key = ? AND status IN ('running', 'waiting') AND id <> ?`,
		c.Rule, c.Key, emitter)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find runs to cancel: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: find runs to cancel: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: find runs to cancel: %w", err)
	}
	for _, id := range ids {
		if err := cancelTx(tx, id, fmt.Sprintf("cancelled by event %s (%s)", ev.ID, ev.Type), ev.ReceivedAt); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func cancelTx(tx *sql.Tx, id, reason string, now time.Time) error {
	if _, err := tx.Exec(`UPDATE runs SET status = 'cancelled', error = ?, due_at = NULL,
		lease_token = NULL, waiting_for = NULL, updated_at = ? WHERE id = ?`, reason, nanos(now), id); err != nil {
		return fmt.Errorf("sqlite: cancel run: %w", err)
	}
	for _, q := range []string{`DELETE FROM waits WHERE run_id = ?`, `DELETE FROM hits WHERE run_id = ?`} {
		if _, err := tx.Exec(q, id); err != nil {
			return fmt.Errorf("sqlite: cancel run: %w", err)
		}
	}
	// Messages not yet sent are suppressed, leased ones too: their
	// outcome no longer changes the status (qFinishMsg only updates
	// pending or failed messages), and the engine skips sending messages
	// of runs it knows were cancelled.
	if _, err := tx.Exec(`UPDATE messages SET status = 'suppressed', error = 'run cancelled', due_at = NULL,
		lease_token = NULL, updated_at = ? WHERE run_id = ? AND status IN ('pending', 'failed')`, nanos(now), id); err != nil {
		return fmt.Errorf("sqlite: suppress messages: %w", err)
	}
	// A digest group it leads closes: later runs start a new one.
	if _, err := tx.Exec(`UPDATE digests SET closed = 1 WHERE leader = ?`, id); err != nil {
		return fmt.Errorf("sqlite: close digest: %w", err)
	}
	return nil
}

// Hits implements store.Store.
func (s *Store) Hits(ctx context.Context, runID string) ([]herald.Event, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+prefixed("e.", eventCols)+` FROM hits h
		JOIN events e ON e.id = h.event_id WHERE h.run_id = ? ORDER BY e.id`, runID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: hits: %w", err)
	}
	defer rows.Close()
	var out []herald.Event
	for rows.Next() {
		ev, err := getEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: hits: %w", err)
		}
		out = append(out, *ev)
	}
	return out, rows.Err()
}

// AckRun implements store.Store.
func (s *Store) AckRun(ctx context.Context, runID, by string, now time.Time) (*herald.Run, error) {
	var r herald.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE runs SET
			acked_by = CASE WHEN acked_at IS NULL THEN ? ELSE acked_by END,
			acked_at = COALESCE(acked_at, ?),
			status = CASE WHEN status = 'waiting' AND lease_token IS NULL AND waiting_for LIKE 'ack%' THEN 'running' ELSE status END,
			due_at = CASE WHEN status = 'waiting' AND lease_token IS NULL AND waiting_for LIKE 'ack%' THEN ? ELSE due_at END
			WHERE id = ?`, by, nanos(now), nanos(now), runID)
		if err != nil {
			return fmt.Errorf("sqlite: ack run: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "run %s not found", runID)
		}
		return scanRun(tx.QueryRow(`SELECT `+runCols+` FROM runs WHERE id = ?`, runID), &r)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// CancelRun implements store.Store.
func (s *Store) CancelRun(ctx context.Context, runID, reason string, now time.Time) (*herald.Run, error) {
	var r herald.Run
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := scanRun(tx.QueryRow(`SELECT `+runCols+` FROM runs WHERE id = ?`, runID), &r); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return herald.Errorf(herald.ENOTFOUND, "run %s not found", runID)
			}
			return err
		}
		if r.Status.Final() {
			return herald.Errorf(herald.ECONFLICT, "run %s is already %s", runID, r.Status)
		}
		if err := cancelTx(tx, runID, reason, now); err != nil {
			return err
		}
		return scanRun(tx.QueryRow(`SELECT `+runCols+` FROM runs WHERE id = ?`, runID), &r)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, runID string) (*herald.Run, error) {
	var r herald.Run
	err := scanRun(s.rdb.QueryRowContext(ctx, `SELECT `+runCols+` FROM runs WHERE id = ?`, runID), &r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "run %s not found", runID)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// ActiveVersions implements store.Store.
func (s *Store) ActiveVersions(ctx context.Context) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT config_version FROM runs WHERE status IN ('running', 'waiting')`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: active versions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("sqlite: active versions: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
