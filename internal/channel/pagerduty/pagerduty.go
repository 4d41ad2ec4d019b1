// Package pagerduty sends messages to PagerDuty as Events API v2 alert
// events (POST https://events.pagerduty.com/v2/enqueue).
//
// A message becomes one event. Its correlation key is the event's
// dedup_key, so repeated triggers for the same key collapse into one open
// alert and a later resolve (an event type matching resolve_types, or
// "event_action": "resolve" in the message data) closes it: the recovery
// resolves the incident. Keys longer than PagerDuty's 255-character limit
// are replaced by "sha256:" and the hex SHA-256 of the key, which stays
// the same for every message of the run.
//
// The payload (trigger only) is: summary = the subject, or the text when
// there is no subject (at most 1024 characters, truncated); severity,
// source, component, group and class from the settings; custom_details =
// the text (when the subject is the summary), event_type, event_id and
// every field of the message data that is not one of the event fields
// below. Message data (a JSON object) may set event_action, dedup_key,
// severity, summary, source, component, group, class, client, client_url,
// links, images and custom_details; what it sets wins over the settings.
//
// PagerDuty answers 202 {"status":"success","dedup_key":...}; the
// dedup_key is the receipt's provider id. The Events API is asynchronous,
// so acceptance is not delivery.
package pagerduty

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// Limits of the Events API v2.
const (
	// MaxSummary is the longest payload.summary PagerDuty accepts.
	MaxSummary = 1024
	// MaxDedupKey is the longest dedup_key PagerDuty accepts.
	MaxDedupKey = 255
)

// Sender sends events to one PagerDuty integration. It is safe for
// concurrent use.
type Sender struct {
	s          Settings
	routingKey string
	endpoint   string
	client     *http.Client
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("pagerduty: nil settings")
	}
	if client == nil {
		return nil, errors.New("pagerduty: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("pagerduty: %w", err)
	}
	return &Sender{s: *s, routingKey: s.RoutingKey.Value(), endpoint: s.endpoint(), client: client}, nil
}

// Capabilities implements channel.Describer: the summary holds at most
// 1024 characters, and a later message with the same correlation key
// acknowledges or resolves the alert.
func (p *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxSummary, Subject: true, Update: true}
}

// Send enqueues one event per text part of m (normally one) and returns
// the receipt of the first.
func (p *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("pagerduty: nil message"))
	}
	var first *channel.Receipt
	for _, text := range m.Texts() {
		body, dedup, err := p.event(m, text)
		if err != nil {
			return nil, err
		}
		r, err := p.post(ctx, body, dedup)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// event is an Events API v2 request body.
type event struct {
	RoutingKey  string          `json:"routing_key"`
	EventAction string          `json:"event_action"`
	DedupKey    string          `json:"dedup_key,omitempty"`
	Payload     *payload        `json:"payload,omitempty"`
	Client      string          `json:"client,omitempty"`
	ClientURL   string          `json:"client_url,omitempty"`
	Links       json.RawMessage `json:"links,omitempty"`
	Images      json.RawMessage `json:"images,omitempty"`
}

type payload struct {
	Summary       string                     `json:"summary"`
	Source        string                     `json:"source"`
	Severity      string                     `json:"severity"`
	Component     string                     `json:"component,omitempty"`
	Group         string                     `json:"group,omitempty"`
	Class         string                     `json:"class,omitempty"`
	CustomDetails map[string]json.RawMessage `json:"custom_details,omitempty"`
}

// dataFields are the keys of message data that set event fields instead
// of becoming custom details.
var dataFields = map[string]bool{
	"event_action": true, "dedup_key": true, "severity": true, "summary": true,
	"source": true, "component": true, "group": true, "class": true,
	"client": true, "client_url": true, "links": true, "images": true,
	"custom_details": true,
}

// event builds the request body for one text of m and returns it with
// the dedup key it carries.
func (p *Sender) event(m *channel.Message, text string) ([]byte, string, error) {
	data, other, err := parseData(m.Data)
	if err != nil {
		return nil, "", err
	}
	str := func(key, def string) (string, error) {
		raw, ok := data[key]
		if !ok {
			return def, nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", channel.Permanent("invalid_data", 0, fmt.Errorf("pagerduty: data field %q must be a string", key))
		}
		return v, nil
	}

	action, err := str("event_action", p.action(m.EventType))
	if err != nil {
		return nil, "", err
	}
	if !validAction(action) {
		return nil, "", channel.Permanent("invalid_data", 0, fmt.Errorf("pagerduty: event_action %q is not trigger, acknowledge or resolve", action))
	}
	dedup, err := str("dedup_key", DedupKey(m.Key))
	if err != nil {
		return nil, "", err
	}
	if dedup == "" && len(m.PreviousIDs) > 0 {
		dedup = m.PreviousIDs[0]
	}
	dedup = DedupKey(dedup)
	ev := event{RoutingKey: p.routingKey, EventAction: action, DedupKey: dedup}
	if action != ActionTrigger {
		if dedup == "" {
			return nil, "", channel.Permanent("no_dedup_key", 0, fmt.Errorf("pagerduty: %s needs a dedup key, and the message has no correlation key", action))
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, "", channel.Permanent("invalid_message", 0, fmt.Errorf("pagerduty: encode event: %w", err))
		}
		return b, dedup, nil
	}

	pl := &payload{Component: p.s.Component, Group: p.s.Group, Class: p.s.Class}
	text = channel.Truncate(text, MaxSummary)
	summary := m.Subject
	if summary == "" {
		summary = text
	}
	if pl.Summary, err = str("summary", summary); err != nil {
		return nil, "", err
	}
	pl.Summary = channel.Truncate(strings.TrimSpace(pl.Summary), MaxSummary)
	if pl.Summary == "" {
		return nil, "", channel.Permanent("empty_message", 0, errors.New("pagerduty: a trigger needs a summary, and the message has no subject or text"))
	}
	if pl.Severity, err = str("severity", p.severity(m.Priority)); err != nil {
		return nil, "", err
	}
	if !validSeverity(pl.Severity) {
		return nil, "", channel.Permanent("invalid_data", 0, fmt.Errorf("pagerduty: severity %q is not critical, error, warning or info", pl.Severity))
	}
	source := p.s.Source
	if source == "" {
		source = "herald"
	}
	for _, f := range []struct {
		key string
		dst *string
		def string
	}{
		{"source", &pl.Source, source},
		{"component", &pl.Component, pl.Component},
		{"group", &pl.Group, pl.Group},
		{"class", &pl.Class, pl.Class},
	} {
		if *f.dst, err = str(f.key, f.def); err != nil {
			return nil, "", err
		}
	}

	details := map[string]json.RawMessage{}
	setString := func(k, v string) {
		if v != "" {
			b, _ := json.Marshal(v)
			details[k] = b
		}
	}
	if m.Subject != "" {
		setString("text", text)
	}
	setString("event_type", m.EventType)
	setString("event_id", m.EventID)
	for k, v := range data {
		if !dataFields[k] {
			details[k] = v
		}
	}
	if raw, ok := data["custom_details"]; ok {
		var cd map[string]json.RawMessage
		if err := json.Unmarshal(raw, &cd); err != nil {
			return nil, "", channel.Permanent("invalid_data", 0, errors.New("pagerduty: data field \"custom_details\" must be an object"))
		}
		for k, v := range cd {
			details[k] = v
		}
	}
	if other != nil {
		// Data that is not an object travels whole.
		details["data"] = other
	}
	if len(details) > 0 {
		pl.CustomDetails = details
	}
	ev.Payload = pl

	client := p.s.Client
	if client == "" {
		client = "Herald"
	}
	if ev.Client, err = str("client", client); err != nil {
		return nil, "", err
	}
	if ev.ClientURL, err = str("client_url", p.s.ClientURL); err != nil {
		return nil, "", err
	}
	ev.Links, ev.Images = data["links"], data["images"]
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, "", channel.Permanent("invalid_data", 0, fmt.Errorf("pagerduty: encode event: %w", err))
	}
	return b, dedup, nil
}

// parseData reads message data: an object's fields, or (other) the
// whole value when it is not an object.
func parseData(raw json.RawMessage) (fields map[string]json.RawMessage, other json.RawMessage, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil, nil
	}
	if !json.Valid(raw) {
		return nil, nil, channel.Permanent("invalid_data", 0, errors.New("pagerduty: message data is not valid JSON"))
	}
	if raw[0] != '{' {
		return nil, raw, nil
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, nil, channel.Permanent("invalid_data", 0, fmt.Errorf("pagerduty: message data: %w", err))
	}
	return fields, nil, nil
}

// action returns the event action the settings choose for an event type.
func (p *Sender) action(eventType string) string {
	if channel.MatchEventType(p.s.ResolveTypes, eventType) {
		return ActionResolve
	}
	if channel.MatchEventType(p.s.AcknowledgeTypes, eventType) {
		return ActionAcknowledge
	}
	if p.s.Action != "" {
		return p.s.Action
	}
	return ActionTrigger
}

// severity returns the configured severity, or one derived from the
// message priority.
func (p *Sender) severity(priority int) string {
	switch {
	case p.s.Severity != "":
		return p.s.Severity
	case priority > 0:
		return SeverityCritical
	case priority < 0:
		return SeverityWarning
	default:
		return SeverityError
	}
}

// DedupKey returns key as a PagerDuty dedup_key: unchanged when it fits
// in 255 bytes, otherwise "sha256:" and the key's hex SHA-256, so that
// every message of one run still names the same alert.
func DedupKey(key string) string {
	if len(key) <= MaxDedupKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// answer is the Events API response body, success or error.
type answer struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// post sends one event and classifies the answer.
func (p *Sender) post(ctx context.Context, body []byte, dedup string) (*channel.Receipt, error) {
	secrets := []string{p.routingKey}
	resp, err := httpcall.Do(ctx, p.client, httpcall.Request{
		URL:     p.endpoint,
		Header:  httpcall.JSONHeader("Accept", "application/json"),
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
	id := a.DedupKey
	if id == "" {
		id = dedup
	}
	return &channel.Receipt{ProviderID: id, StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// Classify turns an Events API answer into nil (accepted) or a classified
// error: the shared status rules (400 invalid event: permanent; 429
// throttled and 5xx: retryable, with Retry-After when PagerDuty sends
// one), with PagerDuty's own message and errors in the error text. A 2xx
// whose JSON status is not "success" is a permanent failure.
func Classify(resp *httpcall.Response) error {
	var a answer
	isJSON := json.Unmarshal(resp.Body, &a) == nil
	err := httpcall.Classify(resp)
	if err == nil {
		if isJSON && a.Status != "" && a.Status != "success" {
			return channel.Permanent("invalid_event", resp.StatusCode, fmt.Errorf("pagerduty: %s", describe(a)))
		}
		return nil
	}
	var ce *channel.Error
	if !errors.As(err, &ce) {
		return err
	}
	out := *ce
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		out.Reason = "invalid_event"
	case resp.StatusCode == http.StatusTooManyRequests:
		out.Reason = "throttled"
	}
	if isJSON && (a.Status != "" || a.Message != "") {
		out.Err = fmt.Errorf("pagerduty: HTTP %d: %s", resp.StatusCode, describe(a))
	} else {
		out.Err = fmt.Errorf("pagerduty: %w", ce.Err)
	}
	return &out
}

// describe joins an answer's status, message and errors into one line.
func describe(a answer) string {
	parts := make([]string, 0, 2+len(a.Errors))
	for _, s := range append([]string{a.Status, a.Message}, a.Errors...) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}
