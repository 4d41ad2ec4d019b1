package herald

import (
	"encoding/json"
	"time"
)

// MessageStatus is where a message is in its life.
type MessageStatus string

// Message statuses. "sending" is not stored: it is derived from a pending
// or failed message whose delivery lease is held.
const (
	MessagePending    MessageStatus = "pending"
	MessageSending    MessageStatus = "sending"
	MessageSent       MessageStatus = "sent"
	MessageDelivered  MessageStatus = "delivered"
	MessageFailed     MessageStatus = "failed"
	MessageDead       MessageStatus = "dead"
	MessageSuppressed MessageStatus = "suppressed"
)

// Final reports whether no further delivery attempt will be made without
// an explicit retry.
func (s MessageStatus) Final() bool {
	switch s {
	case MessageSent, MessageDelivered, MessageDead, MessageSuppressed:
		return true
	}
	return false
}

// ValidMessageStatus reports whether s names a message status.
func ValidMessageStatus(s string) bool {
	switch MessageStatus(s) {
	case MessagePending, MessageSending, MessageSent, MessageDelivered,
		MessageFailed, MessageDead, MessageSuppressed:
		return true
	}
	return false
}

// Priority orders delivery work within a channel: higher goes first.
type Priority int

// Priorities.
const (
	PriorityLow    Priority = -1
	PriorityNormal Priority = 0
	PriorityHigh   Priority = 1
)

// Message is one message to one recipient over one channel, or one call of
// a webhook step. Its rendered content is fixed when it is created, so a
// retry sends exactly what the first attempt sent.
type Message struct {
	ID      string `json:"id"`
	EventID string `json:"event_id,omitempty"`
	RunID   string `json:"run_id,omitempty"`
	// Step is the index of the step that created the message in its run.
	Step     int    `json:"step"`
	StepName string `json:"step_name,omitempty"`
	Channel  string `json:"channel"`
	// Recipient is the address (email, URL, chat id) the message goes to.
	Recipient string        `json:"recipient,omitempty"`
	Key       string        `json:"key,omitempty"`
	Priority  Priority      `json:"priority"`
	Status    MessageStatus `json:"status"`
	// Content is the rendered message (see channel.Content), as JSON.
	Content json.RawMessage `json:"content,omitempty"`
	// Attempts is the number of delivery attempts made so far.
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"max_attempts"`
	ProviderID  string    `json:"provider_id,omitempty"`
	Error       string    `json:"error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// DueAt is when the next attempt is due; zero when none is scheduled.
	DueAt time.Time `json:"due_at,omitzero"`
	// Blocking marks a message whose run waits for its outcome (a webhook
	// step whose response later steps may use).
	Blocking bool `json:"blocking,omitempty"`
}

// Outcome is the result class of one delivery attempt.
type Outcome string

// Attempt outcomes.
const (
	OutcomeSent       Outcome = "sent"      // the provider accepted it
	OutcomeRetry      Outcome = "retry"     // failed, will be retried
	OutcomePermanent  Outcome = "permanent" // failed, not retryable
	OutcomeExhausted  Outcome = "exhausted" // failed, no attempts left
	OutcomeRenderFail Outcome = "render"    // content could not be built
)

// Attempt is one try at delivering a message.
type Attempt struct {
	ID         string        `json:"id"`
	MessageID  string        `json:"message_id"`
	Number     int           `json:"number"`
	StartedAt  time.Time     `json:"started_at"`
	Duration   time.Duration `json:"duration_ns"`
	Outcome    Outcome       `json:"outcome"`
	StatusCode int           `json:"status_code,omitempty"`
	Error      string        `json:"error,omitempty"`
	ProviderID string        `json:"provider_id,omitempty"`
	// Response is an excerpt of the provider's answer (up to 64 KiB).
	Response string `json:"response,omitempty"`
}
