// Package webhook delivers messages as HTTP requests: a JSON POST to a
// configured URL (the webhook channel), or the complete request a webhook
// step rendered (method, URL, headers and body).
//
// Every request carries an Idempotency-Key and the Standard Webhooks
// headers (webhook-id, webhook-timestamp and, with a secret,
// webhook-signature), so receivers can drop repeated attempts and verify
// that the call came from Herald. See https://www.standardwebhooks.com.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/herald-notify/herald/internal/channel"
)

// Header names the sender sets on every request.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderWebhookID      = "Webhook-Id"
	HeaderWebhookTime    = "Webhook-Timestamp"
	HeaderWebhookSig     = "Webhook-Signature"
)

// UserAgent is the User-Agent of every request.
const UserAgent = "Herald"

// Sender posts messages to a webhook. It is safe for concurrent use.
type Sender struct {
	method string
	target *url.URL    // nil: every message carries its Request
	header http.Header // Content-Type, User-Agent and the settings' headers
	signer *signer     // nil: requests are not signed
	// secretText is the configured secret, scrubbed from error text.
	secretText string
	client     *http.Client
	timeout    time.Duration
	now        func() time.Time
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		s = &Settings{}
	}
	if client == nil {
		return nil, errors.New("webhook: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	w := &Sender{
		method:  http.MethodPost,
		header:  make(http.Header, len(s.Headers)+2),
		client:  client,
		timeout: s.Timeout,
		now:     time.Now,
	}
	if s.Method != "" {
		w.method = s.Method
	}
	if s.URL != "" {
		u, err := parseTarget(s.URL)
		if err != nil {
			return nil, fmt.Errorf("webhook: url: %w", err)
		}
		w.target = u
	}
	w.header.Set("Content-Type", "application/json")
	w.header.Set("User-Agent", UserAgent)
	for k, v := range s.Headers {
		w.header.Set(k, v)
	}
	key, err := DecodeSecret(s.Secret.Value())
	if err != nil {
		return nil, fmt.Errorf("webhook: secret: %w", err)
	}
	if key != nil {
		w.signer = newSigner(key)
		w.secretText = s.Secret.Value()
	}
	return w, nil
}

// Capabilities implements channel.Describer: a webhook takes any payload
// and tells nothing after accepting it.
func (w *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{Subject: true}
}

// Send makes one HTTP request for m and classifies the answer. The receipt
// holds the status, an excerpt of the response body and, when the body is
// a JSON object with a string "id", that id.
func (w *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("webhook: nil message"))
	}
	if w.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	req, err := w.request(ctx, m)
	if err != nil {
		return nil, err
	}
	var extra map[string]string
	if m.Request != nil {
		extra = m.Request.Headers
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, w.scrub(channel.ClassifyNetError(err), req.URL, extra)
	}
	// A body that breaks off mid-way does not change the status the
	// provider answered with; the excerpt is what we got.
	body, _ := channel.ReadExcerpt(resp.Body, channel.MaxResponse)
	resp.Body.Close()
	if err := channel.ClassifyHTTP(resp, body, w.now()); err != nil {
		return nil, w.scrub(err, req.URL, extra)
	}
	return &channel.Receipt{
		StatusCode: resp.StatusCode,
		Response:   body,
		ProviderID: providerID(body),
	}, nil
}

// request builds the HTTP request for m. Its errors are classified: a
// message that cannot become a valid request is a permanent failure.
func (w *Sender) request(ctx context.Context, m *channel.Message) (*http.Request, error) {
	method, target := w.method, w.target
	var body []byte
	var extra map[string]string
	if r := m.Request; r != nil {
		if r.Method != "" {
			method = r.Method
		}
		u, err := parseTarget(r.URL)
		if err != nil {
			return nil, channel.Permanent("invalid_url", 0, fmt.Errorf("webhook: request URL: %w", err))
		}
		target = u
		body = []byte(r.Body)
		extra = r.Headers
	} else {
		if target == nil {
			return nil, channel.Permanent("no_url", 0, errors.New("webhook: the channel has no url and the message no request"))
		}
		body = m.Data
		if len(body) == 0 {
			var err error
			if body, err = envelope(m); err != nil {
				return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("webhook: encode message: %w", err))
			}
		}
	}
	if !validToken(method) {
		return nil, channel.Permanent("invalid_request", 0, errors.New("webhook: invalid HTTP method"))
	}

	// The URL is set after construction so that a configured target is
	// parsed once, not per request; the transport only reads it.
	req, err := http.NewRequestWithContext(ctx, method, "", bytes.NewReader(body))
	if err != nil {
		return nil, channel.Permanent("invalid_request", 0, fmt.Errorf("webhook: %w", err))
	}
	req.URL = target
	req.Host = ""

	h := w.header.Clone()
	for k, v := range extra {
		if !validToken(k) {
			return nil, channel.Permanent("invalid_request", 0, fmt.Errorf("webhook: invalid header name %q", k))
		}
		if !validHeaderValue(v) {
			// Never echo the value: it may be a token.
			return nil, channel.Permanent("invalid_request", 0, fmt.Errorf("webhook: the value of header %q contains a control character", k))
		}
		h.Set(k, v)
	}

	id := m.IdempotencyKey
	if id == "" {
		id = m.ID
	}
	ts := w.now().Unix()
	// One backing array for the per-request values instead of one each.
	vals := make([]string, 4)
	vals[0], vals[1], vals[2] = id, id, strconv.FormatInt(ts, 10)
	if id != "" {
		h[HeaderIdempotencyKey] = vals[0:1:1]
		h[HeaderWebhookID] = vals[1:2:2]
	}
	h[HeaderWebhookTime] = vals[2:3:3]
	if w.signer != nil {
		vals[3] = w.signer.sign(id, ts, body)
		h[HeaderWebhookSig] = vals[3:4:4]
	}
	req.Header = h
	return req, nil
}

// messageEnvelope is the body posted for a message without Data.
type messageEnvelope struct {
	MessageID string `json:"message_id,omitempty"`
	EventID   string `json:"event_id,omitempty"`
	EventType string `json:"event_type,omitempty"`
	Key       string `json:"key,omitempty"`
	To        string `json:"to,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Text      string `json:"text,omitempty"`
}

func envelope(m *channel.Message) ([]byte, error) {
	return json.Marshal(messageEnvelope{
		MessageID: m.ID,
		EventID:   m.EventID,
		EventType: m.EventType,
		Key:       m.Key,
		To:        m.To,
		Subject:   m.Subject,
		Text:      m.Text,
	})
}

// providerID returns the string "id" of a JSON object body, or "".
func providerID(body []byte) string {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 || b[0] != '{' || !bytes.Contains(b, []byte(`"id"`)) {
		return ""
	}
	// A non-string id fails the decode (or leaves ID empty); either way
	// there is no string id to report.
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.ID
}
