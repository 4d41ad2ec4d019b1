package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// Settings configure a webhook channel.
type Settings struct {
	// URL is where messages are posted. Empty means every message carries
	// its own Content.Request, as webhook steps do.
	URL string `yaml:"url"`
	// Method is the HTTP method for messages without a Request (default
	// POST).
	Method string `yaml:"method"`
	// Headers are added to every request; a message's Request headers
	// override them.
	Headers map[string]string `yaml:"headers"`
	// Secret is the Standard Webhooks signing secret: "whsec_" followed by
	// the base64 key, or any other string, whose bytes are then the key.
	Secret channel.Secret `yaml:"secret"`
	// Timeout bounds one request in addition to the attempt's context
	// (0: the context alone).
	Timeout time.Duration `yaml:"timeout"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the secret or header values.
func (s *Settings) Validate() error {
	if s.URL != "" {
		if err := netguard.CheckURL(s.URL); err != nil {
			return fmt.Errorf("url: %w", err)
		}
	}
	if s.Method != "" && !validToken(s.Method) {
		return fmt.Errorf("method %q is not a valid HTTP method", s.Method)
	}
	for k, v := range s.Headers {
		if !validToken(k) {
			return fmt.Errorf("headers: %q is not a valid header name", k)
		}
		if !validHeaderValue(v) {
			return fmt.Errorf("headers: the value of %q contains a control character", k)
		}
	}
	if _, err := DecodeSecret(s.Secret.Value()); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	if s.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return nil
}

// FromURL fills settings (a *Settings) from a channel URL:
// webhook://host/path becomes http://host/path, webhooks://host/path
// becomes https://host/path, and http(s) URLs are taken as they are.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("webhook: settings are %T, want *webhook.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return errors.New("webhook: URL must look like webhook://host/path or https://host/path")
	}
	switch strings.ToLower(scheme) {
	case "webhook", "http":
		u = "http://" + rest
	case "webhooks", "https":
		u = "https://" + rest
	default:
		return fmt.Errorf("webhook: URL scheme %q is not webhook, webhooks, http or https", scheme)
	}
	if err := netguard.CheckURL(u); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	s.URL = u
	return nil
}

// validToken reports whether s is an RFC 9110 token (a method or a header
// name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters other than horizontal tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// parseTarget parses and checks a destination URL without ever echoing it
// in the error.
func parseTarget(raw string) (*url.URL, error) {
	if err := netguard.CheckURL(raw); err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("malformed URL")
	}
	return u, nil
}
