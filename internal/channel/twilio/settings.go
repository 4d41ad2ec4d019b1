package twilio

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultAPIURL is Twilio's REST API base; the Messages resource lives at
// /2010-04-01/Accounts/{AccountSid}/Messages.json below it.
const DefaultAPIURL = "https://api.twilio.com"

// Settings configure a Twilio SMS channel.
//
// Twilio authenticates with HTTP Basic auth: either the account's own
// AccountSid:AuthToken, or an API key (ApiKeySid:ApiKeySecret), which can be
// revoked on its own and is what Twilio recommends for production. The
// account SID is needed in both cases because it is part of the URL.
type Settings struct {
	// AccountSID is the account ("AC" followed by 32 hex digits).
	AccountSID string `yaml:"account_sid"`
	// AuthToken is the account's auth token. Set it, or APIKeySID and
	// APIKeySecret, not both.
	AuthToken channel.Secret `yaml:"auth_token"`
	// APIKeySID ("SK" followed by 32 hex digits) and APIKeySecret are an
	// API key used instead of the auth token.
	APIKeySID    string         `yaml:"api_key_sid"`
	APIKeySecret channel.Secret `yaml:"api_key_secret"`
	// From is the sender: an E.164 number, a short code (3 to 8 digits) or
	// an alphanumeric sender ID (1 to 11 letters, digits or spaces, at
	// least one letter). Required unless MessagingServiceSID is set.
	From string `yaml:"from"`
	// MessagingServiceSID ("MG" followed by 32 hex digits) lets Twilio
	// pick the sender from a Messaging Service's pool; it wins over From.
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	// To is the default recipient (E.164) for messages without one.
	To string `yaml:"to"`
	// StatusCallback is a URL Twilio calls with delivery status updates.
	StatusCallback string `yaml:"status_callback"`
	// SubjectPrefix, when true, sends "subject: text" for messages with a
	// subject; SMS has no subject of its own, so by default it is dropped.
	SubjectPrefix bool `yaml:"subject_prefix"`
	// APIURL overrides the API base (default https://api.twilio.com).
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the auth token or the API key secret.
func (s *Settings) Validate() error {
	if !validSID(s.AccountSID, "AC") {
		if s.AccountSID == "" {
			return errors.New("account_sid is required")
		}
		return errors.New(`account_sid must be "AC" followed by 32 hexadecimal digits`)
	}
	switch {
	case s.AuthToken != "" && (s.APIKeySID != "" || s.APIKeySecret != ""):
		return errors.New("set auth_token or api_key_sid with api_key_secret, not both")
	case s.AuthToken != "":
	case s.APIKeySID == "" && s.APIKeySecret == "":
		return errors.New("auth_token (or api_key_sid with api_key_secret) is required")
	case s.APIKeySID == "":
		return errors.New("api_key_secret is set but api_key_sid is not")
	case s.APIKeySecret == "":
		return errors.New("api_key_sid is set but api_key_secret is not")
	case !validSID(s.APIKeySID, "SK"):
		return errors.New(`api_key_sid must be "SK" followed by 32 hexadecimal digits`)
	}
	if s.MessagingServiceSID != "" {
		if !validSID(s.MessagingServiceSID, "MG") {
			return errors.New(`messaging_service_sid must be "MG" followed by 32 hexadecimal digits`)
		}
	} else if s.From == "" {
		return errors.New("from (or messaging_service_sid) is required")
	}
	if s.From != "" && !validSender(s.From) {
		return fmt.Errorf("from %q is not an E.164 number, a short code or an alphanumeric sender ID", s.From)
	}
	if s.To != "" && !channel.ValidE164(s.To) {
		return fmt.Errorf("to %q is not an E.164 phone number (+ and 8 to 15 digits)", s.To)
	}
	if s.StatusCallback != "" {
		if err := netguard.CheckURL(s.StatusCallback); err != nil {
			return fmt.Errorf("status_callback: %w", err)
		}
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	return nil
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Twilio form:
//
//	twilio://AccountSid:AuthToken@FromPhoneNo/ToPhoneNo
//	twilio://ApiKeySid:ApiKeySecret@FromPhoneNo/ToPhoneNo?account_sid=AC...
//
// The sender may be a phone number (a missing "+" is added, as Apprise
// does), a short code, an alphanumeric sender ID or a Messaging Service SID
// ("MG..."). The recipient is optional (messages then carry their own) and
// at most one is allowed. Query parameters: account_sid (required with an
// API key), status_callback, subject_prefix, api_url.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("twilio: settings are %T, want *twilio.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !strings.EqualFold(scheme, "twilio") {
		return errors.New("twilio: URL must look like twilio://AccountSid:AuthToken@FromPhoneNo/ToPhoneNo")
	}
	rest, query, _ := strings.Cut(rest, "?")
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return errors.New("twilio: URL has no credentials (want AccountSid:AuthToken@ before the sender)")
	}
	userinfo, path := rest[:at], rest[at+1:]
	rawUser, rawPass, ok := strings.Cut(userinfo, ":")
	if !ok || rawUser == "" || rawPass == "" {
		return errors.New("twilio: URL credentials must be AccountSid:AuthToken (or ApiKeySid:ApiKeySecret)")
	}
	user, err := url.PathUnescape(rawUser)
	if err != nil {
		return errors.New("twilio: URL user (the account or API key SID) has a malformed percent-escape")
	}
	pass, err := url.PathUnescape(rawPass)
	if err != nil {
		return errors.New("twilio: URL password (the auth token or API key secret) has a malformed percent-escape")
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if segs[0] == "" {
		return errors.New("twilio: URL has no sender (want ...@FromPhoneNo/ToPhoneNo)")
	}
	if len(segs) > 2 {
		return errors.New("twilio: URL names more than one recipient; configure one channel per recipient or send with a per-message recipient")
	}
	from, err := url.PathUnescape(segs[0])
	if err != nil {
		return errors.New("twilio: URL sender has a malformed percent-escape")
	}
	var to string
	if len(segs) == 2 && segs[1] != "" {
		if to, err = url.PathUnescape(segs[1]); err != nil {
			return errors.New("twilio: URL recipient has a malformed percent-escape")
		}
		to = phone(to)
		if !channel.ValidE164(to) {
			return fmt.Errorf("twilio: URL recipient %q is not a phone number (+ and 8 to 15 digits)", to)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return errors.New("twilio: malformed URL query")
	}
	var out Settings
	switch {
	case strings.HasPrefix(user, "SK"):
		out.APIKeySID, out.APIKeySecret = user, channel.Secret(pass)
	default:
		out.AccountSID, out.AuthToken = user, channel.Secret(pass)
	}
	if strings.HasPrefix(from, "MG") {
		out.MessagingServiceSID = from
	} else {
		out.From = phone(from)
	}
	out.To = to
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "account_sid":
			if out.APIKeySID == "" {
				return errors.New("twilio: account_sid in the query is only for API key credentials (SK...)")
			}
			out.AccountSID = v
		case "status_callback":
			out.StatusCallback = v
		case "subject_prefix":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("twilio: subject_prefix %q is not a boolean", v)
			}
			out.SubjectPrefix = b
		case "api_url":
			out.APIURL = v
		default:
			return fmt.Errorf("twilio: unknown URL parameter %q", k)
		}
	}
	if out.APIKeySID != "" && out.AccountSID == "" {
		return errors.New("twilio: with API key credentials (SK...) the URL needs ?account_sid=AC<32 hex digits>")
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("twilio: %w", err)
	}
	*s = out
	return nil
}

// phone adds the "+" that Apprise lets a URL leave out (a "+" is awkward in
// a URL host) to an all-digit number; anything else is returned as is.
func phone(v string) string {
	if v == "" || strings.HasPrefix(v, "+") {
		return v
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return v
		}
	}
	if len(v) <= 8 {
		return v // a short code
	}
	return "+" + v
}

// validSID reports whether v is a Twilio SID with the given two-letter
// prefix: 34 characters, the rest hexadecimal.
func validSID(v, prefix string) bool {
	if len(v) != 34 || !strings.HasPrefix(v, prefix) {
		return false
	}
	for _, c := range v[2:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// validSender reports whether v is a sender Twilio accepts in From for SMS:
// an E.164 number, a short code, or an alphanumeric sender ID.
func validSender(v string) bool {
	if channel.ValidE164(v) {
		return true
	}
	digits, letters := 0, 0
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letters++
		case c == ' ':
		default:
			return false
		}
	}
	if letters == 0 {
		return digits >= 3 && digits <= 8 && digits == len(v)
	}
	return len(v) <= 11 && strings.TrimSpace(v) == v
}
