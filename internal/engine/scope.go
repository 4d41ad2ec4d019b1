package engine

import (
	"encoding/json"

	"github.com/herald-notify/herald/internal/herald"
)

// eventScope is the "event" value templates and conditions see.
func eventScope(ev *herald.Event) map[string]any {
	m := map[string]any{
		"id":      ev.ID,
		"spec_id": ev.SpecID,
		"type":    ev.Type,
		"source":  ev.Source,
		"subject": ev.Subject,
		"time":    ev.Time,
		"data":    decodeData(ev.Data),
	}
	if len(ev.Extensions) > 0 {
		m["extensions"] = ev.Extensions
	} else {
		m["extensions"] = map[string]any{}
	}
	return m
}

// decodeData decodes event data for templates; data that is not JSON
// (it always is: the decoder stores other media as a JSON string) is
// offered as nil.
func decodeData(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	return v
}

// runState is the durable state of a run: what its steps produced.
type runState struct {
	Steps map[string]any `json:"steps"`
	// Digest is what the last digest step collected: {"events": [...],
	// "count": n}, offered to templates as .digest.
	Digest map[string]any `json:"digest,omitempty"`
}

func decodeState(raw json.RawMessage) (*runState, error) {
	st := &runState{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, st); err != nil {
			return nil, err
		}
	}
	if st.Steps == nil {
		st.Steps = map[string]any{}
	}
	return st, nil
}

// scope is the data every template and condition of a run sees.
func scope(ev map[string]any, run *herald.Run, st *runState) map[string]any {
	return map[string]any{
		"event": ev,
		"run": map[string]any{
			"id":       run.ID,
			"rule":     run.Rule,
			"key":      run.Key,
			"event":    ev,
			"acked":    !run.AckedAt.IsZero(),
			"acked_by": run.AckedBy,
		},
		"steps":  st.Steps,
		"digest": st.Digest,
	}
}
