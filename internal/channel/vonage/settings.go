package vonage

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultAPIURL is the SMS API's base; messages are posted to /sms/json.
const DefaultAPIURL = "https://rest.nexmo.com"

// Settings configure a Vonage (formerly Nexmo) SMS API channel.
type Settings struct {
	// APIKey and APISecret are the account's API credentials.
	APIKey    string         `yaml:"api_key"`
	APISecret channel.Secret `yaml:"api_secret"`
	// From is the sender: a phone number (E.164 with or without "+") or an
	// alphanumeric sender ID (up to 11 characters).
	From string `yaml:"from"`
	// To is the default recipient, E.164 ("+447700900000"); it is sent
	// without the "+" as the API expects.
	To string `yaml:"to"`
	// SubjectPrefix, when true, sends "subject: text".
	SubjectPrefix bool `yaml:"subject_prefix"`
	// APIURL overrides the API base (default https://rest.nexmo.com).
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the API secret.
func (s *Settings) Validate() error {
	switch {
	case strings.TrimSpace(s.APIKey) == "":
		return errors.New("api_key is required")
	case s.APISecret == "":
		return errors.New("api_secret is required")
	case s.From == "":
		return errors.New("from is required")
	case !validSender(s.From):
		return fmt.Errorf("from %q is not a phone number or an alphanumeric sender ID of at most 11 characters", s.From)
	}
	if s.To != "" && !channel.ValidE164(s.To) {
		return fmt.Errorf("to %q is not an E.164 phone number (+ and 8 to 15 digits)", s.To)
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	return nil
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Vonage form:
//
//	vonage://ApiKey:ApiSecret@FromPhoneNo/ToPhoneNo
//	nexmo://ApiKey:ApiSecret@FromPhoneNo/ToPhoneNo
//
// Phone numbers may leave out the "+"; the recipient is optional and at
// most one. Query parameters: subject_prefix, api_url.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("vonage: settings are %T, want *vonage.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !(strings.EqualFold(scheme, "vonage") || strings.EqualFold(scheme, "nexmo")) {
		return errors.New("vonage: URL must look like vonage://ApiKey:ApiSecret@FromPhoneNo/ToPhoneNo")
	}
	rest, query, _ := strings.Cut(rest, "?")
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return errors.New("vonage: URL has no credentials (want ApiKey:ApiSecret@ before the sender)")
	}
	rawKey, rawSecret, ok := strings.Cut(rest[:at], ":")
	if !ok || rawKey == "" || rawSecret == "" {
		return errors.New("vonage: URL credentials must be ApiKey:ApiSecret")
	}
	key, err := url.PathUnescape(rawKey)
	if err != nil {
		return errors.New("vonage: URL API key has a malformed percent-escape")
	}
	secret, err := url.PathUnescape(rawSecret)
	if err != nil {
		return errors.New("vonage: URL API secret has a malformed percent-escape")
	}
	segs := strings.Split(strings.Trim(rest[at+1:], "/"), "/")
	if segs[0] == "" {
		return errors.New("vonage: URL has no sender (want ...@FromPhoneNo/ToPhoneNo)")
	}
	if len(segs) > 2 {
		return errors.New("vonage: URL names more than one recipient; configure one channel per recipient or send with a per-message recipient")
	}
	out := Settings{APIKey: key, APISecret: channel.Secret(secret)}
	if out.From, err = url.PathUnescape(segs[0]); err != nil {
		return errors.New("vonage: URL sender has a malformed percent-escape")
	}
	if len(segs) == 2 && segs[1] != "" {
		to, err := url.PathUnescape(segs[1])
		if err != nil {
			return errors.New("vonage: URL recipient has a malformed percent-escape")
		}
		if !strings.HasPrefix(to, "+") {
			to = "+" + to
		}
		if !channel.ValidE164(to) {
			return fmt.Errorf("vonage: URL recipient %q is not a phone number (8 to 15 digits)", to)
		}
		out.To = to
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return errors.New("vonage: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "subject_prefix":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("vonage: subject_prefix %q is not a boolean", v)
			}
			out.SubjectPrefix = b
		case "api_url":
			out.APIURL = v
		default:
			return fmt.Errorf("vonage: unknown URL parameter %q", k)
		}
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("vonage: %w", err)
	}
	*s = out
	return nil
}

// validSender reports whether v is a number (with or without "+") or an
// alphanumeric sender ID of 1 to 11 letters, digits and spaces.
func validSender(v string) bool {
	if channel.Digits(strings.TrimPrefix(v, "+")) {
		n := len(strings.TrimPrefix(v, "+"))
		return n >= 3 && n <= 15
	}
	if len(v) > 11 || strings.TrimSpace(v) != v {
		return false
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == ' ') {
			return false
		}
	}
	return true
}
