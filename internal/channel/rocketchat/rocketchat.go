// Package rocketchat posts messages through a Rocket.Chat incoming webhook
// integration
// (https://docs.rocket.chat/docs/rocketchat-marketplace-integrations).
//
// A message is POSTed as JSON {channel?, text, alias?, emoji?, avatar?,
// attachments?} to {server}/hooks/{integration_id}/{token}. Rocket.Chat
// answers 200 {"success":true}, or an error status with
// {"success":false,"error":"…"}: 404 "Invalid integration id or token
// provided." (older servers; newer ones refuse the route as
// unauthenticated), 400 for a refused message ("overriding destination
// channel is disabled for this integration", script errors), 503 while the
// integration is disabled. The answer carries no message id, so nothing
// can be updated later.
//
// Text is Rocket.Chat Markdown as the template rendered it; the subject,
// when set, becomes a bold first line (*subject*). Content.Data, when it
// is a JSON object with "attachments", contributes them to the body of
// the first part.
package rocketchat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// Sender posts through one Rocket.Chat incoming webhook. It is safe for
// concurrent use.
type Sender struct {
	s       Settings
	client  *http.Client
	hook    string
	max     int
	secrets []string
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("rocketchat: nil settings")
	}
	if client == nil {
		return nil, errors.New("rocketchat: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("rocketchat: %w", err)
	}
	return &Sender{
		s:       *s,
		client:  client,
		hook:    s.hookURL(),
		max:     s.maxLength(),
		secrets: httpcall.Secrets("", s.Token.Value()),
	}, nil
}

// Capabilities implements channel.Describer. MaxLength is the server's
// Message_MaxAllowedSize (default 5000). Update is false: the webhook
// answers without the message's id.
func (c *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: c.max, Split: true, Subject: true}
}

// payload is the JSON body of a webhook post; field order is the order on
// the wire.
type payload struct {
	Channel     string          `json:"channel,omitempty"`
	Text        string          `json:"text"`
	Alias       string          `json:"alias,omitempty"`
	Emoji       string          `json:"emoji,omitempty"`
	Avatar      string          `json:"avatar,omitempty"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
}

// Send posts m, each of its Parts as its own message, in order.
func (c *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("rocketchat: nil message"))
	}
	attachments, err := attachmentsOf(m.Data)
	if err != nil {
		return nil, err
	}
	dest := m.To
	if dest == "" {
		dest = c.s.Channel
	}
	texts, truncate := m.Parts, false
	if len(texts) == 0 {
		texts, truncate = []string{m.Text}, true
	}
	var first *channel.Receipt
	for i, t := range texts {
		p := payload{Channel: dest, Text: t, Alias: c.s.Alias, Emoji: c.s.Emoji, Avatar: c.s.Avatar}
		if i == 0 {
			p.Text = c.withSubject(m.Subject, t, truncate)
			p.Attachments = attachments
		}
		r, err := c.post(ctx, p)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// withSubject returns text with the subject as a bold first line, cut to
// the limit when truncate is set (a whole text, not an engine-split part,
// which already fits).
func (c *Sender) withSubject(subject, text string, truncate bool) string {
	if subject != "" {
		if text == "" {
			text = "*" + subject + "*"
		} else {
			text = "*" + subject + "*\n" + text
		}
	}
	if truncate {
		text = channel.Truncate(text, c.max)
	}
	return text
}

// attachmentsOf reads "attachments" from Data. Data that is not a JSON
// object, or one without that key, contributes nothing.
func attachmentsOf(data json.RawMessage) (json.RawMessage, error) {
	d := bytes.TrimSpace(data)
	if len(d) == 0 || d[0] != '{' {
		return nil, nil
	}
	var v struct {
		Attachments json.RawMessage `json:"attachments"`
	}
	if err := json.Unmarshal(d, &v); err != nil {
		return nil, channel.Permanent("invalid_data", 0, fmt.Errorf("rocketchat: data: %w", err))
	}
	return v.Attachments, nil
}

// answer is Rocket.Chat's API result.
type answer struct {
	Success *bool  `json:"success"`
	Error   string `json:"error"`
}

// post makes one webhook call and classifies the answer.
func (c *Sender) post(ctx context.Context, p payload) (*channel.Receipt, error) {
	body, err := channel.MarshalJSON(p)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("rocketchat: encode: %w", err))
	}
	resp, err := httpcall.Do(ctx, c.client, httpcall.Request{
		URL:     c.hook,
		Header:  httpcall.JSONHeader(),
		Body:    body,
		Secrets: c.secrets,
	})
	if err != nil {
		return nil, err
	}
	var a answer
	_ = json.Unmarshal(resp.Body, &a) // a body that is not JSON leaves the zero answer
	if err := httpcall.Classify(resp, c.secrets...); err != nil {
		return nil, err
	}
	if a.Success != nil && !*a.Success {
		// A script or a newer server refusing with a 2xx: the request
		// itself was refused, and sending it again would be refused too.
		return nil, httpcall.Scrub(&channel.Error{
			Class:      channel.ClassPermanent,
			Reason:     "refused",
			StatusCode: resp.StatusCode,
			Response:   resp.Body,
			Err:        fmt.Errorf("rocketchat: the webhook refused the message: %q", a.Error),
		}, c.secrets...)
	}
	return &channel.Receipt{StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}
