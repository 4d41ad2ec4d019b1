package bark

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

// DefaultServer is the public Bark server.
const DefaultServer = "https://api.day.app"

// Interruption levels Bark accepts (iOS notification interruption levels).
const (
	LevelPassive       = "passive"
	LevelActive        = "active"
	LevelTimeSensitive = "timeSensitive"
	LevelCritical      = "critical"
)

// Settings configure a Bark channel.
type Settings struct {
	// Server is the bark-server base URL (default https://api.day.app);
	// messages are posted to {server}/push.
	Server string `yaml:"server"`
	// DeviceKey is the default device key; a message's To overrides it.
	// Whoever has it can push to the device, so it is a secret.
	DeviceKey channel.Secret `yaml:"device_key"`
	// Level, when set, is used for every message instead of the one the
	// message's priority maps to: passive, active, timeSensitive or
	// critical.
	Level string `yaml:"level"`
	// Sound is a Bark sound name (e.g. minuet).
	Sound string `yaml:"sound"`
	// Group groups notifications on the device.
	Group string `yaml:"group"`
	// URL is opened when the notification is tapped.
	URL string `yaml:"url"`
	// Icon is the URL of a notification icon (iOS 15+).
	Icon string `yaml:"icon"`
	// Badge is the number shown on the app icon (0: none).
	Badge int `yaml:"badge"`
	// Archive asks the app to keep the notification in its history.
	Archive bool `yaml:"archive"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the device key.
func (s *Settings) Validate() error {
	if s.Server != "" {
		if err := netguard.CheckURL(s.Server); err != nil {
			return fmt.Errorf("server: %w", err)
		}
	}
	if s.DeviceKey != "" && !validKey(s.DeviceKey.Value()) {
		return errors.New("device_key may only contain letters, digits, '-' and '_'")
	}
	if s.Level != "" && !validLevel(s.Level) {
		return fmt.Errorf("level %s is not passive, active, timeSensitive or critical", chanurl.Quote(s.Level))
	}
	if s.Badge < 0 {
		return errors.New("badge must not be negative")
	}
	for _, u := range []struct{ name, v string }{{"url", s.URL}, {"icon", s.Icon}} {
		if u.v == "" {
			continue
		}
		if _, err := url.Parse(u.v); err != nil {
			return fmt.Errorf("%s is not a valid URL", u.name)
		}
	}
	return nil
}

func (s *Settings) server() string {
	if s.Server == "" {
		return DefaultServer
	}
	return strings.TrimRight(s.Server, "/")
}

// validKey reports whether k looks like a Bark device key (the server
// issues short random alphanumeric keys; - and _ are accepted for keys
// chosen by self-hosted users).
func validKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validLevel(l string) bool {
	switch l {
	case LevelPassive, LevelActive, LevelTimeSensitive, LevelCritical:
		return true
	}
	return false
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Bark form (https://github.com/caronc/apprise/wiki/Notify_bark):
//
//	bark://host[:port]/device_key     http
//	barks://host[:port]/device_key    https (barks://api.day.app/KEY for
//	                                  the public server)
//
// Query parameters: level, sound, group, click (the tap URL), icon,
// badge, archive (boolean). Apprise's several device keys in one URL are
// refused: a channel has one default device.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("bark: settings are %T, want *bark.Settings", settings)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bark: malformed URL: %s", chanurl.ParseProblem(err, urlProblems))
	}
	var scheme string
	switch strings.ToLower(u.Scheme) {
	case "bark":
		scheme = "http"
	case "barks":
		scheme = "https"
	case "":
		return errors.New("bark: URL must start with bark:// or barks://")
	default:
		return fmt.Errorf("bark: URL scheme %s is not bark or barks", chanurl.Quote(u.Scheme))
	}
	if u.Opaque != "" {
		return errors.New("bark: URL must look like barks://host/device_key (missing //)")
	}
	if u.Host == "" {
		return errors.New("bark: URL has no host")
	}
	if u.User != nil {
		return errors.New("bark: URL takes no user or password")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return errors.New("bark: URL port is not a number in 1..65535")
		}
	}
	path := strings.Trim(u.Path, "/")
	if path == "" {
		return errors.New("bark: URL has no device key (barks://host/device_key)")
	}
	if strings.Contains(path, "/") {
		return errors.New("bark: URL names more than one device key; a channel has one")
	}
	if !validKey(path) {
		return errors.New("bark: URL device key may only contain letters, digits, '-' and '_'")
	}
	s.Server = (&url.URL{Scheme: scheme, Host: u.Host}).String()
	s.DeviceKey = channel.Secret(path)
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("bark: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch strings.ToLower(k) {
		case "level":
			s.Level = v
		case "sound":
			s.Sound = v
		case "group":
			s.Group = v
		case "click", "url":
			s.URL = v
		case "icon":
			s.Icon = v
		case "badge":
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("bark: URL parameter badge is not a number")
			}
			s.Badge = n
		case "archive", "isarchive":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("bark: URL parameter archive is not a boolean")
			}
			s.Archive = b
		default:
			return fmt.Errorf("bark: unknown URL parameter %s", chanurl.Quote(k))
		}
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("bark: %w", err)
	}
	return nil
}

// urlProblems words url.Parse failures for bark URLs.
var urlProblems = chanurl.Problems{Userinfo: "invalid user information"}
