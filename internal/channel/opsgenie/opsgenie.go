// Package opsgenie sends messages to Opsgenie as alerts through the Alert
// API v2 (POST https://api.opsgenie.com/v2/alerts, Authorization:
// GenieKey <key>).
//
// A message creates an alert: message = the subject, or the first line of
// the text (at most 130 characters); description = the text (at most
// 15000); alias = the correlation key, so Opsgenie de-duplicates repeated
// alerts of one run into one open alert (keys longer than 512 characters
// become "sha256:" and their hex SHA-256). A message whose event type
// matches close_types (or whose data says "action": "close") closes that
// alert instead: POST /v2/alerts/{alias}/close?identifierType=alias.
//
// Message data (a JSON object) may set message, alias, description,
// priority, tags, actions, details, entity, source, user, note, responders
// and visibleTo, winning over the settings, and "action" (create|close);
// its other fields become alert details (string values as they are,
// other values as JSON text).
//
// Opsgenie processes alert requests asynchronously: 202 {"result":"Request
// will be processed","requestId":...} means accepted, not created. The
// receipt's provider id is that requestId, which GET
// /v2/alerts/requests/{requestId} resolves to the alert.
package opsgenie

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
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// Field limits of the Alert API.
const (
	MaxMessage     = 130
	MaxAlias       = 512
	MaxDescription = 15000
	MaxNote        = 25000
)

// Alert actions a message can ask for.
const (
	ActionCreate = "create"
	ActionClose  = "close"
)

// Sender creates and closes alerts through one Opsgenie API integration.
// It is safe for concurrent use.
type Sender struct {
	s      Settings
	key    string
	base   string
	client *http.Client
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("opsgenie: nil settings")
	}
	if client == nil {
		return nil, errors.New("opsgenie: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("opsgenie: %w", err)
	}
	return &Sender{s: *s, key: s.APIKey.Value(), base: s.baseURL(), client: client}, nil
}

// Capabilities implements channel.Describer: the text is the alert
// description (15000 characters), the subject its message, and a later
// message with the same correlation key can close it.
func (o *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxDescription, Subject: true, Update: true}
}

// Send makes one Alert API call per text part of m (normally one) and
// returns the receipt of the first.
func (o *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("opsgenie: nil message"))
	}
	var first *channel.Receipt
	for _, text := range m.Texts() {
		target, body, err := o.request(m, text)
		if err != nil {
			return nil, err
		}
		r, err := o.post(ctx, target, body)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// createAlert is the Create Alert request body.
type createAlert struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias,omitempty"`
	Description string            `json:"description,omitempty"`
	Responders  []Responder       `json:"responders,omitempty"`
	VisibleTo   []Responder       `json:"visibleTo,omitempty"`
	Actions     []string          `json:"actions,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source,omitempty"`
	Priority    string            `json:"priority,omitempty"`
	User        string            `json:"user,omitempty"`
	Note        string            `json:"note,omitempty"`
}

// closeAlert is the Close Alert request body.
type closeAlert struct {
	User   string `json:"user,omitempty"`
	Source string `json:"source,omitempty"`
	Note   string `json:"note,omitempty"`
}

// dataFields are the keys of message data that set request fields
// instead of becoming details.
var dataFields = map[string]bool{
	"action": true, "message": true, "alias": true, "description": true,
	"responders": true, "visibleTo": true, "actions": true, "tags": true,
	"details": true, "entity": true, "source": true, "priority": true,
	"user": true, "note": true,
}

func invalidData(format string, a ...any) error {
	return channel.Permanent("invalid_data", 0, fmt.Errorf("opsgenie: "+format, a...))
}

// request builds the URL and body of the call for one text of m.
func (o *Sender) request(m *channel.Message, text string) (string, []byte, error) {
	data, other, err := parseData(m.Data)
	if err != nil {
		return "", nil, err
	}
	get := func(key string, dst any) error {
		raw, ok := data[key]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return invalidData("data field %q has the wrong type", key)
		}
		return nil
	}
	action := ActionCreate
	if channel.MatchEventType(o.s.CloseTypes, m.EventType) {
		action = ActionClose
	}
	if err := get("action", &action); err != nil {
		return "", nil, err
	}
	alias := Alias(m.Key)
	if err := get("alias", &alias); err != nil {
		return "", nil, err
	}
	alias = Alias(alias)
	source := o.s.Source
	if source == "" {
		source = "Herald"
	}
	note := channel.Truncate(text, MaxNote)
	text = channel.Truncate(text, MaxDescription)

	switch action {
	case ActionClose:
		if alias == "" {
			return "", nil, channel.Permanent("no_alias", 0, errors.New("opsgenie: closing an alert needs its alias, and the message has no correlation key"))
		}
		c := closeAlert{User: o.s.User, Source: source, Note: note}
		if c.Note == "" {
			c.Note = o.s.Note
		}
		for k, dst := range map[string]*string{"user": &c.User, "source": &c.Source, "note": &c.Note} {
			if err := get(k, dst); err != nil {
				return "", nil, err
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			return "", nil, invalidData("encode close request: %v", err)
		}
		return o.base + "/v2/alerts/" + url.PathEscape(alias) + "/close?identifierType=alias", b, nil
	case ActionCreate:
	default:
		return "", nil, invalidData("action %q is not create or close", action)
	}

	a := createAlert{
		Alias:       alias,
		Description: text,
		Actions:     o.s.Actions,
		Tags:        o.s.Tags,
		Entity:      o.s.Entity,
		Source:      source,
		Priority:    o.priority(m.Priority),
		User:        o.s.User,
		Note:        o.s.Note,
		VisibleTo:   o.s.VisibleTo,
	}
	subject := strings.TrimSpace(m.Subject)
	if subject == "" {
		subject, _, _ = strings.Cut(strings.TrimSpace(text), "\n")
	}
	a.Message = subject
	to, err := ParseTargets(m.To)
	if err != nil {
		return "", nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("opsgenie: recipient: %w", err))
	}
	a.Responders = append(append([]Responder(nil), o.s.Responders...), to...)
	if len(o.s.Details) > 0 {
		a.Details = make(map[string]string, len(o.s.Details))
		for k, v := range o.s.Details {
			a.Details[k] = v
		}
	}
	for k, dst := range map[string]any{
		"message": &a.Message, "description": &a.Description, "responders": &a.Responders,
		"visibleTo": &a.VisibleTo, "actions": &a.Actions, "tags": &a.Tags,
		"entity": &a.Entity, "source": &a.Source, "priority": &a.Priority,
		"user": &a.User, "note": &a.Note,
	} {
		if err := get(k, dst); err != nil {
			return "", nil, err
		}
	}
	extra := map[string]string{}
	if other != nil {
		extra["data"] = string(other)
	}
	for k, v := range data {
		if dataFields[k] {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		extra[k] = s
	}
	var dd map[string]string
	if err := get("details", &dd); err != nil {
		return "", nil, err
	}
	for k, v := range dd {
		extra[k] = v
	}
	if len(extra) > 0 && a.Details == nil {
		a.Details = make(map[string]string, len(extra))
	}
	for k, v := range extra {
		a.Details[k] = v
	}

	a.Message = channel.Truncate(strings.TrimSpace(a.Message), MaxMessage)
	if a.Message == "" {
		return "", nil, channel.Permanent("empty_message", 0, errors.New("opsgenie: an alert needs a message, and the message has no subject or text"))
	}
	a.Description = channel.Truncate(a.Description, MaxDescription)
	if p, ok := parsePriority(a.Priority); ok {
		a.Priority = p
	} else {
		return "", nil, invalidData("priority %q is not P1..P5", a.Priority)
	}
	for i, r := range a.Responders {
		if err := r.validate(); err != nil {
			return "", nil, invalidData("responders[%d]: %v", i, err)
		}
	}
	if len(a.Tags) > maxTags {
		return "", nil, invalidData("at most %d tags, not %d", maxTags, len(a.Tags))
	}
	if len(a.Actions) > maxActions {
		return "", nil, invalidData("at most %d actions, not %d", maxActions, len(a.Actions))
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", nil, invalidData("encode alert: %v", err)
	}
	return o.base + "/v2/alerts", b, nil
}

// parseData reads message data: an object's fields, or (other) the
// whole value when it is not an object.
func parseData(raw json.RawMessage) (fields map[string]json.RawMessage, other json.RawMessage, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil, nil
	}
	if !json.Valid(raw) {
		return nil, nil, invalidData("message data is not valid JSON")
	}
	if raw[0] != '{' {
		return nil, raw, nil
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, nil, invalidData("message data: %v", err)
	}
	return fields, nil, nil
}

// priority returns the configured priority, or one derived from the
// message priority.
func (o *Sender) priority(p int) string {
	switch {
	case o.s.Priority != "":
		pr, _ := parsePriority(o.s.Priority)
		return pr
	case p > 0:
		return "P1"
	case p < 0:
		return "P5"
	default:
		return "P3"
	}
}

// Alias returns key as an Opsgenie alias: unchanged when it fits in 512
// bytes, otherwise "sha256:" and the key's hex SHA-256, so that every
// message of one run still names the same alert.
func Alias(key string) string {
	if len(key) <= MaxAlias {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// answer is the Alert API response body, success or error.
type answer struct {
	Result    string            `json:"result"`
	Message   string            `json:"message"`
	Errors    map[string]string `json:"errors"`
	Took      float64           `json:"took"`
	RequestID string            `json:"requestId"`
}

// post makes one call and classifies the answer.
func (o *Sender) post(ctx context.Context, target string, body []byte) (*channel.Receipt, error) {
	secrets := []string{o.key}
	resp, err := httpcall.Do(ctx, o.client, httpcall.Request{
		URL:     target,
		Header:  httpcall.JSONHeader("Authorization", "GenieKey "+o.key, "Accept", "application/json"),
		Body:    body,
		Secrets: secrets,
	})
	if err != nil {
		return nil, err
	}
	if err := Classify(resp); err != nil {
		return nil, httpcall.Scrub(err, secrets...)
	}
	var a answer
	_ = json.Unmarshal(resp.Body, &a)
	id := a.RequestID
	if id == "" {
		id = resp.Header.Get("X-Request-Id")
	}
	return &channel.Receipt{ProviderID: id, StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// Classify turns an Alert API answer into nil (accepted) or a classified
// error. The shared status rules apply (401 bad key, 402 plan, 403
// permission, 404, 422 invalid request: permanent; 429 and 5xx:
// retryable), named after Opsgenie's response codes. A 429 without a
// Retry-After header but with Opsgenie's X-RateLimit-Period-In-Sec (1 or
// 60: the per-second or per-minute bucket that overflowed) is retried
// after that period. Opsgenie's message, errors and requestId go into the
// error text.
func Classify(resp *httpcall.Response) error {
	err := httpcall.Classify(resp)
	if err == nil {
		return nil
	}
	var ce *channel.Error
	if !errors.As(err, &ce) {
		return err
	}
	out := *ce
	switch resp.StatusCode {
	case http.StatusBadRequest:
		out.Reason = "invalid_json"
	case http.StatusUnauthorized:
		out.Reason = "unauthenticated"
	case http.StatusPaymentRequired:
		out.Reason = "payment_required"
	case http.StatusForbidden:
		out.Reason = "forbidden"
	case http.StatusNotFound:
		out.Reason = "not_found"
	case http.StatusUnprocessableEntity:
		out.Reason = "unprocessable"
	case http.StatusTooManyRequests:
		out.Reason = "rate_limited"
		if out.Class != channel.ClassRetryAfter {
			if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("X-RateLimit-Period-In-Sec"))); err == nil && secs > 0 && secs <= 3600 {
				out.Class = channel.ClassRetryAfter
				out.After = time.Duration(secs) * time.Second
			}
		}
	}
	var a answer
	if json.Unmarshal(resp.Body, &a) == nil && (a.Message != "" || len(a.Errors) > 0) {
		out.Err = fmt.Errorf("opsgenie: HTTP %d: %s", resp.StatusCode, describe(a))
	} else {
		out.Err = fmt.Errorf("opsgenie: %w", ce.Err)
	}
	return &out
}

// describe joins an error answer's message, field errors and request id.
func describe(a answer) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(a.Message))
	keys := make([]string, 0, len(a.Errors))
	for k := range a.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "; %s: %s", k, a.Errors[k])
	}
	if a.RequestID != "" {
		fmt.Fprintf(&b, " (requestId %s)", a.RequestID)
	}
	return b.String()
}
