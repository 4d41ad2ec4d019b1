package discord

import (
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultAPIURL is Discord's API base; webhooks live under /webhooks.
const DefaultAPIURL = "https://discord.com/api"

// Settings configure a Discord webhook channel.
type Settings struct {
	// WebhookID and WebhookToken are the two parts of the webhook URL
	// https://discord.com/api/webhooks/{webhook_id}/{webhook_token}.
	// The token is the credential.
	WebhookID    string         `yaml:"webhook_id"`
	WebhookToken channel.Secret `yaml:"webhook_token"`
	// Username and AvatarURL override the webhook's default name and
	// avatar.
	Username  string `yaml:"username"`
	AvatarURL string `yaml:"avatar_url"`
	// ThreadID posts into a thread of the webhook's channel (Discord's
	// thread_id); a message's To, when it is a snowflake, overrides it.
	ThreadID string `yaml:"thread_id"`
	// APIURL is the API base (default https://discord.com/api); tests
	// change it.
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the token.
func (s *Settings) Validate() error {
	if s.WebhookID == "" {
		return errors.New("webhook_id is required")
	}
	if !isSnowflake(s.WebhookID) {
		return errors.New("webhook_id must be the numeric id from the webhook URL")
	}
	if s.WebhookToken == "" {
		return errors.New("webhook_token is required")
	}
	if !validToken(s.WebhookToken.Value()) {
		return errors.New("webhook_token must contain only letters, digits, '-' and '_'")
	}
	if s.ThreadID != "" && !isSnowflake(s.ThreadID) {
		return errors.New("thread_id must be a numeric id")
	}
	if s.AvatarURL != "" {
		if err := netguard.CheckURL(s.AvatarURL); err != nil {
			return fmt.Errorf("avatar_url: %w", err)
		}
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	if len([]rune(s.Username)) > 80 {
		return errors.New("username must be at most 80 characters")
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

// isSnowflake reports whether s is a Discord id: decimal digits.
func isSnowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validToken reports whether s can be a webhook token: URL-safe base64
// characters only, so that it can be put in a path unescaped.
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

const usage = "discord://webhook_id/webhook_token or https://discord.com/api/webhooks/webhook_id/webhook_token"

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Discord form (https://github.com/caronc/apprise/wiki/Notify_discord):
//
//	discord://[botname@]webhook_id/webhook_token[?thread=…&avatar_url=…]
//
// The webhook URL Discord shows (https://discord.com/api/webhooks/ID/TOKEN,
// also on discordapp.com) is accepted as is. Query parameters: thread
// (or thread_id), avatar_url, username (or botname). Errors name the part
// that is wrong and never repeat the token.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("discord: settings are %T, want *discord.Settings", settings)
	}
	p, err := chanurl.Parse("discord", u, usage)
	if err != nil {
		return err
	}
	var out Settings
	switch p.Scheme {
	case "discord":
		if p.Password != "" {
			return errors.New("discord: the part before @ is the bot name and takes no password")
		}
		out.Username = p.User
		if p.Host == "" {
			return errors.New("discord: the URL has no webhook id after discord://")
		}
		if len(p.Segs) != 1 {
			return fmt.Errorf("discord: want discord://webhook_id/webhook_token, got %d path segments after the id", len(p.Segs))
		}
		out.WebhookID, out.WebhookToken = p.Host, channel.Secret(p.Segs[0])
	case "https":
		host := strings.ToLower(p.Host)
		if host != "discord.com" && host != "discordapp.com" && !strings.HasSuffix(host, ".discord.com") {
			return errors.New("discord: an https URL must be a discord.com webhook URL")
		}
		if p.HasUser {
			return errors.New("discord: a webhook URL takes no user part")
		}
		segs := p.Segs
		if len(segs) > 0 && segs[0] == "api" {
			segs = segs[1:]
			if len(segs) > 0 && strings.HasPrefix(segs[0], "v") && isSnowflake(segs[0][1:]) {
				segs = segs[1:] // a versioned base: /api/v10/webhooks/…
			}
		}
		if len(segs) != 3 || segs[0] != "webhooks" {
			return errors.New("discord: an https URL must be https://discord.com/api/webhooks/webhook_id/webhook_token")
		}
		out.WebhookID, out.WebhookToken = segs[1], channel.Secret(segs[2])
	default:
		return fmt.Errorf("discord: URL scheme %s is not discord or https", chanurl.QuoteShort(p.Scheme))
	}
	if !isSnowflake(out.WebhookID) {
		return errors.New("discord: the webhook id must be numeric")
	}
	if !validToken(out.WebhookToken.Value()) {
		return errors.New("discord: the webhook token must contain only letters, digits, '-' and '_'")
	}
	for key, vs := range p.Query {
		v := vs[len(vs)-1]
		switch strings.ToLower(key) {
		case "thread", "thread_id":
			out.ThreadID = v
		case "avatar_url":
			out.AvatarURL = v
		case "username", "botname":
			out.Username = v
		case "wait":
			// Herald always waits for the message object.
		default:
			return fmt.Errorf("discord: unknown query parameter %s (want thread, avatar_url or username)", chanurl.QuoteShort(key))
		}
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("discord: %w", err)
	}
	*s = out
	return nil
}
