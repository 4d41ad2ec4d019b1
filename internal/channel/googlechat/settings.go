package googlechat

import (
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultAPIURL is the Google Chat API endpoint incoming webhooks post to.
const DefaultAPIURL = "https://chat.googleapis.com"

// Settings configure a Google Chat incoming-webhook channel. The webhook
// URL Google shows is
// https://chat.googleapis.com/v1/spaces/{space}/messages?key={key}&token={token}.
type Settings struct {
	// Space is the space id from the webhook URL (the part after spaces/).
	Space string `yaml:"space"`
	// Key and Token are the webhook URL's key and token query values;
	// together they are the credential.
	Key   channel.Secret `yaml:"key"`
	Token channel.Secret `yaml:"token"`
	// ThreadKey, when set, posts every message into this one thread;
	// empty (the default) threads messages by their correlation key, so
	// an alert and its recovery share a thread.
	ThreadKey string `yaml:"thread_key"`
	// NoThreads posts every message as a new thread.
	NoThreads bool `yaml:"no_threads"`
	// APIURL is the API base (default https://chat.googleapis.com); tests
	// change it.
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the key or the token.
func (s *Settings) Validate() error {
	if s.Space == "" {
		return errors.New("space is required")
	}
	if !validID(s.Space) {
		return errors.New("space must contain only letters, digits, '-' and '_'")
	}
	if s.Key == "" {
		return errors.New("key is required")
	}
	if s.Token == "" {
		return errors.New("token is required")
	}
	if strings.ContainsAny(s.Key.Value()+s.Token.Value(), " \t\r\n&#") {
		return errors.New("key and token must not contain white space, '&' or '#'")
	}
	if len(s.ThreadKey) > maxThreadKey {
		return fmt.Errorf("thread_key must be at most %d characters", maxThreadKey)
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	return nil
}

// apiURL returns the API base with its default and no final slash.
func (s *Settings) apiURL() string {
	if s.APIURL == "" {
		return DefaultAPIURL
	}
	return strings.TrimRight(s.APIURL, "/")
}

// validID reports whether s can be a space id and so be put in a path
// unescaped.
func validID(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

const usage = "gchat://space/key/token or https://chat.googleapis.com/v1/spaces/space/messages?key=…&token=…"

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Google Chat form (https://github.com/caronc/apprise/wiki/Notify_googlechat):
//
//	gchat://workspace/webhook_key/webhook_token[?thread_key=…]
//
// (the workspace is the space id). The webhook URL Google shows
// (https://chat.googleapis.com/v1/spaces/SPACE/messages?key=KEY&token=TOKEN)
// is accepted as is. Query parameters: thread_key (alias thread). Errors
// name the part that is wrong and never repeat the key or token.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("googlechat: settings are %T, want *googlechat.Settings", settings)
	}
	p, err := chanurl.Parse("googlechat", u, usage)
	if err != nil {
		return err
	}
	if p.HasUser {
		return errors.New("googlechat: the URL takes no user part")
	}
	var out Settings
	query := p.Query
	switch p.Scheme {
	case "gchat":
		if p.Host == "" {
			return errors.New("googlechat: the URL has no space after gchat://")
		}
		if len(p.Segs) != 2 {
			return fmt.Errorf("googlechat: want gchat://space/key/token, got %d path segments after the space", len(p.Segs))
		}
		out.Space, out.Key, out.Token = p.Host, channel.Secret(p.Segs[0]), channel.Secret(p.Segs[1])
	case "https":
		if !strings.EqualFold(p.Host, "chat.googleapis.com") {
			return errors.New("googlechat: an https URL must be a chat.googleapis.com webhook URL")
		}
		if len(p.Segs) != 4 || p.Segs[0] != "v1" || p.Segs[1] != "spaces" || p.Segs[3] != "messages" {
			return errors.New("googlechat: an https URL must be https://chat.googleapis.com/v1/spaces/space/messages?key=…&token=…")
		}
		out.Space = p.Segs[2]
		out.Key, out.Token = channel.Secret(query.Get("key")), channel.Secret(query.Get("token"))
		query.Del("key")
		query.Del("token")
		if out.Key == "" || out.Token == "" {
			return errors.New("googlechat: the webhook URL needs both its key and token query parameters")
		}
	default:
		return fmt.Errorf("googlechat: URL scheme %s is not gchat or https", chanurl.QuoteShort(p.Scheme))
	}
	if !validID(out.Space) {
		return errors.New("googlechat: the space must contain only letters, digits, '-' and '_'")
	}
	for key, vs := range query {
		v := vs[len(vs)-1]
		switch strings.ToLower(key) {
		case "thread_key", "thread", "threadkey":
			out.ThreadKey = v
		case "messagereplyoption":
			// Herald sets it itself when it threads.
		default:
			return fmt.Errorf("googlechat: unknown query parameter %s (want thread_key)", chanurl.QuoteShort(key))
		}
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("googlechat: %w", err)
	}
	*s = out
	return nil
}
