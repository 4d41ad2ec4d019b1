package heartbeat

import (
	"encoding/json"

	"github.com/herald-notify/herald/internal/herald"
)

// eventScope is the "event" value a key template sees: the same fields
// rules' templates see (see docs/configuration.md, Conditions).
func eventScope(ev *herald.Event) map[string]any {
	var data any
	if len(ev.Data) > 0 {
		// Data that is not JSON (it always is: the decoder stores other
		// media as a JSON string) is offered as nil.
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			data = nil
		}
	}
	ext := ev.Extensions
	if ext == nil {
		ext = map[string]any{}
	}
	return map[string]any{
		"id":         ev.ID,
		"spec_id":    ev.SpecID,
		"type":       ev.Type,
		"source":     ev.Source,
		"subject":    ev.Subject,
		"time":       ev.Time,
		"data":       data,
		"extensions": ext,
	}
}
