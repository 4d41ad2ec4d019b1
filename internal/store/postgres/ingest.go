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
	qLock = `SELECT pg_advisory_xact_lock(h) FROM
		(SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k) AS l ORDER BY h`
	qNotify = `SELECT pg_notify($1, '')`
	qInsRun = `INSERT INTO runs (id, event_id, rule, config_version, key, status, step, state,
		error, waiting_for, priority, created_at, updated_at, due_at, lease_token)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
)

// Ingest implements store.Store. Concurrent ingests of the same producer
// key or Idempotency-Key, on any node, are serialised by advisory locks
// on those keys, so exactly one of them stores the event. Calls without
// cancellations go through the group commit (see group.go).
func (s *Store) Ingest(ctx context.Context, items []store.IngestItem, window time.Duration) ([]store.IngestResult, error) {
	for i := range items {
		if len(items[i].Cancels) > 0 {
			return s.ingestAlone(ctx, items, window)
		}
	}
	return s.group.ingest(ctx, items, window)
}

// ingestAlone stores items in a transaction of their own.
func (s *Store) ingestAlone(ctx context.Context, items []store.IngestItem, window time.Duration) ([]store.IngestResult, error) {
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

// ingestTx stores items in tx. The common case (no cancellations) takes
// two round trips however many items there are: the locks and duplicate
// lookups pipelined in one batch, then every insert in another.
func (s *Store) ingestTx(ctx context.Context, tx pgx.Tx, items []store.IngestItem, window time.Duration) ([]store.IngestResult, error) {
	locks := ingestLocks(items, window)
	// Round trip 1: the locks, then the lookups (a pipeline runs in order,
	// so the lookups see what the lock holders committed).
	b := &pgx.Batch{}
	if len(locks) > 0 {
		b.Queue(qLock, locks)
	}
	if window > 0 {
		for i := range items {
			ev := &items[i].Event
			if ev.IdempotencyKey != "" {
				b.Queue(qFindIdem, clean(ev.IdempotencyKey))
			}
			b.Queue(qFindSpec, clean(ev.Source), clean(ev.SpecID))
		}
	}
	type found struct {
		id string
		at int64
		ok bool
	}
	idem := make([]found, len(items))
	spec := make([]found, len(items))
	if b.Len() > 0 {
		br := tx.SendBatch(ctx, b)
		if len(locks) > 0 {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return nil, fmt.Errorf("postgres: lock: %w", err)
			}
		}
		scan := func(f *found) error {
			err := br.QueryRow().Scan(&f.id, &f.at)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			f.ok = err == nil
			return err
		}
		if window > 0 {
			for i := range items {
				if items[i].Event.IdempotencyKey != "" {
					if err := scan(&idem[i]); err != nil {
						br.Close()
						return nil, fmt.Errorf("postgres: find idempotency key: %w", err)
					}
				}
				if err := scan(&spec[i]); err != nil {
					br.Close()
					return nil, fmt.Errorf("postgres: find event: %w", err)
				}
			}
		}
		if err := br.Close(); err != nil {
			return nil, fmt.Errorf("postgres: ingest lookups: %w", err)
		}
	}
	// Decide, as the sequential path would: an earlier item of this batch
	// counts like a stored event.
	results := make([]store.IngestResult, len(items))
	keep := make([]bool, len(items))
	var release []string
	seenSpec, seenIdem := map[string]string{}, map[string]string{}
	for i := range items {
		ev := &items[i].Event
		if window > 0 {
			cutoff := nanos(ev.ReceivedAt) - int64(window)
			if ev.IdempotencyKey != "" {
				if id, ok := seenIdem[ev.IdempotencyKey]; ok {
					results[i] = store.IngestResult{EventID: id, Duplicate: true}
					continue
				}
				if f := idem[i]; f.ok {
					if f.at >= cutoff {
						results[i] = store.IngestResult{EventID: f.id, Duplicate: true}
						continue
					}
					release = append(release, f.id)
				}
			}
			k := ev.Source + "\x1f" + ev.SpecID
			if id, ok := seenSpec[k]; ok {
				results[i] = store.IngestResult{EventID: id, Duplicate: true}
				continue
			}
			if f := spec[i]; f.ok && f.at >= cutoff {
				results[i] = store.IngestResult{EventID: f.id, Duplicate: true}
				continue
			}
			seenSpec[k] = ev.ID
			if ev.IdempotencyKey != "" {
				seenIdem[ev.IdempotencyKey] = ev.ID
			}
		}
		keep[i] = true
		results[i] = store.IngestResult{EventID: ev.ID}
	}
	// Round trip 2: every write, in order. An item that cancels runs
	// first sends what is queued, so its cancellation sees the runs that
	// earlier items created, then goes on queueing.
	b = &pgx.Batch{}
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		err := tx.SendBatch(ctx, b).Close() // runs the callbacks in order
		b = &pgx.Batch{}
		if err != nil {
			return fmt.Errorf("postgres: ingest: %w", err)
		}
		return nil
	}
	for _, id := range release {
		b.Queue(qForgetKey, id)
	}
	wake, woken := false, false
	for i := range items {
		if !keep[i] {
			continue
		}
		it := &items[i]
		if len(it.Cancels) > 0 {
			if err := flush(); err != nil {
				return nil, err
			}
			for _, c := range it.Cancels {
				ids, err := s.cancelByKey(ctx, tx, c, &it.Event, it.Emitter)
				if err != nil {
					return nil, err
				}
				results[i].CancelledRuns = append(results[i].CancelledRuns, ids...)
			}
		}
		args, err := eventArgs(&it.Event)
		if err != nil {
			return nil, err
		}
		b.Queue(qInsEvent, args...)
		for j := range it.Runs {
			if it.Runs[j].Lease == nil {
				wake = true
			}
			b.Queue(qInsRun, runArgs(&it.Runs[j])...)
		}
		for _, key := range it.WaitKeys {
			res := &results[i]
			queueHit(b, &it.Event, key, it.Emitter, func(n int64) {
				res.Woken += int(n)
				woken = woken || n > 0
			})
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if wake || woken {
		if err := s.notify(ctx, tx); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// ingestLocks lists the advisory locks an ingest takes: its producer
// keys and Idempotency-Keys (deduplication), and the (type, key) of its
// correlations (waits).
func ingestLocks(items []store.IngestItem, window time.Duration) []string {
	var locks []string
	for i := range items {
		ev := &items[i].Event
		if window > 0 {
			locks = append(locks, clean("spec\x1f"+ev.Source+"\x1f"+ev.SpecID))
			if ev.IdempotencyKey != "" {
				locks = append(locks, clean("idem\x1f"+ev.IdempotencyKey))
			}
		}
		for _, k := range items[i].WaitKeys {
			locks = append(locks, waitLock(ev.Type, k))
		}
	}
	return locks
}

// eventArgs are qInsEvent's arguments for ev.
func eventArgs(ev *herald.Event) ([]any, error) {
	ext, err := marshalOrNil(ev.Extensions, len(ev.Extensions) == 0)
	if err != nil {
		return nil, fmt.Errorf("postgres: encode extensions: %w", err)
	}
	chain, err := marshalOrNil(ev.Chain, len(ev.Chain) == 0)
	if err != nil {
		return nil, fmt.Errorf("postgres: encode chain: %w", err)
	}
	var data []byte
	if len(ev.Data) > 0 {
		data = ev.Data
	}
	return []any{ev.ID, clean(ev.Source), clean(ev.SpecID), clean(ev.Type), clean(ev.Subject),
		nanos(ev.Time), nanos(ev.ReceivedAt), clean(ev.DataContentType), clean(ev.DataSchema), data, ext,
		nullString(ev.ParentID), chain, nullString(ev.IdempotencyKey)}, nil
}

// runArgs are qInsRun's arguments for nr.
func runArgs(nr *store.NewRun) []any {
	r := &nr.Run
	due := nullNanos(r.DueAt)
	var token *string
	if nr.Lease != nil {
		due = nullNanos(nr.Lease.Until)
		token = nullString(nr.Lease.Token)
	}
	return []any{r.ID, r.EventID, r.Rule, r.ConfigVersion, clean(r.Key),
		string(r.Status), r.Step, nullJSON(r.State), nullString(r.Error),
		nullString(r.WaitingFor), 0, nanos(r.CreatedAt), nanos(r.UpdatedAt), due, token}
}
