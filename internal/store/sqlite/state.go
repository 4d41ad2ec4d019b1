package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

// GetState implements store.Store.
func (s *Store) GetState(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT value FROM state WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "no state under %q", key)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get state: %w", err)
	}
	return v, nil
}

// PutState implements store.Store.
func (s *Store) PutState(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, value, nanos(time.Now()))
		if err != nil {
			return fmt.Errorf("sqlite: put state: %w", err)
		}
		return nil
	})
}

// DeleteState implements store.Store.
func (s *Store) DeleteState(ctx context.Context, key string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM state WHERE key = ?`, key); err != nil {
			return fmt.Errorf("sqlite: delete state: %w", err)
		}
		return nil
	})
}

// ListState implements store.Store.
func (s *Store) ListState(ctx context.Context, prefix string) (map[string][]byte, error) {
	// A range scan on the primary key: prefix <= key < prefix+"\xff".
	rows, err := s.rdb.QueryContext(ctx, `SELECT key, value FROM state WHERE key >= ? AND key < ?`,
		prefix, prefix+"\xff")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list state: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("sqlite: list state: %w", err)
		}
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out, rows.Err()
}
