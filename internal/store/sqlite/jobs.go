package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

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

	qClaimRuns = `UPDATE runs SET lease_token = ?, due_at = ?
		WHERE id IN (SELECT id FROM runs WHERE due_at <= ? ORDER BY due_at LIMIT ?)
		RETURNING ` + runCols
	qCompleteStep = `UPDATE runs SET status = ?, step = ?, state = ?, error = ?, waiting_for = ?,
		updated_at = ?, due_at = ?, lease_token = ? WHERE id = ? AND lease_token = ?`
	qInsMsg = `INSERT INTO messages (` + msgCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qFinishMsg = `UPDATE messages SET status = ?, error = ?,
		provider_id = COALESCE(?, provider_id), attempts = ?, updated_at = ?, due_at = ?,
		lease_token = NULL WHERE id = ? AND lease_token = ? AND status IN ('pending', 'failed')`
	qInsAttempt = `INSERT INTO attempts (message_id, id, number, started_at, duration, outcome,
		status_code, error, provider_id, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qResume = `UPDATE runs SET status = 'running', waiting_for = NULL, updated_at = ?,
		state = json_set(COALESCE(state, '{}'), '$.steps."' || ? || '"', json(?)),
		due_at = ?, lease_token = ?
		WHERE id = ? AND status IN ('waiting', 'failed') AND waiting_for = ?`
	qRetryMsg = `UPDATE messages SET status = 'pending', due_at = ?, lease_token = NULL,
		max_attempts = attempts + ?, updated_at = ?
		WHERE id = ? AND (status = 'dead' OR (status = 'failed' AND (lease_token IS NULL OR due_at <= ?)))
		RETURNING ` + msgCols
	qMsgStatus = `SELECT status FROM messages WHERE id = ?`
	qEventByID = `SELECT ` + eventCols + ` FROM events WHERE id = ?`
	qEventType = `SELECT type FROM events WHERE id = ?`
)

// ClaimRuns implements store.Store.
func (s *Store) ClaimRuns(ctx context.Context, lease store.Lease, now time.Time, limit int) ([]store.RunJob, error) {
	var jobs []store.RunJob
	err := s.write(ctx, func(tx *sql.Tx) error {
		jobs = jobs[:0]
		rows, err := s.stmt(tx, qClaimRuns).Query(lease.Token, nanos(lease.Until), nanos(now), limit)
		if err != nil {
			return fmt.Errorf("sqlite: claim runs: %w", err)
		}
		for rows.Next() {
			var j store.RunJob
			if err := scanRun(rows, &j.Run); err != nil {
				rows.Close()
				return err
			}
			j.Lease = lease
			jobs = append(jobs, j)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: claim runs: %w", err)
		}
		for i := range jobs {
			ev, err := getEvent(s.stmt(tx, qEventByID).QueryRow(jobs[i].Run.EventID))
			if err != nil {
				return fmt.Errorf("sqlite: claim runs: event %s: %w", jobs[i].Run.EventID, err)
			}
			jobs[i].Event = *ev
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
	q := `UPDATE messages SET lease_token = ?, due_at = ? WHERE id IN (SELECT id FROM messages
		WHERE channel IN (?` + strings.Repeat(",?", len(channels)-1) + `) AND due_at <= ?
		ORDER BY priority DESC, due_at LIMIT ?) RETURNING ` + msgCols
	args := []any{lease.Token, nanos(lease.Until)}
	for _, c := range channels {
		args = append(args, c)
	}
	args = append(args, nanos(now), limit)
	var jobs []store.MessageJob
	err := s.write(ctx, func(tx *sql.Tx) error {
		jobs = jobs[:0]
		rows, err := tx.Query(q, args...)
		if err != nil {
			return fmt.Errorf("sqlite: claim messages: %w", err)
		}
		for rows.Next() {
			var j store.MessageJob
			if _, err := scanMessage(rows, &j.Message); err != nil {
				rows.Close()
				return err
			}
			j.Lease = lease
			jobs = append(jobs, j)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: claim messages: %w", err)
		}
		for i := range jobs {
			if err := s.stmt(tx, qEventType).QueryRow(jobs[i].Message.EventID).Scan(&jobs[i].EventType); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlite: claim messages: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err // the claim rolled back: these jobs are not ours
	}
	return jobs, nil
}

// DueChannels implements store.Store.
func (s *Store) DueChannels(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT channel FROM messages WHERE due_at <= ?`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: due channels: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("sqlite: due channels: %w", err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// NextDue implements store.Store.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var r, m sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT (SELECT min(due_at) FROM runs WHERE due_at IS NOT NULL),
		(SELECT min(due_at) FROM messages WHERE due_at IS NOT NULL)`).Scan(&r, &m)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: next due: %w", err)
	}
	switch {
	case r.Valid && m.Valid:
		return fromNanos(min(r.Int64, m.Int64)), nil
	case r.Valid:
		return fromNanos(r.Int64), nil
	case m.Valid:
		return fromNanos(m.Int64), nil
	}
	return time.Time{}, nil
}

// CompleteStep implements store.Store.
func (s *Store) CompleteStep(ctx context.Context, out *store.StepOutcome) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		due := nullNanos(out.DueAt)
		var token sql.NullString
		if out.Lease != nil {
			due = nullNanos(out.Lease.Until)
			token = nullString(out.Lease.Token)
		}
		res, err := s.stmt(tx, qCompleteStep).Exec(string(out.Status), out.Step, nullJSON(out.State),
			nullString(out.Error), nullString(out.WaitingFor), nanos(out.Now), due, token,
			out.RunID, out.Token)
		if err != nil {
			return fmt.Errorf("sqlite: complete step: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrLeaseLost
		}
		for i := range out.Messages {
			if err := s.insertMessage(tx, &out.Messages[i]); err != nil {
				return err
			}
		}
		// Emitted events first: a run must not be woken by its own event
		// (ingest skips the emitter's waits, and its wait is registered
		// after this).
		if len(out.Events) > 0 {
			if _, err := s.ingestTx(tx, out.Events, 0); err != nil {
				return err
			}
		}
		if err := s.completeWaits(tx, out); err != nil {
			return err
		}
		for _, id := range out.Supersede {
			if _, err := tx.Exec(`UPDATE messages SET status = 'suppressed', error = 'superseded: the step moved on to its next channel',
				due_at = NULL, lease_token = NULL, updated_at = ? WHERE id = ? AND status IN ('pending', 'failed')`, nanos(out.Now), id); err != nil {
				return fmt.Errorf("sqlite: supersede message: %w", err)
			}
		}
		return nil
	})
}

func (s *Store) insertMessage(tx *sql.Tx, nm *store.NewMessage) error {
	m := &nm.Message
	due := nullNanos(m.DueAt)
	var token sql.NullString
	if nm.Lease != nil {
		due = nullNanos(nm.Lease.Until)
		token = nullString(nm.Lease.Token)
	}
	_, err := s.stmt(tx, qInsMsg).Exec(m.ID, m.EventID, m.RunID, m.Step, m.StepName, m.Channel,
		m.Recipient, m.Key, int(m.Priority), string(m.Status), nullJSON(m.Content), m.Attempts,
		m.MaxAttempts, nullString(m.ProviderID), nullString(m.Error), m.Blocking,
		nanos(m.CreatedAt), nanos(m.UpdatedAt), due, token)
	if err != nil {
		return fmt.Errorf("sqlite: insert message: %w", err)
	}
	return nil
}

// RecordAttempts implements store.Store.
func (s *Store) RecordAttempts(ctx context.Context, outs []*store.AttemptOutcome) ([]error, error) {
	errs := make([]error, len(outs))
	err := s.write(ctx, func(tx *sql.Tx) error {
		for i, o := range outs {
			errs[i] = nil
			a := &o.Attempt
			if _, err := s.stmt(tx, qInsAttempt).Exec(a.MessageID, a.ID, a.Number, nanos(a.StartedAt),
				int64(a.Duration), string(a.Outcome), a.StatusCode, nullString(a.Error),
				nullString(a.ProviderID), nullString(a.Response)); err != nil {
				return fmt.Errorf("sqlite: insert attempt: %w", err)
			}
			res, err := s.stmt(tx, qFinishMsg).Exec(string(o.Status), nullString(o.Error),
				nullString(o.ProviderID), o.Attempts, nanos(o.Now), nullNanos(o.DueAt), a.MessageID, o.Token)
			if err != nil {
				return fmt.Errorf("sqlite: update message: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				errs[i] = store.ErrLeaseLost
				continue
			}
			if r := o.Resume; r != nil {
				if err := s.resume(tx, r, o.Now, a.MessageID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

func (s *Store) resume(tx *sql.Tx, r *store.Resume, now time.Time, messageID string) error {
	due := nullNanos(now)
	var token sql.NullString
	if r.Lease != nil {
		due = nullNanos(r.Lease.Until)
		token = nullString(r.Lease.Token)
	}
	out := r.Output
	if len(out) == 0 {
		out = []byte("null")
	}
	_, err := s.stmt(tx, qResume).Exec(nanos(now), r.StepName, string(out), due, token,
		r.RunID, store.WaitingForMessage(messageID))
	if err != nil {
		return fmt.Errorf("sqlite: resume run: %w", err)
	}
	return nil
}

// PostponeMessage implements store.Store.
func (s *Store) PostponeMessage(ctx context.Context, id, token string, due, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE messages SET due_at = ?, lease_token = NULL, updated_at = ?
			WHERE id = ? AND lease_token = ?`, nanos(due), nanos(now), id, token)
		if err != nil {
			return fmt.Errorf("sqlite: postpone message: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrLeaseLost
		}
		return nil
	})
}

// RetryMessage implements store.Store.
func (s *Store) RetryMessage(ctx context.Context, id string, extra int, now time.Time) (*herald.Message, error) {
	var m herald.Message
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := s.stmt(tx, qRetryMsg).Query(nanos(now), extra, nanos(now), id, nanos(now))
		if err != nil {
			return fmt.Errorf("sqlite: retry message: %w", err)
		}
		found := false
		if rows.Next() {
			if _, err := scanMessage(rows, &m); err != nil {
				rows.Close()
				return err
			}
			found = true
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: retry message: %w", err)
		}
		if found {
			return nil
		}
		var status string
		err = s.stmt(tx, qMsgStatus).QueryRow(id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return herald.Errorf(herald.ENOTFOUND, "message %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: retry message: %w", err)
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

type scanner interface{ Scan(dest ...any) error }

func scanRun(sc scanner, r *herald.Run) error {
	var state, errText, waiting sql.NullString
	var created, updated int64
	var due, acked sql.NullInt64
	var ackedBy sql.NullString
	var status string
	if err := sc.Scan(&r.ID, &r.EventID, &r.Rule, &r.ConfigVersion, &r.Key, &status, &r.Step,
		&state, &errText, &waiting, &created, &updated, &due, &acked, &ackedBy); err != nil {
		return fmt.Errorf("sqlite: scan run: %w", err)
	}
	r.AckedAt = fromNullNanos(acked)
	r.AckedBy = ackedBy.String
	r.Status = herald.RunStatus(status)
	if state.Valid {
		r.State = []byte(state.String)
	}
	r.Error = errText.String
	r.WaitingFor = waiting.String
	r.CreatedAt = fromNanos(created)
	r.UpdatedAt = fromNanos(updated)
	r.DueAt = fromNullNanos(due)
	return nil
}

// scanMessage scans msgCols; it returns the lease token.
func scanMessage(sc scanner, m *herald.Message) (string, error) {
	var content, provider, errText, token sql.NullString
	var created, updated int64
	var due sql.NullInt64
	var status string
	var prio int
	if err := sc.Scan(&m.ID, &m.EventID, &m.RunID, &m.Step, &m.StepName, &m.Channel, &m.Recipient,
		&m.Key, &prio, &status, &content, &m.Attempts, &m.MaxAttempts, &provider, &errText,
		&m.Blocking, &created, &updated, &due, &token); err != nil {
		return "", fmt.Errorf("sqlite: scan message: %w", err)
	}
	m.Priority = herald.Priority(prio)
	m.Status = herald.MessageStatus(status)
	if content.Valid {
		m.Content = []byte(content.String)
	}
	m.ProviderID = provider.String
	m.Error = errText.String
	m.CreatedAt = fromNanos(created)
	m.UpdatedAt = fromNanos(updated)
	m.DueAt = fromNullNanos(due)
	return token.String, nil
}

func getEvent(sc scanner) (*herald.Event, error) {
	var ev herald.Event
	var t, recv int64
	var data []byte
	var ext, parent, chain, idem sql.NullString
	if err := sc.Scan(&ev.ID, &ev.Source, &ev.SpecID, &ev.Type, &ev.Subject, &t, &recv,
		&ev.DataContentType, &ev.DataSchema, &data, &ext, &parent, &chain, &idem); err != nil {
		return nil, err
	}
	ev.Time = fromNanos(t)
	ev.ReceivedAt = fromNanos(recv)
	if len(data) > 0 {
		ev.Data = data
	}
	if ext.Valid {
		if err := jsonUnmarshal(ext.String, &ev.Extensions); err != nil {
			return nil, err
		}
	}
	if chain.Valid {
		if err := jsonUnmarshal(chain.String, &ev.Chain); err != nil {
			return nil, err
		}
	}
	ev.ParentID = parent.String
	ev.IdempotencyKey = idem.String
	return &ev, nil
}
