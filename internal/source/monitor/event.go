package monitor

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/source"
)

// event is the event of a state change. Its id is derived from when the
// new state began, so the same change is the same event in every process.
func (c *check) event(to string, r result) herald.Event {
	typ := TypeDown
	if to == stateUp {
		typ = TypeUp
	}
	data := map[string]any{
		"name":       c.cfg.Name,
		"url":        c.url,
		"status":     nil,
		"error":      r.err,
		"latency_ms": r.latency.Milliseconds(),
		"since":      c.streakSince.UTC().Format(time.RFC3339Nano),
	}
	if r.status != 0 {
		data["status"] = r.status
	}
	b, err := json.Marshal(data)
	if err != nil {
		panic(err) // strings and numbers always encode
	}
	return herald.Event{
		SpecID:          c.cfg.Name + "/" + to + "/" + strconv.FormatInt(c.streakSince.UnixMilli(), 10),
		Source:          source.Name(Kind, c.cfg.Name),
		Type:            typ,
		Subject:         c.cfg.Name,
		Time:            c.streakSince.UTC(),
		DataContentType: "application/json",
		Data:            b,
	}
}
