// Package googlechat posts messages to a Google Chat space through an
// incoming webhook
// (https://developers.google.com/workspace/chat/quickstart/webhooks).
//
// A message is POSTed as JSON {text, thread?, cardsV2?} to
// /v1/spaces/{space}/messages?key=…&token=… (spaces.messages.create,
// https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create).
// Google answers with the created Message resource; its "name"
// ("spaces/…/messages/…") becomes the receipt's ProviderID. Errors are
// Google's JSON error {"error":{"code":429,"message":"…",
// "status":"RESOURCE_EXHAUSTED","details":[…]}}.
//
// Threading: messages are posted with thread.threadKey set to the
// message's correlation key (or the configured thread_key) and
// messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD, so the first
// message of a key starts a thread and every later one (the recovery,
// the reminders) replies in it; if the thread cannot be used, Google
// starts a new one rather than failing. Webhooks cannot edit a message,
// so Update is false: threading is how related messages stay together.
//
// The subject, when set, becomes a bold first line (*subject*, Google
// Chat's text formatting). Content.Data, when it is a JSON object with
// "cardsV2", contributes the cards to the first part.
package googlechat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxLength is the longest text sent in one message, in runes. Google
// documents a 32,000-byte limit for a whole message (text and cards,
// spaces.messages.create); 4,096 characters keep any text, at up to 4
// bytes a character, well inside it with room for cards.
const MaxLength = 4096

// maxThreadKey is the longest thread key Google accepts (4,000
// characters); a longer correlation key is replaced by its SHA-256.
const maxThreadKey = 4000

// replyOption makes a message reply in the thread of its key, or start
// one when it cannot.
const replyOption = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"

// Sender posts through one Google Chat webhook. It is safe for concurrent
// use.
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
		return nil, errors.New("googlechat: nil settings")
	}
	if client == nil {
		return nil, errors.New("googlechat: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("googlechat: %w", err)
	}
	return &Sender{
		s:       *s,
		client:  client,
		secrets: httpcall.Secrets("", s.Key.Value(), s.Token.Value()),
	}, nil
}

// Capabilities implements channel.Describer.
func (c *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxLength, Split: true, Subject: true}
}

// payload is the Message resource posted; field order is the order on
// the wire.
type payload struct {
	Text    string          `json:"text"`
	Thread  *thread         `json:"thread,omitempty"`
	CardsV2 json.RawMessage `json:"cardsV2,omitempty"`
}

type thread struct {
	ThreadKey string `json:"threadKey"`
}

// Send posts m, each of its Parts as its own message in order, all in the
// thread of the message's correlation key.
func (c *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("googlechat: nil message"))
	}
	cards, err := cardsOf(m.Data)
	if err != nil {
		return nil, err
	}
	q := url.Values{"key": {c.s.Key.Value()}, "token": {c.s.Token.Value()}}
	var th *thread
	if key := c.threadKey(m.Key); key != "" {
		th = &thread{ThreadKey: key}
		q.Set("messageReplyOption", replyOption)
	}
	target := c.s.apiURL() + "/v1/spaces/" + c.s.Space + "/messages?" + q.Encode()
	texts, truncate := m.Parts, false
	if len(texts) == 0 {
		texts, truncate = []string{m.Text}, true
	}
	var first *channel.Receipt
	for i, t := range texts {
		p := payload{Text: t, Thread: th}
		if i == 0 {
			p.Text = withSubject(m.Subject, t, truncate)
			p.CardsV2 = cards
		}
		r, err := c.post(ctx, target, p)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// threadKey returns the thread key for a correlation key: the configured
// one, none with no_threads, else the key itself (hashed if too long).
func (c *Sender) threadKey(key string) string {
	switch {
	case c.s.NoThreads:
		return ""
	case c.s.ThreadKey != "":
		return c.s.ThreadKey
	case len(key) > maxThreadKey:
		sum := sha256.Sum256([]byte(key))
		return hex.EncodeToString(sum[:])
	}
	return key
}

// withSubject returns text with the subject as a bold first line, cut to
// MaxLength when truncate is set (a whole text, not an engine-split part,
// which already fits).
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

// cardsOf reads "cardsV2" from Data. Data that is not a JSON object, or
// one without that key, contributes nothing.
func cardsOf(data json.RawMessage) (json.RawMessage, error) {
	d := bytes.TrimSpace(data)
	if len(d) == 0 || d[0] != '{' {
		return nil, nil
	}
	var v struct {
		CardsV2 json.RawMessage `json:"cardsV2"`
	}
	if err := json.Unmarshal(d, &v); err != nil {
		return nil, channel.Permanent("invalid_data", 0, fmt.Errorf("googlechat: data: %w", err))
	}
	return v.CardsV2, nil
}

// post makes one webhook call and classifies the answer.
func (c *Sender) post(ctx context.Context, target string, p payload) (*channel.Receipt, error) {
	body, err := channel.MarshalJSON(p)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("googlechat: encode: %w", err))
	}
	resp, err := httpcall.Do(ctx, c.client, httpcall.Request{
		URL:     target,
		Header:  http.Header{"Content-Type": {"application/json; charset=UTF-8"}},
		Body:    body,
		Secrets: c.secrets,
	})
	if err != nil {
		return nil, err
	}
	if err := httpcall.Classify(resp, c.secrets...); err != nil {
		return nil, Classify(err, resp.Body)
	}
	var msg struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(resp.Body, &msg) // an answer without a name still means the message was created
	return &channel.Receipt{ProviderID: msg.Name, StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}

// googleError is Google's JSON error body (https://google.aip.dev/193).
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
		} `json:"details"`
	} `json:"error"`
}

// Classify refines the status-classified err of a failed call with
// Google's error body: its status (RESOURCE_EXHAUSTED, INVALID_ARGUMENT,
// ...) becomes the reason in lower case, and a google.rpc.RetryInfo
// detail's retryDelay, when there is no Retry-After header, makes a
// retryable failure RetryAfter with that delay. The class otherwise stays
// the HTTP status's: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403
// PERMISSION_DENIED and 404 NOT_FOUND are permanent; 429
// RESOURCE_EXHAUSTED, 500 INTERNAL and 503 UNAVAILABLE retryable.
func Classify(err error, body []byte) error {
	var ce *channel.Error
	var g googleError
	if !errors.As(err, &ce) || json.Unmarshal(body, &g) != nil || g.Error.Status == "" {
		return err
	}
	out := *ce
	if isStatus(g.Error.Status) {
		out.Reason = strings.ToLower(g.Error.Status)
	}
	if out.Class == channel.ClassRetryable {
		for _, d := range g.Error.Details {
			if d.Type != "type.googleapis.com/google.rpc.RetryInfo" {
				continue
			}
			if delay, ok := parseProtoDuration(d.RetryDelay); ok {
				out.Class, out.After = channel.ClassRetryAfter, delay
			}
		}
	}
	return &out
}

// isStatus reports whether s looks like a google.rpc.Code name.
func isStatus(s string) bool {
	if len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

// parseProtoDuration parses a protobuf Duration in its JSON form: decimal
// seconds with an "s" suffix ("30s", "1.5s").
func parseProtoDuration(s string) (time.Duration, bool) {
	v, ok := strings.CutSuffix(s, "s")
	if !ok || v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}
