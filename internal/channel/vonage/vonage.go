// Package vonage sends SMS through the Vonage (formerly Nexmo) SMS API:
// one form POST per message,
//
//	POST https://rest.nexmo.com/sms/json
//	Content-Type: application/x-www-form-urlencoded
//
//	api_key=...&api_secret=...&from=...&to=447700900000&text=...&type=unicode&client-ref=<message id>
//
// as documented at https://developer.vonage.com/en/api/sms. "to" is the
// E.164 number without "+"; "type" is "unicode" when the text has a
// character outside the GSM-7 default and extension tables, "text"
// otherwise. The API answers HTTP 200 with
// {"message-count":"1","messages":[{"to":...,"message-id":...,"status":"0",...}]}:
// a "status" other than "0" is a failure (see Classify), and "message-id"
// becomes the provider id.
package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// MaxLength is the longest text the SMS API takes (3,200 characters,
// concatenated by Vonage into SMS parts; longer text gets status 12,
// "Message Too Long").
const MaxLength = 3200

// ThrottledDelay is how long a message waits after status 1 (Throttled):
// the account limit is counted per second (30 API requests a second by
// default).
const ThrottledDelay = time.Second

// maxClientRef is the longest client-ref the API accepts.
const maxClientRef = 100

// Sender sends SMS through one Vonage account. It is safe for concurrent
// use.
type Sender struct {
	endpoint      string
	key, secret   string
	from, to      string
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
		return nil, errors.New("vonage: nil settings")
	}
	if client == nil {
		return nil, errors.New("vonage: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("vonage: %w", err)
	}
	base := s.APIURL
	if base == "" {
		base = DefaultAPIURL
	}
	return &Sender{
		endpoint:      strings.TrimRight(base, "/") + "/sms/json",
		key:           s.APIKey,
		secret:        s.APISecret.Value(),
		from:          strings.TrimPrefix(s.From, "+"),
		to:            s.To,
		subjectPrefix: s.SubjectPrefix,
		client:        client,
	}, nil
}

// Capabilities implements channel.Describer: plain text up to 3,200
// characters, which Vonage concatenates itself.
func (s *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: MaxLength}
}

// Send posts one SMS per part of m (normally one) and returns the first
// one's receipt, whose ProviderID is its message-id.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("vonage: nil message"))
	}
	to := m.To
	if to == "" {
		to = s.to
	}
	if to == "" {
		return nil, channel.Permanent("no_recipient", 0, errors.New("vonage: the message has no recipient and the channel no default to"))
	}
	if !channel.ValidE164(to) {
		return nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("vonage: recipient %q is not an E.164 phone number", to))
	}
	texts := m.Parts
	if len(texts) == 0 {
		texts = []string{s.text(m)}
	}
	var first *channel.Receipt
	for i, text := range texts {
		if strings.TrimSpace(text) == "" {
			return nil, channel.Permanent("empty_text", 0, errors.New("vonage: the message text is empty"))
		}
		r, err := s.post(ctx, s.form(to[1:], channel.Truncate(text, MaxLength), m.ID))
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("vonage: part %d of %d: %w", i+1, len(texts), err)
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

// form returns the request body of one SMS.
func (s *Sender) form(to, text, id string) url.Values {
	v := url.Values{
		"api_key":    {s.key},
		"api_secret": {s.secret},
		"from":       {s.from},
		"to":         {to},
		"text":       {text},
		"type":       {"text"},
	}
	if !GSM7(text) {
		v.Set("type", "unicode")
	}
	if id != "" {
		if len(id) > maxClientRef {
			id = id[:maxClientRef]
		}
		v.Set("client-ref", id)
	}
	return v
}

func (s *Sender) post(ctx context.Context, form url.Values) (*channel.Receipt, error) {
	resp, err := httpcall.Do(ctx, s.client, httpcall.Request{
		URL:     s.endpoint,
		Header:  http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}},
		Body:    []byte(form.Encode()),
		Secrets: []string{s.secret},
	})
	if err != nil {
		return nil, err
	}
	id, err := Classify(resp, s.secret)
	if err != nil {
		return nil, err
	}
	return &channel.Receipt{ProviderID: id, StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// answer is the SMS API's response.
type answer struct {
	MessageCount string `json:"message-count"`
	Messages     []struct {
		To        string `json:"to"`
		MessageID string `json:"message-id"`
		Status    string `json:"status"`
		ErrorText string `json:"error-text"`
	} `json:"messages"`
}

// Classify turns an SMS API answer into the message-id of the accepted
// message or a classified error. The HTTP status rules come first; then
// the first message's status decides, by the table of Vonage's
// "Troubleshooting SMS" guide.
func Classify(resp *httpcall.Response, secrets ...string) (string, error) {
	base := httpcall.Classify(resp, secrets...)
	var a answer
	if json.Unmarshal(resp.Body, &a) != nil || len(a.Messages) == 0 {
		if base != nil {
			return "", base
		}
		return "", channel.Retryable("invalid_response", resp.StatusCode,
			errors.New("vonage: the answer has no messages; did the request reach Vonage?"))
	}
	msg := a.Messages[0]
	if msg.Status == "0" && base == nil {
		return msg.MessageID, nil
	}
	out := channel.Error{StatusCode: resp.StatusCode, Response: resp.Body}
	var ce *channel.Error
	if base != nil && errors.As(base, &ce) {
		out = *ce
	}
	out.Reason = "vonage_" + msg.Status
	out.Err = fmt.Errorf("vonage: HTTP %d: status %s: %s", resp.StatusCode, msg.Status, msg.ErrorText)
	if out.Class != channel.ClassRetryAfter {
		class, after, known := statusClass(msg.Status)
		if known || ce == nil {
			out.Class, out.After = class, after
		}
	}
	return "", httpcall.Scrub(&out, secrets...)
}

// statusClass maps an SMS API status to a class (and delay); known is
// false for a status the guide does not list, which is then permanent.
func statusClass(status string) (class channel.Class, after time.Duration, known bool) {
	switch status {
	case "1": // Throttled
		return channel.ClassRetryAfter, ThrottledDelay, true
	case "5", // Internal Error
		"10": // Too Many Existing Binds: "Back-off and retry"
		return channel.ClassRetryable, 0, true
	case "2", // Missing Parameters
		"3",  // Invalid Parameters
		"4",  // Invalid Credentials
		"6",  // Invalid Message
		"7",  // Number Barred
		"8",  // Partner Account Barred
		"9",  // Partner Quota Violation (no credit)
		"11", // Account Not Enabled For HTTP
		"12", // Message Too Long
		"14", // Invalid Signature
		"15", // Invalid Sender Address
		"22", // Invalid Network Code
		"23", // Invalid Callback URL
		"29", // Non-Whitelisted Destination
		"32", // Signature And API Secret Disallowed
		"33": // Number De-activated
		return channel.ClassPermanent, 0, true
	}
	return channel.ClassPermanent, 0, false
}

// gsm7 holds the characters of the GSM 03.38 default alphabet and its
// extension table, the ones an SMS of type "text" can carry.
var gsm7 = func() map[rune]bool {
	const chars = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" +
		"\f^{}\\[~]|€"
	m := make(map[rune]bool, len(chars))
	for _, r := range chars {
		m[r] = true
	}
	return m
}()

// GSM7 reports whether text can be sent as type "text" (GSM-7); otherwise
// it must go as "unicode".
func GSM7(text string) bool {
	for _, r := range text {
		if !gsm7[r] {
			return false
		}
	}
	return true
}
