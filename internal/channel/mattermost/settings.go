package mattermost

import (
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// Settings configure a Mattermost incoming-webhook channel. Mattermost is
// self-hosted, so there is no default server.
type Settings struct {
	// APIURL is the server's base URL (https://mattermost.example.com,
	// with a sub-path if the server has one); the webhook is
	// {api_url}/hooks/{token}. Required.
	APIURL string `yaml:"api_url"`
	// Token is the incoming webhook's key, the last part of its URL.
	Token channel.Secret `yaml:"token"`
	// Channel overrides the webhook's channel: a channel name
	// ("town-square"), or "@username" for a direct message. A message's
	// To overrides it. Empty: the webhook's own channel.
	Channel string `yaml:"channel"`
	// Username, IconURL and IconEmoji override the poster; the server
	// ignores them unless "Enable integrations to override usernames /
	// profile picture icons" is on.
	Username  string `yaml:"username"`
	IconURL   string `yaml:"icon_url"`
	IconEmoji string `yaml:"icon_emoji"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the token.
func (s *Settings) Validate() error {
	if s.APIURL == "" {
		return errors.New("api_url (the Mattermost server's URL) is required")
	}
	if err := netguard.CheckURL(s.APIURL); err != nil {
		return fmt.Errorf("api_url: %w", err)
	}
	if s.Token == "" {
		return errors.New("token is required")
	}
	if !validToken(s.Token.Value()) {
		return errors.New("token must contain only letters, digits, '-' and '_'")
	}
	if s.IconURL != "" {
		if err := netguard.CheckURL(s.IconURL); err != nil {
			return fmt.Errorf("icon_url: %w", err)
		}
	}
	if strings.ContainsAny(s.Channel, " \t\r\n") {
		return errors.New("channel must not contain white space")
	}
	return nil
}

// hookURL returns the webhook's URL.
func (s *Settings) hookURL() string {
	return strings.TrimRight(s.APIURL, "/") + "/hooks/" + s.Token.Value()
}

// validToken reports whether s can be a webhook key and so be put in a
// path unescaped.
func validToken(s string) bool {
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

// validHost reports whether s is a host name, an IPv4 address or a
// bracketed IPv6 address, with an optional numeric port.
func validHost(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[1:end], strings.TrimPrefix(s[end+1:], ":")
		if s[end+1:] != "" && !strings.HasPrefix(s[end+1:], ":") {
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

const usage = "mmost://host[:port][/path]/token, mmosts://… for https, or https://host/hooks/token"

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Mattermost form (https://github.com/caronc/apprise/wiki/Notify_mattermost):
//
//	mmost://[botname@]host[:port][/path]/token[?channel=…]   (http)
//	mmosts://[botname@]host[:port][/path]/token[?channel=…]  (https)
//
// The webhook URL Mattermost shows (https://host[/path]/hooks/token) is
// accepted as is. Query parameters: channel (or to), username (or
// botname), icon_url, icon_emoji. Errors name the part that is wrong and
// never repeat the token.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("mattermost: settings are %T, want *mattermost.Settings", settings)
	}
	p, err := chanurl.Parse("mattermost", u, usage)
	if err != nil {
		return err
	}
	var scheme string
	native := false
	switch p.Scheme {
	case "mmost":
		scheme = "http"
	case "mmosts":
		scheme = "https"
	case "http", "https":
		scheme, native = p.Scheme, true
	default:
		return fmt.Errorf("mattermost: URL scheme %s is not mmost, mmosts, http or https", chanurl.QuoteShort(p.Scheme))
	}
	if p.Host == "" {
		return errors.New("mattermost: the URL has no host")
	}
	if !validHost(p.Host) {
		return errors.New("mattermost: the host must be a host name or address with an optional numeric port")
	}
	if p.Password != "" {
		return errors.New("mattermost: the part before @ is the bot name and takes no password")
	}
	var out Settings
	out.Username = p.User
	segs := p.Segs
	if native {
		if p.HasUser {
			return errors.New("mattermost: a webhook URL takes no user part")
		}
		if len(segs) < 2 || segs[len(segs)-2] != "hooks" {
			return errors.New("mattermost: an http(s) URL must be the webhook URL, ending in /hooks/token")
		}
		segs = append(segs[:len(segs)-2:len(segs)-2], segs[len(segs)-1])
	}
	if len(segs) == 0 {
		return errors.New("mattermost: the URL has no webhook token after the host")
	}
	token := segs[len(segs)-1]
	if !validToken(token) {
		return errors.New("mattermost: the webhook token must contain only letters, digits, '-' and '_'")
	}
	base := scheme + "://" + p.Host
	for _, seg := range segs[:len(segs)-1] {
		if !validToken(seg) && strings.Trim(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~") != "" {
			return errors.New("mattermost: a path segment before the token contains characters that need escaping")
		}
		base += "/" + seg
	}
	out.APIURL, out.Token = base, channel.Secret(token)
	for key, vs := range p.Query {
		v := vs[len(vs)-1]
		switch strings.ToLower(key) {
		case "channel", "to", "channels":
			if strings.Contains(v, ",") {
				return errors.New("mattermost: the URL names several channels; a Herald channel posts to one (give others as a message's to)")
			}
			out.Channel = v
		case "username", "botname":
			out.Username = v
		case "icon_url":
			out.IconURL = v
		case "icon_emoji":
			out.IconEmoji = v
		default:
			return fmt.Errorf("mattermost: unknown query parameter %s (want channel, username, icon_url or icon_emoji)", chanurl.QuoteShort(key))
		}
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("mattermost: %w", err)
	}
	*s = out
	return nil
}
