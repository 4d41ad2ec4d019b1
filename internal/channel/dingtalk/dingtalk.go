// Package dingtalk delivers messages through a DingTalk (钉钉) custom
// robot: one JSON POST per message to
// https://oapi.dingtalk.com/robot/send?access_token=TOKEN, signed with
// &timestamp=…&sign=… when the robot's security setting is 加签.
//
// See https://open.dingtalk.com/document/orgapp/custom-robot-access and
// https://open.dingtalk.com/document/orgapp/custom-bot-send-message-type.
//
// What is sent:
//
//   - format text: {"msgtype":"text","text":{"content":…},"at":{…}};
//   - format markdown: {"msgtype":"markdown","markdown":{"title":Subject,
//     "text":…},"at":{…}}; the title is what notifications and the chat
//     list show, DingTalk does not render it inside the message;
//   - Content.Data, when it is a JSON object with a "msgtype" field
//     (actionCard, feedCard, link, or a hand-made text/markdown body), is
//     posted as it is, and Text, Subject and the mention settings are not
//     used; Data without "msgtype" is meant for other channels and is
//     ignored.
//
// Message.To lists whom to @-mention besides the configured members,
// comma-separated: phone numbers go to atMobiles, "all" sets isAtAll and
// anything else is a DingTalk user id (atUserIds). The robot itself is the
// destination, so there is no per-message recipient. DingTalk only turns a
// mention into a notification when "@<mobile or user id>" appears in the
// text, so missing ones are appended to it.
//
// A robot message has no id, so receipts carry none and nothing can be
// updated later.
package dingtalk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxContentBytes is the longest text content DingTalk accepts, in UTF-8
// bytes (20,000).
const MaxContentBytes = 20000

// MaxLength is MaxContentBytes in runes that always fit, whatever the
// script: a rune takes at most 4 bytes in UTF-8. Send also cuts by bytes,
// so a Latin or Chinese text may be longer than this and still go whole.
const MaxLength = MaxContentBytes / utf8.UTFMax

// RateLimitDelay is how long to wait after DingTalk's "send too fast"
// answer: a robot may send 20 messages a minute and one that sends more is
// throttled for 10 minutes, per the custom robot documentation.
const RateLimitDelay = 10 * time.Minute

// Sender posts messages to one DingTalk custom robot. It is safe for
// concurrent use.
type Sender struct {
	endpoint  *url.URL
	token     string
	secret    string
	format    string
	atMobiles []string
	atUserIDs []string
	atAll     bool
	client    *http.Client
	// now is the clock the signature's timestamp comes from.
	now func() time.Time
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass a
// long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("dingtalk: nil settings")
	}
	if client == nil {
		return nil, errors.New("dingtalk: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("dingtalk: %w", err)
	}
	u, err := url.Parse(s.apiURL())
	if err != nil {
		return nil, errors.New("dingtalk: api_url: malformed URL")
	}
	mobiles := make([]string, len(s.AtMobiles))
	for i, m := range s.AtMobiles {
		mobiles[i] = normalizePhone(m)
	}
	return &Sender{
		endpoint:  u,
		token:     s.AccessToken.Value(),
		secret:    s.Secret.Value(),
		format:    s.Format,
		atMobiles: mobiles,
		atUserIDs: append([]string(nil), s.AtUserIDs...),
		atAll:     s.AtAll,
		client:    client,
		now:       time.Now,
	}, nil
}

// Capabilities implements channel.Describer. Parts are sent as separate
// messages, which a group chat reads naturally; the subject is the
// markdown title.
func (d *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxLength, Split: true, Subject: true}
}

// Sign returns DingTalk's robot signature for a timestamp in milliseconds:
// base64(HmacSHA256(key = secret, message = timestamp + "\n" + secret)).
// The caller URL-encodes it as the sign query parameter.
func Sign(secret string, timestampMillis int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMillis, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Send posts m to the robot, one request per part when the engine split
// the text, and classifies DingTalk's answer. The receipt is the first
// part's; DingTalk gives no message id.
func (d *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("dingtalk: nil message"))
	}
	bodies, err := d.bodies(m)
	if err != nil {
		return nil, err
	}
	var first *channel.Receipt
	for _, body := range bodies {
		r, err := d.post(ctx, body)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// Body returns the JSON body Send posts for m (the first one, when m has
// several parts). It is exported for tests and for previews.
func (d *Sender) Body(m *channel.Message) ([]byte, error) {
	bodies, err := d.bodies(m)
	if err != nil {
		return nil, err
	}
	return bodies[0], nil
}

// at is the "at" object of text and markdown messages.
type at struct {
	AtMobiles []string `json:"atMobiles,omitempty"`
	AtUserIDs []string `json:"atUserIds,omitempty"`
	IsAtAll   bool     `json:"isAtAll"`
}

type textBody struct {
	MsgType string `json:"msgtype"`
	Text    struct {
		Content string `json:"content"`
	} `json:"text"`
	At at `json:"at"`
}

type markdownBody struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At at `json:"at"`
}

// bodies builds the request bodies for m, one per part.
func (d *Sender) bodies(m *channel.Message) ([][]byte, error) {
	if len(m.Data) > 0 {
		if body, ok := rawBody(m.Data); ok {
			return [][]byte{body}, nil
		}
	}
	mentions := d.mentions(m.To)
	suffix := mentions.suffix(m.Texts())
	format := d.format
	if format == "" {
		format = FormatText
		if strings.TrimSpace(m.Subject) != "" {
			format = FormatMarkdown
		}
	}
	texts := m.Texts()
	out := make([][]byte, 0, len(texts))
	for _, text := range texts {
		content := truncateBytes(text, MaxContentBytes-len(suffix)) + suffix
		if strings.TrimSpace(content) == "" {
			return nil, channel.Permanent("empty_message", 0, errors.New("dingtalk: the message has no text"))
		}
		var v any
		switch format {
		case FormatMarkdown:
			b := markdownBody{MsgType: "markdown", At: mentions.at}
			b.Markdown.Title = title(m.Subject, text)
			b.Markdown.Text = content
			v = b
		default:
			b := textBody{MsgType: "text", At: mentions.at}
			b.Text.Content = content
			v = b
		}
		body, err := channel.MarshalJSON(v)
		if err != nil {
			return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("dingtalk: encode message: %w", err))
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

// mentionSet is who one message @-mentions.
type mentionSet struct {
	at at
}

// mentions merges the configured mentions with those in to.
func (d *Sender) mentions(to string) mentionSet {
	ms := mentionSet{at: at{
		AtMobiles: append([]string(nil), d.atMobiles...),
		AtUserIDs: append([]string(nil), d.atUserIDs...),
		IsAtAll:   d.atAll,
	}}
	for _, v := range strings.Split(to, ",") {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
		case strings.EqualFold(v, "all") || strings.EqualFold(v, "@all"):
			ms.at.IsAtAll = true
		case channel.LooksLikePhone(v):
			ms.at.AtMobiles = appendNew(ms.at.AtMobiles, normalizePhone(v))
		default:
			ms.at.AtUserIDs = appendNew(ms.at.AtUserIDs, strings.TrimPrefix(v, "@"))
		}
	}
	return ms
}

// suffix returns the "@…" tokens to append so that every mention appears
// in the text, as DingTalk requires for it to notify.
func (ms mentionSet) suffix(texts []string) string {
	var b strings.Builder
	for _, id := range append(append([]string(nil), ms.at.AtMobiles...), ms.at.AtUserIDs...) {
		tag := "@" + id
		found := false
		for _, t := range texts {
			if strings.Contains(t, tag) {
				found = true
				break
			}
		}
		if !found {
			b.WriteString(" ")
			b.WriteString(tag)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n" + strings.TrimPrefix(b.String(), " ")
}

func appendNew(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// title is the markdown title: the subject, or else the text's first
// line, kept short because DingTalk shows it in a one-line preview.
func title(subject, text string) string {
	t := strings.TrimSpace(subject)
	if t == "" {
		t, _, _ = strings.Cut(strings.TrimSpace(text), "\n")
		t = strings.TrimLeft(t, "# ")
	}
	return channel.Truncate(t, 100)
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
func (d *Sender) post(ctx context.Context, body []byte) (*channel.Receipt, error) {
	u := *d.endpoint
	q := u.Query()
	q.Set("access_token", d.token)
	secrets := []string{d.token}
	if d.secret != "" {
		ts := d.now().UnixMilli()
		sign := Sign(d.secret, ts)
		q.Set("timestamp", strconv.FormatInt(ts, 10))
		q.Set("sign", sign)
		secrets = append(secrets, d.secret, sign)
	}
	u.RawQuery = q.Encode()
	resp, err := httpcall.Do(ctx, d.client, httpcall.Request{
		URL:     u.String(),
		Header:  http.Header{"Content-Type": {"application/json;charset=utf-8"}},
		Body:    body,
		Secrets: secrets,
	})
	if err != nil {
		return nil, err
	}
	secrets = httpcall.Secrets(u.String(), secrets...)
	if err := httpcall.Classify(resp, secrets...); err != nil {
		return nil, err
	}
	if err := Classify(resp.StatusCode, resp.Body); err != nil {
		return nil, httpcall.Scrub(err, secrets...)
	}
	return &channel.Receipt{StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}

// answer is DingTalk's response body.
type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Classify reads the body of a 2xx answer: errcode 0 is success, anything
// else a classified *channel.Error:
//
//   - 130101 (send too fast) and 410100 (rate limited): retry after
//     RateLimitDelay;
//   - -1 (system busy): retryable;
//   - 310000 (keyword missing, bad timestamp, sign mismatch, IP not
//     allowed), 300001 and 400101 (token does not exist), 400102 (robot
//     disabled), 400106 (robot does not exist), 400013 (group dissolved),
//     400105 (unsupported message type), 430101-430104 (unsafe link or
//     content) and any other code: permanent, as sending the same request
//     again cannot succeed;
//   - a body that is not a JSON object with errcode: retryable, because a
//     2xx that is not DingTalk's answer comes from something in between
//     (a proxy, a captive portal), not from DingTalk.
func Classify(status int, body []byte) error {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil || a.ErrCode == nil {
		return &channel.Error{
			Class: channel.ClassRetryable, StatusCode: status, Reason: "unexpected_response", Response: body,
			Err: fmt.Errorf("dingtalk: HTTP %d without an errcode: %s", status, excerpt(body)),
		}
	}
	code := *a.ErrCode
	if code == 0 {
		return nil
	}
	e := &channel.Error{
		Class: channel.ClassPermanent, StatusCode: status, Response: body,
		Err: fmt.Errorf("dingtalk: errcode %d: %s", code, excerpt([]byte(a.ErrMsg))),
	}
	switch code {
	case 130101, 410100:
		e.Class, e.After, e.Reason = channel.ClassRetryAfter, RateLimitDelay, "rate_limited"
	case -1:
		e.Class, e.Reason = channel.ClassRetryable, "busy"
	case 310000:
		e.Reason = "security_check"
	case 300001, 400101, 400102, 400106:
		e.Reason = "auth"
	case 400013:
		e.Reason = "group_dissolved"
	case 430101, 430102, 430103, 430104:
		e.Reason = "content_rejected"
	default:
		// A fixed label: Reason is a metric label and must stay bounded.
		e.Reason = "rejected"
	}
	return e
}

// excerpt is at most 200 bytes of b on one line, for error text.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = truncateBytes(s, 200)
	}
	return s
}
