// Package gotify pushes messages to a self-hosted Gotify server
// (https://gotify.net/docs/pushmsg): one JSON POST to {server}/message per
// message, authenticated as an application with the X-Gotify-Key header
// (kept out of the URL, where proxies log it).
//
// The body carries title, message, priority and extras: client::display
// contentType text/markdown with markdown: true, client::notification
// click.url and bigImageUrl from the settings
// (https://gotify.net/docs/msgextras). When Content.Data is a JSON object,
// its keys are merged into extras (one key per namespace, e.g.
// {"client::notification": {"bigImageUrl": "..."}}), replacing the
// namespaces built from the settings.
//
// Gotify has no API for an application to change a message it pushed, so
// the channel does not update earlier messages.
package gotify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// Sender pushes messages to a Gotify server. It is safe for concurrent
// use.
type Sender struct {
	s      Settings
	url    string
	client *http.Client
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("gotify: nil settings")
	}
	if client == nil {
		return nil, errors.New("gotify: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("gotify: %w", err)
	}
	return &Sender{s: *s, url: strings.TrimRight(s.Server, "/") + "/message", client: client}, nil
}

// Capabilities implements channel.Describer: Gotify shows a title and a
// plain or Markdown text and documents no length limit.
func (g *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{Subject: true}
}

// message is Gotify's POST /message body.
type message struct {
	Title    string                     `json:"title,omitempty"`
	Message  string                     `json:"message"`
	Priority *int                       `json:"priority,omitempty"`
	Extras   map[string]json.RawMessage `json:"extras,omitempty"`
}

// Send pushes m: one request per text part. The receipt is the first
// part's; its ProviderID is Gotify's message id.
//
// A message's To, when set, is used as the application token for that
// message (a per-recipient application); otherwise the settings' token.
func (g *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("gotify: nil message"))
	}
	token := g.s.Token.Value()
	if m.To != "" {
		token = m.To
	}
	if token == "" || strings.ContainsAny(token, "\r\n") {
		return nil, channel.Permanent("no_destination", 0, errors.New("gotify: no usable application token"))
	}
	extras, err := g.extras(m.Data)
	if err != nil {
		return nil, err
	}
	var first *channel.Receipt
	for i, text := range m.Texts() {
		body, err := json.Marshal(message{Title: m.Subject, Message: text, Priority: g.priority(m.Priority), Extras: extras})
		if err != nil {
			return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("gotify: encode message: %w", err))
		}
		r, err := g.call(ctx, token, body)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			first = r
		}
	}
	return first, nil
}

// extras builds the extras object from the settings and Data.
func (g *Sender) extras(data json.RawMessage) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	if g.s.Markdown {
		out["client::display"] = json.RawMessage(`{"contentType":"text/markdown"}`)
	}
	notification := map[string]any{}
	if g.s.Click != "" {
		notification["click"] = map[string]string{"url": g.s.Click}
	}
	if g.s.BigImageURL != "" {
		notification["bigImageUrl"] = g.s.BigImageURL
	}
	if len(notification) > 0 {
		b, err := json.Marshal(notification)
		if err != nil {
			return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("gotify: %w", err))
		}
		out["client::notification"] = b
	}
	if len(data) > 0 {
		var d map[string]json.RawMessage
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, channel.Permanent("invalid_message", 0, errors.New("gotify: content data is not a JSON object of extras"))
		}
		for k, v := range d {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// priority maps Herald's priority to Gotify's 0..10 (see Priority); the
// setting overrides it.
func (g *Sender) priority(p int) *int {
	if g.s.Priority != nil {
		v := *g.s.Priority
		return &v
	}
	if p == 0 {
		return nil
	}
	v := Priority(p)
	return &v
}

// Priority maps Herald's ntfy-like priority (1 min .. 5 max) onto
// Gotify's 0..10 as the Android app renders it: 1 → 1 and 2 → 3 (icon
// only), 3 → 5 (sound), 4 → 8 and 5 → 10 (sound and vibration). Values
// above 5 count as 5, below 1 as 1; 0 (unset) is left to the caller,
// which omits the field so that the application's default applies.
func Priority(p int) int {
	switch {
	case p <= 1:
		return 1
	case p == 2:
		return 3
	case p == 3:
		return 5
	case p == 4:
		return 8
	}
	return 10
}

// call makes one push request and classifies the answer.
func (g *Sender) call(ctx context.Context, token string, body []byte) (*channel.Receipt, error) {
	h := httpcall.JSONHeader("X-Gotify-Key", token)
	resp, err := httpcall.Do(ctx, g.client, httpcall.Request{URL: g.url, Header: h, Body: body, Secrets: []string{token}})
	if err != nil {
		return nil, err
	}
	if err := classify(resp, token); err != nil {
		return nil, err
	}
	var ans struct {
		ID json.Number `json:"id"`
	}
	// A 2xx without the documented message object is still accepted.
	_ = json.Unmarshal(resp.Body, &ans)
	return &channel.Receipt{ProviderID: ans.ID.String(), StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// apiError is Gotify's error model: {"error":"Unauthorized","errorCode":
// 401,"errorDescription":"..."}.
type apiError struct {
	Error       string `json:"error"`
	Code        int    `json:"errorCode"`
	Description string `json:"errorDescription"`
}

// classify applies the shared HTTP rules; Gotify's error body only
// names the status again, so it refines the reason for 401/403 (a bad or
// revoked application token).
func classify(resp *httpcall.Response, secrets ...string) error {
	err := httpcall.Classify(resp, secrets...)
	if err == nil {
		return nil
	}
	var ce *channel.Error
	if !errors.As(err, &ce) {
		return err
	}
	var ae apiError
	if json.Unmarshal(resp.Body, &ae) != nil || ae.Code == 0 {
		return err
	}
	if ae.Code == http.StatusUnauthorized || ae.Code == http.StatusForbidden {
		out := *ce
		out.Reason = "auth"
		return &out
	}
	return err
}
