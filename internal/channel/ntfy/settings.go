package ntfy

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultServer is the public ntfy instance.
const DefaultServer = "https://ntfy.sh"

// topicPattern is ntfy's rule for topic names ("letters, numbers,
// underscores and dashes, up to 64 characters"); the server uses the same
// rule for sequence ids.
var topicPattern = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

// Settings configure an ntfy channel.
type Settings struct {
	// Server is the ntfy server's base URL (default https://ntfy.sh). It
	// is the API URL: messages are published as JSON to its root.
	Server string `yaml:"server"`
	// Topic is the default topic; a message's To overrides it. On a
	// public server the topic is effectively a password.
	Topic string `yaml:"topic"`
	// Token is an access token (tk_...), sent as a Bearer token.
	Token channel.Secret `yaml:"token"`
	// Username and Password authenticate with Basic auth instead of a
	// token.
	Username string         `yaml:"username"`
	Password channel.Secret `yaml:"password"`
	// Priority (1 min .. 5 max), when set, is used for every message,
	// overriding the message's own priority.
	Priority int `yaml:"priority"`
	// Tags are added to every message (emoji short codes or words).
	Tags []string `yaml:"tags"`
	// Click is the URL opened when the notification is tapped.
	Click string `yaml:"click"`
	// Icon is the URL of a JPEG or PNG notification icon.
	Icon string `yaml:"icon"`
	// Actions are up to three action buttons, as ntfy's JSON array
	// documents them ({"action":"view","label":...,"url":...}).
	Actions []map[string]any `yaml:"actions"`
	// Markdown marks the message text as Markdown.
	Markdown bool `yaml:"markdown"`
	// NoUpdate turns off updating: without it, a later message with the
	// same correlation key replaces the earlier notification (ntfy
	// sequence ids, ntfy 2.16 and later).
	NoUpdate bool `yaml:"no_update"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the token, the password or the topic.
func (s *Settings) Validate() error {
	if s.Server != "" {
		if err := netguard.CheckURL(s.Server); err != nil {
			return fmt.Errorf("server: %w", err)
		}
	}
	if s.Topic != "" && !topicPattern.MatchString(s.Topic) {
		return errors.New("topic may only contain letters, digits, '-' and '_' and be at most 64 characters long")
	}
	if s.Token != "" && (s.Username != "" || s.Password != "") {
		return errors.New("set either token or username/password, not both")
	}
	if s.Password != "" && s.Username == "" {
		return errors.New("password is set but username is not")
	}
	if strings.ContainsAny(s.Token.Value(), "\r\n") || strings.ContainsAny(s.Password.Value(), "\r\n") {
		return errors.New("token and password must not contain line breaks")
	}
	if strings.Contains(s.Username, ":") {
		return errors.New("username must not contain ':' (Basic auth separates it from the password)")
	}
	if s.Priority < 0 || s.Priority > 5 {
		return fmt.Errorf("priority %d is out of range 1..5 (0: the message's own)", s.Priority)
	}
	for _, u := range []struct{ name, v string }{{"click", s.Click}, {"icon", s.Icon}} {
		if u.v == "" {
			continue
		}
		if _, err := url.Parse(u.v); err != nil {
			return fmt.Errorf("%s is not a valid URL", u.name)
		}
	}
	if len(s.Actions) > 3 {
		return fmt.Errorf("%d actions given; ntfy allows at most 3", len(s.Actions))
	}
	for i, a := range s.Actions {
		kind, _ := a["action"].(string)
		switch kind {
		case "view", "http", "broadcast", "copy":
		default:
			return fmt.Errorf("actions[%d]: action must be view, http, broadcast or copy", i)
		}
		if label, _ := a["label"].(string); label == "" {
			return fmt.Errorf("actions[%d]: label is required", i)
		}
		if _, err := json.Marshal(a); err != nil {
			return fmt.Errorf("actions[%d]: not representable as JSON", i)
		}
	}
	return nil
}

// server returns the base URL with its default and without a trailing
// slash.
func (s *Settings) server() string {
	if s.Server == "" {
		return DefaultServer
	}
	return strings.TrimRight(s.Server, "/")
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// ntfy form (https://github.com/caronc/apprise/wiki/Notify_ntfy):
//
//	ntfy://topic                     topic on https://ntfy.sh
//	ntfy://host[:port]/topic         self-hosted server over http
//	ntfys://host[:port]/topic        ... over https
//	ntfys://user:pass@host/topic     Basic auth
//	ntfys://tk_token@host/topic      access token (Apprise detects tk_)
//	ntfys://:tk_token@host/topic     access token (Shoutrrr's form)
//
// Query parameters: token, priority (1-5 or min, low, default, high, max,
// urgent), tags (comma-separated), click, icon, markdown (boolean). One
// topic per channel: Apprise's several topics are refused.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("ntfy: settings are %T, want *ntfy.Settings", settings)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("ntfy: malformed URL: %s", chanurl.ParseProblem(err, urlProblems))
	}
	var scheme string
	switch strings.ToLower(u.Scheme) {
	case "ntfy":
		scheme = "http"
	case "ntfys":
		scheme = "https"
	case "":
		return errors.New("ntfy: URL must start with ntfy:// or ntfys://")
	default:
		return fmt.Errorf("ntfy: URL scheme %s is not ntfy or ntfys", chanurl.Quote(u.Scheme))
	}
	if u.Opaque != "" {
		return errors.New("ntfy: URL must look like ntfy://host/topic (missing //)")
	}
	if u.Host == "" {
		return errors.New("ntfy: URL has no topic or host")
	}
	path := strings.Trim(u.Path, "/")
	if path == "" {
		// ntfy://topic: Apprise's cloud mode, always over https.
		if u.Port() != "" {
			return errors.New("ntfy: URL ntfy://topic takes no port; use ntfy://host:port/topic for a server")
		}
		s.Server = DefaultServer
		s.Topic = u.Hostname()
	} else {
		if strings.Contains(path, "/") {
			return errors.New("ntfy: URL names more than one topic; a channel publishes to one topic")
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
				return errors.New("ntfy: URL port is not a number in 1..65535")
			}
		}
		s.Server = (&url.URL{Scheme: scheme, Host: u.Host}).String()
		s.Topic = path
	}
	if !topicPattern.MatchString(s.Topic) {
		return errors.New("ntfy: URL topic may only contain letters, digits, '-' and '_' (at most 64)")
	}
	if u.User != nil {
		name := u.User.Username()
		pw, hasPW := u.User.Password()
		switch {
		case name == "" && hasPW:
			s.Token = channel.Secret(pw)
		case !hasPW && strings.HasPrefix(name, "tk_"):
			s.Token = channel.Secret(name)
		default:
			s.Username = name
			s.Password = channel.Secret(pw)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("ntfy: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch strings.ToLower(k) {
		case "token":
			s.Token = channel.Secret(v)
		case "priority":
			p, err := ParsePriority(v)
			if err != nil {
				return fmt.Errorf("ntfy: URL parameter priority: %w", err)
			}
			s.Priority = p
		case "tags":
			s.Tags = nil
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					s.Tags = append(s.Tags, t)
				}
			}
		case "click":
			s.Click = v
		case "icon", "avatar_url":
			s.Icon = v
		case "markdown", "md":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("ntfy: URL parameter markdown is not a boolean")
			}
			s.Markdown = b
		default:
			return fmt.Errorf("ntfy: unknown URL parameter %s", chanurl.Quote(k))
		}
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("ntfy: %w", err)
	}
	return nil
}

// ParsePriority reads an ntfy priority: 1-5 or one of the documented
// names (min, low, default, high, max, urgent).
func ParsePriority(v string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "min":
		return 1, nil
	case "2", "low":
		return 2, nil
	case "3", "default":
		return 3, nil
	case "4", "high":
		return 4, nil
	case "5", "max", "urgent":
		return 5, nil
	}
	return 0, errors.New("want 1-5 or min, low, default, high, max, urgent")
}

// urlProblems words url.Parse failures for ntfy URLs.
var urlProblems = chanurl.Problems{}
