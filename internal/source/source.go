// Package source holds what Herald's own event sources share: schedules
// (cron), heartbeats (an expected event that stops arriving) and monitors
// (HTTP checks) live in its subpackages and use the small contracts here
// to emit events, keep durable state and run their timers.
//
// Every event a source emits carries source "herald:<kind>/<name>" and a
// CloudEvents id derived from what caused it (a schedule's tick, a
// monitor's state change), never from a random number: the store drops a
// repeated source+id, so a tick emitted twice — by a retry after a crash,
// or later by two nodes — starts its runs once.
package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/herald-notify/herald/internal/herald"
)

// Emitter durably accepts the events a source produces: it returns nil
// once they are committed (a repeated source+id counts as accepted).
// The engine's Accept, adapted by the composition root, is one.
type Emitter interface {
	Emit(ctx context.Context, events []herald.Event) error
}

// EmitFunc adapts a function to Emitter.
type EmitFunc func(ctx context.Context, events []herald.Event) error

// Emit calls f.
func (f EmitFunc) Emit(ctx context.Context, events []herald.Event) error { return f(ctx, events) }

// State is the durable key/value state sources keep between restarts;
// the store implements it. GetState returns a herald.ENOTFOUND error for
// a key never written.
type State interface {
	GetState(ctx context.Context, key string) ([]byte, error)
	PutState(ctx context.Context, key string, value []byte) error
	ListState(ctx context.Context, prefix string) (map[string][]byte, error)
}

// Name returns the CloudEvents source of a source's events:
// "herald:schedule/nightly".
func Name(kind, name string) string { return "herald:" + kind + "/" + name }

// StateKey returns the state key of one source: "schedule/nightly".
func StateKey(kind, name string) string { return kind + "/" + name }

// NotFound reports whether err says that a state key does not exist.
func NotFound(err error) bool {
	var e *herald.Error
	return errors.As(err, &e) && e.Code == herald.ENOTFOUND
}

// GetJSON decodes the JSON state under key into v; found is false when
// there is none.
func GetJSON(ctx context.Context, st State, key string, v any) (found bool, err error) {
	b, err := st.GetState(ctx, key)
	if NotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode state %s: %w", key, err)
	}
	return true, nil
}

// PutJSON stores v as JSON under key.
func PutJSON(ctx context.Context, st State, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state %s: %w", key, err)
	}
	if err := st.PutState(ctx, key, b); err != nil {
		return fmt.Errorf("write state %s: %w", key, err)
	}
	return nil
}
