// Package ntfy publishes messages to an ntfy topic (https://ntfy.sh or a
// self-hosted server), following https://docs.ntfy.sh/publish/:
// one JSON POST to the server root per message, with the topic, the
// message, title, priority, tags, click URL, icon, action buttons and
// Markdown flag in the body.
//
// Updates: ntfy 2.16 links notifications with a sequence id; publishing
// again with the same "sequence_id" replaces the notification on the
// clients. The first message of a correlation key is published without
// one, so ntfy's answer gives its message id; every later message with
// the same key (Message.PreviousIDs) is published with that id as its
// sequence id, so that "resolved" replaces "firing" on the phone. The
// receipt's ProviderID is the sequence id ntfy answers with, or the
// message id when there is none, so it is the same for the whole
// sequence. Older servers ignore the field and show a new notification.
//
// Data: when Content.Data is a JSON object, its ntfy publish fields
// (title, message, tags, priority, actions, click, attach, filename,
// markdown, icon, delay, email, call) replace the ones built from the
// settings and the text; other keys are ignored.
package ntfy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// Limits documented at https://docs.ntfy.sh/publish/#limitations.
const (
	// MaxMessageBytes is the longest message ntfy shows as text; a longer
	// one becomes an attachment, so texts are cut to it.
	MaxMessageBytes = 4096
	// MaxTitleBytes is the title limit (longer titles are refused).
	MaxTitleBytes = 1024
)

// rateLimitDelay is the wait after ntfy's "too many requests" (42901)
// when the server sends no Retry-After: the documented default refills a
// visitor's request bucket at one request per 5 seconds.
const rateLimitDelay = 5 * time.Second

// Sender publishes to an ntfy server. It is safe for concurrent use.
type Sender struct {
	s       Settings
	url     string
	auth    string // Authorization header value, "" for none
	secrets []string
	client  *http.Client
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("ntfy: nil settings")
	}
	if client == nil {
		return nil, errors.New("ntfy: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("ntfy: %w", err)
	}
	n := &Sender{s: *s, url: s.server() + "/", client: client}
	switch {
	case s.Token != "":
		n.auth = "Bearer " + s.Token.Value()
		n.secrets = []string{s.Token.Value()}
	case s.Username != "":
		n.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(s.Username+":"+s.Password.Value()))
		n.secrets = []string{s.Password.Value(), n.auth[len("Basic "):]}
	}
	return n, nil
}

// Capabilities implements channel.Describer: ntfy shows a title and a
// plain or Markdown text of up to 4096 bytes (reported as runes; longer
// multi-byte texts are cut to the byte limit), and updates notifications
// through sequence ids unless no_update is set.
func (n *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxMessageBytes, Subject: true, Update: !n.s.NoUpdate}
}

// publish is ntfy's JSON publish body, in the order of the documented
// field table.
type publish struct {
	Topic      string           `json:"topic"`
	Message    string           `json:"message,omitempty"`
	Title      string           `json:"title,omitempty"`
	Tags       []string         `json:"tags,omitempty"`
	Priority   int              `json:"priority,omitempty"`
	Actions    []map[string]any `json:"actions,omitempty"`
	Click      string           `json:"click,omitempty"`
	Markdown   bool             `json:"markdown,omitempty"`
	Icon       string           `json:"icon,omitempty"`
	SequenceID string           `json:"sequence_id,omitempty"`
}

// dataFields are the publish fields Content.Data may set.
var dataFields = []string{"title", "message", "tags", "priority", "actions", "click", "attach", "filename", "markdown", "icon", "delay", "email", "call"}

// Send publishes m: one request per text part, each a separate
// notification. The receipt is the first part's.
func (n *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("ntfy: nil message"))
	}
	topic := m.To
	if topic == "" {
		topic = n.s.Topic
	}
	if topic == "" {
		return nil, channel.Permanent("no_destination", 0, errors.New("ntfy: no topic: the channel has none and the message names none"))
	}
	if !topicPattern.MatchString(topic) {
		return nil, channel.Permanent("invalid_destination", 0, errors.New("ntfy: topic may only contain letters, digits, '-' and '_' (at most 64)"))
	}
	seq := ""
	if !n.s.NoUpdate && len(m.PreviousIDs) > 0 && topicPattern.MatchString(m.PreviousIDs[0]) {
		seq = m.PreviousIDs[0]
	}
	var first *channel.Receipt
	for i, text := range m.Texts() {
		body, err := n.body(m, topic, text, seq)
		if err != nil {
			return nil, err
		}
		r, err := n.call(ctx, body)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			first = r
		}
		// Only the first part replaces the earlier notification; the
		// others must not replace the first.
		seq = ""
	}
	return first, nil
}

// body builds the JSON publish body for one text.
func (n *Sender) body(m *channel.Message, topic, text, seq string) ([]byte, error) {
	p := publish{
		Topic:      topic,
		Message:    channel.TruncateBytes(text, MaxMessageBytes),
		Title:      channel.TruncateBytes(m.Subject, MaxTitleBytes),
		Tags:       n.s.Tags,
		Priority:   Priority(m.Priority),
		Actions:    n.s.Actions,
		Click:      n.s.Click,
		Markdown:   n.s.Markdown,
		Icon:       n.s.Icon,
		SequenceID: seq,
	}
	if n.s.Priority != 0 {
		p.Priority = n.s.Priority
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("ntfy: encode message: %w", err))
	}
	if len(m.Data) == 0 {
		return b, nil
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &data); err != nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("ntfy: content data is not a JSON object"))
	}
	var merged map[string]json.RawMessage
	if err := json.Unmarshal(b, &merged); err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("ntfy: %w", err))
	}
	for _, k := range dataFields {
		if v, ok := data[k]; ok {
			merged[k] = v
		}
	}
	// Marshal sorts map keys, so the merged body is deterministic.
	b, err = json.Marshal(merged)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("ntfy: encode message: %w", err))
	}
	return b, nil
}

// call makes one publish request and classifies the answer.
func (n *Sender) call(ctx context.Context, body []byte) (*channel.Receipt, error) {
	h := httpcall.JSONHeader()
	if n.auth != "" {
		h.Set("Authorization", n.auth)
	}
	resp, err := httpcall.Do(ctx, n.client, httpcall.Request{URL: n.url, Header: h, Body: body, Secrets: n.secrets})
	if err != nil {
		return nil, err
	}
	if err := classify(resp, n.secrets...); err != nil {
		return nil, err
	}
	var ans struct {
		ID         string `json:"id"`
		SequenceID string `json:"sequence_id"`
	}
	// A success without the documented body is still a success; there is
	// just no id to report.
	_ = json.Unmarshal(resp.Body, &ans)
	id := ans.SequenceID
	if id == "" {
		id = ans.ID
	}
	return &channel.Receipt{ProviderID: id, StatusCode: resp.StatusCode, Response: resp.Body, Delivered: false}, nil
}

// apiError is ntfy's error body: {"code":42901,"http":429,"error":"...",
// "link":"..."}.
type apiError struct {
	Code    int    `json:"code"`
	HTTP    int    `json:"http"`
	Message string `json:"error"`
}

// classify applies the shared HTTP rules, then ntfy's error codes:
// 42901 (too many requests) without Retry-After waits the documented
// refill interval; 42904 (server's topic limit) needs an operator;
// 40101/40301 are authentication failures.
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
	out := *ce
	switch {
	case ae.Code == 42901:
		out.Reason = "rate_limited"
		if out.Class == channel.ClassRetryable {
			out.Class, out.After = channel.ClassRetryAfter, rateLimitDelay
		}
	case ae.Code == 42904:
		out.Class, out.After, out.Reason = channel.ClassPermanent, 0, "topic_limit"
	case ae.Code/100 == 429:
		out.Reason = "rate_limited"
	case ae.Code == 40101 || ae.Code == 40301:
		out.Class, out.Reason = channel.ClassPermanent, "auth"
	case ae.Code/100 == 413:
		out.Class, out.Reason = channel.ClassPermanent, "too_large"
	}
	return &out
}

// Priority maps Herald's priority to ntfy's: 1 (min) .. 5 (max) as they
// are, 0 to none (the server's default, 3), anything above 5 to 5 and
// below 0 to 1.
func Priority(p int) int {
	switch {
	case p == 0:
		return 0
	case p < 0:
		return 1
	case p > 5:
		return 5
	}
	return p
}
