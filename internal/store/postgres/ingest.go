package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

const (
	qFindSpec = `SELECT id, received_at FROM events WHERE source = $1 AND spec_id = $2
		ORDER BY received_at DESC LIMIT 1`
	qFindIdem  = `SELECT id, received_at FROM events WHERE idem_key = $1`
	qForgetKey = `UPDATE events SET idem_key = NULL WHERE id = $1`
	qInsEvent  = `INSERT INTO events (id, source, spec_id, type, subject, time, received_at,
		content_type, data_schema, data, extensions, parent_id, chain, idem_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
	qInsRun = `INSERT INTO runs (id, event_id, rule, config_version, key, status, step, state,
		error, waiting_for, priority, created_at, updated_at, due_at, lease_token)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
)

// Ingest implements store.Store. Concurrent ingests of the same producer
// key or Idempotency-Key, on any node, are serialised by advisory locks
// on those keys, so exactly one of them stores the event.
func (s *Store) Ingest(ctx context.Context, items []store.IngestItem, window time.Duration) ([]store.IngestResult, error) {
	var results []store.IngestResult
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		results, err = s.ingestTx(ctx, tx, items, window)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (s *Store) ingestTx(ctx context.Context, tx pgx.Tx, items []store.IngestItem, window time.Duration) ([]store.IngestResult, error) {
	var locks []string
	for i := range items {
		ev := &items[i].Event
		if window > 0 {
			locks = append(locks, "spec\x1f"+ev.Source+"\x1f"+ev.SpecID)
			if ev.IdempotencyKey != "" {
				locks = append(locks, "idem\x1f"+ev.IdempotencyKey)
			}
		}
		for _, k := range items[i].WaitKeys {
			locks = append(locks, waitLock(ev.Type, k))
		}
	}
	if err := lockKeys(ctx, tx, locks); err != nil {
		return nil, err
	}
	results := make([]store.IngestResult, len(items))
	wake := false
	for i := range items {
		it := &items[i]
		ev := &it.Event
		if window > 0 {
			orig, err := s.findDuplicate(ctx, tx, ev, window)
			if err != nil {
				return nil, err
			}
			if orig != "" {
				results[i] = store.IngestResult{EventID: orig, Duplicate: true}
				continue
			}
		}
		res := store.IngestResult{EventID: ev.ID}
		for _, c := range it.Cancels {
			ids, err := s.cancelByKey(ctx, tx, c, ev, it.Emitter)
			if err != nil {
				return nil, err
			}
			res.CancelledRuns = append(res.CancelledRuns, ids...)
		}
		if err := insertEvent(ctx, tx, ev); err != nil {
			return nil, err
		}
		for j := range it.Runs {
			if it.Runs[j].Lease == nil {
				wake = true
			}
			if err := insertRun(ctx, tx, &it.Runs[j]); err != nil {
				return nil, err
			}
		}
		for _, key := range it.WaitKeys {
			n, err := s.hit(ctx, tx, ev, key, it.Emitter)
			if err != nil {
				return nil, err
			}
			res.Woken += n
		}
		if res.Woken > 0 {
			wake = true
		}
		results[i] = res
	}
	if wake {
		if err := s.notify(ctx, tx); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// findDuplicate returns the id of an event with the same producer key or
// Idempotency-Key received within the window. An Idempotency-Key seen
// outside the window is released so the new event can take it.
func (s *Store) findDuplicate(ctx context.Context, tx pgx.Tx, ev *herald.Event, window time.Duration) (string, error) {
	cutoff := nanos(ev.ReceivedAt) - int64(window)
	var id string
	var at int64
	if ev.IdempotencyKey != "" {
		err := tx.QueryRow(ctx, qFindIdem, ev.IdempotencyKey).Scan(&id, &at)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return "", fmt.Errorf("postgres: find idempotency key: %w", err)
		case at >= cutoff:
			return id, nil
		default:
			if _, err := tx.Exec(ctx, qForgetKey, id); err != nil {
				return "", fmt.Errorf("postgres: release idempotency key: %w", err)
			}
		}
	}
	err := tx.QueryRow(ctx, qFindSpec, ev.Source, ev.SpecID).Scan(&id, &at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("postgres: find event: %w", err)
	case at >= cutoff:
		return id, nil
	}
	return "", nil
}

func insertEvent(ctx context.Context, tx pgx.Tx, ev *herald.Event) error {
	ext, err := marshalOrNil(ev.Extensions, len(ev.Extensions) == 0)
	if err != nil {
		return fmt.Errorf("postgres: encode extensions: %w", err)
	}
	chain, err := marshalOrNil(ev.Chain, len(ev.Chain) == 0)
	if err != nil {
		return fmt.Errorf("postgres: encode chain: %w", err)
	}
	var data []byte
	if len(ev.Data) > 0 {
		data = ev.Data
	}
	_, err = tx.Exec(ctx, qInsEvent, ev.ID, clean(ev.Source), clean(ev.SpecID), clean(ev.Type), clean(ev.Subject),
		nanos(ev.Time), nanos(ev.ReceivedAt), clean(ev.DataContentType), clean(ev.DataSchema), data, ext,
		nullString(ev.ParentID), chain, nullString(ev.IdempotencyKey))
	if err != nil {
		return fmt.Errorf("postgres: insert event: %w", err)
	}
	return nil
}

func insertRun(ctx context.Context, tx pgx.Tx, nr *store.NewRun) error {
	r := &nr.Run
	due := nullNanos(r.DueAt)
	var token *string
	if nr.Lease != nil {
		due = nullNanos(nr.Lease.Until)
		token = nullString(nr.Lease.Token)
	}
	_, err := tx.Exec(ctx, qInsRun, r.ID, r.EventID, r.Rule, r.ConfigVersion, clean(r.Key),
		string(r.Status), r.Step, nullJSON(r.State), nullString(r.Error),
		nullString(r.WaitingFor), 0, nanos(r.CreatedAt), nanos(r.UpdatedAt), due, token)
	if err != nil {
		return fmt.Errorf("postgres: insert run: %w", err)
	}
	return nil
}
