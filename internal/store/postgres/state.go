package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-notify/herald/internal/herald"
)

// GetState implements store.Store.
func (s *Store) GetState(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM state WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "no state under %q", key)
	}
	if err != nil {
		return nil, classify(err)
	}
	return v, nil
}

// PutState implements store.Store.
func (s *Store) PutState(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO state (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, value, nanos(time.Now()))
	if err != nil {
		return classify(fmt.Errorf("postgres: put state: %w", err))
	}
	return nil
}

// DeleteState implements store.Store.
func (s *Store) DeleteState(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM state WHERE key = $1`, key); err != nil {
		return classify(fmt.Errorf("postgres: delete state: %w", err))
	}
	return nil
}

// ListState implements store.Store.
func (s *Store) ListState(ctx context.Context, prefix string) (map[string][]byte, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value FROM state WHERE key >= $1 AND starts_with(key, $1)`, prefix)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, classify(fmt.Errorf("postgres: list state: %w", err))
		}
		out[k] = v
	}
	return out, classify(rows.Err())
}
