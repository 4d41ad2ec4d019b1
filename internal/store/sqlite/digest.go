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
		var was string
		err := tx.QueryRow(`SELECT leader, closes_at, role FROM digest_items WHERE rule = ? AND step = ? AND run_id = ?`,
			d.Rule, d.Step, d.RunID).Scan(&leader, &closes, &was)
		if err == nil {
			role = store.DigestRole{Role: was, Leader: leader, ClosesAt: fromNanos(closes)}
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
		if exists && closed == 0 && closes > now && s.leaderActive(tx, leader) {
			role = store.DigestRole{Role: store.DigestJoined, Leader: leader, ClosesAt: fromNanos(closes)}
			return s.digestItem(tx, d, leader, store.DigestJoined, closes)
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
				return s.digestItem(tx, d, d.RunID, store.DigestPass, now)
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
		return s.digestItem(tx, d, d.RunID, store.DigestLead, closesAt)
	})
	if err != nil {
		return nil, err
	}
	return &role, nil
}

// digestItem records where a run landed.
func (s *Store) digestItem(tx *sql.Tx, d store.DigestJoin, leader, role string, closes int64) error {
	if _, err := tx.Exec(`INSERT INTO digest_items (rule, step, run_id, leader, event_id, role, closes_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, d.Rule, d.Step, d.RunID, leader, d.EventID, role, closes); err != nil {
		return fmt.Errorf("sqlite: digest item: %w", err)
	}
	return nil
}

// leaderActive reports whether a group's leader can still collect: a
// cancelled or failed leader would swallow the events that join it.
func (s *Store) leaderActive(tx *sql.Tx, leader string) bool {
	var status string
	err := tx.QueryRow(`SELECT status FROM runs WHERE id = ?`, leader).Scan(&status)
	return err == nil && (status == string(herald.RunRunning) || status == string(herald.RunWaiting))
}

// CloseDigest implements store.Store.
func (s *Store) CloseDigest(ctx context.Context, rule, step, leader string) ([]herald.Event, error) {
	var out []herald.Event
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		if _, err := tx.Exec(`UPDATE digests SET closed = 1 WHERE rule = ? AND step = ? AND leader = ?`, rule, step, leader); err != nil {
			return fmt.Errorf("sqlite: close digest: %w", err)
		}
		rows, err := tx.Query(`SELECT `+prefixed("e.", eventCols)+` FROM digest_items d
			JOIN events e ON e.id = d.event_id WHERE d.rule = ? AND d.step = ? AND d.leader = ? AND d.role <> 'pass'
			ORDER BY e.id`, rule, step, leader)
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
