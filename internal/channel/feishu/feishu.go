// Package feishu delivers messages through a Feishu (飞书) or Lark custom
// bot (自定义机器人): one JSON POST per message to
// https://open.feishu.cn/open-apis/bot/v2/hook/{hook_id} (Lark:
// https://open.larksuite.com/open-apis/bot/v2/hook/{hook_id}).
//
// See https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot.
//
// What is sent:
//
//   - format text: {"msg_type":"text","content":{"text":…}};
//   - format post: {"msg_type":"post","content":{"post":{"zh_cn":{"title":
//     Subject,"content":[[{"tag":"text","text":line}],…]}}}}, one paragraph
//     per line of text;
//   - Content.Data that is a JSON object with "msg_type" is the complete
//     body (an interactive card, share_chat, image, …); a JSON object
//     that is a card itself (it has "elements", "header", "body" or
//     "schema") is sent as {"msg_type":"interactive","card":Data}; other
//     Data is meant for other channels and is ignored.
//
// With a signing secret every body also carries "timestamp" (Unix
// seconds, as a string) and "sign" = base64(HmacSHA256(key = timestamp +
// "\n" + secret, message = empty)); note that the secret is part of the
// key and the message is empty, unlike DingTalk's signature.
//
// Message.To lists extra members to @-mention, comma-separated (open_id,
// user id, or "all"): text gets <at user_id="…"></at> tags, post an "at"
// element. The bot is the destination, so there is no per-message
// recipient.
//
// A custom bot's answer has no message id, so receipts carry none and
// nothing can be updated later.
package feishu

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxBodyBytes is the largest request body Send posts. Feishu documents a
// limit of 20 K for a custom bot's request body; 20,000 bytes stays under
// it whichever K is meant.
const MaxBodyBytes = 20000

// MaxLength is the text length in runes that always fits MaxBodyBytes: 4
// bytes a rune at most, with room for the title, mentions and JSON. Send
// also cuts by bytes, so longer Latin or Chinese text can still go whole.
const MaxLength = 4000

// RateLimitDelay is how long to wait after code 11232 (frequency
// limited). A custom bot may send 100 messages a minute and 5 a second;
// the answer does not say which was exceeded, and after a minute both
// have cleared.
const RateLimitDelay = time.Minute

// Sender posts messages to one Feishu or Lark custom bot. It is safe for
// concurrent use.
type Sender struct {
	url      string
	hook     string
	secret   string
	format   string
	locale   string
	mentions []string
	client   *http.Client
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
		return nil, errors.New("feishu: nil settings")
	}
	if client == nil {
		return nil, errors.New("feishu: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("feishu: %w", err)
	}
	locale := s.Locale
	if locale == "" {
		locale = "zh_cn"
	}
	return &Sender{
		url:      s.base() + "/" + s.HookID.Value(),
		hook:     s.HookID.Value(),
		secret:   s.Secret.Value(),
		format:   s.Format,
		locale:   locale,
		mentions: append([]string(nil), s.Mentions...),
		client:   client,
		now:      time.Now,
	}, nil
}

// Capabilities implements channel.Describer. Parts go as separate
// messages, which a group chat reads naturally; the subject is the post
// title.
func (f *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxLength, Split: true, Subject: true}
}

// Sign returns the custom bot signature for a timestamp in seconds:
// base64(HmacSHA256(key = timestamp + "\n" + secret, message = "")).
func Sign(secret string, timestamp int64) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(timestamp, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Send posts m to the bot, one request per part when the engine split the
// text, and classifies the answer. The receipt is the first part's; a
// custom bot gives no message id.
func (f *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("feishu: nil message"))
	}
	var ts int64
	var sign string
	if f.secret != "" {
		ts = f.now().Unix()
		sign = Sign(f.secret, ts)
	}
	bodies, err := f.bodies(m, ts, sign)
	if err != nil {
		return nil, err
	}
	var first *channel.Receipt
	for _, body := range bodies {
		r, err := f.post(ctx, body, sign)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// signature holds the fields a signed body adds.
type signature struct {
	Timestamp string `json:"timestamp,omitempty"`
	Sign      string `json:"sign,omitempty"`
}

type textBody struct {
	signature
	MsgType string `json:"msg_type"`
	Content struct {
		Text string `json:"text"`
	} `json:"content"`
}

// element is one inline element of a post paragraph.
type element struct {
	Tag    string `json:"tag"`
	Text   string `json:"text,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

type postBody struct {
	signature
	MsgType string `json:"msg_type"`
	Content struct {
		Post map[string]postContent `json:"post"`
	} `json:"content"`
}

type postContent struct {
	Title   string      `json:"title"`
	Content [][]element `json:"content"`
}

// bodies builds the request bodies for m, one per part; ts and sign are
// zero without a secret.
func (f *Sender) bodies(m *channel.Message, ts int64, sign string) ([][]byte, error) {
	sig := signature{Sign: sign}
	if sign != "" {
		sig.Timestamp = strconv.FormatInt(ts, 10)
	}
	if len(m.Data) > 0 {
		if body, ok, err := rawBody(m.Data, sig); ok || err != nil {
			if err != nil {
				return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("feishu: data: %w", err))
			}
			if len(body) > MaxBodyBytes {
				return nil, channel.Permanent("too_large", 0, fmt.Errorf("feishu: data makes a %d-byte body, over the %d-byte limit", len(body), MaxBodyBytes))
			}
			return [][]byte{body}, nil
		}
	}
	mentions := append([]string(nil), f.mentions...)
	for _, v := range strings.Split(m.To, ",") {
		if v = strings.TrimSpace(v); v != "" && !contains(mentions, v) {
			mentions = append(mentions, v)
		}
	}
	format := f.format
	if format == "" {
		format = FormatText
		if strings.TrimSpace(m.Subject) != "" {
			format = FormatPost
		}
	}
	texts := m.Texts()
	out := make([][]byte, 0, len(texts))
	for _, text := range texts {
		if strings.TrimSpace(text) == "" && len(mentions) == 0 && (format == FormatText || strings.TrimSpace(m.Subject) == "") {
			return nil, channel.Permanent("empty_message", 0, errors.New("feishu: the message has no text"))
		}
		build := func(text string) ([]byte, error) {
			if format == FormatPost {
				return channel.MarshalJSON(f.postMessage(sig, m.Subject, text, mentions))
			}
			b := textBody{signature: sig, MsgType: "text"}
			b.Content.Text = text + atTags(mentions)
			return channel.MarshalJSON(b)
		}
		body, err := fit(text, build)
		if err != nil {
			return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("feishu: encode message: %w", err))
		}
		out = append(out, body)
	}
	return out, nil
}

// postMessage builds a post body: the subject as title, one paragraph per line
// and the mentions in a last paragraph.
func (f *Sender) postMessage(sig signature, subject, text string, mentions []string) postBody {
	var paras [][]element
	if text != "" {
		for _, line := range strings.Split(text, "\n") {
			paras = append(paras, []element{{Tag: "text", Text: line}})
		}
	}
	if len(mentions) > 0 {
		var at []element
		for _, id := range mentions {
			at = append(at, element{Tag: "at", UserID: id})
		}
		paras = append(paras, at)
	}
	if paras == nil {
		paras = [][]element{}
	}
	b := postBody{signature: sig, MsgType: "post"}
	b.Content.Post = map[string]postContent{f.locale: {Title: channel.Truncate(strings.TrimSpace(subject), 200), Content: paras}}
	return b
}

// atTags renders mentions as text-message <at> tags.
func atTags(mentions []string) string {
	if len(mentions) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n")
	for i, id := range mentions {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(`<at user_id="` + id + `"></at>`)
	}
	return b.String()
}

// fit returns build(text), cutting text until the body is at most
// MaxBodyBytes. JSON escaping and post paragraphs make the body grow
// faster than the text, so it measures encoded bodies, searching for the
// longest prefix that fits.
func fit(text string, build func(string) ([]byte, error)) ([]byte, error) {
	body, err := build(text)
	if err != nil || len(body) <= MaxBodyBytes {
		return body, err
	}
	// Invariant: a cut to lo bytes fits (0 does, or nothing will), a cut
	// to hi bytes does not.
	lo, hi := 0, len(text)
	best, err := build("")
	if err != nil {
		return nil, err
	}
	if len(best) > MaxBodyBytes {
		return nil, fmt.Errorf("the body is %d bytes without any text, over the %d-byte limit", len(best), MaxBodyBytes)
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		b, err := build(truncateBytes(text, mid))
		if err != nil {
			return nil, err
		}
		if len(b) <= MaxBodyBytes {
			lo, best = mid, b
		} else {
			hi = mid
		}
	}
	return best, nil
}

// rawBody returns data as the body when it is a complete message (it has
// "msg_type") or a card, with the signature fields added. ok is false
// when data is neither.
func rawBody(data json.RawMessage, sig signature) (body []byte, ok bool, err error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil || obj == nil {
		return nil, false, nil
	}
	if _, full := obj["msg_type"]; !full {
		_, el := obj["elements"]
		_, hd := obj["header"]
		_, bd := obj["body"]
		_, sc := obj["schema"]
		if !el && !hd && !bd && !sc {
			return nil, false, nil
		}
		obj = map[string]json.RawMessage{"msg_type": json.RawMessage(`"interactive"`), "card": data}
	}
	if sig.Sign != "" {
		obj["timestamp"], _ = json.Marshal(sig.Timestamp)
		obj["sign"], _ = json.Marshal(sig.Sign)
	}
	body, err = channel.MarshalJSON(obj)
	return body, true, err
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
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
func (f *Sender) post(ctx context.Context, body []byte, sign string) (*channel.Receipt, error) {
	secrets := []string{f.hook}
	if f.secret != "" {
		secrets = append(secrets, f.secret, sign)
	}
	resp, err := httpcall.Do(ctx, f.client, httpcall.Request{
		URL:     f.url,
		Header:  httpcall.JSONHeader(),
		Body:    body,
		Secrets: secrets,
	})
	if err != nil {
		return nil, err
	}
	secrets = httpcall.Secrets(f.url, secrets...)
	if err := httpcall.Classify(resp, secrets...); err != nil {
		// Feishu may put a rate-limit code in a non-2xx answer; that
		// wins over a plain status unless a Retry-After said more.
		var ce *channel.Error
		if errors.As(err, &ce) && ce.Class != channel.ClassRetryAfter {
			if code, ok := answerCode(resp.Body); ok && code == codeFrequencyLimited {
				return nil, httpcall.Scrub(Classify(resp.StatusCode, resp.Body), secrets...)
			}
		}
		return nil, err
	}
	if err := Classify(resp.StatusCode, resp.Body); err != nil {
		return nil, httpcall.Scrub(err, secrets...)
	}
	return &channel.Receipt{StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}

// codeFrequencyLimited is Feishu's "frequency limited" code.
const codeFrequencyLimited = 11232

// answer is a custom bot's response body: {"code":0,"msg":"success",
// "data":{}}, which older bots give as {"StatusCode":0,
// "StatusMessage":"success"} (and some both).
type answer struct {
	Code          *int   `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// answerCode returns the non-zero code of body, or 0, and whether body
// is a bot answer at all.
func answerCode(body []byte) (int, bool) {
	var a answer
	if json.Unmarshal(body, &a) != nil || (a.Code == nil && a.StatusCode == nil) {
		return 0, false
	}
	if a.Code != nil && *a.Code != 0 {
		return *a.Code, true
	}
	if a.StatusCode != nil && *a.StatusCode != 0 {
		return *a.StatusCode, true
	}
	return 0, true
}

// Classify reads a custom bot's answer: code (or StatusCode) 0 is
// success, anything else a classified *channel.Error:
//
//   - 11232 (frequency limited): retry after RateLimitDelay;
//   - 9499 (bad request), 19001 (invalid hook), 19021 (sign match fail or
//     timestamp more than an hour off), 19022 (IP not allowed), 19024 (key
//     words not found) and any other code: permanent, as the same request
//     cannot succeed later;
//   - a body that is not a bot answer: retryable, because a 2xx that is
//     not Feishu's answer comes from something in between (a proxy, a
//     captive portal).
func Classify(status int, body []byte) error {
	code, ok := answerCode(body)
	if !ok {
		return &channel.Error{
			Class: channel.ClassRetryable, StatusCode: status, Reason: "unexpected_response", Response: body,
			Err: fmt.Errorf("feishu: HTTP %d without a code: %s", status, excerpt(body)),
		}
	}
	if code == 0 {
		return nil
	}
	var a answer
	_ = json.Unmarshal(body, &a)
	msg := a.Msg
	if msg == "" {
		msg = a.StatusMessage
	}
	e := &channel.Error{
		Class: channel.ClassPermanent, StatusCode: status, Response: body,
		Err: fmt.Errorf("feishu: code %d: %s", code, excerpt([]byte(msg))),
	}
	switch code {
	case codeFrequencyLimited:
		e.Class, e.After, e.Reason = channel.ClassRetryAfter, RateLimitDelay, "rate_limited"
	case 19021, 19022, 19024:
		e.Reason = "security_check"
	case 19001:
		e.Reason = "auth"
	case 9499:
		e.Reason = "bad_request"
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
