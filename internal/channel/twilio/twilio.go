// Package twilio sends SMS through Twilio's Programmable Messaging API:
// one POST of the Message resource per message,
//
//	POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json
//	Content-Type: application/x-www-form-urlencoded
//	Authorization: Basic base64(AccountSid:AuthToken) (or ApiKeySid:ApiKeySecret)
//
//	To=+15558675310&From=+15017122661&Body=...&StatusCallback=...
//
// as documented at https://www.twilio.com/docs/messaging/api/message-resource.
// Twilio answers 201 Created with the Message resource; its "sid" (SM...)
// becomes the receipt's provider id. Errors come back as
// {"code":21211,"message":"...","more_info":"...","status":400}: the HTTP
// status decides the class (see httpcall.Classify) and the Twilio code
// refines it and becomes the metric reason ("twilio_21211").
package twilio

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxLength is the longest Body Twilio accepts (1,600 characters, error
// 21617 / warning 14103 beyond it). Twilio splits it into SMS segments
// itself, so Herald never splits.
const MaxLength = 1600

// Sender sends SMS through one Twilio account. It is safe for concurrent
// use.
type Sender struct {
	endpoint       string
	header         http.Header
	from, service  string
	to             string
	statusCallback string
	subjectPrefix  bool
	secrets        []string
	client         *http.Client
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass a
// long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("twilio: nil settings")
	}
	if client == nil {
		return nil, errors.New("twilio: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("twilio: %w", err)
	}
	base := s.APIURL
	if base == "" {
		base = DefaultAPIURL
	}
	user, pass := s.AccountSID, s.AuthToken.Value()
	if s.APIKeySID != "" {
		user, pass = s.APIKeySID, s.APIKeySecret.Value()
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return &Sender{
		endpoint: strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" +
			url.PathEscape(s.AccountSID) + "/Messages.json",
		header: http.Header{
			"Content-Type":  {"application/x-www-form-urlencoded"},
			"Accept":        {"application/json"},
			"Authorization": {"Basic " + basic},
		},
		from:           s.From,
		service:        s.MessagingServiceSID,
		to:             s.To,
		statusCallback: s.StatusCallback,
		subjectPrefix:  s.SubjectPrefix,
		secrets:        []string{pass, basic},
		client:         client,
	}, nil
}

// Capabilities implements channel.Describer: plain text up to 1,600
// characters, which Twilio segments itself, so Herald never splits.
func (s *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxLength}
}

// Send posts one Message resource per part of m (normally one: SMS text
// is truncated, not split) and returns the first one's receipt, whose
// ProviderID is its Twilio SID.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("twilio: nil message"))
	}
	to := m.To
	if to == "" {
		to = s.to
	}
	if to == "" {
		return nil, channel.Permanent("no_recipient", 0, errors.New("twilio: the message has no recipient and the channel no default to"))
	}
	if !channel.ValidE164(to) {
		return nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("twilio: recipient %q is not an E.164 phone number", to))
	}
	texts := m.Parts
	if len(texts) == 0 {
		texts = []string{channel.Truncate(s.text(m), MaxLength)}
	}
	var first *channel.Receipt
	for i, text := range texts {
		if strings.TrimSpace(text) == "" {
			return nil, channel.Permanent("empty_text", 0, errors.New("twilio: the message text is empty"))
		}
		r, err := s.post(ctx, to, channel.Truncate(text, MaxLength))
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("twilio: part %d of %d: %w", i+1, len(texts), err)
			}
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// text is the body of a message without parts: the text, prefixed with the
// subject when the channel asks for it.
func (s *Sender) text(m *channel.Message) string {
	if s.subjectPrefix && m.Subject != "" {
		if m.Text == "" {
			return m.Subject
		}
		return m.Subject + ": " + m.Text
	}
	return m.Text
}

// form returns the request body for one message.
func (s *Sender) form(to, body string) url.Values {
	v := url.Values{"To": {to}, "Body": {body}}
	if s.service != "" {
		v.Set("MessagingServiceSid", s.service)
	} else {
		v.Set("From", s.from)
	}
	if s.statusCallback != "" {
		v.Set("StatusCallback", s.statusCallback)
	}
	return v
}

// post makes one Create Message request.
func (s *Sender) post(ctx context.Context, to, body string) (*channel.Receipt, error) {
	resp, err := httpcall.Do(ctx, s.client, httpcall.Request{
		URL:     s.endpoint,
		Header:  s.header,
		Body:    []byte(s.form(to, body).Encode()),
		Secrets: s.secrets,
	})
	if err != nil {
		return nil, err
	}
	if err := classify(resp, s.secrets); err != nil {
		return nil, err
	}
	var msg struct {
		SID string `json:"sid"`
	}
	// A 2xx without a parseable body still means Twilio accepted the
	// message; only the id is missing.
	_ = json.Unmarshal(resp.Body, &msg)
	return &channel.Receipt{ProviderID: msg.SID, StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// apiError is Twilio's error body.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// classify turns a Twilio answer into nil (2xx) or a classified error. The
// HTTP status rules apply first (so Retry-After is honoured); a Twilio
// error code then names the reason and corrects the class where Twilio
// documents a transient condition behind a 4xx.
func classify(resp *httpcall.Response, secrets []string) error {
	base := httpcall.Classify(resp, secrets...)
	if base == nil {
		return nil
	}
	var ce *channel.Error
	if !errors.As(base, &ce) {
		return base
	}
	var e apiError
	if json.Unmarshal(resp.Body, &e) != nil || e.Code == 0 {
		return base
	}
	out := *ce
	out.Reason = "twilio_" + strconv.Itoa(e.Code)
	msg := fmt.Sprintf("twilio: HTTP %d: error %d: %s", resp.StatusCode, e.Code, e.Message)
	if e.MoreInfo != "" {
		msg += " (" + e.MoreInfo + ")"
	}
	out.Err = errors.New(msg)
	if out.Class != channel.ClassRetryAfter {
		if c, ok := codeClass(e.Code); ok {
			out.Class = c
		}
	}
	return httpcall.Scrub(&out, secrets...)
}

// codeClass returns the class Twilio's documentation implies for an error
// code, where it differs from what the HTTP status alone says.
func codeClass(code int) (channel.Class, bool) {
	switch code {
	case 20429: // Too Many Requests: concurrency limit
		return channel.ClassRetryable, true
	case 21611: // This 'From' number has exceeded the maximum number of queued messages
		return channel.ClassRetryable, true
	case 20003, // Authentication Error
		20404, // Resource not found
		21211, // Invalid 'To' Phone Number
		21408, // Permission to send an SMS has not been enabled for the region
		21606, // The 'From' phone number provided is not a valid message-capable phone number
		21608, // The number is unverified (trial accounts)
		21610, // Attempt to send to unsubscribed recipient
		21614, // 'To' number is not a valid mobile number
		21617: // The concatenated message body exceeds the 1600 character limit
		return channel.ClassPermanent, true
	}
	return 0, false
}
