// Package channel defines the contract between Herald's delivery engine and
// the providers it sends through: the Sender interface, the rendered
// message it receives, the receipt it returns, and the error classes that
// decide whether a failed attempt is retried.
//
// Each provider lives in its own subpackage and imports only this package
// (and the herald domain package). Adapters never touch the store or the
// queue: they turn one Message into one provider call and classify the
// outcome.
package channel

import (
	"context"
	"encoding/json"
	"time"
)

// Sender delivers one message through one configured channel.
//
// Send must honour ctx (its deadline is the attempt timeout), must not
// retry by itself (the engine owns retries, backoff and the ledger), and
// must return an *Error (via Retryable, Permanent or RetryAfter) for every
// failure so the engine can classify it; an unclassified error is treated
// as retryable.
type Sender interface {
	Send(ctx context.Context, m *Message) (*Receipt, error)
}

// Describer is implemented by senders that can tell what they can do.
type Describer interface {
	Capabilities() Capabilities
}

// Capabilities says what a channel supports, so the engine and the
// templates can adapt (split long text, update an earlier message, ...).
type Capabilities struct {
	// MaxLength is the longest text the provider accepts in one message
	// (in runes); 0 means no practical limit.
	MaxLength int `json:"max_length,omitempty"`
	// Split is true when a long text may be sent as several parts.
	Split bool `json:"split,omitempty"`
	// HTML is true when the channel renders an HTML body.
	HTML bool `json:"html,omitempty"`
	// Subject is true when the channel shows a subject or title.
	Subject bool `json:"subject,omitempty"`
	// Update is true when a later message with the same correlation key
	// can update or resolve an earlier one (see Message.PreviousIDs).
	Update bool `json:"update,omitempty"`
	// Receipts is true when the provider later reports delivery or reads.
	Receipts bool `json:"receipts,omitempty"`
}

// Message is a rendered message ready to be sent: everything template
// rendering produced, plus the identifiers a provider call needs.
type Message struct {
	// ID is Herald's message id; it is stable across attempts.
	ID string
	// IdempotencyKey is stable across attempts of the same message and is
	// sent to receivers that honour one (Idempotency-Key, webhook-id).
	IdempotencyKey string
	// Attempt is the 1-based number of this attempt.
	Attempt int
	// EventType and EventID identify the event the message is about.
	EventType string
	EventID   string
	// Key is the correlation key of the run that created the message.
	Key string
	// PreviousIDs are provider message ids of earlier messages with the
	// same correlation key on the same channel, newest first, so a
	// channel that supports it can update or resolve them.
	PreviousIDs []string
	// To is the recipient's address on this channel (an email address, a
	// chat id, a URL); empty when the channel has a fixed destination.
	To string
	Content
}

// Content is what templates render for a message. It is stored with the
// message as JSON, so a retry sends exactly what the first attempt sent.
type Content struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text,omitempty"`
	HTML    string `json:"html,omitempty"`
	// Parts is Text split into pieces that each fit the channel's
	// MaxLength; empty when Text fits in one message.
	Parts []string `json:"parts,omitempty"`
	// Data is a structured JSON payload (the body of a webhook, fields a
	// chat card uses); providers that post JSON send it as the body.
	Data json.RawMessage `json:"data,omitempty"`
	// Request, when set, is a complete HTTP request (a webhook step):
	// method, URL, headers and body, all rendered.
	Request *Request `json:"request,omitempty"`
	// Priority is a hint for channels with their own priority notion.
	Priority int `json:"priority,omitempty"`
}

// Request is a rendered HTTP call made by a webhook step.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// Receipt is what a provider said when it accepted a message.
type Receipt struct {
	// ProviderID is the provider's id for the message, if it gave one.
	ProviderID string
	// StatusCode is the HTTP (or SMTP) status of the accepting response.
	StatusCode int
	// Response is an excerpt of the provider's response body (at most
	// MaxResponse bytes), kept on the attempt and, when it is JSON,
	// offered to later steps of the run.
	Response []byte
	// Delivered is true when acceptance already means delivery (the
	// provider has no later receipt).
	Delivered bool
}

// MaxResponse is the most of a provider's response body kept on an attempt.
const MaxResponse = 64 << 10

// Class says what the engine should do after a failed attempt.
type Class int

// Error classes.
const (
	// ClassRetryable: a transient failure (5xx, timeout, connection
	// refused); retry with exponential backoff.
	ClassRetryable Class = iota
	// ClassPermanent: retrying cannot help (4xx other than 408 and 429,
	// bad credentials, rejected payload); the message is dead at once.
	ClassPermanent
	// ClassRetryAfter: the provider asked to wait (429, 503 with
	// Retry-After, a provider-specific rate-limit answer); retry after
	// Error.After.
	ClassRetryAfter
)

// String returns the class name used in logs and metric labels.
func (c Class) String() string {
	switch c {
	case ClassPermanent:
		return "permanent"
	case ClassRetryAfter:
		return "retry_after"
	default:
		return "retryable"
	}
}

// Error is a classified delivery failure.
type Error struct {
	Class Class
	// After is how long the provider asked us to wait (ClassRetryAfter).
	After time.Duration
	// StatusCode is the provider's HTTP or SMTP status, if any.
	StatusCode int
	// Reason is a short machine-friendly label ("http_500", "timeout",
	// "auth") used as a metric label.
	Reason string
	// Response is an excerpt of the provider's error response.
	Response []byte
	// Err is the underlying error. Its text must not contain secrets:
	// adapters redact tokens and passwords before wrapping.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Class.String() + ": " + e.Reason
	}
	return e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ReasonCircuitOpen is the Reason of a RetryAfter error that says the
// message was not sent at all because every provider is paused (a
// failover channel's circuits): the engine postpones the message without
// counting an attempt.
const ReasonCircuitOpen = "all_circuits_open"

// Retryable wraps err as a transient failure.
func Retryable(reason string, status int, err error) *Error {
	return &Error{Class: ClassRetryable, Reason: reason, StatusCode: status, Err: err}
}

// Permanent wraps err as a failure that retrying cannot fix.
func Permanent(reason string, status int, err error) *Error {
	return &Error{Class: ClassPermanent, Reason: reason, StatusCode: status, Err: err}
}

// RetryAfter wraps err as a request from the provider to retry after d.
func RetryAfter(reason string, status int, d time.Duration, err error) *Error {
	return &Error{Class: ClassRetryAfter, Reason: reason, StatusCode: status, After: d, Err: err}
}

// Secret is a string that never prints: fmt, logs and JSON show "<secret>".
// Settings structs use it for passwords and tokens.
type Secret string

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// GoString implements fmt.GoStringer so %#v does not leak the value.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Value returns the secret itself, for the code that must use it.
func (s Secret) Value() string { return string(s) }
