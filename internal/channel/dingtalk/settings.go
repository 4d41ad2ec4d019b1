package dingtalk

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultAPIURL is the custom robot endpoint; the access token and, with
// signing, the timestamp and sign are added as query parameters.
const DefaultAPIURL = "https://oapi.dingtalk.com/robot/send"

// Message formats.
const (
	// FormatText sends msgtype "text": plain text, no title.
	FormatText = "text"
	// FormatMarkdown sends msgtype "markdown": DingTalk's Markdown subset,
	// with the subject as the title shown in notifications and the chat
	// list.
	FormatMarkdown = "markdown"
)

// Settings configure a DingTalk custom robot (自定义机器人) channel.
type Settings struct {
	// AccessToken is the access_token of the robot's webhook URL
	// (required). It names the robot and so the group it posts to.
	AccessToken channel.Secret `yaml:"access_token"`
	// Secret is the signing secret ("SEC…") shown when the robot's
	// security setting is 加签 (sign); empty sends unsigned requests,
	// which only robots secured by keywords or an IP allow-list accept.
	Secret channel.Secret `yaml:"secret"`
	// Format is text or markdown. Empty picks markdown when the message
	// has a subject (it becomes the title) and text otherwise.
	Format string `yaml:"format"`
	// AtMobiles and AtUserIDs are group members @-mentioned in every
	// message; AtAll mentions everyone.
	AtMobiles []string `yaml:"at_mobiles"`
	AtUserIDs []string `yaml:"at_user_ids"`
	AtAll     bool     `yaml:"at_all"`
	// APIURL overrides the endpoint (default DefaultAPIURL), for tests
	// and proxies. It must not carry the token: that goes in AccessToken.
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the token or the secret.
func (s *Settings) Validate() error {
	if strings.TrimSpace(s.AccessToken.Value()) == "" {
		return errors.New("access_token is required")
	}
	if !tokenChars(s.AccessToken.Value()) {
		return errors.New("access_token may only contain letters, digits, '-' and '_'")
	}
	if s.Secret != "" && !tokenChars(s.Secret.Value()) {
		return errors.New("secret may only contain letters, digits, '-' and '_' (it starts with SEC)")
	}
	switch s.Format {
	case "", FormatText, FormatMarkdown:
	default:
		return fmt.Errorf("format %q is not text or markdown", s.Format)
	}
	for i, m := range s.AtMobiles {
		if !channel.LooksLikePhone(m) {
			return fmt.Errorf("at_mobiles[%d] %q is not a phone number", i, m)
		}
	}
	for i, id := range s.AtUserIDs {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("at_user_ids[%d] is empty", i)
		}
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
		if u, err := url.Parse(s.APIURL); err == nil && u.Query().Has("access_token") {
			return errors.New("api_url must not contain access_token; set access_token instead")
		}
	}
	return nil
}

// apiURL returns the endpoint with its default.
func (s *Settings) apiURL() string {
	if s.APIURL == "" {
		return DefaultAPIURL
	}
	return s.APIURL
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// DingTalk form (https://github.com/caronc/apprise/wiki/Notify_dingtalk):
//
//	dingtalk://{access_token}
//	dingtalk://{secret}@{access_token}
//	dingtalk://{secret}@{access_token}/{mobile1}/{mobile2}?format=markdown
//
// Path segments are phone numbers to @-mention. Query parameters, as in
// Apprise: token, secret, to (more mobiles, comma-separated) and format;
// Herald adds at_all (a boolean) and api_url. The webhook URL DingTalk
// shows (https://oapi.dingtalk.com/robot/send?access_token=…) is accepted
// too. Errors say which part is wrong and never repeat the token or
// secret.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("dingtalk: settings are %T, want *dingtalk.Settings", settings)
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return errors.New("dingtalk: URL must look like dingtalk://[secret@]access_token[/mobile...]")
	}
	switch strings.ToLower(scheme) {
	case "dingtalk":
		return fromAppriseURL(raw, s)
	case "https", "http":
		return fromWebhookURL(raw, s)
	default:
		return fmt.Errorf("dingtalk: URL scheme %q is not dingtalk or https", truncate(scheme, 16))
	}
}

func fromAppriseURL(raw string, s *Settings) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse repeats the URL, secret included; say less.
		return errors.New("dingtalk: malformed URL (check that the secret and token contain no '/', '?', '#' or '%')")
	}
	if u.Opaque != "" {
		return errors.New("dingtalk: URL must start with dingtalk:// followed by the access token")
	}
	token := u.Host
	if strings.Contains(token, ":") {
		return errors.New("dingtalk: the access token (the URL host) must not contain ':'")
	}
	if u.User != nil {
		if _, hasPW := u.User.Password(); hasPW {
			return errors.New("dingtalk: put only the secret before '@' (dingtalk://secret@token), not user:password")
		}
		s.Secret = channel.Secret(u.User.Username())
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("dingtalk: malformed URL query")
	}
	var mobiles []string
	for i, seg := range strings.Split(strings.Trim(u.Path, "/"), "/") {
		if seg == "" {
			continue
		}
		if !channel.LooksLikePhone(seg) {
			return fmt.Errorf("dingtalk: path segment %d is not a phone number to @-mention", i+1)
		}
		mobiles = append(mobiles, normalizePhone(seg))
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "token":
			token = v
		case "secret":
			s.Secret = channel.Secret(v)
		case "to":
			for _, m := range strings.Split(v, ",") {
				if m = strings.TrimSpace(m); m == "" {
					continue
				}
				if !channel.LooksLikePhone(m) {
					return fmt.Errorf("dingtalk: to: %q is not a phone number", truncate(m, 20))
				}
				mobiles = append(mobiles, normalizePhone(m))
			}
		case "format":
			switch v {
			case FormatText, FormatMarkdown:
				s.Format = v
			default:
				return fmt.Errorf("dingtalk: format %q is not text or markdown", truncate(v, 20))
			}
		case "at_all":
			b, err := parseBool(v)
			if err != nil {
				return fmt.Errorf("dingtalk: at_all %q is not a boolean", truncate(v, 20))
			}
			s.AtAll = b
		case "api_url":
			if err := netguard.CheckURL(v); err != nil {
				return fmt.Errorf("dingtalk: api_url: %w", err)
			}
			s.APIURL = v
		default:
			return fmt.Errorf("dingtalk: unknown URL parameter %q", truncate(k, 32))
		}
	}
	if token == "" {
		return errors.New("dingtalk: URL has no access token (dingtalk://[secret@]access_token)")
	}
	if !tokenChars(token) {
		return errors.New("dingtalk: the access token may only contain letters, digits, '-' and '_'")
	}
	if s.Secret != "" && !tokenChars(s.Secret.Value()) {
		return errors.New("dingtalk: the secret may only contain letters, digits, '-' and '_'")
	}
	s.AccessToken = channel.Secret(token)
	s.AtMobiles = append(s.AtMobiles, mobiles...)
	return nil
}

// fromWebhookURL takes the webhook URL as DingTalk shows it; everything
// but access_token (and an optional secret) stays in APIURL.
func fromWebhookURL(raw string, s *Settings) error {
	if err := netguard.CheckURL(raw); err != nil {
		return fmt.Errorf("dingtalk: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("dingtalk: malformed URL")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("dingtalk: malformed URL query")
	}
	token := q.Get("access_token")
	if token == "" {
		return errors.New("dingtalk: webhook URL has no access_token parameter")
	}
	if !tokenChars(token) {
		return errors.New("dingtalk: the access_token parameter may only contain letters, digits, '-' and '_'")
	}
	if sec := q.Get("secret"); sec != "" {
		if !tokenChars(sec) {
			return errors.New("dingtalk: the secret parameter may only contain letters, digits, '-' and '_'")
		}
		s.Secret = channel.Secret(sec)
	}
	s.AccessToken = channel.Secret(token)
	u.RawQuery = ""
	u.Fragment = ""
	if api := u.String(); api != DefaultAPIURL {
		s.APIURL = api
	}
	return nil
}

// tokenChars reports whether v is a non-empty run of the characters
// DingTalk tokens and secrets are made of.
func tokenChars(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// normalizePhone keeps the digits of a phone number, as Apprise does and
// as DingTalk's atMobiles examples show them.
func normalizePhone(v string) string {
	var b strings.Builder
	for _, c := range v {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// parseBool accepts Go's boolean forms and Apprise's yes/no/on/off.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "y", "on":
		return true, nil
	case "no", "n", "off":
		return false, nil
	}
	return strconv.ParseBool(v)
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
