package pagerduty

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// Events API v2 endpoints. PagerDuty accounts hosted in the EU service
// region must send to the EU host; the US host rejects their keys.
const (
	DefaultAPIURL = "https://events.pagerduty.com/v2/enqueue"
	EUAPIURL      = "https://events.eu.pagerduty.com/v2/enqueue"
)

// Event actions of the Events API v2.
const (
	ActionTrigger     = "trigger"
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
)

// Severities of the Events API v2 payload.
const (
	SeverityCritical = "critical"
	SeverityError    = "error"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// routingKeyLen is the length PagerDuty requires of a routing key; the
// API answers 400 "Length of 'routing_key' is incorrect (should be 32
// characters)" otherwise, so the mistake is caught at load time instead.
const routingKeyLen = 32

// Settings configure a PagerDuty channel (Events API v2).
type Settings struct {
	// RoutingKey is the Integration Key of an "Events API v2"
	// integration (32 characters). It is the only credential the Events
	// API needs.
	RoutingKey channel.Secret `yaml:"routing_key"`
	// Region is "us" (default) or "eu"; it picks the endpoint unless
	// APIURL is set.
	Region string `yaml:"region"`
	// APIURL overrides the enqueue endpoint (tests, proxies).
	APIURL string `yaml:"api_url"`
	// Action is the event action for messages whose event type matches
	// neither ResolveTypes nor AcknowledgeTypes (default trigger).
	Action string `yaml:"action"`
	// ResolveTypes and AcknowledgeTypes are event-type patterns
	// (path.Match syntax, so "order.*" or "*.recovered"; a trailing "*"
	// also matches across "/"): a message whose event type matches sends
	// resolve (or acknowledge) for its correlation key instead of
	// trigger. Resolve patterns are checked first.
	ResolveTypes     []string `yaml:"resolve_types"`
	AcknowledgeTypes []string `yaml:"acknowledge_types"`
	// Severity is the payload severity: critical, error, warning or info.
	// Empty derives it from the message priority (high: critical,
	// normal: error, low: warning).
	Severity string `yaml:"severity"`
	// Source is the affected system, preferably a host name (default
	// "herald"; the API requires one).
	Source string `yaml:"source"`
	// Component, Group and Class fill the payload fields of the same
	// names (optional).
	Component string `yaml:"component"`
	Group     string `yaml:"group"`
	Class     string `yaml:"class"`
	// Client names the sender in the PagerDuty UI (default "Herald");
	// ClientURL links back to it.
	Client    string `yaml:"client"`
	ClientURL string `yaml:"client_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the routing key.
func (s *Settings) Validate() error {
	if err := checkRoutingKey(s.RoutingKey.Value()); err != nil {
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
	if s.Action != "" && !validAction(s.Action) {
		return fmt.Errorf("action %q is not trigger, acknowledge or resolve", s.Action)
	}
	if s.Severity != "" && !validSeverity(s.Severity) {
		return fmt.Errorf("severity %q is not critical, error, warning or info", s.Severity)
	}
	for _, p := range s.ResolveTypes {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("resolve_types: bad pattern %q", p)
		}
	}
	for _, p := range s.AcknowledgeTypes {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("acknowledge_types: bad pattern %q", p)
		}
	}
	if s.ClientURL != "" {
		if err := netguard.CheckURL(s.ClientURL); err != nil {
			return fmt.Errorf("client_url: %w", err)
		}
	}
	return nil
}

// checkRoutingKey reports a missing or malformed routing key without
// repeating it.
func checkRoutingKey(k string) error {
	if k == "" {
		return errors.New("routing_key is required (the Integration Key of an Events API v2 integration)")
	}
	if len(k) != routingKeyLen {
		return fmt.Errorf("routing_key must be %d characters, not %d", routingKeyLen, len(k))
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("routing_key may contain only letters and digits (character %d is not)", i+1)
		}
	}
	return nil
}

func validAction(a string) bool {
	switch a {
	case ActionTrigger, ActionAcknowledge, ActionResolve:
		return true
	}
	return false
}

func validSeverity(s string) bool {
	switch s {
	case SeverityCritical, SeverityError, SeverityWarning, SeverityInfo:
		return true
	}
	return false
}

// endpoint returns the enqueue URL the settings select.
func (s *Settings) endpoint() string {
	switch {
	case s.APIURL != "":
		return s.APIURL
	case strings.EqualFold(s.Region, "eu"):
		return EUAPIURL
	default:
		return DefaultAPIURL
	}
}

// FromURL fills settings (a *Settings) from a channel URL:
//
//	pagerduty://ROUTING_KEY[/SOURCE[/COMPONENT]][?region=eu&severity=critical&...]
//	pagerduty://ROUTING_KEY@API_KEY[/SOURCE[/COMPONENT]][?...]
//
// The second form is Apprise's (pagerduty://{integrationkey}@{apikey}/
// {source}/{component}); Herald sends through the Events API, which needs
// only the integration (routing) key, so the REST API key is accepted and
// ignored. Query parameters: region (us|eu), severity, action, source,
// component, group, class, client, client_url; any other is an error.
// Errors name the part that is wrong and never repeat the routing key.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("pagerduty: settings are %T, want *pagerduty.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return errors.New("pagerduty: URL must look like pagerduty://ROUTING_KEY")
	}
	if !strings.EqualFold(scheme, "pagerduty") {
		return errors.New("pagerduty: URL scheme must be pagerduty://")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	authority, rawPath, _ := strings.Cut(rest, "/")
	key := authority
	if user, _, hasUser := strings.Cut(authority, "@"); hasUser {
		// Apprise: the integration key is the user part, the host the
		// REST API key Herald does not use.
		key = user
	}
	if unescaped, err := url.PathUnescape(key); err == nil {
		key = unescaped
	} else {
		return errors.New("pagerduty: the routing key in the URL has a bad %-escape")
	}
	if err := checkRoutingKey(key); err != nil {
		return fmt.Errorf("pagerduty: URL: %w", err)
	}
	s.RoutingKey = channel.Secret(key)

	if rawPath = strings.Trim(rawPath, "/"); rawPath != "" {
		segs := strings.Split(rawPath, "/")
		if len(segs) > 2 {
			return errors.New("pagerduty: URL path must be at most /SOURCE/COMPONENT")
		}
		for i, seg := range segs {
			v, err := url.PathUnescape(seg)
			if err != nil {
				return errors.New("pagerduty: URL path has a bad %-escape")
			}
			if i == 0 {
				s.Source = v
			} else {
				s.Component = v
			}
		}
	}

	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("pagerduty: malformed URL query (bad %-escape or ';')")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "region":
			s.Region = v
		case "severity":
			s.Severity = v
		case "action":
			s.Action = v
		case "source":
			s.Source = v
		case "component":
			s.Component = v
		case "group":
			s.Group = v
		case "class":
			s.Class = v
		case "client":
			s.Client = v
		case "client_url":
			s.ClientURL = v
		default:
			return fmt.Errorf("pagerduty: unknown URL parameter %q", safe(k, key))
		}
	}
	switch strings.ToLower(s.Region) {
	case "", "us", "eu":
	default:
		return fmt.Errorf("pagerduty: URL parameter region %q is not us or eu", safe(s.Region, key))
	}
	if s.Severity != "" && !validSeverity(s.Severity) {
		return fmt.Errorf("pagerduty: URL parameter severity %q is not critical, error, warning or info", safe(s.Severity, key))
	}
	if s.Action != "" && !validAction(s.Action) {
		return fmt.Errorf("pagerduty: URL parameter action %q is not trigger, acknowledge or resolve", safe(s.Action, key))
	}
	return nil
}

// safe returns s for an error message, or a placeholder when s is long
// or contains the secret, so that a URL typo never echoes the key.
func safe(s, secret string) string {
	if len(s) > 32 || (secret != "" && strings.Contains(s, secret)) {
		return "<hidden>"
	}
	return s
}
