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
	runCols = `id, event_id, rule, config_version, key, status, step, state, error,
		waiting_for, created_at, updated_at, due_at, acked_at, acked_by`
	eventCols = `id, source, spec_id, type, subject, time, received_at, content_type,
		data_schema, data, extensions, parent_id, chain, idem_key`
	msgCols = `id, event_id, run_id, step, step_name, channel, recipient, key, priority,
		status, content, attempts, max_attempts, provider_id, error, blocking,
		created_at, updated_at, due_at, lease_token`

	qCompleteStep = `UPDATE runs SET status = $1, step = $2, state = $3, error = $4, waiting_for = $5,
		updated_at = $6, due_at = $7, lease_token = $8 WHERE id = $9 AND lease_token = $10`
	qInsMsg = `INSERT INTO messages (` + msgCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`
	qFinishMsg = `UPDATE messages SET status = $1, error = $2,
		provider_id = COALESCE($3, provider_id), attempts = $4, updated_at = $5, due_at = $6,
		lease_token = NULL WHERE id = $7 AND lease_token = $8 AND status IN ('pending', 'failed')`
	qInsAttempt = `INSERT INTO attempts (message_id, id, number, started_at, duration, outcome,
		status_code, error, provider_id, response) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	// qResume stores a step's output under state.steps.<name>.
	qResume = `UPDATE runs SET status = 'running', waiting_for = NULL, updated_at = $1,
		state = (COALESCE(state::jsonb, '{}'::jsonb) || jsonb_build_object('steps',
			COALESCE(state::jsonb -> 'steps', '{}'::jsonb) || jsonb_build_object($2::text, $3::jsonb)))::text,
		due_at = $4, lease_token = $5
		WHERE id = $6 AND status IN ('waiting', 'failed') AND waiting_for = $7`
	qRetryMsg = `UPDATE messages SET status = 'pending', due_at = $1, lease_token = NULL,
		max_attempts = attempts + $2, updated_at = $1
		WHERE id = $3 AND (status = 'dead' OR (status = 'failed' AND (lease_token IS NULL OR due_at <= $1)))
		RETURNING ` + msgCols
)

var (
	runColsC   = prefixed("c.", runCols)
	eventColsE = prefixed("e.", eventCols)
	msgColsC   = prefixed("c.", msgCols)

	// qClaimRuns leases due runs no other transaction holds and returns
	// each with its event, in one round trip.
	qClaimRuns = `WITH c AS (
		UPDATE runs SET lease_token = $1, due_at = $2
		WHERE id IN (SELECT id FROM runs WHERE due_at <= $3 ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED)
		RETURNING ` + runCols + `)
		SELECT ` + runColsC + `, ` + eventColsE + ` FROM c JOIN events e ON e.id = c.event_id`
	qClaimMsgs = `WITH c AS (
		UPDATE messages SET lease_token = $1, due_at = $2
		WHERE id IN (SELECT id FROM messages WHERE channel = ANY($3) AND due_at <= $4
			ORDER BY priority DESC, due_at LIMIT $5 FOR UPDATE SKIP LOCKED)
		RETURNING ` + msgCols + `)
		SELECT ` + msgColsC + `, COALESCE((SELECT type FROM events e WHERE e.id = c.event_id), '') FROM c`
)

// ClaimRuns implements store.Store.
func (s *Store) ClaimRuns(ctx context.Context, lease store.Lease, now time.Time, limit int) ([]store.RunJob, error) {
	var jobs []store.RunJob
	err := s.tx(ctx, func(tx pgx.Tx) error {
		jobs = jobs[:0]
		rows, err := tx.Query(ctx, qClaimRuns, lease.Token, nanos(lease.Until), nanos(now), limit)
		if err != nil {
			return fmt.Errorf("postgres: claim runs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var j store.RunJob
			ev, err := scanRunEvent(rows, &j.Run)
			if err != nil {
				return err
			}
			j.Event = *ev
			j.Lease = lease
			jobs = append(jobs, j)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: claim runs: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err // the claim rolled back: these jobs are not ours
	}
	return jobs, nil
}

// ClaimMessages implements store.Store.
func (s *Store) ClaimMessages(ctx context.Context, channels []string, lease store.Lease, now time.Time, limit int) ([]store.MessageJob, error) {
	if len(channels) == 0 {
		return nil, nil
	}
	var jobs []store.MessageJob
	err := s.tx(ctx, func(tx pgx.Tx) error {
		jobs = jobs[:0]
		rows, err := tx.Query(ctx, qClaimMsgs, lease.Token, nanos(lease.Until), channels, nanos(now), limit)
		if err != nil {
			return fmt.Errorf("postgres: claim messages: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var j store.MessageJob
			if _, err := scanMessage(rows, &j.Message, &j.EventType); err != nil {
				return err
			}
			j.Lease = lease
			jobs = append(jobs, j)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: claim messages: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// DueChannels implements store.Store. A loose index scan over the due
// index visits one entry per channel, however many messages are due.
func (s *Store) DueChannels(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE c AS (
			(SELECT channel FROM messages WHERE due_at <= $1 ORDER BY channel LIMIT 1)
			UNION ALL
			SELECT (SELECT m.channel FROM messages m WHERE m.due_at <= $1 AND m.channel > c.channel ORDER BY m.channel LIMIT 1)
			FROM c WHERE c.channel IS NOT NULL)
		SELECT channel FROM c WHERE channel IS NOT NULL`, nanos(now))
	if err != nil {
		return nil, classify(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(err)
	}
	return names, nil
}

// NextDue implements store.Store.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var r, m *int64
	err := s.pool.QueryRow(ctx, `SELECT (SELECT min(due_at) FROM runs WHERE due_at IS NOT NULL),
		(SELECT min(due_at) FROM messages WHERE due_at IS NOT NULL)`).Scan(&r, &m)
	if err != nil {
		return time.Time{}, classify(err)
	}
	switch {
	case r != nil && m != nil:
		return fromNanos(min(*r, *m)), nil
	case r != nil:
		return fromNanos(*r), nil
	case m != nil:
		return fromNanos(*m), nil
	}
	return time.Time{}, nil
}

// CompleteStep implements store.Store.
func (s *Store) CompleteStep(ctx context.Context, out *store.StepOutcome) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		due := nullNanos(out.DueAt)
		var token *string
		if out.Lease != nil {
			due = nullNanos(out.Lease.Until)
			token = nullString(out.Lease.Token)
		}
		// Advisory locks before row locks, in one sorted call, as ingest
		// takes them: a step that waits or emits correlated events and an
		// ingest that cancels runs must not lock in opposite orders.
		if err := s.lockStep(ctx, tx, out); err != nil {
			return err
		}
		wake := out.Lease == nil && !out.DueAt.IsZero() && !out.DueAt.After(out.Now)
		for i := range out.Messages {
			if out.Messages[i].Lease == nil {
				wake = true
			}
		}
		// One round trip: the fenced run update, its messages and the
		// notification. If the fence fails, the transaction rolls back.
		b := &pgx.Batch{}
		b.Queue(qCompleteStep, string(out.Status), out.Step, nullJSON(out.State),
			nullString(out.Error), nullString(out.WaitingFor), nanos(out.Now), due, token,
			out.RunID, out.Token)
		for i := range out.Messages {
			b.Queue(qInsMsg, messageArgs(&out.Messages[i])...)
		}
		if wake {
			b.Queue(qNotify, s.channel)
		}
		br := tx.SendBatch(ctx, b)
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return fmt.Errorf("postgres: complete step: %w", err)
		}
		if tag.RowsAffected() == 0 {
			br.Close()
			return store.ErrLeaseLost
		}
		for range out.Messages {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return fmt.Errorf("postgres: insert message: %w", err)
			}
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("postgres: complete step: %w", err)
		}
		// Emitted events first: a run must not be woken by its own event
		// (ingest skips the emitter's waits, and its wait is registered
		// after this).
		if len(out.Events) > 0 {
			if _, err := s.ingestTx(ctx, tx, out.Events, 0); err != nil {
				return err
			}
		}
		woke, err := s.completeWaits(ctx, tx, out)
		if err != nil {
			return err
		}
		if len(out.Supersede) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'suppressed', error = 'superseded: the step moved on to its next channel',
				due_at = NULL, lease_token = NULL, updated_at = $1 WHERE id = ANY($2) AND status IN ('pending', 'failed')`,
				nanos(out.Now), out.Supersede); err != nil {
				return fmt.Errorf("postgres: supersede messages: %w", err)
			}
		}
		if woke {
			return s.notify(ctx, tx)
		}
		return nil
	})
}

// lockStep takes the advisory locks a step's commit needs: the
// correlations of the events it emits, the wait it registers, and the
// waits it already has.
func (s *Store) lockStep(ctx context.Context, tx pgx.Tx, out *store.StepOutcome) error {
	locks := ingestLocks(out.Events, 0)
	if out.Wait != nil {
		locks = append(locks, waitLock(out.Wait.Type, out.Wait.Key))
	}
	if out.Wait != nil || out.WakeOnHit || out.ClearWaits || out.Status.Final() {
		rows, err := tx.Query(ctx, `SELECT type, key FROM waits WHERE run_id = $1`, out.RunID)
		if err != nil {
			return fmt.Errorf("postgres: waits: %w", err)
		}
		for rows.Next() {
			var typ, key string
			if err := rows.Scan(&typ, &key); err != nil {
				rows.Close()
				return fmt.Errorf("postgres: waits: %w", err)
			}
			locks = append(locks, waitLock(typ, key))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: waits: %w", err)
		}
	}
	return lockKeys(ctx, tx, locks)
}

// messageArgs are qInsMsg's arguments for nm.
func messageArgs(nm *store.NewMessage) []any {
	m := &nm.Message
	due := nullNanos(m.DueAt)
	var token *string
	if nm.Lease != nil {
		due = nullNanos(nm.Lease.Until)
		token = nullString(nm.Lease.Token)
	}
	return []any{m.ID, m.EventID, m.RunID, m.Step, m.StepName, m.Channel,
		clean(m.Recipient), clean(m.Key), int(m.Priority), string(m.Status), nullJSON(m.Content), m.Attempts,
		m.MaxAttempts, nullString(m.ProviderID), nullString(m.Error), m.Blocking,
		nanos(m.CreatedAt), nanos(m.UpdatedAt), due, token}
}

// RecordAttempts implements store.Store.
func (s *Store) RecordAttempts(ctx context.Context, outs []*store.AttemptOutcome) ([]error, error) {
	errs := make([]error, len(outs))
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// One round trip for every attempt row and message update; a
		// second only for the runs to resume.
		b := &pgx.Batch{}
		for _, o := range outs {
			a := &o.Attempt
			b.Queue(qInsAttempt, a.MessageID, a.ID, a.Number, nanos(a.StartedAt),
				int64(a.Duration), string(a.Outcome), a.StatusCode, nullString(a.Error),
				nullString(a.ProviderID), nullString(a.Response))
			b.Queue(qFinishMsg, string(o.Status), nullString(o.Error),
				nullString(o.ProviderID), o.Attempts, nanos(o.Now), nullNanos(o.DueAt), a.MessageID, o.Token)
		}
		// Lock the runs to resume before the messages (as cancellation and
		// supersession do: run, then message), in id order.
		var resumeIDs []string
		for _, o := range outs {
			if o.Resume != nil {
				resumeIDs = append(resumeIDs, o.Resume.RunID)
			}
		}
		if len(resumeIDs) > 0 {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM runs WHERE id = ANY($1) ORDER BY id FOR UPDATE`, resumeIDs); err != nil {
				return fmt.Errorf("postgres: lock runs to resume: %w", err)
			}
		}
		br := tx.SendBatch(ctx, b)
		for i := range outs {
			errs[i] = nil
			if _, err := br.Exec(); err != nil {
				br.Close()
				return fmt.Errorf("postgres: insert attempt: %w", err)
			}
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return fmt.Errorf("postgres: update message: %w", err)
			}
			if tag.RowsAffected() == 0 {
				errs[i] = store.ErrLeaseLost
			}
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("postgres: record attempts: %w", err)
		}
		wake := false
		for i, o := range outs {
			r := o.Resume
			if r == nil || errs[i] != nil {
				continue
			}
			if r.Lease == nil {
				wake = true
			}
			if err := resume(ctx, tx, r, o.Now, o.Attempt.MessageID); err != nil {
				return err
			}
		}
		if wake {
			return s.notify(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

func resume(ctx context.Context, tx pgx.Tx, r *store.Resume, now time.Time, messageID string) error {
	due := nullNanos(now)
	var token *string
	if r.Lease != nil {
		due = nullNanos(r.Lease.Until)
		token = nullString(r.Lease.Token)
	}
	out := r.Output
	if len(out) == 0 {
		out = []byte("null")
	}
	out = jsonbSafe(out)
	_, err := tx.Exec(ctx, qResume, nanos(now), r.StepName, string(out), due, token,
		r.RunID, store.WaitingForMessage(messageID))
	if err != nil {
		return fmt.Errorf("postgres: resume run: %w", err)
	}
	return nil
}

// PostponeMessage implements store.Store.
func (s *Store) PostponeMessage(ctx context.Context, id, token string, due, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE messages SET due_at = $1, lease_token = NULL, updated_at = $2
		WHERE id = $3 AND lease_token = $4`, nanos(due), nanos(now), id, token)
	if err != nil {
		return classify(fmt.Errorf("postgres: postpone message: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return store.ErrLeaseLost
	}
	return nil
}

// RetryMessage implements store.Store.
func (s *Store) RetryMessage(ctx context.Context, id string, extra int, now time.Time) (*herald.Message, error) {
	var m herald.Message
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// Hold the event's row so a concurrent Prune (which locks the
		// events it deletes, SKIP LOCKED) cannot delete the message this
		// revives.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM events WHERE id = (SELECT event_id FROM messages WHERE id = $1) FOR KEY SHARE`, id); err != nil {
			return fmt.Errorf("postgres: retry message: %w", err)
		}
		_, err := scanMessage(tx.QueryRow(ctx, qRetryMsg, nanos(now), extra, id), &m, nil)
		if err == nil {
			return s.notify(ctx, tx)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var status string
		err = tx.QueryRow(ctx, `SELECT status FROM messages WHERE id = $1`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return herald.Errorf(herald.ENOTFOUND, "message %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: retry message: %w", err)
		}
		if status == string(herald.MessageFailed) {
			return herald.Errorf(herald.ECONFLICT, "message %s is being sent right now; retry it if it fails", id)
		}
		return herald.Errorf(herald.ECONFLICT, "message %s is %s; only dead or failed messages can be retried", id, status)
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

type runScan struct {
	status                           string
	state, errText, waiting, ackedBy *string
	created, updated                 int64
	due, acked                       *int64
}

func (rs *runScan) fill(r *herald.Run) {
	r.AckedAt = fromNullNanos(rs.acked)
	r.AckedBy = str(rs.ackedBy)
	r.Status = herald.RunStatus(rs.status)
	r.State = nil
	if rs.state != nil {
		r.State = []byte(*rs.state)
	}
	r.Error = str(rs.errText)
	r.WaitingFor = str(rs.waiting)
	r.CreatedAt = fromNanos(rs.created)
	r.UpdatedAt = fromNanos(rs.updated)
	r.DueAt = fromNullNanos(rs.due)
}

func (rs *runScan) targets(r *herald.Run) []any {
	return []any{&r.ID, &r.EventID, &r.Rule, &r.ConfigVersion, &r.Key, &rs.status, &r.Step,
		&rs.state, &rs.errText, &rs.waiting, &rs.created, &rs.updated, &rs.due, &rs.acked, &rs.ackedBy}
}

func scanRun(row pgx.Row, r *herald.Run) error {
	var rs runScan
	if err := row.Scan(rs.targets(r)...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return classify(fmt.Errorf("postgres: scan run: %w", err))
	}
	rs.fill(r)
	return nil
}

type eventScan struct {
	t, recv                  int64
	data                     []byte
	ext, parent, chain, idem *string
}

func (es *eventScan) targets(ev *herald.Event) []any {
	return []any{&ev.ID, &ev.Source, &ev.SpecID, &ev.Type, &ev.Subject, &es.t, &es.recv,
		&ev.DataContentType, &ev.DataSchema, &es.data, &es.ext, &es.parent, &es.chain, &es.idem}
}

func (es *eventScan) fill(ev *herald.Event) error {
	ev.Time = fromNanos(es.t)
	ev.ReceivedAt = fromNanos(es.recv)
	if len(es.data) > 0 {
		ev.Data = es.data
	}
	if es.ext != nil {
		if err := jsonUnmarshal(*es.ext, &ev.Extensions); err != nil {
			return err
		}
	}
	if es.chain != nil {
		if err := jsonUnmarshal(*es.chain, &ev.Chain); err != nil {
			return err
		}
	}
	ev.ParentID = str(es.parent)
	ev.IdempotencyKey = str(es.idem)
	return nil
}

func scanEvent(row pgx.Row) (*herald.Event, error) {
	var ev herald.Event
	var es eventScan
	if err := row.Scan(es.targets(&ev)...); err != nil {
		return nil, err
	}
	if err := es.fill(&ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// scanRunEvent scans runCols followed by eventCols.
func scanRunEvent(row pgx.Row, r *herald.Run) (*herald.Event, error) {
	var rs runScan
	var ev herald.Event
	var es eventScan
	if err := row.Scan(append(rs.targets(r), es.targets(&ev)...)...); err != nil {
		return nil, fmt.Errorf("postgres: scan run: %w", err)
	}
	rs.fill(r)
	if err := es.fill(&ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// scanMessage scans msgCols (and the event type, when eventType is not
// nil); it returns the lease token.
func scanMessage(row pgx.Row, m *herald.Message, eventType *string) (string, error) {
	var content, provider, errText, token *string
	var created, updated int64
	var due *int64
	var status string
	var prio int
	dest := []any{&m.ID, &m.EventID, &m.RunID, &m.Step, &m.StepName, &m.Channel, &m.Recipient,
		&m.Key, &prio, &status, &content, &m.Attempts, &m.MaxAttempts, &provider, &errText,
		&m.Blocking, &created, &updated, &due, &token}
	if eventType != nil {
		dest = append(dest, eventType)
	}
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", err
		}
		return "", classify(fmt.Errorf("postgres: scan message: %w", err))
	}
	m.Priority = herald.Priority(prio)
	m.Status = herald.MessageStatus(status)
	m.Content = nil
	if content != nil {
		m.Content = []byte(*content)
	}
	m.ProviderID = str(provider)
	m.Error = str(errText)
	m.CreatedAt = fromNanos(created)
	m.UpdatedAt = fromNanos(updated)
	m.DueAt = fromNullNanos(due)
	return str(token), nil
}
