// Package telegram delivers messages through the Telegram Bot API
// (https://core.telegram.org/bots/api): sendMessage for new messages and,
// with update: true, editMessageText for a later message with the same
// correlation key.
//
// The bot token travels in the request path (/bot<token>/sendMessage), so
// every error this package returns is scrubbed of it, whatever the
// provider or the network echoed.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxLength is the Bot API's limit on a message text: 4096 characters
// after entity parsing.
const MaxLength = 4096

// Sender posts messages with one bot. It is safe for concurrent use.
type Sender struct {
	base     string // APIURL + "/bot" + token
	chatID   string
	mode     string
	silent   bool
	noLinks  bool
	threadID int64
	update   bool
	client   *http.Client
	secrets  []string
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("telegram: nil settings")
	}
	if client == nil {
		return nil, errors.New("telegram: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	mode, _ := normParseMode(s.ParseMode)
	api := s.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	token := s.Token.Value()
	return &Sender{
		base:     strings.TrimRight(api, "/") + "/bot" + token,
		chatID:   s.ChatID,
		mode:     mode,
		silent:   s.DisableNotification,
		noLinks:  s.DisableLinkPreview,
		threadID: s.MessageThreadID,
		update:   s.Update,
		client:   client,
		secrets:  []string{token, "bot" + token},
	}, nil
}

// Capabilities implements channel.Describer. Telegram shows a subject as
// a bold first line, renders HTML in HTML mode, and takes long texts as
// several messages.
func (t *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{
		MaxLength: MaxLength,
		Split:     true,
		Subject:   true,
		HTML:      t.mode == ParseModeHTML,
		Update:    t.update,
	}
}

// linkPreview is the Bot API's LinkPreviewOptions, of which only
// is_disabled is used.
type linkPreview struct {
	IsDisabled bool `json:"is_disabled"`
}

// sendRequest is the body of sendMessage and editMessageText. chat_id is
// raw so that a numeric id goes out as the Integer the API documents and
// a username as a String.
type sendRequest struct {
	ChatID              json.RawMessage `json:"chat_id"`
	MessageID           int64           `json:"message_id,omitempty"`
	MessageThreadID     int64           `json:"message_thread_id,omitempty"`
	Text                string          `json:"text"`
	ParseMode           string          `json:"parse_mode,omitempty"`
	LinkPreviewOptions  *linkPreview    `json:"link_preview_options,omitempty"`
	DisableNotification bool            `json:"disable_notification,omitempty"`
}

// apiResponse is the Bot API's answer envelope.
type apiResponse struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Result      *struct {
		MessageID int64 `json:"message_id"`
		Chat      struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	} `json:"result"`
	Parameters *struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// Send posts m. Parts are sent as separate messages in order, stopping at
// the first failure; the receipt is the first part's. With update on and
// an earlier message in m.PreviousIDs, the newest one is edited instead
// (one call, the whole text cut to the limit). The receipt's ProviderID
// is "<chat id>/<message id>".
func (t *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("telegram: nil message"))
	}
	if t.update && len(m.PreviousIDs) > 0 {
		if chat, msgID, ok := parseProviderID(m.PreviousIDs[0]); ok {
			req := t.request(chat)
			req.MessageID = msgID
			// editMessageText takes neither of these.
			req.DisableNotification, req.MessageThreadID = false, 0
			req.Text = compose(t.mode, m.Subject, m.Text, m.HTML, MaxLength)
			if req.Text == "" {
				return nil, channel.Permanent("empty_message", 0, errors.New("telegram: the message has no subject and no text"))
			}
			return t.call(ctx, "editMessageText", req)
		}
	}
	chat := m.To
	if chat == "" {
		chat = t.chatID
	}
	if chat == "" {
		return nil, channel.Permanent("no_destination", 0, errors.New("telegram: no chat id: the message has no recipient and the channel no chat_id"))
	}
	if !chatRE.MatchString(chat) {
		return nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("telegram: recipient %q is not a numeric chat id or an @username", short(chat)))
	}
	var texts []string
	if len(m.Parts) > 0 {
		for i, p := range m.Parts {
			subject := ""
			if i == 0 {
				subject = m.Subject
			}
			// Parts are plain text: the HTML body is not split.
			texts = append(texts, compose(t.mode, subject, p, "", MaxLength))
		}
	} else {
		texts = []string{compose(t.mode, m.Subject, m.Text, m.HTML, MaxLength)}
	}
	var first *channel.Receipt
	for i, text := range texts {
		if text == "" {
			if len(texts) == 1 {
				return nil, channel.Permanent("empty_message", 0, errors.New("telegram: the message has no subject and no text"))
			}
			continue
		}
		req := t.request(chat)
		req.Text = text
		r, err := t.call(ctx, "sendMessage", req)
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("telegram: part %d of %d: %w", i+1, len(texts), err)
			}
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// request returns the common fields of a sendMessage body.
func (t *Sender) request(chat string) *sendRequest {
	return &sendRequest{
		ChatID:              chatJSON(chat),
		MessageThreadID:     t.threadID,
		ParseMode:           t.mode,
		LinkPreviewOptions:  t.linkOptions(),
		DisableNotification: t.silent,
	}
}

func (t *Sender) linkOptions() *linkPreview {
	if t.noLinks {
		return &linkPreview{IsDisabled: true}
	}
	return nil
}

// chatJSON encodes a chat id as a JSON integer when it is numeric and as
// a string otherwise.
func chatJSON(chat string) json.RawMessage {
	if _, err := strconv.ParseInt(chat, 10, 64); err == nil {
		return json.RawMessage(chat)
	}
	b, _ := json.Marshal(chat)
	return b
}

// parseProviderID splits "<chat id>/<message id>".
func parseProviderID(id string) (chat string, msg int64, ok bool) {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 {
		return "", 0, false
	}
	chat = id[:i]
	msg, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || msg <= 0 || !chatRE.MatchString(chat) {
		return "", 0, false
	}
	return chat, msg, true
}

// call makes one Bot API request and turns the answer into a receipt or a
// classified error.
func (t *Sender) call(ctx context.Context, method string, req *sendRequest) (*channel.Receipt, error) {
	body, err := channel.MarshalJSON(req)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("telegram: encode request: %w", err))
	}
	resp, err := httpcall.Do(ctx, t.client, httpcall.Request{
		URL:     t.base + "/" + method,
		Header:  httpcall.JSONHeader(),
		Body:    body,
		Secrets: t.secrets,
	})
	if err != nil {
		return nil, httpcall.Scrub(err, t.secrets...)
	}
	var ans apiResponse
	parsed := json.Unmarshal(bytes.TrimSpace(resp.Body), &ans) == nil
	if err := classify(method, resp, &ans, parsed); err != nil {
		return nil, httpcall.Scrub(err, t.secrets...)
	}
	chat := string(req.ChatID)
	if s, err := strconv.Unquote(chat); err == nil {
		chat = s
	}
	id := ""
	if ans.Result != nil && ans.Result.MessageID != 0 {
		if ans.Result.Chat.ID != 0 {
			chat = strconv.FormatInt(ans.Result.Chat.ID, 10)
		}
		id = chat + "/" + strconv.FormatInt(ans.Result.MessageID, 10)
	} else if req.MessageID != 0 {
		// editMessageText answered "not modified": the message stands.
		id = chat + "/" + strconv.FormatInt(req.MessageID, 10)
	}
	return &channel.Receipt{
		ProviderID: id,
		StatusCode: resp.StatusCode,
		Response:   resp.Body,
		Delivered:  true,
	}, nil
}

// classify applies the HTTP status rules and the Bot API's own: a body
// with "ok": false is a failure whatever the status; parameters.retry_after
// is the flood-control wait; a group migrated to a supergroup is a
// configuration change (permanent, with the new id in the error).
// editMessageText's "message is not modified" is success: the message
// already says what the update would.
func classify(method string, resp *httpcall.Response, ans *apiResponse, parsed bool) error {
	status := resp.StatusCode
	desc := ans.Description
	if parsed && !ans.OK && method == "editMessageText" && strings.Contains(desc, "message is not modified") {
		return nil
	}
	httpErr := httpcall.Classify(resp)
	if httpErr == nil && (!parsed || ans.OK) {
		// A 2xx that is not a Bot API answer is taken as accepted: the
		// message may well be out, and a retry could post it twice.
		return nil
	}
	if !parsed || desc == "" {
		// Not a Bot API answer (a proxy's page, an echo): the status decides.
		if httpErr != nil {
			return httpErr
		}
		desc = "ok is false"
	}
	msg := fmt.Errorf("telegram: %s: %d %s", method, status, desc)
	if ans.ErrorCode != 0 && ans.ErrorCode != status {
		msg = fmt.Errorf("telegram: %s: HTTP %d, error_code %d: %s", method, status, ans.ErrorCode, desc)
	}
	mk := func(c *channel.Error) error {
		c.Response = resp.Body
		return c
	}
	if p := ans.Parameters; p != nil && p.RetryAfter > 0 {
		return mk(channel.RetryAfter("rate_limited", status, time.Duration(p.RetryAfter)*time.Second, msg))
	}
	if p := ans.Parameters; p != nil && p.MigrateToChatID != 0 {
		return mk(channel.Permanent("chat_migrated", status,
			fmt.Errorf("%w (the group is now supergroup %d: update the chat id)", msg, p.MigrateToChatID)))
	}
	code := ans.ErrorCode
	if code == 0 || httpErr != nil {
		code = status
	}
	var ce *channel.Error
	if httpErr != nil && errors.As(httpErr, &ce) && ce.Class != channel.ClassPermanent {
		// 429 without retry_after, 5xx: keep the status rules (and any
		// Retry-After header) but with the Bot API's description.
		out := *ce
		out.Err = msg
		return &out
	}
	switch {
	case code == http.StatusUnauthorized:
		return mk(channel.Permanent("unauthorized", status, msg))
	case code == http.StatusForbidden:
		return mk(channel.Permanent("forbidden", status, msg))
	case code == http.StatusNotFound:
		// The Bot API answers 404 for a token it does not know.
		return mk(channel.Permanent("not_found", status, fmt.Errorf("%w (is the bot token right?)", msg)))
	case code == http.StatusTooManyRequests:
		return mk(channel.Retryable("rate_limited", status, msg))
	case code >= 500:
		return mk(channel.Retryable("provider_error", status, msg))
	case strings.Contains(desc, "chat not found"):
		return mk(channel.Permanent("chat_not_found", status, msg))
	case strings.Contains(desc, "message is too long"):
		return mk(channel.Permanent("message_too_long", status, msg))
	case strings.Contains(desc, "can't parse entities"):
		return mk(channel.Permanent("parse_error", status, msg))
	}
	return mk(channel.Permanent("bad_request", status, msg))
}
