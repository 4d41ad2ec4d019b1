// Package mattermost posts messages through a Mattermost incoming webhook
// (https://developers.mattermost.com/integrate/webhooks/incoming/).
//
// A message is POSTed as JSON {channel?, text, username?, icon_url?,
// icon_emoji?, attachments?, props?} to {server}/hooks/{token}; Mattermost
// answers 200 with the plain text "ok", or an error status with its
// AppError JSON {"id":"web.incoming_webhook.invalid.app_error",
// "message":"Invalid webhook.", ..., "status_code":400}. The answer carries
// no post id, so nothing can be updated later.
//
// Text is Mattermost Markdown as the template rendered it; the subject,
// when set, becomes a bold first line. Content.Data, when it is a JSON
// object with "attachments" (Slack-style message attachments) and/or
// "props", contributes those fields to the body of the first part.
package mattermost

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

// MaxLength is the longest text sent in one post, in runes: the server's
// maximum post message size since Mattermost Server 5.0 (16383 runes,
// model.PostMessageMaxRunesV2; the 5.0 release notes introduced it in
// place of 4000). The server itself splits a longer webhook text, but
// Herald sends what fits and lets the engine split.
const MaxLength = 16383

// Sender posts through one Mattermost incoming webhook. It is safe for
// concurrent use.
type Sender struct {
	s       Settings
	client  *http.Client
	hook    string
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
		return nil, errors.New("mattermost: nil settings")
	}
	if client == nil {
		return nil, errors.New("mattermost: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("mattermost: %w", err)
	}
	return &Sender{
		s:       *s,
		client:  client,
		hook:    s.hookURL(),
		secrets: httpcall.Secrets("", s.Token.Value()),
	}, nil
}

// Capabilities implements channel.Describer. Update is false: a webhook
// answers "ok" without the post's id.
func (c *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxLength, Split: true, Subject: true}
}

// payload is the JSON body of a webhook post; field order is the order on
// the wire.
type payload struct {
	Channel     string          `json:"channel,omitempty"`
	Text        string          `json:"text"`
	Username    string          `json:"username,omitempty"`
	IconURL     string          `json:"icon_url,omitempty"`
	IconEmoji   string          `json:"icon_emoji,omitempty"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
	Props       json.RawMessage `json:"props,omitempty"`
}

// Send posts m, each of its Parts as its own post, in order.
func (c *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("mattermost: nil message"))
	}
	rich, err := richFields(m.Data)
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
		p := payload{Channel: dest, Text: t, Username: c.s.Username, IconURL: c.s.IconURL, IconEmoji: c.s.IconEmoji}
		if i == 0 {
			p.Text = withSubject(m.Subject, t, truncate)
			if rich != nil {
				p.Attachments, p.Props = rich.Attachments, rich.Props
			}
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

// withSubject returns text with the subject as a bold Markdown first line,
// cut to MaxLength when truncate is set (a whole text, not an engine-split
// part, which already fits).
func withSubject(subject, text string, truncate bool) string {
	if subject != "" {
		if text == "" {
			text = "**" + subject + "**"
		} else {
			text = "**" + subject + "**\n" + text
		}
	}
	if truncate {
		text = channel.Truncate(text, MaxLength)
	}
	return text
}

// richFields reads "attachments" and "props" from Data. Data that is not a
// JSON object, or one without those keys, contributes nothing.
func richFields(data json.RawMessage) (*payload, error) {
	d := bytes.TrimSpace(data)
	if len(d) == 0 || d[0] != '{' {
		return nil, nil
	}
	var v struct {
		Attachments json.RawMessage `json:"attachments"`
		Props       json.RawMessage `json:"props"`
	}
	if err := json.Unmarshal(d, &v); err != nil {
		return nil, channel.Permanent("invalid_data", 0, fmt.Errorf("mattermost: data: %w", err))
	}
	if len(v.Attachments) == 0 && len(v.Props) == 0 {
		return nil, nil
	}
	return &payload{Attachments: v.Attachments, Props: v.Props}, nil
}

// post makes one webhook call and classifies the answer.
func (c *Sender) post(ctx context.Context, p payload) (*channel.Receipt, error) {
	body, err := channel.MarshalJSON(p)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("mattermost: encode: %w", err))
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
	if err := httpcall.Classify(resp, c.secrets...); err != nil {
		var a struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(resp.Body, &a) // a body that is not an AppError leaves ID empty
		return nil, Classify(err, a.ID)
	}
	return &channel.Receipt{StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}

// appErrors maps the AppError ids an incoming webhook answers with
// (server/channels/app/webhook.go) to a reason and, where the status alone
// would mislead, a class.
var appErrors = map[string]struct {
	reason    string
	permanent bool
}{
	"web.incoming_webhook.invalid.app_error":        {"invalid_webhook", false},
	"web.incoming_webhook.disabled.app_error":       {"webhooks_disabled", true}, // 501, but only an admin can fix it
	"web.incoming_webhook.parse.app_error":          {"invalid_payload", false},
	"web.incoming_webhook.decode.app_error":         {"invalid_payload", false},
	"web.incoming_webhook.text.app_error":           {"no_text", false},
	"web.incoming_webhook.channel.app_error":        {"channel_not_found", false},
	"web.incoming_webhook.channel_locked.app_error": {"channel_locked", false},
	"web.incoming_webhook.permissions.app_error":    {"no_permission", false},
	"web.incoming_webhook.user.app_error":           {"user_not_found", false},
}

// Classify refines the status-classified err of a failed webhook call with
// the AppError id Mattermost answered: a known id names the reason, and
// "incoming webhooks disabled" (HTTP 501) is permanent, as only a system
// admin can turn them back on. The class otherwise stays the status's
// (400/403/404 permanent, 429 and 5xx retryable, Retry-After honoured).
func Classify(err error, id string) error {
	var ce *channel.Error
	e, ok := appErrors[id]
	if !ok || !errors.As(err, &ce) {
		return err
	}
	out := *ce
	out.Reason = e.reason
	if e.permanent {
		out.Class, out.After = channel.ClassPermanent, 0
	}
	return &out
}
