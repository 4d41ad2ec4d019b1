package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

const attemptCols = `message_id, id, number, started_at, duration, outcome, status_code, error,
	provider_id, response`

// GetEvent implements store.Store. It reads in one REPEATABLE READ
// transaction so the event, runs, messages and attempts are one snapshot.
func (s *Store) GetEvent(ctx context.Context, id string) (*store.EventView, error) {
	var v *store.EventView
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		ev, err := scanEvent(tx.QueryRow(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return herald.Errorf(herald.ENOTFOUND, "event %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: get event: %w", err)
		}
		v = &store.EventView{Event: *ev}
		rows, err := tx.Query(ctx, `SELECT `+runCols+` FROM runs WHERE event_id = $1 ORDER BY id`, id)
		if err != nil {
			return fmt.Errorf("postgres: get event runs: %w", err)
		}
		for rows.Next() {
			r := new(herald.Run)
			if err := scanRun(rows, r); err != nil {
				rows.Close()
				return err
			}
			v.Runs = append(v.Runs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: get event runs: %w", err)
		}
		now := time.Now()
		rows, err = tx.Query(ctx, `SELECT `+msgCols+` FROM messages WHERE event_id = $1 ORDER BY id`, id)
		if err != nil {
			return fmt.Errorf("postgres: get event messages: %w", err)
		}
		var ids []string
		byID := map[string]*store.MessageView{}
		for rows.Next() {
			m := new(store.MessageView)
			token, err := scanMessage(rows, &m.Message, nil)
			if err != nil {
				rows.Close()
				return err
			}
			store.DeriveSending(&m.Message, token, now)
			v.Messages = append(v.Messages, m)
			byID[m.ID] = m
			ids = append(ids, m.ID)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: get event messages: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		atts, err := listAttempts(ctx, tx, `message_id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		for _, a := range atts {
			if m := byID[a.MessageID]; m != nil {
				m.AttemptList = append(m.AttemptList, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, classify(err)
	}
	return v, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func listAttempts(ctx context.Context, q querier, where string, arg any) ([]*herald.Attempt, error) {
	rows, err := q.Query(ctx, `SELECT `+attemptCols+` FROM attempts WHERE `+where+` ORDER BY message_id, id`, arg)
	if err != nil {
		return nil, fmt.Errorf("postgres: list attempts: %w", err)
	}
	defer rows.Close()
	var out []*herald.Attempt
	for rows.Next() {
		a := new(herald.Attempt)
		var started, dur int64
		var outcome string
		var errText, provider, resp *string
		if err := rows.Scan(&a.MessageID, &a.ID, &a.Number, &started, &dur, &outcome,
			&a.StatusCode, &errText, &provider, &resp); err != nil {
			return nil, fmt.Errorf("postgres: scan attempt: %w", err)
		}
		a.StartedAt = fromNanos(started)
		a.Duration = time.Duration(dur)
		a.Outcome = herald.Outcome(outcome)
		a.Error = str(errText)
		a.ProviderID = str(provider)
		a.Response = str(resp)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list attempts: %w", err)
	}
	return out, nil
}

// GetMessage implements store.Store.
func (s *Store) GetMessage(ctx context.Context, id string) (*herald.Message, []*herald.Attempt, error) {
	m := new(herald.Message)
	token, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+msgCols+` FROM messages WHERE id = $1`, id), m, nil)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, herald.Errorf(herald.ENOTFOUND, "message %s not found", id)
	}
	if err != nil {
		return nil, nil, err
	}
	store.DeriveSending(m, token, time.Now())
	atts, err := listAttempts(ctx, s.pool, `message_id = $1`, id)
	if err != nil {
		return nil, nil, classify(err)
	}
	return m, atts, nil
}

// ListMessages implements store.Store. Pages go newest first; the cursor
// is the last id of the previous page.
func (s *Store) ListMessages(ctx context.Context, f store.MessageFilter) ([]*herald.Message, string, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + itoa(len(args))
	}
	switch f.Status {
	case "":
	case herald.MessageSending:
		where = append(where, `status IN ('pending','failed') AND lease_token IS NOT NULL AND due_at > `+arg(nanos(f.Now)))
	case herald.MessagePending, herald.MessageFailed:
		where = append(where, `status = `+arg(string(f.Status))+` AND (lease_token IS NULL OR due_at <= `+arg(nanos(f.Now))+`)`)
	default:
		where = append(where, `status = `+arg(string(f.Status)))
	}
	if f.Channel != "" {
		where = append(where, `channel = `+arg(f.Channel))
	}
	if f.EventID != "" {
		where = append(where, `event_id = `+arg(f.EventID))
	}
	if !f.Since.IsZero() {
		where = append(where, `created_at >= `+arg(nanos(f.Since)))
	}
	if f.Cursor != "" {
		last, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || !herald.ValidID(string(last)) {
			return nil, "", herald.Errorf(herald.EINVALID, "invalid cursor %q", f.Cursor)
		}
		where = append(where, `id < `+arg(string(last)))
	}
	q := `SELECT ` + msgCols + ` FROM messages`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id DESC LIMIT ` + arg(f.Limit+1)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", classify(err)
	}
	defer rows.Close()
	var out []*herald.Message
	for rows.Next() {
		m := new(herald.Message)
		token, err := scanMessage(rows, m, nil)
		if err != nil {
			return nil, "", err
		}
		store.DeriveSending(m, token, f.Now)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", classify(err)
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
	rows, err := s.pool.Query(ctx, `SELECT provider_id FROM messages
		WHERE channel = $1 AND key = $2 AND provider_id IS NOT NULL AND key <> ''
		ORDER BY id DESC LIMIT $3`, channel, clean(key), limit)
	if err != nil {
		return nil, classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, classify(err)
}

// SaveConfig implements store.Store.
func (s *Store) SaveConfig(ctx context.Context, version string, sources []store.ConfigSource) error {
	b, err := json.Marshal(sources)
	if err != nil {
		return fmt.Errorf("postgres: save config: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO configs (version, created_at, sources) VALUES ($1, $2, $3)
		ON CONFLICT (version) DO NOTHING`, version, nanos(time.Now()), string(b))
	return classify(err)
}

// LoadConfig implements store.Store.
func (s *Store) LoadConfig(ctx context.Context, version string) ([]store.ConfigSource, error) {
	var b string
	err := s.pool.QueryRow(ctx, `SELECT sources FROM configs WHERE version = $1`, version).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "configuration version %s not stored", version)
	}
	if err != nil {
		return nil, classify(err)
	}
	var srcs []store.ConfigSource
	if err := json.Unmarshal([]byte(b), &srcs); err != nil {
		return nil, fmt.Errorf("postgres: load config: %w", err)
	}
	return srcs, nil
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context, now time.Time) (*store.Stats, error) {
	st := &store.Stats{DueMessages: map[string]int64{}}
	n := nanos(now)
	var oldestRun, oldestMsg *int64
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM runs WHERE due_at <= $1 AND lease_token IS NULL),
		(SELECT min(due_at) FROM runs WHERE due_at <= $1 AND lease_token IS NULL),
		(SELECT count(*) FROM runs WHERE due_at > $1 AND lease_token IS NULL) +
		(SELECT count(*) FROM messages WHERE due_at > $1 AND lease_token IS NULL),
		(SELECT count(*) FROM runs WHERE due_at IS NOT NULL AND lease_token IS NOT NULL) +
		(SELECT count(*) FROM messages WHERE due_at IS NOT NULL AND lease_token IS NOT NULL),
		(SELECT min(due_at) FROM messages WHERE due_at <= $1 AND lease_token IS NULL)`,
		n).Scan(&st.DueRuns, &oldestRun, &st.Scheduled, &st.Leased, &oldestMsg)
	if err != nil {
		return nil, classify(err)
	}
	for _, o := range []*int64{oldestRun, oldestMsg} {
		if o != nil && (st.OldestDue.IsZero() || fromNanos(*o).Before(st.OldestDue)) {
			st.OldestDue = fromNanos(*o)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT channel, count(*) FROM messages
		WHERE due_at <= $1 AND lease_token IS NULL GROUP BY channel`, n)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var k int64
		if err := rows.Scan(&c, &k); err != nil {
			return nil, classify(err)
		}
		st.DueMessages[c] = k
	}
	return st, classify(rows.Err())
}

// Prune implements store.Store. Each call is one short transaction.
func (s *Store) Prune(ctx context.Context, before, keysBefore time.Time, limit int) (int, error) {
	var n int
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		if _, err := tx.Exec(ctx, `UPDATE events SET idem_key = NULL WHERE id IN
			(SELECT id FROM events WHERE id < $1 AND idem_key IS NOT NULL LIMIT $2)`,
			herald.MinIDAt(keysBefore), limit); err != nil {
			return fmt.Errorf("postgres: prune keys: %w", err)
		}
		cut := nanos(before)
		for _, q := range []string{
			`DELETE FROM signals WHERE received_at < $1`,
			`DELETE FROM digest_items WHERE closes_at < $1 AND NOT EXISTS (SELECT 1 FROM digests g
				WHERE g.rule = digest_items.rule AND g.step = digest_items.step AND g.leader = digest_items.leader AND NOT g.closed)`,
			`DELETE FROM digests WHERE closed AND closes_at < $1`,
		} {
			if _, err := tx.Exec(ctx, q, cut); err != nil {
				return fmt.Errorf("postgres: prune: %w", err)
			}
		}
		// Hits left behind by a run that ended meanwhile (a cancel racing
		// an arriving event); the hits table stays small.
		if _, err := tx.Exec(ctx, `DELETE FROM hits WHERE NOT EXISTS (SELECT 1 FROM runs r
			WHERE r.id = hits.run_id AND r.status IN ('running', 'waiting'))`); err != nil {
			return fmt.Errorf("postgres: prune hits: %w", err)
		}
		// Events old enough whose runs and messages are all settled, and
		// that no open digest group still holds.
		rows, err := tx.Query(ctx, `SELECT e.id FROM events e WHERE e.id < $1
			AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id
				AND (r.due_at IS NOT NULL OR r.status IN ('running','waiting')))
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.event_id = e.id AND m.due_at IS NOT NULL)
			AND NOT EXISTS (SELECT 1 FROM digest_items d JOIN digests g ON g.rule = d.rule AND g.step = d.step
				AND g.leader = d.leader WHERE d.event_id = e.id AND NOT g.closed)
			ORDER BY e.id LIMIT $2 FOR UPDATE SKIP LOCKED`, herald.MinIDAt(before), limit)
		if err != nil {
			return fmt.Errorf("postgres: prune: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("postgres: prune: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		for _, q := range []string{
			`DELETE FROM attempts WHERE message_id IN (SELECT id FROM messages WHERE event_id = ANY($1))`,
			`DELETE FROM messages WHERE event_id = ANY($1)`,
			`DELETE FROM runs WHERE event_id = ANY($1)`,
			`DELETE FROM events WHERE id = ANY($1)`,
		} {
			if _, err := tx.Exec(ctx, q, ids); err != nil {
				return fmt.Errorf("postgres: prune: %w", err)
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}
