// Package teams posts messages to Microsoft Teams as Adaptive Cards
// through a Workflows webhook (the "When a Teams webhook request is
// received" trigger of Power Automate), which replaced the retired Office
// 365 connectors. Legacy connector URLs (*.webhook.office.com) take the
// same Adaptive Card envelope, so they work too.
//
// The body is the envelope Microsoft documents for the trigger:
//
//	{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//	  "contentUrl":null,"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json",
//	  "type":"AdaptiveCard","version":"1.4","body":[…]}}]}
//
// Teams refuses messages over 28 KB, so the encoded body is kept under
// MaxBodyBytes by cutting the text.
package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxBodyBytes bounds the encoded request body: Microsoft documents "The
// message size limit is 28 KB"; 28,000 bytes is the stricter reading.
const MaxBodyBytes = 28000

// CardVersion is the Adaptive Card schema version of the cards Herald
// builds; 1.4 is what Teams renders on every client.
const CardVersion = "1.4"

// Sender posts messages to one Teams webhook. It is safe for concurrent
// use.
type Sender struct {
	target    string
	apiURL    *url.URL // nil: no override
	fullWidth bool
	client    *http.Client
	secrets   []string
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass
// a long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("teams: nil settings")
	}
	if client == nil {
		return nil, errors.New("teams: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	t := &Sender{
		target:    s.WebhookURL.Value(),
		fullWidth: s.FullWidth,
		client:    client,
		secrets:   webhookSecrets(s.WebhookURL.Value()),
	}
	if s.APIURL != "" {
		u, err := url.Parse(s.APIURL)
		if err != nil {
			return nil, errors.New("teams: api_url: malformed URL")
		}
		t.apiURL = u
	}
	return t, nil
}

// webhookSecrets returns the parts of a webhook URL that authorise a post:
// the whole URL, its signature and every long path segment (a legacy
// connector URL keeps its tokens in the path). httpcall adds the query
// values itself.
func webhookSecrets(raw string) []string {
	out := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		if sig := u.Query().Get("sig"); sig != "" {
			out = append(out, sig)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if len(seg) >= 16 {
				out = append(out, seg)
			}
		}
	}
	return out
}

// Capabilities implements channel.Describer. A card shows the subject as
// its title; the limit is on bytes, not characters, so MaxLength is 0
// and Send cuts the text to fit MaxBodyBytes.
func (t *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{Subject: true}
}

// Send posts m as one Adaptive Card (one card per part when the engine
// split the text), and returns the first card's receipt. Workflows answers
// 202 Accepted and runs the flow later, so the receipt is not a delivery;
// its ProviderID is the flow run id (x-ms-workflow-run-id) when given.
//
// m.Data, when it is a JSON object with "type": "AdaptiveCard", is sent as
// the card as it is; any other JSON object is shown as a FactSet (one
// fact per key, sorted) under the text.
func (t *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("teams: nil message"))
	}
	target := t.target
	secrets := t.secrets
	if m.To != "" {
		if err := checkWebhook(m.To); err != nil {
			return nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("teams: recipient is not a webhook URL: %w", err))
		}
		target = m.To
		secrets = append(webhookSecrets(m.To), secrets...)
	}
	if t.apiURL != nil {
		u, err := url.Parse(target)
		if err != nil {
			return nil, channel.Permanent("invalid_recipient", 0, errors.New("teams: malformed webhook URL"))
		}
		u.Scheme, u.Host = t.apiURL.Scheme, t.apiURL.Host
		target = u.String()
	}
	bodies, err := t.bodies(m)
	if err != nil {
		return nil, err
	}
	var first *channel.Receipt
	for i, body := range bodies {
		r, err := t.post(ctx, target, body, secrets)
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("teams: part %d of %d: %w", i+1, len(bodies), err)
			}
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// bodies returns the request bodies for m, each within MaxBodyBytes.
func (t *Sender) bodies(m *channel.Message) ([][]byte, error) {
	if card, ok := adaptiveCard(m.Data); ok {
		body, err := channel.MarshalJSON(t.envelope(card))
		if err != nil {
			return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("teams: encode card: %w", err))
		}
		if len(body) > MaxBodyBytes {
			return nil, channel.Permanent("too_large", 0,
				fmt.Errorf("teams: the Adaptive Card in data makes a %d-byte message, over Teams' %d", len(body), MaxBodyBytes))
		}
		return [][]byte{body}, nil
	}
	facts := factSet(m.Data)
	texts := m.Content.Texts()
	var out [][]byte
	for i, text := range texts {
		subject := ""
		var f []fact
		if i == 0 {
			subject = m.Subject
			f = facts
		}
		if subject == "" && text == "" && len(f) == 0 {
			continue
		}
		body, err := t.fit(subject, text, f)
		if err != nil {
			return nil, err
		}
		out = append(out, body)
	}
	if len(out) == 0 {
		return nil, channel.Permanent("empty_message", 0, errors.New("teams: the message has no subject, text or data"))
	}
	return out, nil
}

// fit encodes a card for subject, text and facts, cutting the text (with
// channel.Truncate) as little as needed to stay within MaxBodyBytes.
func (t *Sender) fit(subject, text string, facts []fact) ([]byte, error) {
	build := func(text string) ([]byte, error) {
		b, err := channel.MarshalJSON(t.envelope(t.card(subject, text, facts)))
		if err != nil {
			return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("teams: encode card: %w", err))
		}
		return b, nil
	}
	body, err := build(text)
	if err != nil || len(body) <= MaxBodyBytes {
		return body, err
	}
	// The longest prefix (in runes) that fits; encoding is monotonic in
	// the length of the text, so a binary search finds it.
	lo, hi := 0, utf8.RuneCountInString(text)
	var best []byte
	for lo < hi {
		mid := (lo + hi + 1) / 2
		b, err := build(channel.Truncate(text, mid))
		if err != nil {
			return nil, err
		}
		if len(b) <= MaxBodyBytes {
			lo, best = mid, b
		} else {
			hi = mid - 1
		}
	}
	if best == nil {
		return nil, channel.Permanent("too_large", 0,
			fmt.Errorf("teams: the subject and data alone make a message over Teams' %d bytes", MaxBodyBytes))
	}
	return best, nil
}

// textBlock is an Adaptive Card TextBlock.
type textBlock struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Wrap   bool   `json:"wrap"`
}

// fact is one entry of an Adaptive Card FactSet.
type fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type factSetElement struct {
	Type  string `json:"type"`
	Facts []fact `json:"facts"`
}

// adaptiveCardContent is the card Herald builds, fields in the order
// Microsoft's examples use.
type adaptiveCardContent struct {
	Schema  string            `json:"$schema"`
	Type    string            `json:"type"`
	Version string            `json:"version"`
	Body    []any             `json:"body"`
	MSTeams map[string]string `json:"msteams,omitempty"`
}

// card builds the Adaptive Card for a text.
func (t *Sender) card(subject, text string, facts []fact) adaptiveCardContent {
	var body []any
	if subject != "" {
		body = append(body, textBlock{Type: "TextBlock", Text: subject, Weight: "Bolder", Size: "Medium", Wrap: true})
	}
	if text != "" {
		body = append(body, textBlock{Type: "TextBlock", Text: text, Wrap: true})
	}
	if len(facts) > 0 {
		body = append(body, factSetElement{Type: "FactSet", Facts: facts})
	}
	c := adaptiveCardContent{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: CardVersion,
		Body:    body,
	}
	if t.fullWidth {
		c.MSTeams = map[string]string{"width": "Full"}
	}
	return c
}

// attachment and message are the envelope the Workflows trigger expects.
type attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     any     `json:"content"`
}

type message struct {
	Type        string       `json:"type"`
	Attachments []attachment `json:"attachments"`
}

func (t *Sender) envelope(card any) message {
	return message{Type: "message", Attachments: []attachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content:     card,
	}}}
}

// adaptiveCard returns data as a card when it is a JSON object whose
// "type" is "AdaptiveCard".
func adaptiveCard(data json.RawMessage) (json.RawMessage, bool) {
	if len(data) == 0 {
		return nil, false
	}
	var probe struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &probe) != nil || probe.Type != "AdaptiveCard" {
		return nil, false
	}
	// Compact so that indentation does not count against the size limit.
	var b bytes.Buffer
	if json.Compact(&b, data) != nil {
		return nil, false
	}
	return b.Bytes(), true
}

// factSet turns a JSON object into facts, keys sorted; string values are
// shown as they are, others as JSON. Anything but an object gives none.
func factSet(data json.RawMessage) []fact {
	if len(data) == 0 {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil || len(obj) == 0 {
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	facts := make([]fact, 0, len(keys))
	for _, k := range keys {
		v := obj[k]
		var s string
		if json.Unmarshal(v, &s) != nil {
			var b bytes.Buffer
			if json.Compact(&b, v) == nil {
				s = b.String()
			} else {
				s = string(v)
			}
		}
		facts = append(facts, fact{Title: k, Value: s})
	}
	return facts
}

// legacyFailure matches the text a legacy connector answers with a 200
// when Teams refused the message behind it.
var legacyFailure = regexp.MustCompile(`returned HTTP error ([0-9]{3})`)

// post makes one request and classifies the answer.
func (t *Sender) post(ctx context.Context, target string, body []byte, secrets []string) (*channel.Receipt, error) {
	resp, err := httpcall.Do(ctx, t.client, httpcall.Request{
		URL:     target,
		Header:  httpcall.JSONHeader(),
		Body:    body,
		Secrets: secrets,
	})
	if err != nil {
		return nil, httpcall.Scrub(err, secrets...)
	}
	if err := classify(resp); err != nil {
		return nil, httpcall.Scrub(err, secrets...)
	}
	id := resp.Header.Get("x-ms-workflow-run-id")
	return &channel.Receipt{
		ProviderID: id,
		StatusCode: resp.StatusCode,
		Response:   resp.Body,
		// 202: the flow runs later and reports nothing back. A legacy
		// connector's 200 "1" means Teams took the message.
		Delivered: resp.StatusCode == http.StatusOK && strings.TrimSpace(string(resp.Body)) == "1",
	}, nil
}

// flowError is the error body of Power Automate and Logic Apps.
type flowError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// classify applies the HTTP status rules, names the flow's error code
// when the body has one, and catches a legacy connector's failure hidden
// in a 200 ("Webhook message delivery failed with error: Microsoft Teams
// endpoint returned HTTP error 429 …").
func classify(resp *httpcall.Response) error {
	status := resp.StatusCode
	err := httpcall.Classify(resp)
	if err == nil {
		m := legacyFailure.FindSubmatch(resp.Body)
		if m == nil || !bytes.Contains(resp.Body, []byte("delivery failed")) {
			return nil
		}
		inner, _ := strconv.Atoi(string(m[1]))
		msg := fmt.Errorf("teams: HTTP %d, but the connector says Teams returned %d: %s", status, inner, excerpt(resp.Body))
		switch {
		case inner == http.StatusTooManyRequests, inner >= 500, inner == http.StatusRequestTimeout:
			return &channel.Error{Class: channel.ClassRetryable, Reason: "teams_" + m1(m), StatusCode: status, Response: resp.Body, Err: msg}
		case inner == http.StatusRequestEntityTooLarge:
			return &channel.Error{Class: channel.ClassPermanent, Reason: "too_large", StatusCode: status, Response: resp.Body, Err: msg}
		}
		return &channel.Error{Class: channel.ClassPermanent, Reason: "teams_" + m1(m), StatusCode: status, Response: resp.Body, Err: msg}
	}
	var ce *channel.Error
	if !errors.As(err, &ce) {
		return err
	}
	var fe flowError
	if json.Unmarshal(resp.Body, &fe) == nil && fe.Error.Code != "" {
		out := *ce
		out.Err = fmt.Errorf("teams: HTTP %d %s: %s", status, fe.Error.Code, fe.Error.Message)
		if status == http.StatusRequestEntityTooLarge {
			out.Reason = "too_large"
		}
		return &out
	}
	return err
}

func m1(m [][]byte) string { return string(m[1]) }

// excerpt returns the start of a body on one line.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "")
	}
	return s
}
