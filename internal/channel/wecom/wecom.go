// Package wecom delivers messages through a WeCom (企业微信) group robot
// (群机器人): one JSON POST per message to
// https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY.
//
// See https://developer.work.weixin.qq.com/document/path/91770.
//
// What is sent:
//
//   - format text (default): {"msgtype":"text","text":{"content":…,
//     "mentioned_list":[…],"mentioned_mobile_list":[…]}};
//   - format markdown: {"msgtype":"markdown","markdown":{"content":…}};
//     markdown has no mention lists, so mentioned user ids are written
//     into the content as <@userid> (WeCom's extension syntax) and phone
//     numbers cannot be mentioned;
//   - Content.Data, when it is a JSON object with a "msgtype" field
//     (news, image, template_card, markdown_v2, or a hand-made text or
//     markdown body), is posted as it is; Data without "msgtype" is meant
//     for other channels and is ignored.
//
// A group robot message has no title, so the subject is not sent; put it
// in the text template if it matters. Message.To lists extra members to
// @-mention, comma-separated: phone numbers go to mentioned_mobile_list,
// anything else (including "@all") to mentioned_list. The robot is the
// destination, so there is no per-message recipient.
//
// The robot's answer has no message id, so receipts carry none and
// nothing can be updated later.
package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// Content limits in UTF-8 bytes, as WeCom documents them.
const (
	MaxTextBytes     = 2048
	MaxMarkdownBytes = 4096
)

// RateLimitDelay is how long to wait after errcode 45009 (api freq out
// of limit). WeCom allows a robot 20 messages a minute and states no
// penalty beyond that, so one window is enough for the count to clear.
const RateLimitDelay = time.Minute

// Sender posts messages to one WeCom group robot. It is safe for
// concurrent use.
type Sender struct {
	endpoint *url.URL
	key      string
	format   string
	users    []string
	mobiles  []string
	client   *http.Client
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass a
// long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("wecom: nil settings")
	}
	if client == nil {
		return nil, errors.New("wecom: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("wecom: %w", err)
	}
	u, err := url.Parse(s.apiURL())
	if err != nil {
		return nil, errors.New("wecom: api_url: malformed URL")
	}
	format := s.Format
	if format == "" {
		format = FormatText
	}
	mobiles := make([]string, len(s.MentionedMobileList))
	for i, m := range s.MentionedMobileList {
		if m != "@all" {
			m = normalizePhone(m)
		}
		mobiles[i] = m
	}
	return &Sender{
		endpoint: u,
		key:      s.Key.Value(),
		format:   format,
		users:    append([]string(nil), s.MentionedList...),
		mobiles:  mobiles,
		client:   client,
	}, nil
}

// maxBytes is the content limit of the sender's format.
func (w *Sender) maxBytes() int {
	if w.format == FormatMarkdown {
		return MaxMarkdownBytes
	}
	return MaxTextBytes
}

// Capabilities implements channel.Describer. MaxLength is the byte limit
// in runes that always fit (a rune is at most 4 bytes), so parts the
// engine splits never exceed it; Send also cuts by bytes. Parts go as
// separate messages, which a group chat reads naturally.
func (w *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: w.maxBytes() / utf8.UTFMax, Split: true}
}

// Send posts m to the robot, one request per part when the engine split
// the text, and classifies WeCom's answer. The receipt is the first
// part's; WeCom gives no message id.
func (w *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("wecom: nil message"))
	}
	bodies, err := w.bodies(m)
	if err != nil {
		return nil, err
	}
	var first *channel.Receipt
	for _, body := range bodies {
		r, err := w.post(ctx, body)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

type textBody struct {
	MsgType string `json:"msgtype"`
	Text    struct {
		Content             string   `json:"content"`
		MentionedList       []string `json:"mentioned_list,omitempty"`
		MentionedMobileList []string `json:"mentioned_mobile_list,omitempty"`
	} `json:"text"`
}

type markdownBody struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

// bodies builds the request bodies for m, one per part.
func (w *Sender) bodies(m *channel.Message) ([][]byte, error) {
	if len(m.Data) > 0 {
		if body, ok := rawBody(m.Data); ok {
			return [][]byte{body}, nil
		}
	}
	users := append([]string(nil), w.users...)
	mobiles := append([]string(nil), w.mobiles...)
	for _, t := range strings.Split(m.To, ",") {
		switch t = strings.TrimSpace(t); {
		case t == "":
		case channel.LooksLikePhone(t):
			mobiles = appendNew(mobiles, normalizePhone(t))
		default:
			users = appendNew(users, t)
		}
	}
	// Markdown mentions user ids inline; "@all" has no markdown form.
	var suffix string
	if w.format == FormatMarkdown {
		var b strings.Builder
		for _, u := range users {
			if u == "@all" {
				continue
			}
			tag := "<@" + u + ">"
			if !strings.Contains(strings.Join(m.Texts(), "\n"), tag) {
				b.WriteString(tag)
			}
		}
		if b.Len() > 0 {
			suffix = "\n" + b.String()
		}
	}
	texts := m.Texts()
	out := make([][]byte, 0, len(texts))
	for _, text := range texts {
		content := truncateBytes(text, w.maxBytes()-len(suffix)) + suffix
		if strings.TrimSpace(content) == "" {
			return nil, channel.Permanent("empty_message", 0, errors.New("wecom: the message has no text"))
		}
		var v any
		if w.format == FormatMarkdown {
			b := markdownBody{MsgType: "markdown"}
			b.Markdown.Content = content
			v = b
		} else {
			b := textBody{MsgType: "text"}
			b.Text.Content = content
			b.Text.MentionedList = users
			b.Text.MentionedMobileList = mobiles
			v = b
		}
		body, err := channel.MarshalJSON(v)
		if err != nil {
			return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("wecom: encode message: %w", err))
		}
		out = append(out, body)
	}
	return out, nil
}

// rawBody returns data as the request body when it is a JSON object with
// a non-empty string "msgtype".
func rawBody(data json.RawMessage) ([]byte, bool) {
	var probe struct {
		MsgType string `json:"msgtype"`
	}
	if json.Unmarshal(data, &probe) != nil || probe.MsgType == "" {
		return nil, false
	}
	return bytes.TrimSpace(data), true
}

func appendNew(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// truncateBytes cuts text so that it is at most max bytes of UTF-8, on a
// rune boundary, ending with channel.Ellipsis when it was cut.
// It is not channel.TruncateBytes because the two differ on invalid UTF-8
// (here an invalid byte counts as utf8.RuneLen(utf8.RuneError), 3 bytes),
// which error bodies quoted from the provider may hold.
func truncateBytes(text string, max int) string {
	if len(text) <= max {
		return text
	}
	limit := max - len(channel.Ellipsis)
	if limit < 0 {
		limit = 0
	}
	cut := 0
	for i, r := range text {
		if i+utf8.RuneLen(r) > limit {
			break
		}
		cut = i + utf8.RuneLen(r)
	}
	return strings.TrimRight(text[:cut], " \t\r\n") + channel.Ellipsis
}

// post makes one request and classifies the answer.
func (w *Sender) post(ctx context.Context, body []byte) (*channel.Receipt, error) {
	u := *w.endpoint
	q := u.Query()
	q.Set("key", w.key)
	u.RawQuery = q.Encode()
	resp, err := httpcall.Do(ctx, w.client, httpcall.Request{
		URL:     u.String(),
		Header:  httpcall.JSONHeader(),
		Body:    body,
		Secrets: []string{w.key},
	})
	if err != nil {
		return nil, err
	}
	secrets := httpcall.Secrets(u.String(), w.key)
	if err := httpcall.Classify(resp, secrets...); err != nil {
		return nil, err
	}
	if err := Classify(resp.StatusCode, resp.Body); err != nil {
		return nil, httpcall.Scrub(err, secrets...)
	}
	return &channel.Receipt{StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}

// answer is WeCom's response body.
type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Classify reads the body of a 2xx answer: errcode 0 is success, anything
// else a classified *channel.Error:
//
//   - 45009 (api freq out of limit): retry after RateLimitDelay;
//   - -1 (system busy): retryable;
//   - 93000 (invalid webhook url: the key is wrong or the robot was
//     removed): permanent, reason "auth";
//   - 40008 (invalid message type), 44004 (empty content), 40058
//     (invalid parameter), 45002 (content too long) and any other code:
//     permanent, as the same request cannot succeed later;
//   - a body that is not a JSON object with errcode: retryable, because a
//     2xx that is not WeCom's answer comes from something in between (a
//     proxy, a captive portal), not from WeCom.
func Classify(status int, body []byte) error {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil || a.ErrCode == nil {
		return &channel.Error{
			Class: channel.ClassRetryable, StatusCode: status, Reason: "unexpected_response", Response: body,
			Err: fmt.Errorf("wecom: HTTP %d without an errcode: %s", status, excerpt(body)),
		}
	}
	code := *a.ErrCode
	if code == 0 {
		return nil
	}
	e := &channel.Error{
		Class: channel.ClassPermanent, StatusCode: status, Response: body,
		Err: fmt.Errorf("wecom: errcode %d: %s", code, excerpt([]byte(a.ErrMsg))),
	}
	switch code {
	case 45009:
		e.Class, e.After, e.Reason = channel.ClassRetryAfter, RateLimitDelay, "rate_limited"
	case -1:
		e.Class, e.Reason = channel.ClassRetryable, "busy"
	case 93000:
		e.Reason = "auth"
	case 40008:
		e.Reason = "invalid_message_type"
	default:
		// A fixed label: Reason is a metric label and must stay bounded.
		e.Reason = "rejected"
	}
	return e
}

// excerpt is at most 200 bytes of b on one line, for error text.
func excerpt(b []byte) string {
	return truncateBytes(strings.Join(strings.Fields(string(b)), " "), 200)
}
