// Package matrix sends messages to a Matrix room through the
// client-server API (https://spec.matrix.org/latest/client-server-api/):
//
//	PUT {homeserver}/_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}
//	Authorization: Bearer <access token>
//
// The transaction id is derived from the message's idempotency key and
// the part index, so it is the same on every attempt of the same message.
// The homeserver treats a repeated PUT with the same transaction id (from
// the same access token) as the same event and answers with the event id
// it already created: an attempt that timed out after the homeserver
// accepted it is not posted twice when the engine retries it. That is the
// reason the API takes PUT with a client-chosen id.
package matrix

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxLength is the most characters Herald puts in one message: 16,000
// runes of plain text stay within the spec's 65,536-byte event limit
// (encoded as UTF-8, with the HTML copy dropped if both do not fit).
const MaxLength = 16000

// MaxContentBytes bounds the encoded event content. The spec limits a
// whole event to 65,536 bytes including the envelope and signatures the
// homeserver adds; 60,000 leaves room for those.
const MaxContentBytes = 60000

// Sender posts messages as one Matrix account. It is safe for concurrent
// use.
type Sender struct {
	base    string // API base URL without a trailing slash
	auth    http.Header
	room    string
	msgtype string
	update  bool
	client  *http.Client
	secrets []string

	mu      sync.Mutex
	aliases map[string]string // room alias → room id
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
// Nothing is sent until the first message; a room alias is resolved then.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("matrix: nil settings")
	}
	if client == nil {
		return nil, errors.New("matrix: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	base := s.Homeserver
	if s.APIURL != "" {
		base = s.APIURL
	}
	msgtype, _ := normMsgType(s.MsgType)
	token := s.AccessToken.Value()
	return &Sender{
		base:    strings.TrimRight(base, "/"),
		auth:    http.Header{"Authorization": {"Bearer " + token}},
		room:    s.Room,
		msgtype: msgtype,
		update:  s.Update,
		client:  client,
		secrets: []string{token},
		aliases: make(map[string]string),
	}, nil
}

// Capabilities implements channel.Describer. Clients show the HTML copy
// (formatted_body), in which the subject is a bold first line.
func (x *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{
		MaxLength: MaxLength,
		Split:     true,
		Subject:   true,
		HTML:      true,
		Update:    x.update,
	}
}

// content is an m.room.message event's content.
type content struct {
	MsgType       string     `json:"msgtype"`
	Body          string     `json:"body"`
	Format        string     `json:"format,omitempty"`
	FormattedBody string     `json:"formatted_body,omitempty"`
	NewContent    *content   `json:"m.new_content,omitempty"`
	RelatesTo     *relatesTo `json:"m.relates_to,omitempty"`
}

type relatesTo struct {
	RelType string `json:"rel_type"`
	EventID string `json:"event_id"`
}

// apiError is the standard error body of the client-server API.
type apiError struct {
	ErrCode      string `json:"errcode"`
	Error        string `json:"error"`
	RetryAfterMS int64  `json:"retry_after_ms"`
}

// Send posts m to its room: each part as its own event, in order,
// stopping at the first failure; the receipt is the first part's, with
// ProviderID "<room id>/<event id>". With update on and an earlier event
// in m.PreviousIDs, the newest one is replaced (m.replace) instead, in one
// event.
func (x *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("matrix: nil message"))
	}
	txnBase := m.IdempotencyKey
	if txnBase == "" {
		txnBase = m.ID
	}
	if txnBase == "" {
		// No key to de-duplicate on: a fresh id per call.
		var b [16]byte
		rand.Read(b[:])
		txnBase = hex.EncodeToString(b[:])
	}
	if x.update && len(m.PreviousIDs) > 0 {
		if room, event, ok := parseProviderID(m.PreviousIDs[0]); ok {
			c, err := x.content(m.Subject, m.Text, m.HTML)
			if err != nil {
				return nil, err
			}
			edit := &content{
				MsgType:       c.MsgType,
				Body:          "* " + c.Body,
				Format:        c.Format,
				FormattedBody: prefixed(c.FormattedBody),
				NewContent:    c,
				RelatesTo:     &relatesTo{RelType: "m.replace", EventID: event},
			}
			return x.send(ctx, room, txnBase+".edit", edit)
		}
	}
	room := m.To
	if room == "" {
		room = x.room
	}
	if room == "" {
		return nil, channel.Permanent("no_destination", 0, errors.New("matrix: no room: the message has no recipient and the channel no room"))
	}
	if !roomRE.MatchString(room) {
		return nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("matrix: recipient %q is not a room id (!id:server) or alias (#name:server)", short(room)))
	}
	if room[0] == '#' {
		id, err := x.resolve(ctx, room)
		if err != nil {
			return nil, err
		}
		room = id
	}
	var events []*content
	if len(m.Parts) > 0 {
		for i, p := range m.Parts {
			subject := ""
			if i == 0 {
				subject = m.Subject
			}
			c, err := x.content(subject, p, "")
			if err != nil {
				return nil, err
			}
			events = append(events, c)
		}
	} else {
		c, err := x.content(m.Subject, m.Text, m.HTML)
		if err != nil {
			return nil, err
		}
		events = append(events, c)
	}
	var first *channel.Receipt
	for i, c := range events {
		r, err := x.send(ctx, room, txnBase+"."+strconv.Itoa(i), c)
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("matrix: part %d of %d: %w", i+1, len(events), err)
			}
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// prefixed marks the fallback HTML of an edit like its plain body.
func prefixed(h string) string {
	if h == "" {
		return ""
	}
	return "* " + h
}

// content builds the event content for one message: body is the plain
// text (subject, blank line, text), formatted_body the HTML copy (the
// subject in <strong>, then the message's HTML or its escaped text). Both
// are cut to fit MaxLength and MaxContentBytes.
func (x *Sender) content(subject, text, htmlBody string) (*content, error) {
	if subject == "" && text == "" && htmlBody == "" {
		return nil, channel.Permanent("empty_message", 0, errors.New("matrix: the message has no subject and no text"))
	}
	if text == "" && htmlBody != "" {
		// The plain body is required; a client without HTML shows it.
		text = stripTags(htmlBody)
	}
	room := MaxLength
	if subject != "" {
		subject = channel.Truncate(subject, 256)
		room -= utf8.RuneCountInString(subject) + 2
	}
	text = channel.Truncate(text, room)
	build := func(text string, withHTML bool) *content {
		c := &content{MsgType: x.msgtype, Body: join(subject, "\n\n", text)}
		if !withHTML || (subject == "" && htmlBody == "") {
			return c
		}
		h := htmlBody
		if h == "" || utf8.RuneCountInString(h) > room {
			h = strings.ReplaceAll(html.EscapeString(text), "\n", "<br>")
		}
		if subject != "" {
			h = join("<strong>"+html.EscapeString(subject)+"</strong>", "<br>", h)
		}
		c.Format, c.FormattedBody = "org.matrix.custom.html", h
		return c
	}
	size := func(c *content) int {
		b, _ := channel.MarshalJSON(c)
		return len(b)
	}
	c := build(text, true)
	if size(c) <= MaxContentBytes {
		return c, nil
	}
	// Both copies do not fit: keep the plain one, cut further if needed.
	c = build(text, false)
	if size(c) <= MaxContentBytes {
		return c, nil
	}
	lo, hi := 0, utf8.RuneCountInString(text)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if size(build(channel.Truncate(text, mid), false)) <= MaxContentBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return build(channel.Truncate(text, lo), false), nil
}

func join(title, sep, text string) string {
	switch {
	case title == "":
		return text
	case text == "":
		return title
	}
	return title + sep + text
}

// stripTags returns the text of an HTML fragment, roughly: tags removed,
// <br> and block ends as newlines, entities decoded. It is only the
// fallback body for a message that has HTML and no text.
func stripTags(h string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(h, '<')
		if i < 0 {
			b.WriteString(h)
			break
		}
		b.WriteString(h[:i])
		j := strings.IndexByte(h[i:], '>')
		if j < 0 {
			break
		}
		tag := strings.ToLower(strings.Trim(h[i+1:i+j], "/ "))
		if tag == "br" || tag == "p" || tag == "div" || tag == "li" {
			b.WriteByte('\n')
		}
		h = h[i+j+1:]
	}
	return strings.TrimSpace(html.UnescapeString(b.String()))
}

// parseProviderID splits "<room id>/<event id>"; event ids start with $.
func parseProviderID(id string) (room, event string, ok bool) {
	room, event, ok = strings.Cut(id, "/$")
	if !ok || !roomRE.MatchString(room) || room[0] != '!' || event == "" {
		return "", "", false
	}
	return room, "$" + event, true
}

// escape escapes a path segment as the spec's examples do (":" too).
func escape(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}

// send PUTs one event.
func (x *Sender) send(ctx context.Context, room, txn string, c *content) (*channel.Receipt, error) {
	body, err := channel.MarshalJSON(c)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("matrix: encode event: %w", err))
	}
	h := x.auth.Clone()
	h.Set("Content-Type", "application/json")
	resp, err := httpcall.Do(ctx, x.client, httpcall.Request{
		Method:  http.MethodPut,
		URL:     x.base + "/_matrix/client/v3/rooms/" + escape(room) + "/send/m.room.message/" + escape(txn),
		Header:  h,
		Body:    body,
		Secrets: x.secrets,
	})
	if err != nil {
		return nil, httpcall.Scrub(err, x.secrets...)
	}
	if err := classify("send", resp); err != nil {
		return nil, httpcall.Scrub(err, x.secrets...)
	}
	var ok struct {
		EventID string `json:"event_id"`
	}
	id := ""
	if json.Unmarshal(resp.Body, &ok) == nil && ok.EventID != "" {
		id = room + "/" + ok.EventID
	}
	return &channel.Receipt{ProviderID: id, StatusCode: resp.StatusCode, Response: resp.Body, Delivered: true}, nil
}

// resolve returns the room id of an alias, asking the homeserver's room
// directory the first time and remembering the answer.
func (x *Sender) resolve(ctx context.Context, alias string) (string, error) {
	x.mu.Lock()
	id, ok := x.aliases[alias]
	x.mu.Unlock()
	if ok {
		return id, nil
	}
	resp, err := httpcall.Do(ctx, x.client, httpcall.Request{
		Method:  http.MethodGet,
		URL:     x.base + "/_matrix/client/v3/directory/room/" + escape(alias),
		Header:  x.auth.Clone(),
		Secrets: x.secrets,
	})
	if err != nil {
		return "", httpcall.Scrub(err, x.secrets...)
	}
	if err := classify("resolve "+alias, resp); err != nil {
		return "", httpcall.Scrub(err, x.secrets...)
	}
	var ans struct {
		RoomID string `json:"room_id"`
	}
	if json.Unmarshal(resp.Body, &ans) != nil || !roomRE.MatchString(ans.RoomID) || ans.RoomID[0] != '!' {
		return "", channel.Retryable("invalid_response", resp.StatusCode,
			fmt.Errorf("matrix: resolve %s: the directory answered without a room id", alias))
	}
	x.mu.Lock()
	x.aliases[alias] = ans.RoomID
	x.mu.Unlock()
	return ans.RoomID, nil
}

// classify applies the HTTP status rules and the spec's error codes:
// M_LIMIT_EXCEEDED waits for the Retry-After header or retry_after_ms;
// a bad or missing token, a forbidden room, an unknown room or alias and
// a too-large event are permanent.
func classify(op string, resp *httpcall.Response) error {
	status := resp.StatusCode
	httpErr := httpcall.Classify(resp)
	var e apiError
	parsed := json.Unmarshal(bytes.TrimSpace(resp.Body), &e) == nil && e.ErrCode != ""
	if httpErr == nil {
		return nil
	}
	if !parsed {
		return httpErr
	}
	var ce *channel.Error
	if !errors.As(httpErr, &ce) {
		return httpErr
	}
	out := *ce
	out.Err = fmt.Errorf("matrix: %s: %d %s: %s", op, status, e.ErrCode, e.Error)
	switch e.ErrCode {
	case "M_LIMIT_EXCEEDED":
		if out.Class != channel.ClassRetryAfter && e.RetryAfterMS > 0 {
			out.Class = channel.ClassRetryAfter
			out.After = time.Duration(e.RetryAfterMS) * time.Millisecond
		} else if out.Class == channel.ClassPermanent {
			out.Class = channel.ClassRetryable
		}
		out.Reason = "rate_limited"
	case "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN":
		out.Class, out.Reason = channel.ClassPermanent, "unauthorized"
	case "M_FORBIDDEN":
		out.Class, out.Reason = channel.ClassPermanent, "forbidden"
	case "M_NOT_FOUND":
		out.Class, out.Reason = channel.ClassPermanent, "not_found"
	case "M_TOO_LARGE":
		out.Class, out.Reason = channel.ClassPermanent, "too_large"
	}
	return &out
}
