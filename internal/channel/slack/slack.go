// Package slack posts messages to Slack, either through an incoming
// webhook or through the Web API with a bot token.
//
// Webhook mode (https://api.slack.com/messaging/webhooks) POSTs
// {"text", "blocks"?} to the webhook URL; Slack answers 200 with the plain
// text "ok", or an HTTP error status with a plain-text code (400
// invalid_payload, 403 action_prohibited, 404 channel_not_found, 410
// channel_is_archived, 500 rollup_error). The webhook gives no message id,
// so nothing can be updated later.
//
// Bot mode POSTs to chat.postMessage with "Authorization: Bearer <token>"
// and a JSON body {channel, text, blocks?}. Slack answers HTTP 200 for
// most failures too, with {"ok":false,"error":"<code>"}; rate limiting is
// HTTP 429 with a Retry-After header and "error":"ratelimited". The
// receipt's ProviderID is "<channel id>/<ts>" from the answer, which is
// all chat.update needs: a message whose PreviousIDs holds such an id
// (a recovery following its alert, same correlation key) updates that
// message in place instead of posting a new one.
//
// Text is sent as Slack mrkdwn, as the template rendered it. The subject,
// when set, becomes a bold first line. Content.Data, when it is a JSON
// object with "blocks" and/or "attachments", contributes those fields to
// the body (of the first part only); "text" then serves as the
// notification fallback.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxLength is the longest text sent in one message, in runes. Slack
// truncates chat.postMessage text beyond 40,000 characters and recommends
// at most 4,000 (https://api.slack.com/methods/chat.postMessage#truncating).
const MaxLength = 4000

// Sender posts to one Slack webhook or workspace. It is safe for
// concurrent use.
type Sender struct {
	s       Settings
	client  *http.Client
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
		return nil, errors.New("slack: nil settings")
	}
	if client == nil {
		return nil, errors.New("slack: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return &Sender{
		s:       *s,
		client:  client,
		secrets: httpcall.Secrets(s.WebhookURL.Value(), s.Token.Value(), s.WebhookURL.Value()),
	}, nil
}

// bot reports whether the sender uses the Web API.
func (c *Sender) bot() bool { return c.s.Token != "" }

// Capabilities implements channel.Describer. Only bot mode can update an
// earlier message: a webhook answers "ok" without a message id.
func (c *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxLength, Split: true, Subject: true, Update: c.bot()}
}

// payload is the JSON body of a webhook post, chat.postMessage and
// chat.update; field order is the order on the wire.
type payload struct {
	Channel     string          `json:"channel,omitempty"`
	TS          string          `json:"ts,omitempty"`
	Text        string          `json:"text"`
	Username    string          `json:"username,omitempty"`
	IconEmoji   string          `json:"icon_emoji,omitempty"`
	IconURL     string          `json:"icon_url,omitempty"`
	Blocks      json.RawMessage `json:"blocks,omitempty"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
}

// apiAnswer is the part of a Web API answer the sender reads.
type apiAnswer struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// Send posts m (each of its Parts as its own message, in order) or, in
// bot mode with PreviousIDs, updates the newest earlier message.
func (c *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("slack: nil message"))
	}
	rich, err := richFields(m.Data)
	if err != nil {
		return nil, err
	}
	dest := m.To
	if dest == "" {
		dest = c.s.Channel
	}
	if c.bot() {
		if len(m.PreviousIDs) > 0 {
			if ch, ts, ok := splitID(m.PreviousIDs[0]); ok {
				text := m.Text
				if text == "" {
					text = strings.Join(m.Parts, "\n")
				}
				p := c.base(ch, withSubject(m.Subject, text, true), rich)
				p.TS = ts
				// chat.update cannot change the poster's name or icon.
				p.Username, p.IconEmoji, p.IconURL = "", "", ""
				return c.call(ctx, c.s.apiURL()+"/chat.update", p)
			}
		}
		if dest == "" {
			return nil, channel.Permanent("no_destination", 0, errors.New("slack: no channel: the message has no to and the settings no channel"))
		}
	}
	texts := m.Parts
	truncate := false
	if len(texts) == 0 {
		texts, truncate = []string{m.Text}, true
	}
	var first *channel.Receipt
	for i, t := range texts {
		var p payload
		if i == 0 {
			p = c.base(dest, withSubject(m.Subject, t, truncate), rich)
		} else {
			p = c.base(dest, t, nil)
		}
		var r *channel.Receipt
		if c.bot() {
			r, err = c.call(ctx, c.s.apiURL()+"/chat.postMessage", p)
		} else {
			r, err = c.hook(ctx, p)
		}
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// withSubject returns text with the subject as a bold mrkdwn first line,
// cut to MaxLength when truncate is set (a whole text, not an engine-split
// part, which already fits).
func withSubject(subject, text string, truncate bool) string {
	if subject != "" {
		if text == "" {
			text = "*" + subject + "*"
		} else {
			text = "*" + subject + "*\n" + text
		}
	}
	if truncate {
		text = channel.Truncate(text, MaxLength)
	}
	return text
}

// base builds a body for channel ch with text and the rich fields.
func (c *Sender) base(ch, text string, rich *payload) payload {
	p := payload{
		Channel:   ch,
		Text:      text,
		Username:  c.s.Username,
		IconEmoji: c.s.IconEmoji,
		IconURL:   c.s.IconURL,
	}
	if rich != nil {
		p.Blocks, p.Attachments = rich.Blocks, rich.Attachments
	}
	return p
}

// richFields reads "blocks" and "attachments" from Data. Data that is not
// a JSON object, or one without those keys, contributes nothing.
func richFields(data json.RawMessage) (*payload, error) {
	d := bytes.TrimSpace(data)
	if len(d) == 0 || d[0] != '{' {
		return nil, nil
	}
	var v struct {
		Blocks      json.RawMessage `json:"blocks"`
		Attachments json.RawMessage `json:"attachments"`
	}
	if err := json.Unmarshal(d, &v); err != nil {
		return nil, channel.Permanent("invalid_data", 0, fmt.Errorf("slack: data: %w", err))
	}
	if len(v.Blocks) == 0 && len(v.Attachments) == 0 {
		return nil, nil
	}
	return &payload{Blocks: v.Blocks, Attachments: v.Attachments}, nil
}

// splitID splits a ProviderID "<channel>/<ts>".
func splitID(id string) (ch, ts string, ok bool) {
	ch, ts, ok = strings.Cut(id, "/")
	return ch, ts, ok && ch != "" && ts != ""
}

// hook posts p to the incoming webhook.
func (c *Sender) hook(ctx context.Context, p payload) (*channel.Receipt, error) {
	body, err := channel.MarshalJSON(p)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("slack: encode: %w", err))
	}
	resp, err := httpcall.Do(ctx, c.client, httpcall.Request{
		URL:     c.s.WebhookURL.Value(),
		Header:  httpcall.JSONHeader(),
		Body:    body,
		Secrets: c.secrets,
	})
	if err != nil {
		return nil, err
	}
	if err := httpcall.Classify(resp, c.secrets...); err != nil {
		return nil, withCodeReason(err, string(bytes.TrimSpace(resp.Body)))
	}
	return &channel.Receipt{StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}

// call posts p to a Web API method and reads Slack's "ok"/"error".
func (c *Sender) call(ctx context.Context, url string, p payload) (*channel.Receipt, error) {
	body, err := channel.MarshalJSON(p)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("slack: encode: %w", err))
	}
	resp, err := httpcall.Do(ctx, c.client, httpcall.Request{
		URL: url,
		// Slack asks for the charset on JSON posts (a missing one earns a
		// "missing_charset" warning).
		Header:  http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Authorization": {"Bearer " + c.s.Token.Value()}},
		Body:    body,
		Secrets: c.secrets,
	})
	if err != nil {
		return nil, err
	}
	var a apiAnswer
	jsonErr := json.Unmarshal(resp.Body, &a)
	if err := httpcall.Classify(resp, c.secrets...); err != nil {
		if jsonErr == nil {
			return nil, withCodeReason(err, a.Error)
		}
		return nil, err
	}
	if jsonErr != nil {
		// Not Slack's answer (a proxy's page?): whether the message went
		// out is unknown, and another attempt is the better bet.
		return nil, channel.Retryable("invalid_response", resp.StatusCode,
			errors.New("slack: the answer is not a Web API JSON object"))
	}
	if !a.OK {
		return nil, httpcall.Scrub(Classify(resp.StatusCode, a.Error, resp.Header, resp.Body), c.secrets...)
	}
	id := ""
	if a.Channel != "" && a.TS != "" {
		id = a.Channel + "/" + a.TS
	}
	return &channel.Receipt{ProviderID: id, StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}

// withCodeReason puts Slack's error code (a webhook's plain-text body, a
// Web API "error") into the reason of a status-classified error, when it
// looks like one of Slack's snake_case codes.
func withCodeReason(err error, code string) error {
	var ce *channel.Error
	if !isCode(code) || !errors.As(err, &ce) {
		return err
	}
	out := *ce
	out.Reason = code
	return &out
}

// isCode reports whether s looks like a Slack error code.
func isCode(s string) bool {
	if s == "" || len(s) > 48 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// timeNow is the clock for an HTTP-date Retry-After.
var timeNow = time.Now

// Web API error codes by class. Codes not listed are permanent: they
// describe the request (arguments, scopes, the channel), which another
// attempt would repeat.
var retryableCodes = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"team_added_to_org":   true, // documented as temporary during a migration
}

// Classify turns a Web API answer {"ok":false,"error":code} into a
// classified error: "ratelimited" (and "rate_limited") is RetryAfter with
// the Retry-After header's delay, or plain retryable without one; Slack's
// transient codes (internal_error, fatal_error, service_unavailable,
// request_timeout) are retryable; every other code (channel_not_found,
// not_in_channel, invalid_auth, token_revoked, account_inactive,
// msg_too_long, is_archived, message_not_found, ...) is permanent.
func Classify(status int, code string, h http.Header, body []byte) error {
	reason := code
	if !isCode(reason) {
		reason = "api_error"
	}
	err := fmt.Errorf("slack: Web API error %q", reason)
	var ce *channel.Error
	switch {
	case code == "ratelimited" || code == "rate_limited":
		if d, ok := channel.ParseRetryAfter(h.Get("Retry-After"), timeNow()); ok {
			ce = channel.RetryAfter(reason, status, d, err)
		} else {
			ce = channel.Retryable(reason, status, err)
		}
	case retryableCodes[code]:
		ce = channel.Retryable(reason, status, err)
	default:
		ce = channel.Permanent(reason, status, err)
	}
	ce.Response = body
	return ce
}
