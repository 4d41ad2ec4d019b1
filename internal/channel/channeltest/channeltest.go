// Package channeltest is the conformance kit every channel adapter's tests
// run: the same HTTP answers must lead to the same error classes, no secret
// may leak into an error, and a canceled or expired context must end a
// send promptly with a retryable error.
//
// An adapter test describes its provider once and calls the kit:
//
//	func TestConformance(t *testing.T) {
//		channeltest.Run(t, channeltest.Provider{
//			NewSender: func(t *testing.T, url string) channel.Sender { ... },
//			Secrets:   []string{"the-token"},
//		})
//	}
package channeltest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/herald-notify/herald/internal/channel"
)

// Provider describes the adapter under test.
type Provider struct {
	// NewSender returns a sender whose provider endpoint is url, an
	// httptest server standing in for the provider. It must configure
	// the sender with every value listed in Secrets.
	NewSender func(t *testing.T, url string) channel.Sender
	// Message returns the message each case sends; nil means Message().
	Message func() *channel.Message
	// Respond writes the provider's answer for an HTTP status the kit
	// simulates (headers such as Retry-After are already set); nil writes
	// the status with its text as the body. Providers whose success
	// answers carry a required body (an "ok" field, a message id) set it.
	Respond func(w http.ResponseWriter, r *http.Request, status int)
	// Secrets are values (tokens, passwords, signing keys) that must not
	// appear in any error text.
	Secrets []string
}

// Message returns a typical message: an id, an idempotency key, event
// attributes, a recipient and text content.
func Message() *channel.Message {
	return &channel.Message{
		ID:             "0195f1c2-7a3b-7c00-9d1e-000000000001",
		IdempotencyKey: "0195f1c2-7a3b-7c00-9d1e-000000000001",
		Attempt:        1,
		EventType:      "order.paid",
		EventID:        "0195f1c2-7a3b-7c00-9d1e-0000000000e1",
		Key:            "shop/order-1001",
		To:             "recipient-1",
		Content: channel.Content{
			Subject: "Order 1001 paid",
			Text:    "Order 1001 was paid: 42.00 EUR.",
		},
	}
}

// Run runs every conformance test of the kit.
func Run(t *testing.T, p Provider) {
	t.Helper()
	t.Run("HTTPClassification", func(t *testing.T) { TestHTTPClassification(t, p) })
	t.Run("Redaction", func(t *testing.T) { TestRedaction(t, p) })
	t.Run("ContextCancel", func(t *testing.T) { TestContextCancel(t, p) })
	t.Run("LengthLimit", func(t *testing.T) { TestLengthLimit(t, p) })
}

func (p Provider) message() *channel.Message {
	if p.Message != nil {
		return p.Message()
	}
	return Message()
}

func (p Provider) respond(w http.ResponseWriter, r *http.Request, status int) {
	if p.Respond != nil {
		p.Respond(w, r, status)
		return
	}
	w.WriteHeader(status)
	io.WriteString(w, http.StatusText(status))
}

// classOf returns the class of err as the engine sees it: an error that is
// not a *channel.Error counts as retryable.
func classOf(err error) (channel.Class, *channel.Error) {
	var ce *channel.Error
	if errors.As(err, &ce) {
		return ce.Class, ce
	}
	return channel.ClassRetryable, nil
}

// ManualContext is a context the test ends by hand, so that an expired
// deadline or a cancellation happens at a chosen moment (say, once the
// request reached the provider) instead of after a wall-clock wait.
type ManualContext struct {
	context.Context
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	err  error
}

// NewManualContext returns a ManualContext with parent's values (and
// parent's deadline, which the test should leave unset).
func NewManualContext(parent context.Context) *ManualContext {
	return &ManualContext{Context: parent, done: make(chan struct{})}
}

// Done implements context.Context.
func (c *ManualContext) Done() <-chan struct{} { return c.done }

// Err implements context.Context.
func (c *ManualContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// End ends the context with err: context.DeadlineExceeded to simulate an
// expired deadline, context.Canceled for a cancellation. Later calls do
// nothing.
func (c *ManualContext) End(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	})
}
