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

const (
	qFindSpec = `SELECT id, received_at FROM events WHERE source = ? AND spec_id = ?
		ORDER BY received_at DESC LIMIT 1`
	qFindIdem  = `SELECT id, received_at FROM events WHERE idem_key = ?`
	qForgetKey = `UPDATE events SET idem_key = NULL WHERE id = ?`
	qInsEvent  = `INSERT INTO events (id, source, spec_id, type, subject, time, received_at,
		content_type, data_schema, data, extensions, parent_id, chain, idem_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qInsRun = `INSERT INTO runs (id, event_id, rule, config_version, key, status, step, state,
		error, waiting_for, priority, created_at, updated_at, due_at, lease_token)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// Ingest implements store.Store.
func (s *Store) Ingest(ctx context.Context, items []store.IngestItem, window time.Duration) ([]store.IngestResult, error) {
	var results []store.IngestResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		results, err = s.ingestTx(tx, items, window)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (s *Store) ingestTx(tx *sql.Tx, items []store.IngestItem, window time.Duration) ([]store.IngestResult, error) {
	results := make([]store.IngestResult, len(items))
	for i := range items {
		it := &items[i]
		ev := &it.Event
		if window > 0 {
			orig, err := s.findDuplicate(tx, ev, window)
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
			ids, err := s.cancelByKey(tx, c, ev, it.Emitter)
			if err != nil {
				return nil, err
			}
			res.CancelledRuns = append(res.CancelledRuns, ids...)
		}
		if err := s.insertEvent(tx, ev); err != nil {
			return nil, err
		}
		for j := range it.Runs {
			if err := s.insertRun(tx, &it.Runs[j]); err != nil {
				return nil, err
			}
		}
		for _, key := range it.WaitKeys {
			n, err := s.hit(tx, ev, key, it.Emitter)
			if err != nil {
				return nil, err
			}
			res.Woken += n
		}
		results[i] = res
	}
	return results, nil
}

// findDuplicate returns the id of an event with the same producer key or
// Idempotency-Key received within the window. An Idempotency-Key seen
// outside the window is released so the new event can take it.
func (s *Store) findDuplicate(tx *sql.Tx, ev *herald.Event, window time.Duration) (string, error) {
	cutoff := nanos(ev.ReceivedAt) - int64(window)
	var id string
	var at int64
	if ev.IdempotencyKey != "" {
		err := s.stmt(tx, qFindIdem).QueryRow(ev.IdempotencyKey).Scan(&id, &at)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return "", fmt.Errorf("sqlite: find idempotency key: %w", err)
		case at >= cutoff:
			return id, nil
		default:
			if _, err := s.stmt(tx, qForgetKey).Exec(id); err != nil {
				return "", fmt.Errorf("sqlite: release idempotency key: %w", err)
			}
		}
	}
	err := s.stmt(tx, qFindSpec).QueryRow(ev.Source, ev.SpecID).Scan(&id, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("sqlite: find event: %w", err)
	case at >= cutoff:
		return id, nil
	}
	return "", nil
}

func (s *Store) insertEvent(tx *sql.Tx, ev *herald.Event) error {
	ext, err := marshalOrNil(ev.Extensions, len(ev.Extensions) == 0)
	if err != nil {
		return fmt.Errorf("sqlite: encode extensions: %w", err)
	}
	chain, err := marshalOrNil(ev.Chain, len(ev.Chain) == 0)
	if err != nil {
		return fmt.Errorf("sqlite: encode chain: %w", err)
	}
	var data any
	if len(ev.Data) > 0 {
		data = []byte(ev.Data)
	}
	_, err = s.stmt(tx, qInsEvent).Exec(ev.ID, ev.Source, ev.SpecID, ev.Type, ev.Subject,
		nanos(ev.Time), nanos(ev.ReceivedAt), ev.DataContentType, ev.DataSchema, data, ext,
		nullString(ev.ParentID), chain, nullString(ev.IdempotencyKey))
	if err != nil {
		return fmt.Errorf("sqlite: insert event: %w", err)
	}
	return nil
}

func (s *Store) insertRun(tx *sql.Tx, nr *store.NewRun) error {
	r := &nr.Run
	due := nullNanos(r.DueAt)
	var token sql.NullString
	if nr.Lease != nil {
		due = nullNanos(nr.Lease.Until)
		token = nullString(nr.Lease.Token)
	}
	_, err := s.stmt(tx, qInsRun).Exec(r.ID, r.EventID, r.Rule, r.ConfigVersion, r.Key,
		string(r.Status), r.Step, nullJSON(r.State), nullString(r.Error),
		nullString(r.WaitingFor), 0, nanos(r.CreatedAt), nanos(r.UpdatedAt), due, token)
	if err != nil {
		return fmt.Errorf("sqlite: insert run: %w", err)
	}
	return nil
}
