package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// Digest implements store.Store. An advisory lock on (rule, step, key)
// orders runs of any node reaching the same group, and the group's row is
// locked (FOR UPDATE) so CloseDigest cannot close it between a run's
// decision to join and its joining.
func (s *Store) Digest(ctx context.Context, d store.DigestJoin) (*store.DigestRole, error) {
	var role store.DigestRole
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockKeys(ctx, tx, []string{"digest\x1f" + d.Rule + "\x1f" + d.Step + "\x1f" + d.Key}); err != nil {
			return err
		}
		// Idempotent: a run asking again gets its earlier answer.
		var leader, was string
		var closes int64
		err := tx.QueryRow(ctx, `SELECT leader, closes_at, role FROM digest_items WHERE rule = $1 AND step = $2 AND run_id = $3`,
			d.Rule, d.Step, d.RunID).Scan(&leader, &closes, &was)
		if err == nil {
			role = store.DigestRole{Role: was, Leader: leader, ClosesAt: fromNanos(closes)}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: digest: %w", err)
		}
		now := nanos(d.Now)
		var closed bool
		var lastSent *int64
		err = tx.QueryRow(ctx, `SELECT leader, closes_at, closed, last_sent FROM digests
			WHERE rule = $1 AND step = $2 AND key = $3 FOR UPDATE`,
			d.Rule, d.Step, clean(d.Key)).Scan(&leader, &closes, &closed, &lastSent)
		exists := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: digest: %w", err)
		}
		if exists && !closed && closes > now {
			active, err := leaderActive(ctx, tx, leader)
			if err != nil {
				return err
			}
			if active {
				role = store.DigestRole{Role: store.DigestJoined, Leader: leader, ClosesAt: fromNanos(closes)}
				return digestItem(ctx, tx, d, leader, store.DigestJoined, closes)
			}
		}
		closesAt := nanos(d.ClosesAt)
		if d.Lookback {
			if !exists || lastSent == nil || now-*lastSent >= int64(d.Window) {
				// Nothing sent lately: this one goes out at once.
				role = store.DigestRole{Role: store.DigestPass, Leader: d.RunID, ClosesAt: d.Now}
				_, err := tx.Exec(ctx, `INSERT INTO digests (rule, step, key, leader, closes_at, closed, last_sent)
					VALUES ($1, $2, $3, $4, $5, true, $5) ON CONFLICT (rule, step, key) DO UPDATE SET
					leader = excluded.leader, closes_at = excluded.closes_at, closed = true, last_sent = excluded.last_sent`,
					d.Rule, d.Step, clean(d.Key), d.RunID, now)
				if err != nil {
					return fmt.Errorf("postgres: digest: %w", err)
				}
				return digestItem(ctx, tx, d, d.RunID, store.DigestPass, now)
			}
			closesAt = *lastSent + int64(d.Window)
		}
		role = store.DigestRole{Role: store.DigestLead, Leader: d.RunID, ClosesAt: fromNanos(closesAt)}
		if _, err := tx.Exec(ctx, `INSERT INTO digests (rule, step, key, leader, closes_at, closed, last_sent)
			VALUES ($1, $2, $3, $4, $5, false, $5) ON CONFLICT (rule, step, key) DO UPDATE SET
			leader = excluded.leader, closes_at = excluded.closes_at, closed = false, last_sent = excluded.last_sent`,
			d.Rule, d.Step, clean(d.Key), d.RunID, closesAt); err != nil {
			return fmt.Errorf("postgres: lead digest: %w", err)
		}
		return digestItem(ctx, tx, d, d.RunID, store.DigestLead, closesAt)
	})
	if err != nil {
		return nil, err
	}
	return &role, nil
}

// digestItem records where a run landed.
func digestItem(ctx context.Context, tx pgx.Tx, d store.DigestJoin, leader, role string, closes int64) error {
	if _, err := tx.Exec(ctx, `INSERT INTO digest_items (rule, step, run_id, leader, event_id, role, closes_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, d.Rule, d.Step, d.RunID, leader, d.EventID, role, closes); err != nil {
		return fmt.Errorf("postgres: digest item: %w", err)
	}
	return nil
}

// leaderActive reports whether a group's leader can still collect: a
// cancelled or failed leader would swallow the events that join it.
func leaderActive(ctx context.Context, tx pgx.Tx, leader string) (bool, error) {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM runs WHERE id = $1`, leader).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: digest leader: %w", err)
	}
	return status == string(herald.RunRunning) || status == string(herald.RunWaiting), nil
}

// CloseDigest implements store.Store.
func (s *Store) CloseDigest(ctx context.Context, rule, step, leader string) ([]herald.Event, error) {
	var out []herald.Event
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		if _, err := tx.Exec(ctx, `UPDATE digests SET closed = true WHERE rule = $1 AND step = $2 AND leader = $3`, rule, step, leader); err != nil {
			return fmt.Errorf("postgres: close digest: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT `+eventColsE+` FROM digest_items d
			JOIN events e ON e.id = d.event_id WHERE d.rule = $1 AND d.step = $2 AND d.leader = $3 AND d.role <> 'pass'
			ORDER BY e.id`, rule, step, leader)
		if err != nil {
			return fmt.Errorf("postgres: close digest: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			ev, err := scanEvent(rows)
			if err != nil {
				return fmt.Errorf("postgres: close digest: %w", err)
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
