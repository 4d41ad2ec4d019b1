package opsgenie

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// Alert API base URLs. Accounts on Opsgenie's EU instance must use the EU
// host: "If using the EU instance of Opsgenie, the URL needs to be
// https://api.eu.opsgenie.com for requests to be successful."
const (
	DefaultAPIURL = "https://api.opsgenie.com"
	EUAPIURL      = "https://api.eu.opsgenie.com"
)

// Responder types of the Alert API.
const (
	ResponderTeam       = "team"
	ResponderUser       = "user"
	ResponderEscalation = "escalation"
	ResponderSchedule   = "schedule"
)

// Responder is a team, user, escalation or schedule an alert is routed
// to (or made visible to), identified by id, or by name (username for a
// user), as the Alert API's responders field takes it.
type Responder struct {
	Type     string `yaml:"type" json:"type"`
	ID       string `yaml:"id" json:"id,omitempty"`
	Name     string `yaml:"name" json:"name,omitempty"`
	Username string `yaml:"username" json:"username,omitempty"`
}

func (r Responder) validate() error {
	switch r.Type {
	case ResponderTeam, ResponderEscalation, ResponderSchedule:
		if r.ID == "" && r.Name == "" {
			return fmt.Errorf("a %s needs an id or a name", r.Type)
		}
	case ResponderUser:
		if r.ID == "" && r.Username == "" {
			return errors.New("a user needs an id or a username")
		}
	default:
		return fmt.Errorf("type %q is not team, user, escalation or schedule", r.Type)
	}
	return nil
}

// Settings configure an Opsgenie channel (Alert API v2).
type Settings struct {
	// APIKey is the key of an Opsgenie "API" integration, sent as
	// "Authorization: GenieKey <key>" (required).
	APIKey channel.Secret `yaml:"api_key"`
	// Region is "us" (default) or "eu"; it picks the API host unless
	// APIURL is set.
	Region string `yaml:"region"`
	// APIURL overrides the API base URL (tests, proxies); /v2/alerts is
	// appended.
	APIURL string `yaml:"api_url"`
	// Responders receive every alert, in addition to those a message's
	// To names.
	Responders []Responder `yaml:"responders"`
	// VisibleTo see the alert without being notified.
	VisibleTo []Responder `yaml:"visible_to"`
	// Priority is P1 (highest) to P5. Empty derives it from the message
	// priority (high: P1, normal: P3, low: P5).
	Priority string `yaml:"priority"`
	// CloseTypes are event-type patterns (path.Match syntax; a trailing
	// "*" also matches across "/"): a message whose event type matches
	// closes the alert whose alias is its correlation key instead of
	// creating one.
	CloseTypes []string `yaml:"close_types"`
	// Tags, Actions, Details, Entity, Source, User and Note fill the
	// Alert API fields of the same names. Source defaults to "Herald".
	Tags    []string          `yaml:"tags"`
	Actions []string          `yaml:"actions"`
	Details map[string]string `yaml:"details"`
	Entity  string            `yaml:"entity"`
	Source  string            `yaml:"source"`
	User    string            `yaml:"user"`
	Note    string            `yaml:"note"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the API key.
func (s *Settings) Validate() error {
	if err := checkAPIKey(s.APIKey.Value()); err != nil {
		return err
	}
	switch strings.ToLower(s.Region) {
	case "", "us", "eu":
	default:
		return fmt.Errorf("region %q is not us or eu", s.Region)
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	if s.Priority != "" {
		if _, ok := parsePriority(s.Priority); !ok {
			return fmt.Errorf("priority %q is not P1..P5", s.Priority)
		}
	}
	for i, r := range s.Responders {
		if err := r.validate(); err != nil {
			return fmt.Errorf("responders[%d]: %w", i, err)
		}
	}
	for i, r := range s.VisibleTo {
		if err := r.validate(); err != nil {
			return fmt.Errorf("visible_to[%d]: %w", i, err)
		}
	}
	for _, p := range s.CloseTypes {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("close_types: bad pattern %q", p)
		}
	}
	if len(s.Tags) > maxTags {
		return fmt.Errorf("tags: at most %d, not %d", maxTags, len(s.Tags))
	}
	if len(s.Actions) > maxActions {
		return fmt.Errorf("actions: at most %d, not %d", maxActions, len(s.Actions))
	}
	return nil
}

// Limits from the Alert API reference.
const (
	maxTags    = 20
	maxActions = 10
)

func checkAPIKey(k string) error {
	if k == "" {
		return errors.New("api_key is required (the key of an Opsgenie API integration)")
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == 0x7f {
			return errors.New("api_key must not contain spaces or control characters")
		}
	}
	return nil
}

// parsePriority accepts P1..P5 (any case) or 1..5 and returns "P1".."P5".
func parsePriority(p string) (string, bool) {
	p = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(p)), "P")
	if len(p) == 1 && p[0] >= '1' && p[0] <= '5' {
		return "P" + p, true
	}
	return "", false
}

// baseURL returns the API base URL the settings select.
func (s *Settings) baseURL() string {
	switch {
	case s.APIURL != "":
		return strings.TrimRight(s.APIURL, "/")
	case strings.EqualFold(s.Region, "eu"):
		return EUAPIURL
	default:
		return DefaultAPIURL
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ParseTargets reads responders in Apprise's notation, separated by
// commas, spaces or slashes: #team, @user, *schedule, ^escalation; a
// target without a prefix is a user. A UUID is sent as an id, anything
// else as a name (username for users).
func ParseTargets(s string) ([]Responder, error) {
	var out []Responder
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '/' }) {
		typ := ResponderUser
		switch t[0] {
		case '#':
			typ, t = ResponderTeam, t[1:]
		case '@':
			t = t[1:]
		case '*':
			typ, t = ResponderSchedule, t[1:]
		case '^':
			typ, t = ResponderEscalation, t[1:]
		}
		if t == "" {
			return nil, errors.New("a target prefix (#, @, * or ^) must be followed by a name or id")
		}
		r := Responder{Type: typ}
		switch {
		case uuidPattern.MatchString(t):
			r.ID = t
		case typ == ResponderUser:
			r.Username = t
		default:
			r.Name = t
		}
		out = append(out, r)
	}
	return out, nil
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// form:
//
//	opsgenie://API_KEY[/TARGET...][?region=eu&priority=P1&tags=a,b&+detail=value]
//
// Targets are responders: #team, @user, *schedule, ^escalation (a bare
// name is a user); '#' may be written as %23. Query parameters: region
// (us|eu), priority (P1..P5 or 1..5), tags (comma-separated), entity,
// source, user, note, to (more targets), and +NAME=VALUE for a detail;
// any other is an error. Errors never repeat the API key.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("opsgenie: settings are %T, want *opsgenie.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return errors.New("opsgenie: URL must look like opsgenie://API_KEY")
	}
	if !strings.EqualFold(scheme, "opsgenie") {
		return errors.New("opsgenie: URL scheme must be opsgenie://")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	rawKey, rawPath, _ := strings.Cut(rest, "/")
	key, err := url.PathUnescape(rawKey)
	if err != nil {
		return errors.New("opsgenie: the API key in the URL has a bad %-escape")
	}
	if err := checkAPIKey(key); err != nil {
		return fmt.Errorf("opsgenie: URL: %w", err)
	}
	s.APIKey = channel.Secret(key)

	if rawPath != "" {
		p, err := url.PathUnescape(rawPath)
		if err != nil {
			return errors.New("opsgenie: URL path (targets) has a bad %-escape")
		}
		rs, err := ParseTargets(p)
		if err != nil {
			return fmt.Errorf("opsgenie: URL targets: %w", err)
		}
		s.Responders = append(s.Responders, rs...)
	}

	params, err := parseQuery(rawQuery)
	if err != nil {
		return err
	}
	for _, kv := range params {
		k, v := kv[0], kv[1]
		switch {
		case k == "region":
			switch strings.ToLower(v) {
			case "us", "eu":
				s.Region = strings.ToLower(v)
			default:
				return fmt.Errorf("opsgenie: URL parameter region %q is not us or eu", safe(v, key))
			}
		case k == "priority":
			p, ok := parsePriority(v)
			if !ok {
				return fmt.Errorf("opsgenie: URL parameter priority %q is not P1..P5", safe(v, key))
			}
			s.Priority = p
		case k == "tags":
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					s.Tags = append(s.Tags, t)
				}
			}
		case k == "entity":
			s.Entity = v
		case k == "source":
			s.Source = v
		case k == "user":
			s.User = v
		case k == "note":
			s.Note = v
		case k == "to":
			rs, err := ParseTargets(v)
			if err != nil {
				return fmt.Errorf("opsgenie: URL parameter to: %w", err)
			}
			s.Responders = append(s.Responders, rs...)
		case strings.HasPrefix(k, "+") && len(k) > 1:
			if s.Details == nil {
				s.Details = map[string]string{}
			}
			s.Details[k[1:]] = v
		default:
			return fmt.Errorf("opsgenie: unknown URL parameter %q", safe(k, key))
		}
	}
	return nil
}

// parseQuery splits a raw query into name/value pairs in order. Unlike
// url.ParseQuery it keeps a leading '+' of a name (Apprise's prefix for
// details) instead of reading it as a space.
func parseQuery(raw string) ([][2]string, error) {
	var out [][2]string
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		prefix := ""
		if strings.HasPrefix(rawName, "+") {
			prefix, rawName = "+", rawName[1:]
		}
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil {
			return nil, errors.New("opsgenie: malformed URL query (bad %-escape)")
		}
		out = append(out, [2]string{prefix + name, value})
	}
	return out, nil
}

// safe returns s for an error message, or a placeholder when s is long
// or contains the secret, so that a URL typo never echoes the key.
func safe(s, secret string) string {
	if len(s) > 32 || (secret != "" && strings.Contains(s, secret)) {
		return "<hidden>"
	}
	return s
}
