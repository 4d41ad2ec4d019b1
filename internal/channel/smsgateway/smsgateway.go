// Package smsgateway sends SMS through any HTTP SMS gateway whose request
// can be described by templates: the URL, headers and body are Go
// text/template texts over the message (see Settings), parsed once when
// the channel is built, so a broken template is a configuration error,
// never a failed delivery.
//
// The answer is classified with the shared HTTP rules (2xx accepted,
// 408/425/429/5xx retryable with Retry-After honoured, other statuses
// permanent), narrowed by success_status when set; id_field names the
// provider id in a JSON answer.
package smsgateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
	"github.com/herald-notify/herald/internal/netguard"
)

// data is what the templates see.
type data struct {
	To, Text, Subject, MessageID, Key, Token string
}

// Sender sends SMS through one gateway. It is safe for concurrent use.
type Sender struct {
	tmpl          *templates
	method        string
	contentType   string
	token         string
	success       []int
	idPath        []string
	maxLength     int
	to            string
	anyRecipient  bool
	subjectPrefix bool
	client        *http.Client
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass a
// long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("smsgateway: nil settings")
	}
	if client == nil {
		return nil, errors.New("smsgateway: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("smsgateway: %w", err)
	}
	t, err := s.parse()
	if err != nil {
		return nil, fmt.Errorf("smsgateway: %w", err)
	}
	out := &Sender{
		tmpl:          t,
		method:        s.Method,
		contentType:   s.ContentType,
		token:         s.Token.Value(),
		success:       s.SuccessStatus,
		maxLength:     s.MaxLength,
		to:            s.To,
		anyRecipient:  s.AnyRecipient,
		subjectPrefix: s.SubjectPrefix,
		client:        client,
	}
	if out.method == "" {
		out.method = http.MethodPost
	}
	if out.contentType == "" {
		out.contentType = DefaultContentType
	}
	if out.maxLength == 0 {
		out.maxLength = DefaultMaxLength
	}
	if s.IDField != "" {
		out.idPath = strings.Split(s.IDField, ".")
	}
	return out, nil
}

// Capabilities implements channel.Describer: plain text up to max_length.
func (s *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: s.maxLength}
}

// Send makes one request per part of m (normally one) and returns the
// first one's receipt.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("smsgateway: nil message"))
	}
	to := m.To
	if to == "" {
		to = s.to
	}
	if to == "" {
		return nil, channel.Permanent("no_recipient", 0, errors.New("smsgateway: the message has no recipient and the channel no default to"))
	}
	if !s.anyRecipient && !channel.ValidE164(to) {
		return nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("smsgateway: recipient %q is not an E.164 phone number", to))
	}
	texts := m.Parts
	if len(texts) == 0 {
		texts = []string{s.text(m)}
	}
	var first *channel.Receipt
	for i, text := range texts {
		d := data{To: to, Text: channel.Truncate(text, s.maxLength), Subject: m.Subject, MessageID: m.ID, Key: m.Key, Token: s.token}
		r, err := s.send(ctx, d)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("smsgateway: part %d of %d: %w", i+1, len(texts), err)
			}
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

func (s *Sender) text(m *channel.Message) string {
	if s.subjectPrefix && m.Subject != "" {
		if m.Text == "" {
			return m.Subject
		}
		return m.Subject + ": " + m.Text
	}
	return m.Text
}

func render(t *template.Template, d data) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		// The template's error can quote the data, token included.
		return "", channel.Permanent("template", 0, fmt.Errorf("smsgateway: the %s template failed for this message", t.Name()))
	}
	return b.String(), nil
}

// send renders and makes one request.
func (s *Sender) send(ctx context.Context, d data) (*channel.Receipt, error) {
	target, err := render(s.tmpl.url, d)
	if err != nil {
		return nil, err
	}
	if err := netguard.CheckURL(target); err != nil {
		return nil, channel.Permanent("invalid_url", 0, fmt.Errorf("smsgateway: url: %w", err))
	}
	body, err := render(s.tmpl.body, d)
	if err != nil {
		return nil, err
	}
	secrets := []string{s.token}
	header := http.Header{"Content-Type": {s.contentType}}
	for k, t := range s.tmpl.headers {
		v, err := render(t, d)
		if err != nil {
			return nil, err
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, channel.Permanent("invalid_request", 0, fmt.Errorf("smsgateway: header %q renders with a line break", k))
		}
		header.Set(k, v)
		// A header value is usually a credential; keep it and its
		// parts (a Bearer token, Basic credentials) out of errors.
		for _, part := range []string{v, after(v, " ")} {
			if len(part) >= minSecret {
				secrets = append(secrets, part)
			}
		}
	}
	if s.method == http.MethodGet || s.method == http.MethodHead {
		body = ""
		header.Del("Content-Type")
	}
	resp, err := httpcall.Do(ctx, s.client, httpcall.Request{
		Method:  s.method,
		URL:     target,
		Header:  header,
		Body:    []byte(body),
		Secrets: secrets,
	})
	if err != nil {
		return nil, err
	}
	if err := s.classify(resp, secrets); err != nil {
		return nil, err
	}
	return &channel.Receipt{ProviderID: s.providerID(resp.Body), StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// minSecret is the shortest header value treated as a credential; shorter
// ones ("1", "json") would mangle ordinary words in error text.
const minSecret = 6

// after returns what follows the first sep in v, or "".
func after(v, sep string) string {
	_, rest, _ := strings.Cut(v, sep)
	return rest
}

// classify applies success_status when set, else the shared HTTP rules.
func (s *Sender) classify(resp *httpcall.Response, secrets []string) error {
	if len(s.success) == 0 {
		return httpcall.Classify(resp, secrets...)
	}
	if slices.Contains(s.success, resp.StatusCode) {
		return nil
	}
	if err := httpcall.Classify(resp, secrets...); err != nil {
		return err
	}
	// A 2xx the gateway's configuration does not count as success.
	return httpcall.Scrub(&channel.Error{
		Class: channel.ClassPermanent, StatusCode: resp.StatusCode, Reason: "unexpected_status", Response: resp.Body,
		Err: fmt.Errorf("smsgateway: HTTP %d is not in success_status %v", resp.StatusCode, s.success),
	}, secrets...)
}

// providerID follows id_field through a JSON answer; a string or number
// there is the id.
func (s *Sender) providerID(body []byte) string {
	if len(s.idPath) == 0 {
		return ""
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return ""
	}
	for _, key := range s.idPath {
		switch node := v.(type) {
		case map[string]any:
			v = node[key]
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(node) {
				return ""
			}
			v = node[i]
		default:
			return ""
		}
	}
	switch id := v.(type) {
	case string:
		return id
	case json.Number:
		return id.String()
	}
	return ""
}
