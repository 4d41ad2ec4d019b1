package slack

import (
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"net/url"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultAPIURL is the Slack Web API base the bot mode posts to.
const DefaultAPIURL = "https://slack.com/api"

// WebhookBase is where Slack's incoming webhooks live; FromURL builds
// webhook URLs under it.
const WebhookBase = "https://hooks.slack.com/services"

// Settings configure a Slack channel. Exactly one of WebhookURL and Token
// is set: it picks the mode.
type Settings struct {
	// WebhookURL is an incoming webhook
	// (https://hooks.slack.com/services/T…/B…/X…). The URL is the
	// credential, hence a Secret. The webhook fixes the channel.
	WebhookURL channel.Secret `yaml:"webhook_url"`
	// Token is a bot (xoxb-…) or user (xoxp-…) token for the Web API;
	// with it messages go through chat.postMessage and a recovery can
	// update the alert it resolves (chat.update).
	Token channel.Secret `yaml:"token"`
	// Channel is the default conversation (an id such as C0123, or a
	// name) for bot mode; a message's To overrides it. With a webhook it
	// is sent as "channel", which only legacy webhooks honour.
	Channel string `yaml:"channel"`
	// Username and IconEmoji/IconURL customise the poster where the
	// token or webhook allows it (chat:write.customize for bots).
	Username  string `yaml:"username"`
	IconEmoji string `yaml:"icon_emoji"`
	IconURL   string `yaml:"icon_url"`
	// APIURL is the Web API base (default https://slack.com/api); tests
	// and Slack GovSlack (https://slack-gov.com/api) change it.
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the token or the webhook URL.
func (s *Settings) Validate() error {
	hook, token := s.WebhookURL.Value(), s.Token.Value()
	switch {
	case hook == "" && token == "":
		return errors.New("one of webhook_url and token is required")
	case hook != "" && token != "":
		return errors.New("webhook_url and token are exclusive: set one")
	}
	if hook != "" {
		if err := netguard.CheckURL(hook); err != nil {
			return fmt.Errorf("webhook_url: %w", err)
		}
	}
	if token != "" {
		if !strings.HasPrefix(token, "xox") || strings.ContainsAny(token, " \t\r\n/") {
			return errors.New("token must be a Slack token starting with xoxb- or xoxp-")
		}
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
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

// apiURL returns the API base with its default and without a final slash.
func (s *Settings) apiURL() string {
	if s.APIURL == "" {
		return DefaultAPIURL
	}
	return strings.TrimRight(s.APIURL, "/")
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// Slack form (https://github.com/caronc/apprise/wiki/Notify_slack):
//
//	slack://[botname@]TokenA/TokenB/TokenC[/#channel]   incoming webhook
//	slack://[botname@]xoxb-…/[#]channel                 bot token
//
// Shoutrrr's forms are accepted too: slack://hook:TokenA-TokenB-TokenC@webhook
// and slack://xoxb:rest-of-token@C0123. A "#" starting a channel may be
// written as is or as %23. Query parameters: to (channel), username (or
// botname), icon_emoji, icon_url. Errors name the part that is wrong and
// never repeat a token.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("slack: settings are %T, want *slack.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return errors.New("slack: URL must look like slack://TokenA/TokenB/TokenC or slack://xoxb-token/channel")
	}
	if !strings.EqualFold(scheme, "slack") {
		return fmt.Errorf("slack: URL scheme %s is not slack", chanurl.QuoteShort(scheme))
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	// "#channel" is how Apprise documents a channel; in a URL it would
	// start the fragment, so it is taken literally here.
	authority, path, _ := strings.Cut(rest, "/")
	var user, password string
	hasPassword := false
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo := authority[:i]
		authority = authority[i+1:]
		user, password, hasPassword = strings.Cut(userinfo, ":")
		var err error
		if user, err = url.PathUnescape(user); err != nil {
			return errors.New("slack: the user part of the URL is not validly escaped")
		}
		if password, err = url.PathUnescape(password); err != nil {
			return errors.New("slack: the password part of the URL is not validly escaped")
		}
	}
	host, err := url.PathUnescape(authority)
	if err != nil {
		return errors.New("slack: the host part of the URL is not validly escaped")
	}
	var segs []string
	for _, seg := range strings.Split(path, "/") {
		if seg == "" {
			continue
		}
		v, err := url.PathUnescape(seg)
		if err != nil {
			return errors.New("slack: a path segment of the URL is not validly escaped")
		}
		segs = append(segs, v)
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("slack: the query of the URL is malformed")
	}

	var out Settings
	var targets []string
	switch {
	case hasPassword && strings.EqualFold(user, "hook"):
		// Shoutrrr: slack://hook:A-B-C@webhook
		parts := strings.Split(password, "-")
		if len(parts) != 3 {
			return errors.New("slack: a hook:… token must be TokenA-TokenB-TokenC")
		}
		if err := checkWebhookTokens(parts); err != nil {
			return err
		}
		out.WebhookURL = channel.Secret(WebhookBase + "/" + strings.Join(parts, "/"))
		targets = segs
	case hasPassword && strings.HasPrefix(strings.ToLower(user), "xox"):
		// Shoutrrr: slack://xoxb:rest@C0123
		out.Token = channel.Secret(user + "-" + password)
		if host != "" && !strings.EqualFold(host, "webhook") {
			targets = append(targets, host)
		}
		targets = append(targets, segs...)
	case hasPassword:
		return errors.New("slack: a user:password part is only valid as hook:TokenA-TokenB-TokenC or xoxb:token")
	case host == "":
		return errors.New("slack: the URL has no token after slack://")
	case strings.HasPrefix(host, "xox"):
		out.Username = user
		out.Token = channel.Secret(host)
		targets = segs
	default:
		out.Username = user
		if len(segs) < 2 {
			return fmt.Errorf("slack: a webhook URL needs three token parts (slack://TokenA/TokenB/TokenC), got %d", 1+len(segs))
		}
		parts := []string{host, segs[0], segs[1]}
		if err := checkWebhookTokens(parts); err != nil {
			return err
		}
		out.WebhookURL = channel.Secret(WebhookBase + "/" + strings.Join(parts, "/"))
		targets = segs[2:]
	}
	if out.Token != "" && strings.ContainsAny(out.Token.Value(), " \t\r\n") {
		return errors.New("slack: the token contains white space")
	}
	for key, vs := range query {
		v := vs[len(vs)-1]
		switch strings.ToLower(key) {
		case "to", "channel":
			targets = append(targets, v)
		case "username", "botname", "user":
			out.Username = v
		case "icon_emoji":
			out.IconEmoji = v
		case "icon_url":
			out.IconURL = v
		default:
			return fmt.Errorf("slack: unknown query parameter %s (want to, username, icon_emoji or icon_url)", chanurl.QuoteShort(key))
		}
	}
	switch len(targets) {
	case 0:
	case 1:
		out.Channel = strings.TrimPrefix(targets[0], "+")
	default:
		return fmt.Errorf("slack: the URL names %d channels; a Herald channel posts to one (give others as a message's to)", len(targets))
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	*s = out
	return nil
}

// checkWebhookTokens checks the three parts of an incoming webhook path
// without repeating them.
func checkWebhookTokens(parts []string) error {
	names := [3]string{"TokenA", "TokenB", "TokenC"}
	for i, p := range parts {
		if p == "" {
			return fmt.Errorf("slack: webhook %s is empty", names[i])
		}
		for _, c := range p {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				return fmt.Errorf("slack: webhook %s must contain only letters and digits", names[i])
			}
		}
	}
	return nil
}
