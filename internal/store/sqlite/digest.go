package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// Digest implements store.Store. Every decision happens inside one write
// transaction, and writes are serialised, so two runs can never both
// lead the same window nor join the wrong key's group.
func (s *Store) Digest(ctx context.Context, d store.DigestJoin) (*store.DigestRole, error) {
	var role store.DigestRole
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Idempotent: a run asking again gets its earlier answer.
		var leader string
		var closes int64
		err := tx.QueryRow(`SELECT leader, closes_at FROM digest_items WHERE run_id = ?`, d.RunID).Scan(&leader, &closes)
		if err == nil {
			role = store.DigestRole{Role: store.DigestJoined, Leader: leader, ClosesAt: fromNanos(closes)}
			if leader == d.RunID {
				role.Role = store.DigestLead
			}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: digest: %w", err)
		}
		now := nanos(d.Now)
		var closed int
		var lastSent sql.NullInt64
		err = tx.QueryRow(`SELECT leader, closes_at, closed, last_sent FROM digests WHERE rule = ? AND step = ? AND key = ?`,
			d.Rule, d.Step, d.Key).Scan(&leader, &closes, &closed, &lastSent)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: digest: %w", err)
		}
		if exists && closed == 0 && closes > now {
			role = store.DigestRole{Role: store.DigestJoined, Leader: leader, ClosesAt: fromNanos(closes)}
			_, err := tx.Exec(`INSERT INTO digest_items (leader, run_id, event_id, closes_at) VALUES (?, ?, ?, ?)`,
				leader, d.RunID, d.EventID, closes)
			if err != nil {
				return fmt.Errorf("sqlite: join digest: %w", err)
			}
			return nil
		}
		closesAt := nanos(d.ClosesAt)
		if d.Lookback {
			if !exists || !lastSent.Valid || now-lastSent.Int64 >= int64(d.Window) {
				// Nothing sent lately: this one goes out at once.
				role = store.DigestRole{Role: store.DigestPass, Leader: d.RunID, ClosesAt: d.Now}
				_, err := tx.Exec(`INSERT INTO digests (rule, step, key, leader, closes_at, closed, last_sent)
					VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (rule, step, key) DO UPDATE SET
					leader = excluded.leader, closes_at = excluded.closes_at, closed = 1, last_sent = excluded.last_sent`,
					d.Rule, d.Step, d.Key, d.RunID, now, now)
				if err != nil {
					return fmt.Errorf("sqlite: digest: %w", err)
				}
				return nil
			}
			closesAt = lastSent.Int64 + int64(d.Window)
		}
		role = store.DigestRole{Role: store.DigestLead, Leader: d.RunID, ClosesAt: fromNanos(closesAt)}
		if _, err := tx.Exec(`INSERT INTO digests (rule, step, key, leader, closes_at, closed, last_sent)
			VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (rule, step, key) DO UPDATE SET
			leader = excluded.leader, closes_at = excluded.closes_at, closed = 0, last_sent = excluded.last_sent`,
			d.Rule, d.Step, d.Key, d.RunID, closesAt, closesAt); err != nil {
			return fmt.Errorf("sqlite: lead digest: %w", err)
		}
		if _, err := tx.Exec(`INSERT INTO digest_items (leader, run_id, event_id, closes_at) VALUES (?, ?, ?, ?)`,
			d.RunID, d.RunID, d.EventID, closesAt); err != nil {
			return fmt.Errorf("sqlite: lead digest: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &role, nil
}

// CloseDigest implements store.Store.
func (s *Store) CloseDigest(ctx context.Context, leader string) ([]herald.Event, error) {
	var out []herald.Event
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		if _, err := tx.Exec(`UPDATE digests SET closed = 1 WHERE leader = ?`, leader); err != nil {
			return fmt.Errorf("sqlite: close digest: %w", err)
		}
		rows, err := tx.Query(`SELECT `+prefixed("e.", eventCols)+` FROM digest_items d
			JOIN events e ON e.id = d.event_id WHERE d.leader = ? ORDER BY e.id`, leader)
		if err != nil {
			return fmt.Errorf("sqlite: close digest: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			ev, err := getEvent(rows)
			if err != nil {
				return fmt.Errorf("sqlite: close digest: %w", err)
			}
			out = append(out, *ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
