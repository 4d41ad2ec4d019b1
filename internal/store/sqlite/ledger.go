package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

const attemptCols = `message_id, id, number, started_at, duration, outcome, status_code, error,
	provider_id, response`

// GetEvent implements store.Store.
func (s *Store) GetEvent(ctx context.Context, id string) (*store.EventView, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: get event: %w", err)
	}
	defer tx.Rollback()
	ev, err := getEvent(tx.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "event %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get event: %w", err)
	}
	v := &store.EventView{Event: *ev}
	rows, err := tx.QueryContext(ctx, `SELECT `+runCols+` FROM runs WHERE event_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get event runs: %w", err)
	}
	for rows.Next() {
		r := new(herald.Run)
		if err := scanRun(rows, r); err != nil {
			rows.Close()
			return nil, err
		}
		v.Runs = append(v.Runs, r)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: get event runs: %w", err)
	}
	now := time.Now()
	rows, err = tx.QueryContext(ctx, `SELECT `+msgCols+` FROM messages WHERE event_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get event messages: %w", err)
	}
	byID := map[string]*store.MessageView{}
	for rows.Next() {
		m := new(store.MessageView)
		token, err := scanMessage(rows, &m.Message)
		if err != nil {
			rows.Close()
			return nil, err
		}
		store.DeriveSending(&m.Message, token, now)
		v.Messages = append(v.Messages, m)
		byID[m.ID] = m
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: get event messages: %w", err)
	}
	for _, m := range v.Messages {
		atts, err := listAttempts(ctx, tx, m.ID)
		if err != nil {
			return nil, err
		}
		m.AttemptList = atts
	}
	return v, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func listAttempts(ctx context.Context, q querier, messageID string) ([]*herald.Attempt, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+attemptCols+` FROM attempts WHERE message_id = ? ORDER BY id`, messageID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list attempts: %w", err)
	}
	defer rows.Close()
	var out []*herald.Attempt
	for rows.Next() {
		a := new(herald.Attempt)
		var started, dur int64
		var outcome string
		var errText, provider, resp sql.NullString
		if err := rows.Scan(&a.MessageID, &a.ID, &a.Number, &started, &dur, &outcome,
			&a.StatusCode, &errText, &provider, &resp); err != nil {
			return nil, fmt.Errorf("sqlite: scan attempt: %w", err)
		}
		a.StartedAt = fromNanos(started)
		a.Duration = time.Duration(dur)
		a.Outcome = herald.Outcome(outcome)
		a.Error = errText.String
		a.ProviderID = provider.String
		a.Response = resp.String
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list attempts: %w", err)
	}
	return out, nil
}

// GetMessage implements store.Store.
func (s *Store) GetMessage(ctx context.Context, id string) (*herald.Message, []*herald.Attempt, error) {
	m := new(herald.Message)
	token, err := scanMessage(s.rdb.QueryRowContext(ctx, `SELECT `+msgCols+` FROM messages WHERE id = ?`, id), m)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, herald.Errorf(herald.ENOTFOUND, "message %s not found", id)
	}
	if err != nil {
		return nil, nil, err
	}
	store.DeriveSending(m, token, time.Now())
	atts, err := listAttempts(ctx, s.rdb, id)
	if err != nil {
		return nil, nil, err
	}
	return m, atts, nil
}

// ListMessages implements store.Store. Pages go newest first; the cursor
// is the last id of the previous page (ids are time-ordered, so this is
// pagination on (time, id)).
func (s *Store) ListMessages(ctx context.Context, f store.MessageFilter) ([]*herald.Message, string, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
	var where []string
	var args []any
	switch f.Status {
	case "":
	case herald.MessageSending:
		where = append(where, `status IN ('pending','failed') AND lease_token IS NOT NULL AND due_at > ?`)
		args = append(args, nanos(f.Now))
	case herald.MessagePending, herald.MessageFailed:
		where = append(where, `status = ? AND (lease_token IS NULL OR due_at <= ?)`)
		args = append(args, string(f.Status), nanos(f.Now))
	default:
		where = append(where, `status = ?`)
		args = append(args, string(f.Status))
	}
	if f.Channel != "" {
		where = append(where, `channel = ?`)
		args = append(args, f.Channel)
	}
	if f.EventID != "" {
		where = append(where, `event_id = ?`)
		args = append(args, f.EventID)
	}
	if !f.Since.IsZero() {
		where = append(where, `created_at >= ?`)
		args = append(args, nanos(f.Since))
	}
	if f.Cursor != "" {
		last, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || !herald.ValidID(string(last)) {
			return nil, "", herald.Errorf(herald.EINVALID, "invalid cursor %q", f.Cursor)
		}
		where = append(where, `id < ?`)
		args = append(args, string(last))
	}
	q := `SELECT ` + msgCols + ` FROM messages`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit+1)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list messages: %w", err)
	}
	defer rows.Close()
	var out []*herald.Message
	for rows.Next() {
		m := new(herald.Message)
		token, err := scanMessage(rows, m)
		if err != nil {
			return nil, "", err
		}
		store.DeriveSending(m, token, f.Now)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlite: list messages: %w", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID))
	}
	return out, next, nil
}

// ProviderIDs implements store.Store.
func (s *Store) ProviderIDs(ctx context.Context, channel, key string, limit int) ([]string, error) {
	if key == "" {
		return nil, nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT provider_id FROM messages
		WHERE channel = ? AND key = ? AND provider_id IS NOT NULL AND key <> ''
		ORDER BY id DESC LIMIT ?`, channel, key, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: provider ids: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: provider ids: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// SaveConfig implements store.Store.
func (s *Store) SaveConfig(ctx context.Context, version string, sources []store.ConfigSource) error {
	b, err := json.Marshal(sources)
	if err != nil {
		return fmt.Errorf("sqlite: save config: %w", err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO configs (version, created_at, sources) VALUES (?, ?, ?)
			ON CONFLICT (version) DO NOTHING`, version, nanos(time.Now()), string(b))
		if err != nil {
			return fmt.Errorf("sqlite: save config: %w", err)
		}
		return nil
	})
}

// LoadConfig implements store.Store.
func (s *Store) LoadConfig(ctx context.Context, version string) ([]store.ConfigSource, error) {
	var b string
	err := s.rdb.QueryRowContext(ctx, `SELECT sources FROM configs WHERE version = ?`, version).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "configuration version %s not stored", version)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: load config: %w", err)
	}
	var srcs []store.ConfigSource
	if err := json.Unmarshal([]byte(b), &srcs); err != nil {
		return nil, fmt.Errorf("sqlite: load config: %w", err)
	}
	return srcs, nil
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context, now time.Time) (*store.Stats, error) {
	st := &store.Stats{DueMessages: map[string]int64{}}
	n := nanos(now)
	var oldestRun, oldestMsg sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM runs WHERE due_at <= ? AND lease_token IS NULL),
		(SELECT min(due_at) FROM runs WHERE due_at <= ? AND lease_token IS NULL),
		(SELECT count(*) FROM runs WHERE due_at > ? AND lease_token IS NULL) +
		(SELECT count(*) FROM messages WHERE due_at > ? AND lease_token IS NULL),
		(SELECT count(*) FROM runs WHERE due_at IS NOT NULL AND lease_token IS NOT NULL) +
		(SELECT count(*) FROM messages WHERE due_at IS NOT NULL AND lease_token IS NOT NULL),
		(SELECT min(due_at) FROM messages WHERE due_at <= ? AND lease_token IS NULL)`,
		n, n, n, n, n).Scan(&st.DueRuns, &oldestRun, &st.Scheduled, &st.Leased, &oldestMsg)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stats: %w", err)
	}
	for _, o := range []sql.NullInt64{oldestRun, oldestMsg} {
		if o.Valid && (st.OldestDue.IsZero() || fromNanos(o.Int64).Before(st.OldestDue)) {
			st.OldestDue = fromNanos(o.Int64)
		}
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT channel, count(*) FROM messages
		WHERE due_at <= ? AND lease_token IS NULL GROUP BY channel`, n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var k int64
		if err := rows.Scan(&c, &k); err != nil {
			return nil, fmt.Errorf("sqlite: stats: %w", err)
		}
		st.DueMessages[c] = k
	}
	return st, rows.Err()
}

// Prune implements store.Store. Each call is one short write, so a large
// backlog is pruned in slices between ingestion groups, never in one
// long transaction.
func (s *Store) Prune(ctx context.Context, before, keysBefore time.Time, limit int) (int, error) {
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		if _, err := tx.Exec(`UPDATE events SET idem_key = NULL WHERE idem_key IS NOT NULL
			AND id IN (SELECT id FROM events WHERE id < ? AND idem_key IS NOT NULL LIMIT ?)`,
			herald.MinIDAt(keysBefore), limit); err != nil {
			return fmt.Errorf("sqlite: prune keys: %w", err)
		}
		cut := nanos(before)
		for _, q := range []string{
			`DELETE FROM signals WHERE received_at < ?`,
			`DELETE FROM digest_items WHERE closes_at < ? AND NOT EXISTS (SELECT 1 FROM digests g
				WHERE g.rule = digest_items.rule AND g.step = digest_items.step AND g.leader = digest_items.leader AND g.closed = 0)`,
			`DELETE FROM digests WHERE closed = 1 AND closes_at < ?`,
		} {
			if _, err := tx.Exec(q, cut); err != nil {
				return fmt.Errorf("sqlite: prune: %w", err)
			}
		}
		// Hits left behind by a run that ended meanwhile (a cancel racing
		// an arriving event); the hits table stays small.
		if _, err := tx.Exec(`DELETE FROM hits WHERE NOT EXISTS (SELECT 1 FROM runs r
			WHERE r.id = hits.run_id AND r.status IN ('running', 'waiting'))`); err != nil {
			return fmt.Errorf("sqlite: prune hits: %w", err)
		}
		// Events old enough whose runs and messages are all settled, and
		// that no open digest group still holds.
		rows, err := tx.Query(`SELECT e.id FROM events e WHERE e.id < ?
			AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id
				AND (r.due_at IS NOT NULL OR r.status IN ('running','waiting')))
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.event_id = e.id AND m.due_at IS NOT NULL)
			AND NOT EXISTS (SELECT 1 FROM digest_items d JOIN digests g ON g.rule = d.rule AND g.step = d.step
				AND g.leader = d.leader WHERE d.event_id = e.id AND g.closed = 0)
			ORDER BY e.id LIMIT ?`, herald.MinIDAt(before), limit)
		if err != nil {
			return fmt.Errorf("sqlite: prune: %w", err)
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: prune: %w", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: prune: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		in := `(?` + strings.Repeat(",?", len(ids)-1) + `)`
		for _, q := range []string{
			`DELETE FROM attempts WHERE message_id IN (SELECT id FROM messages WHERE event_id IN ` + in + `)`,
			`DELETE FROM messages WHERE event_id IN ` + in,
			`DELETE FROM runs WHERE event_id IN ` + in,
			`DELETE FROM events WHERE id IN ` + in,
		} {
			if _, err := tx.Exec(q, ids...); err != nil {
				return fmt.Errorf("sqlite: prune: %w", err)
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}
