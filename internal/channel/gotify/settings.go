package gotify

import (
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// Settings configure a Gotify channel. Gotify is self-hosted: there is
// no default server.
type Settings struct {
	// Server is the Gotify server's base URL, with its path when it is
	// served below one (https://example.com/gotify). Required.
	Server string `yaml:"server"`
	// Token is the application token messages are pushed with. Required.
	Token channel.Secret `yaml:"token"`
	// Priority (0..10), when set, is used for every message, overriding
	// the message's own. 0 means "no notification" on Android.
	Priority *int `yaml:"priority"`
	// Markdown renders the text as Markdown (client::display contentType
	// text/markdown).
	Markdown bool `yaml:"markdown"`
	// Click is the URL the Android app opens when the notification is
	// tapped (client::notification click.url).
	Click string `yaml:"click"`
	// BigImageURL shows a big image in the Android notification
	// (client::notification bigImageUrl).
	BigImageURL string `yaml:"big_image_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the token.
func (s *Settings) Validate() error {
	if s.Server == "" {
		return errors.New("server is required (Gotify is self-hosted)")
	}
	if err := netguard.CheckURL(s.Server); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if s.Token == "" {
		return errors.New("token (the application token) is required")
	}
	if strings.ContainsAny(s.Token.Value(), "\r\n") {
		return errors.New("token must not contain line breaks")
	}
	if s.Priority != nil && (*s.Priority < 0 || *s.Priority > 10) {
		return fmt.Errorf("priority %d is out of range 0..10", *s.Priority)
	}
	for _, u := range []struct{ name, v string }{{"click", s.Click}, {"big_image_url", s.BigImageURL}} {
		if u.v == "" {
			continue
		}
		if _, err := url.Parse(u.v); err != nil {
			return fmt.Errorf("%s is not a valid URL", u.name)
		}
	}
	return nil
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Gotify form (https://github.com/caronc/apprise/wiki/Notify_gotify):
//
//	gotify://hostname[:port]/token       http
//	gotifys://hostname[:port]/token      https
//	gotifys://hostname/sub/path/token    server below a path
//
// The last path segment is the application token. Query parameters:
// priority (0-10, or Apprise's low=0, moderate=3, normal=5, high=8,
// emergency=10), format (markdown or text), click.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("gotify: settings are %T, want *gotify.Settings", settings)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("gotify: malformed URL: %s", chanurl.ParseProblem(err, urlProblems))
	}
	var scheme string
	switch strings.ToLower(u.Scheme) {
	case "gotify":
		scheme = "http"
	case "gotifys":
		scheme = "https"
	case "":
		return errors.New("gotify: URL must start with gotify:// or gotifys://")
	default:
		return fmt.Errorf("gotify: URL scheme %s is not gotify or gotifys", chanurl.Quote(u.Scheme))
	}
	if u.Opaque != "" {
		return errors.New("gotify: URL must look like gotify://host/token (missing //)")
	}
	if u.Host == "" {
		return errors.New("gotify: URL has no host")
	}
	if u.User != nil {
		return errors.New("gotify: URL takes no user or password; the token is the last path segment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return errors.New("gotify: URL port is not a number in 1..65535")
		}
	}
	path := strings.Trim(u.Path, "/")
	if path == "" {
		return errors.New("gotify: URL has no token (gotify://host/token)")
	}
	base, token := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		base, token = "/"+path[:i], path[i+1:]
	}
	s.Server = (&url.URL{Scheme: scheme, Host: u.Host, Path: base}).String()
	s.Token = channel.Secret(token)
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("gotify: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch strings.ToLower(k) {
		case "priority":
			p, err := parsePriority(v)
			if err != nil {
				return fmt.Errorf("gotify: URL parameter priority: %w", err)
			}
			s.Priority = &p
		case "format":
			switch strings.ToLower(v) {
			case "markdown":
				s.Markdown = true
			case "text":
				s.Markdown = false
			default:
				return errors.New("gotify: URL parameter format must be markdown or text")
			}
		case "click":
			s.Click = v
		default:
			return fmt.Errorf("gotify: unknown URL parameter %s", chanurl.Quote(k))
		}
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("gotify: %w", err)
	}
	return nil
}

// parsePriority reads 0-10 or one of Apprise's Gotify priority names.
func parsePriority(v string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "low":
		return 0, nil
	case "moderate":
		return 3, nil
	case "normal":
		return 5, nil
	case "high":
		return 8, nil
	case "emergency":
		return 10, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > 10 {
		return 0, errors.New("want 0-10 or low, moderate, normal, high, emergency")
	}
	return n, nil
}

// urlProblems words url.Parse failures for gotify URLs.
var urlProblems = chanurl.Problems{Userinfo: "invalid user or password"}
