package herald

import (
	"encoding/json"
	"time"
)

// Event is a fact that happened, in the CloudEvents 1.0 envelope, plus the
// attributes Herald adds when it accepts it.
type Event struct {
	// ID is Herald's own time-ordered id for the event.
	ID string `json:"id"`
	// SpecID is the producer's CloudEvents "id"; with Source it is the
	// idempotency key of the event.
	SpecID          string          `json:"spec_id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	// Extensions holds CloudEvents extension attributes (string, number or
	// bool values) by their lower-case names.
	Extensions map[string]any `json:"extensions,omitempty"`

	// IdempotencyKey is the client's Idempotency-Key header, if any.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// ReceivedAt is when Herald accepted the event (UTC).
	ReceivedAt time.Time `json:"received_at"`
	// ParentID is the event whose run emitted this one, for "emit" chains.
	ParentID string `json:"parent_id,omitempty"`
	// Chain lists the event types from the root event of an emit chain
	// down to this one's parent, so loops are detected without a lookup.
	Chain []string `json:"chain,omitempty"`
}

// DedupKey returns the producer key (source and id) used to recognise a
// repeated event.
func (e *Event) DedupKey() string { return e.Source + "\x00" + e.SpecID }
