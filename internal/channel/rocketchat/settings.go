package rocketchat

import (
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"net/url"
	"regexp"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultMaxLength is Rocket.Chat's default Message_MaxAllowedSize.
const DefaultMaxLength = 5000

// Settings configure a Rocket.Chat incoming-webhook channel. Rocket.Chat
// is self-hosted (or a per-workspace cloud host), so there is no default
// server.
type Settings struct {
	// APIURL is the server's base URL (https://chat.example.com); the
	// webhook is {api_url}/hooks/{integration_id}/{token}. Required.
	APIURL string `yaml:"api_url"`
	// IntegrationID and Token are the two parts of the webhook URL
	// Rocket.Chat shows for an incoming integration; the token is the
	// credential.
	IntegrationID string         `yaml:"integration_id"`
	Token         channel.Secret `yaml:"token"`
	// Channel overrides the integration's channel: "#channel",
	// "@username" or a room id. A message's To overrides it. The
	// integration must allow overriding its destination channel.
	Channel string `yaml:"channel"`
	// Alias, Emoji and Avatar override the poster's name and icon.
	Alias  string `yaml:"alias"`
	Emoji  string `yaml:"emoji"`
	Avatar string `yaml:"avatar"`
	// MaxLength is the server's Message_MaxAllowedSize (default 5000).
	MaxLength int `yaml:"max_length"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the token.
func (s *Settings) Validate() error {
	if s.APIURL == "" {
		return errors.New("api_url (the Rocket.Chat server's URL) is required")
	}
	if err := netguard.CheckURL(s.APIURL); err != nil {
		return fmt.Errorf("api_url: %w", err)
	}
	if s.IntegrationID == "" {
		return errors.New("integration_id is required")
	}
	if !alnum(s.IntegrationID) {
		return errors.New("integration_id must contain only letters and digits")
	}
	if s.Token == "" {
		return errors.New("token is required")
	}
	if !alnum(s.Token.Value()) {
		return errors.New("token must contain only letters and digits")
	}
	if s.Avatar != "" {
		if err := netguard.CheckURL(s.Avatar); err != nil {
			return fmt.Errorf("avatar: %w", err)
		}
	}
	if strings.ContainsAny(s.Channel, " \t\r\n") {
		return errors.New("channel must not contain white space")
	}
	if s.MaxLength < 0 {
		return errors.New("max_length must not be negative")
	}
	return nil
}

// maxLength returns the length limit with its default.
func (s *Settings) maxLength() int {
	if s.MaxLength == 0 {
		return DefaultMaxLength
	}
	return s.MaxLength
}

// hookURL returns the webhook's URL.
func (s *Settings) hookURL() string {
	return strings.TrimRight(s.APIURL, "/") + "/hooks/" + s.IntegrationID + "/" + s.Token.Value()
}

// alnum reports whether s is non-empty and only ASCII letters and digits,
// the alphabet of Rocket.Chat's Random.id (integration ids and tokens).
func alnum(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validHost reports whether s is a host name, an IPv4 address or a
// bracketed IPv6 address, with an optional numeric port.
func validHost(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		rest := s[end+1:]
		if rest != "" && !strings.HasPrefix(rest, ":") {
			return false
		}
		host, port = s[1:end], strings.TrimPrefix(rest, ":")
		if rest == ":" {
			return false
		}
		for _, c := range host {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return false
			}
		}
	} else {
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i+1:]
			if port == "" {
				return false
			}
		}
		for _, c := range host {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				return false
			}
		}
	}
	if host == "" || len(port) > 5 {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// webhookUser matches Apprise's webhook userinfo: [user:]ID/TOKEN@ (the
// slash may be escaped as %2F).
var webhookUser = regexp.MustCompile(`^([^:/@]+://)(?:([^:/@]+):)?([A-Za-z0-9]+)(?:/|%2[Ff])([A-Za-z0-9]+)@(.*)$`)

const usage = "rocket://integration_id/token@host[/#channel], rockets://… for https, or https://host/hooks/integration_id/token"

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Rocket.Chat webhook form
// (https://github.com/caronc/apprise/wiki/Notify_rocketchat):
//
//	rocket://[alias:]integration_id/token@host[:port][/#channel|/@user|/room_id]   (http)
//	rockets://[alias:]integration_id/token@host[:port][/…]                        (https)
//
// The "/" between id and token may be written %2F. The webhook URL
// Rocket.Chat shows (https://host/hooks/integration_id/token) is accepted
// as is. Query parameters: to (channel), webhook (id/token), alias,
// avatar (a URL), emoji, mode (only "webhook": Herald does not log in
// with a user's password). Errors name the part that is wrong and never
// repeat the token.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("rocketchat: settings are %T, want *rocketchat.Settings", settings)
	}
	var out Settings
	if m := webhookUser.FindStringSubmatch(u); m != nil {
		u = m[1] + m[5]
		out.Alias, out.IntegrationID, out.Token = m[2], m[3], channel.Secret(m[4])
	}
	p, err := chanurl.Parse("rocketchat", u, usage)
	if err != nil {
		return err
	}
	var scheme string
	native := false
	switch p.Scheme {
	case "rocket":
		scheme = "http"
	case "rockets":
		scheme = "https"
	case "http", "https":
		scheme, native = p.Scheme, true
	default:
		return fmt.Errorf("rocketchat: URL scheme %s is not rocket, rockets, http or https", chanurl.QuoteShort(p.Scheme))
	}
	if p.Host == "" {
		return errors.New("rocketchat: the URL has no host")
	}
	if !validHost(p.Host) {
		return errors.New("rocketchat: the host must be a host name or address with an optional numeric port")
	}
	if p.HasUser {
		return errors.New("rocketchat: the part before @ must be integration_id/token (Herald posts through an incoming webhook, not as a user)")
	}
	segs := p.Segs
	base := scheme + "://" + p.Host
	if native {
		i := len(segs) - 3
		if i < 0 || segs[i] != "hooks" {
			return errors.New("rocketchat: an http(s) URL must be the webhook URL, ending in /hooks/integration_id/token")
		}
		for _, seg := range segs[:i] {
			if url.PathEscape(seg) != seg {
				return errors.New("rocketchat: a path segment before /hooks contains characters that need escaping")
			}
			base += "/" + seg
		}
		out.IntegrationID, out.Token = segs[i+1], channel.Secret(segs[i+2])
		segs = nil
	}
	out.APIURL = base
	var targets []string
	targets = append(targets, segs...)
	for key, vs := range p.Query {
		v := vs[len(vs)-1]
		switch strings.ToLower(key) {
		case "to", "channel":
			targets = append(targets, v)
		case "webhook":
			id, tok, ok := strings.Cut(v, "/")
			if !ok {
				return errors.New("rocketchat: the webhook parameter must be integration_id/token")
			}
			out.IntegrationID, out.Token = id, channel.Secret(tok)
		case "alias", "botname":
			out.Alias = v
		case "avatar":
			out.Avatar = v
		case "emoji":
			out.Emoji = v
		case "mode":
			if !strings.EqualFold(v, "webhook") {
				return errors.New("rocketchat: only mode=webhook is supported")
			}
		default:
			return fmt.Errorf("rocketchat: unknown query parameter %s (want to, webhook, alias, avatar or emoji)", chanurl.QuoteShort(key))
		}
	}
	switch len(targets) {
	case 0:
	case 1:
		out.Channel = targets[0]
	default:
		return fmt.Errorf("rocketchat: the URL names %d channels; a Herald channel posts to one (give others as a message's to)", len(targets))
	}
	if out.IntegrationID == "" || out.Token == "" {
		return errors.New("rocketchat: the URL has no webhook: write it as " + usage)
	}
	if !alnum(out.IntegrationID) || !alnum(out.Token.Value()) {
		return errors.New("rocketchat: the webhook's integration id and token must contain only letters and digits")
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("rocketchat: %w", err)
	}
	*s = out
	return nil
}
