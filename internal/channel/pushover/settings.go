package pushover

import (
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultAPIURL is Pushover's message endpoint.
const DefaultAPIURL = "https://api.pushover.net/1/messages.json"

// Emergency-priority defaults and bounds (https://pushover.net/api#priority).
const (
	DefaultRetry  = 60 * time.Second
	DefaultExpire = time.Hour
	MinRetry      = 30 * time.Second
	MaxExpire     = 10800 * time.Second
)

// keyPattern is the documented form of application tokens and user and
// group keys: 30 characters, letters and digits.
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9]{30}$`)

// devicePattern is the documented form of a device name.
var devicePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,25}$`)

// Settings configure a Pushover channel.
type Settings struct {
	// APIURL is the message endpoint (default
	// https://api.pushover.net/1/messages.json); tests point it at a
	// local server.
	APIURL string `yaml:"api_url"`
	// Token is the application's API token. Required.
	Token channel.Secret `yaml:"token"`
	// User is the default user or group key; a message's To overrides it.
	User channel.Secret `yaml:"user"`
	// Devices limit delivery to these device names (default: all of the
	// user's devices).
	Devices []string `yaml:"devices"`
	// Priority, when set, is used for every message instead of the
	// message's own: -2 lowest, -1 quiet, 0 normal, 1 high, 2 emergency.
	Priority *int `yaml:"priority"`
	// Sound overrides the user's default sound (a sound name).
	Sound string `yaml:"sound"`
	// URL and URLTitle are a supplementary link shown with every message.
	URL      string `yaml:"url"`
	URLTitle string `yaml:"url_title"`
	// Retry and Expire apply to emergency priority: how often Pushover
	// repeats the notification until acknowledged (default 60s, at least
	// 30s) and for how long (default 1h, at most 3h).
	Retry  time.Duration `yaml:"retry"`
	Expire time.Duration `yaml:"expire"`
	// TTL deletes the message from devices after this long (0: never).
	TTL time.Duration `yaml:"ttl"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the token or the user key.
func (s *Settings) Validate() error {
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	if s.Token == "" {
		return errors.New("token (the application's API token) is required")
	}
	if !keyPattern.MatchString(s.Token.Value()) {
		return errors.New("token must be 30 letters and digits")
	}
	if s.User != "" && !keyPattern.MatchString(s.User.Value()) {
		return errors.New("user must be a 30-character user or group key")
	}
	for _, d := range s.Devices {
		if !devicePattern.MatchString(d) {
			return fmt.Errorf("device %s is not a device name (up to 25 letters, digits, _ and -)", chanurl.Quote(d))
		}
	}
	if s.Priority != nil && (*s.Priority < -2 || *s.Priority > 2) {
		return fmt.Errorf("priority %d is out of range -2..2", *s.Priority)
	}
	if s.Retry != 0 && s.Retry < MinRetry {
		return fmt.Errorf("retry %v is below Pushover's minimum of 30s", s.Retry)
	}
	if s.Expire < 0 || s.Expire > MaxExpire {
		return fmt.Errorf("expire %v is out of range 0..3h", s.Expire)
	}
	if s.TTL < 0 {
		return errors.New("ttl must not be negative")
	}
	if s.URL != "" {
		if _, err := url.Parse(s.URL); err != nil {
			return errors.New("url is not a valid URL")
		}
	}
	if len([]rune(s.URL)) > MaxURL {
		return fmt.Errorf("url is longer than %d characters", MaxURL)
	}
	if len([]rune(s.URLTitle)) > MaxURLTitle {
		return fmt.Errorf("url_title is longer than %d characters", MaxURLTitle)
	}
	return nil
}

func (s *Settings) apiURL() string {
	if s.APIURL == "" {
		return DefaultAPIURL
	}
	return s.APIURL
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Pushover form (https://github.com/caronc/apprise/wiki/Notify_pushover):
//
//	pover://user_key@app_token
//	pover://user_key@app_token/device
//	pover://user_key@app_token/device1/device2
//
// Query parameters: priority (-2..2, or Apprise's low, moderate, normal,
// high, emergency), sound, url, url_title, retry and expire (seconds),
// ttl (seconds).
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("pushover: settings are %T, want *pushover.Settings", settings)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("pushover: malformed URL: %s", chanurl.ParseProblem(err, urlProblems))
	}
	switch strings.ToLower(u.Scheme) {
	case "pover", "pushover":
	case "":
		return errors.New("pushover: URL must look like pover://user_key@app_token")
	default:
		return fmt.Errorf("pushover: URL scheme %s is not pover", chanurl.Quote(u.Scheme))
	}
	if u.Opaque != "" {
		return errors.New("pushover: URL must look like pover://user_key@app_token (missing //)")
	}
	if u.User == nil || u.User.Username() == "" {
		return errors.New("pushover: URL has no user key (pover://user_key@app_token)")
	}
	if _, has := u.User.Password(); has {
		return errors.New("pushover: URL has a ':' in the user key; the form is pover://user_key@app_token")
	}
	if u.Host == "" {
		return errors.New("pushover: URL has no application token after '@'")
	}
	if u.Port() != "" || strings.Contains(u.Host, ":") {
		return errors.New("pushover: the application token must not contain ':'")
	}
	// The token is the URL's host, which url.Parse lower-cases only in
	// the scheme; Host keeps its case.
	s.Token = channel.Secret(u.Host)
	s.User = channel.Secret(u.User.Username())
	s.Devices = nil
	for _, d := range strings.Split(strings.Trim(u.Path, "/"), "/") {
		if d != "" {
			s.Devices = append(s.Devices, d)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("pushover: malformed URL query")
	}
	seconds := func(k, v string) (time.Duration, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("pushover: URL parameter %s is not a number of seconds", k)
		}
		return time.Duration(n) * time.Second, nil
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k = strings.ToLower(k); k {
		case "priority":
			p, err := parsePriority(v)
			if err != nil {
				return fmt.Errorf("pushover: URL parameter priority: %w", err)
			}
			s.Priority = &p
		case "sound":
			s.Sound = v
		case "url":
			s.URL = v
		case "url_title":
			s.URLTitle = v
		case "retry", "expire", "ttl":
			d, err := seconds(k, v)
			if err != nil {
				return err
			}
			switch k {
			case "retry":
				s.Retry = d
			case "expire":
				s.Expire = d
			default:
				s.TTL = d
			}
		default:
			return fmt.Errorf("pushover: unknown URL parameter %s", chanurl.Quote(k))
		}
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("pushover: %w", err)
	}
	return nil
}

// parsePriority reads -2..2 or one of Apprise's Pushover priority names.
func parsePriority(v string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "low":
		return -2, nil
	case "moderate":
		return -1, nil
	case "normal":
		return 0, nil
	case "high":
		return 1, nil
	case "emergency":
		return 2, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < -2 || n > 2 {
		return 0, errors.New("want -2..2 or low, moderate, normal, high, emergency")
	}
	return n, nil
}

// urlProblems words url.Parse failures for pover://user_key@app_token,
// where the parser takes the user key for a user and the token for a host.
var urlProblems = chanurl.Problems{
	Host:     "invalid character in the application token",
	Port:     "':' in the application token",
	Userinfo: "invalid character in the user key",
}
