// Package discord posts messages to a Discord channel through a webhook
// (https://discord.com/developers/docs/resources/webhook#execute-webhook).
//
// A message is POSTed as JSON {content, username?, avatar_url?, embeds?}
// to /webhooks/{id}/{token}?wait=true: with wait=true Discord answers 200
// with the created message object, whose "id" becomes the receipt's
// ProviderID. A later message with the same correlation key (PreviousIDs)
// edits that message with PATCH /webhooks/{id}/{token}/messages/{id}
// (https://discord.com/developers/docs/resources/webhook#edit-webhook-message)
// instead of posting, so a recovery rewrites its alert.
//
// The subject is rendered as a bold first line of content ("**subject**").
// Content.Data, when it is a JSON object with "embeds" (up to 10 embed
// objects) and/or "allowed_mentions", contributes those fields to the
// body (of the first part only).
//
// Rate limiting answers 429 with {"message":"You are being rate
// limited.","retry_after":0.5,"global":false} and a Retry-After header;
// the body's retry_after (seconds, fractional) is the delay used.
package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxLength is the longest content of one message, in runes: Discord's
// documented 2000-character limit for message content.
const MaxLength = 2000

// Sender posts through one Discord webhook. It is safe for concurrent use.
type Sender struct {
	s       Settings
	client  *http.Client
	hook    string // {api}/webhooks/{id}/{token}
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
		return nil, errors.New("discord: nil settings")
	}
	if client == nil {
		return nil, errors.New("discord: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	return &Sender{
		s:       *s,
		client:  client,
		hook:    s.apiURL() + "/webhooks/" + s.WebhookID + "/" + s.WebhookToken.Value(),
		secrets: httpcall.Secrets("", s.WebhookToken.Value()),
	}, nil
}

// Capabilities implements channel.Describer.
func (c *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxLength, Split: true, Subject: true, Update: true}
}

// payload is the JSON body of Execute Webhook and Edit Webhook Message;
// field order is the order on the wire.
type payload struct {
	Content         string          `json:"content"`
	Username        string          `json:"username,omitempty"`
	AvatarURL       string          `json:"avatar_url,omitempty"`
	Embeds          json.RawMessage `json:"embeds,omitempty"`
	AllowedMentions json.RawMessage `json:"allowed_mentions,omitempty"`
}

// Send posts m (each of its Parts as its own message, in order) or, with
// PreviousIDs, edits the newest earlier message.
func (c *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("discord: nil message"))
	}
	rich, err := richFields(m.Data)
	if err != nil {
		return nil, err
	}
	thread := c.s.ThreadID
	if isSnowflake(m.To) {
		thread = m.To
	}
	if len(m.PreviousIDs) > 0 && isSnowflake(m.PreviousIDs[0]) {
		text := m.Text
		if text == "" {
			text = strings.Join(m.Parts, "\n")
		}
		p := payload{Content: withSubject(m.Subject, text, true)}
		if rich != nil {
			p.Embeds, p.AllowedMentions = rich.Embeds, rich.AllowedMentions
		}
		q := url.Values{}
		if thread != "" {
			q.Set("thread_id", thread)
		}
		return c.call(ctx, http.MethodPatch, c.hook+"/messages/"+m.PreviousIDs[0], q, p)
	}
	q := url.Values{"wait": {"true"}}
	if thread != "" {
		q.Set("thread_id", thread)
	}
	texts, truncate := m.Parts, false
	if len(texts) == 0 {
		texts, truncate = []string{m.Text}, true
	}
	var first *channel.Receipt
	for i, t := range texts {
		p := payload{Username: c.s.Username, AvatarURL: c.s.AvatarURL, Content: t}
		if i == 0 {
			p.Content = withSubject(m.Subject, t, truncate)
			if rich != nil {
				p.Embeds, p.AllowedMentions = rich.Embeds, rich.AllowedMentions
			}
		}
		r, err := c.call(ctx, http.MethodPost, c.hook, q, p)
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

// richFields reads "embeds" and "allowed_mentions" from Data. Data that is
// not a JSON object, or one without those keys, contributes nothing.
func richFields(data json.RawMessage) (*payload, error) {
	d := bytes.TrimSpace(data)
	if len(d) == 0 || d[0] != '{' {
		return nil, nil
	}
	var v struct {
		Embeds          json.RawMessage `json:"embeds"`
		AllowedMentions json.RawMessage `json:"allowed_mentions"`
	}
	if err := json.Unmarshal(d, &v); err != nil {
		return nil, channel.Permanent("invalid_data", 0, fmt.Errorf("discord: data: %w", err))
	}
	if len(v.Embeds) == 0 && len(v.AllowedMentions) == 0 {
		return nil, nil
	}
	return &payload{Embeds: v.Embeds, AllowedMentions: v.AllowedMentions}, nil
}

// answer is the part of Discord's answers the sender reads: a message
// object on success, an error or rate-limit object otherwise.
type answer struct {
	ID         string   `json:"id"`
	Code       int      `json:"code"`
	Message    string   `json:"message"`
	RetryAfter *float64 `json:"retry_after"`
	Global     bool     `json:"global"`
}

// call makes one request and classifies Discord's answer.
func (c *Sender) call(ctx context.Context, method, target string, q url.Values, p payload) (*channel.Receipt, error) {
	body, err := channel.MarshalJSON(p)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("discord: encode: %w", err))
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	resp, err := httpcall.Do(ctx, c.client, httpcall.Request{
		Method:  method,
		URL:     target,
		Header:  httpcall.JSONHeader(),
		Body:    body,
		Secrets: c.secrets,
	})
	if err != nil {
		return nil, err
	}
	var a answer
	_ = json.Unmarshal(resp.Body, &a) // an answer that is not JSON keeps the zero value
	if err := httpcall.Classify(resp, c.secrets...); err != nil {
		return nil, httpcall.Scrub(Classify(err, a.Code, a.RetryAfter), c.secrets...)
	}
	return &channel.Receipt{ProviderID: a.ID, StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}

// Known JSON error codes
// (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes),
// used as the error's reason.
var codeReasons = map[int]string{
	10003:  "unknown_channel",
	10008:  "unknown_message",
	10015:  "unknown_webhook",
	40062:  "rate_limited",
	50006:  "empty_message",
	50027:  "invalid_webhook_token",
	50035:  "invalid_form_body",
	160005: "thread_locked",
}

// Classify refines the status-classified err of a failed Discord call with
// the answer's JSON error code and retry_after: a retry_after in the body
// (fractional seconds, more precise than the rounded Retry-After header)
// makes the failure RetryAfter with that delay; a known code names the
// reason. The class otherwise stays the status's: 404 Unknown Webhook
// (10015), 401 Invalid Webhook Token (50027) and 400 Invalid Form Body
// (50035) are permanent, 5xx retryable.
func Classify(err error, code int, retryAfter *float64) error {
	var ce *channel.Error
	if !errors.As(err, &ce) {
		return err
	}
	out := *ce
	if r, ok := codeReasons[code]; ok {
		out.Reason = r
	}
	if retryAfter != nil && *retryAfter >= 0 && out.Class != channel.ClassPermanent {
		out.Class = channel.ClassRetryAfter
		out.After = secondsToDuration(*retryAfter)
	}
	return &out
}

// secondsToDuration converts Discord's fractional seconds, rounding up to
// the millisecond so that a retry never comes early.
func secondsToDuration(s float64) time.Duration {
	const maxSeconds = float64(math.MaxInt64 / int64(time.Second))
	if math.IsNaN(s) || s <= 0 {
		return 0
	}
	if s > maxSeconds {
		s = maxSeconds
	}
	return time.Duration(math.Ceil(s*1000)) * time.Millisecond
}
