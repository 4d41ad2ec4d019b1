package wecom

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultAPIURL is the group robot endpoint; the key is added as the key
// query parameter.
const DefaultAPIURL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"

// Message formats.
const (
	// FormatText sends msgtype "text" (at most 2048 bytes), which can
	// @-mention members by user id or phone number.
	FormatText = "text"
	// FormatMarkdown sends msgtype "markdown" (at most 4096 bytes), which
	// mentions members with <@userid> in the content.
	FormatMarkdown = "markdown"
)

// Settings configure a WeCom (企业微信) group robot (群机器人) channel.
type Settings struct {
	// Key is the key parameter of the robot's webhook URL (required). It
	// names the robot and so the group it posts to.
	Key channel.Secret `yaml:"key"`
	// Format is text (default) or markdown.
	Format string `yaml:"format"`
	// MentionedList are user ids @-mentioned in every message ("@all"
	// for everyone); MentionedMobileList the same by phone number. Text
	// messages only, except that user ids also work in markdown.
	MentionedList       []string `yaml:"mentioned_list"`
	MentionedMobileList []string `yaml:"mentioned_mobile_list"`
	// APIURL overrides the endpoint (default DefaultAPIURL), for tests and
	// proxies. It must not carry the key: that goes in Key.
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the key.
func (s *Settings) Validate() error {
	if strings.TrimSpace(s.Key.Value()) == "" {
		return errors.New("key is required")
	}
	if !keyChars(s.Key.Value()) {
		return errors.New("key may only contain letters, digits, '-' and '_'")
	}
	switch s.Format {
	case "", FormatText, FormatMarkdown:
	default:
		return fmt.Errorf("format %q is not text or markdown", s.Format)
	}
	for i, id := range s.MentionedList {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("mentioned_list[%d] is empty", i)
		}
	}
	for i, m := range s.MentionedMobileList {
		if m != "@all" && !channel.LooksLikePhone(m) {
			return fmt.Errorf("mentioned_mobile_list[%d] %q is not a phone number or @all", i, m)
		}
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
		if u, err := url.Parse(s.APIURL); err == nil && u.Query().Has("key") {
			return errors.New("api_url must not contain the key; set key instead")
		}
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
// WeCom Bot form (https://github.com/caronc/apprise/wiki/Notify_wecombot):
//
//	wecombot://{key}
//	wecom://{key}?format=markdown&to=zhangsan,13800001111
//
// wecom:// is accepted as a synonym. Query parameters: key (as in
// Apprise), format, to (comma-separated user ids, phone numbers or @all
// to mention in every message) and api_url. The webhook URL WeCom shows
// (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…) is accepted
// too, as Apprise does. Errors say which part is wrong and never repeat
// the key.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("wecom: settings are %T, want *wecom.Settings", settings)
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return errors.New("wecom: URL must look like wecombot://key")
	}
	switch strings.ToLower(scheme) {
	case "wecombot", "wecom":
		return fromAppriseURL(raw, s)
	case "https", "http":
		return fromWebhookURL(raw, s)
	default:
		return fmt.Errorf("wecom: URL scheme %q is not wecombot, wecom or https", clip(scheme, 16))
	}
}

func fromAppriseURL(raw string, s *Settings) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse repeats the URL, key included; say less.
		return errors.New("wecom: malformed URL (check that the key contains no '/', '?', '#' or '%')")
	}
	if u.Opaque != "" {
		return errors.New("wecom: URL must start with wecombot:// followed by the key")
	}
	if u.User != nil {
		return errors.New("wecom: URL must not have a user part (wecombot://key)")
	}
	key := u.Host
	if strings.Contains(key, ":") {
		return errors.New("wecom: the key (the URL host) must not contain ':'")
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		return errors.New("wecom: URL must not have a path after the key (wecombot://key)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("wecom: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "key":
			key = v
		case "format":
			if v != FormatText && v != FormatMarkdown {
				return fmt.Errorf("wecom: format %q is not text or markdown", clip(v, 20))
			}
			s.Format = v
		case "to":
			for _, t := range strings.Split(v, ",") {
				switch t = strings.TrimSpace(t); {
				case t == "":
				case t == "@all":
					s.MentionedList = append(s.MentionedList, t)
				case channel.LooksLikePhone(t):
					s.MentionedMobileList = append(s.MentionedMobileList, normalizePhone(t))
				default:
					s.MentionedList = append(s.MentionedList, t)
				}
			}
		case "api_url":
			if err := netguard.CheckURL(v); err != nil {
				return fmt.Errorf("wecom: api_url: %w", err)
			}
			s.APIURL = v
		default:
			return fmt.Errorf("wecom: unknown URL parameter %q", clip(k, 32))
		}
	}
	return setKey(s, key)
}

// fromWebhookURL takes the webhook URL as WeCom shows it; everything but
// the key stays in APIURL.
func fromWebhookURL(raw string, s *Settings) error {
	if err := netguard.CheckURL(raw); err != nil {
		return fmt.Errorf("wecom: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("wecom: malformed URL")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("wecom: malformed URL query")
	}
	key := q.Get("key")
	if key == "" {
		return errors.New("wecom: webhook URL has no key parameter")
	}
	u.RawQuery, u.Fragment = "", ""
	if api := u.String(); api != DefaultAPIURL {
		s.APIURL = api
	}
	return setKey(s, key)
}

func setKey(s *Settings, key string) error {
	if key == "" {
		return errors.New("wecom: URL has no key (wecombot://key)")
	}
	if !keyChars(key) {
		return errors.New("wecom: the key may only contain letters, digits, '-' and '_'")
	}
	s.Key = channel.Secret(key)
	return nil
}

// keyChars reports whether v is a non-empty run of the characters robot
// keys are made of (Apprise accepts the same set).
func keyChars(v string) bool {
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

// normalizePhone keeps the digits of a phone number, as WeCom's examples
// show them.
func normalizePhone(v string) string {
	var b strings.Builder
	for _, c := range v {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
