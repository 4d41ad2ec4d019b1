package feishu

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// Regions and their webhook bases; the hook id is appended as the last
// path segment.
const (
	RegionFeishu = "feishu"
	RegionLark   = "lark"

	FeishuAPIURL = "https://open.feishu.cn/open-apis/bot/v2/hook"
	LarkAPIURL   = "https://open.larksuite.com/open-apis/bot/v2/hook"
)

// Message formats.
const (
	// FormatText sends msg_type "text": plain text, no title.
	FormatText = "text"
	// FormatPost sends msg_type "post": rich text whose title is the
	// subject, one paragraph per line of text.
	FormatPost = "post"
)

// Settings configure a Feishu / Lark custom bot (自定义机器人) channel.
type Settings struct {
	// HookID is the last path segment of the bot's webhook URL
	// (…/open-apis/bot/v2/hook/{hook_id}), required.
	HookID channel.Secret `yaml:"hook_id"`
	// Secret is the signing secret shown when the bot's security setting
	// 签名校验 (signature verification) is on; empty sends unsigned.
	Secret channel.Secret `yaml:"secret"`
	// Region is feishu (open.feishu.cn, default) or lark
	// (open.larksuite.com).
	Region string `yaml:"region"`
	// Format is text or post. Empty picks post when the message has a
	// subject (it becomes the title) and text otherwise.
	Format string `yaml:"format"`
	// Locale is the language key of post content (default zh_cn; en_us,
	// ja_jp, ...). Feishu shows the one matching the reader's language and
	// falls back to another.
	Locale string `yaml:"locale"`
	// Mentions are open_ids (ou_…) or user ids @-mentioned in every
	// message; "all" mentions everyone.
	Mentions []string `yaml:"mentions"`
	// APIURL overrides the webhook base of the region (the hook id is
	// appended), for tests and proxies.
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the hook id or the secret.
func (s *Settings) Validate() error {
	if strings.TrimSpace(s.HookID.Value()) == "" {
		return errors.New("hook_id is required")
	}
	if !idChars(s.HookID.Value()) {
		return errors.New("hook_id may only contain letters, digits, '-' and '_'")
	}
	if strings.ContainsAny(s.Secret.Value(), "\r\n") {
		return errors.New("secret must be a single line")
	}
	switch s.Region {
	case "", RegionFeishu, RegionLark:
	default:
		return fmt.Errorf("region %q is not feishu or lark", s.Region)
	}
	switch s.Format {
	case "", FormatText, FormatPost:
	default:
		return fmt.Errorf("format %q is not text or post", s.Format)
	}
	if s.Locale != "" && !localeChars(s.Locale) {
		return fmt.Errorf("locale %q is not a language key like zh_cn or en_us", s.Locale)
	}
	for i, m := range s.Mentions {
		if !idChars(m) {
			return fmt.Errorf("mentions[%d] %q is not a user id or all", i, m)
		}
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	return nil
}

// base returns the webhook base with its default.
func (s *Settings) base() string {
	switch {
	case s.APIURL != "":
		return strings.TrimRight(s.APIURL, "/")
	case s.Region == RegionLark:
		return LarkAPIURL
	default:
		return FeishuAPIURL
	}
}

// FromURL fills settings (a *Settings) from a channel URL in Apprise's
// forms (https://github.com/caronc/apprise/wiki/Notify_feishu and
// Notify_lark):
//
//	feishu://{hook_id}
//	lark://{hook_id}
//
// Apprise has no signing secret; Herald takes it as a second path segment
// or before '@', and also accepts Apprise's token parameter:
//
//	feishu://{hook_id}/{secret}
//	feishu://{secret}@{hook_id}?format=post&to=ou_xxx,all
//
// Query parameters: token (the hook id), secret, format, locale, to
// (comma-separated mentions) and api_url. The webhook URL Feishu or Lark
// shows (https://open.feishu.cn/open-apis/bot/v2/hook/…) is accepted too.
// Errors say which part is wrong and never repeat the hook id or secret.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("feishu: settings are %T, want *feishu.Settings", settings)
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return errors.New("feishu: URL must look like feishu://hook_id[/secret] or lark://hook_id[/secret]")
	}
	switch strings.ToLower(scheme) {
	case "feishu":
		return fromAppriseURL(raw, s, RegionFeishu)
	case "lark":
		return fromAppriseURL(raw, s, RegionLark)
	case "https", "http":
		return fromWebhookURL(raw, s)
	default:
		return fmt.Errorf("feishu: URL scheme %q is not feishu, lark or https", clip(scheme, 16))
	}
}

func fromAppriseURL(raw string, s *Settings, region string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse repeats the URL, secret included; say less.
		return errors.New("feishu: malformed URL (check that the hook id and secret contain no '/', '?', '#' or '%')")
	}
	if u.Opaque != "" {
		return errors.New("feishu: URL must start with feishu:// or lark:// followed by the hook id")
	}
	hook := u.Host
	if strings.Contains(hook, ":") {
		return errors.New("feishu: the hook id (the URL host) must not contain ':'")
	}
	var secret string
	if u.User != nil {
		if _, hasPW := u.User.Password(); hasPW {
			return errors.New("feishu: put only the secret before '@' (feishu://secret@hook_id), not user:password")
		}
		secret = u.User.Username()
	}
	switch segs := strings.Split(strings.Trim(u.Path, "/"), "/"); {
	case len(segs) == 1 && segs[0] == "":
	case len(segs) == 1:
		if secret != "" {
			return errors.New("feishu: give the secret once, before '@' or as the path, not both")
		}
		secret = segs[0]
	default:
		return errors.New("feishu: URL path must be at most one segment, the secret (feishu://hook_id/secret)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("feishu: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "token":
			hook = v
		case "secret":
			secret = v
		case "format":
			if v != FormatText && v != FormatPost {
				return fmt.Errorf("feishu: format %q is not text or post", clip(v, 20))
			}
			s.Format = v
		case "locale":
			if !localeChars(v) {
				return fmt.Errorf("feishu: locale %q is not a language key like zh_cn", clip(v, 20))
			}
			s.Locale = v
		case "to":
			for _, m := range strings.Split(v, ",") {
				if m = strings.TrimSpace(m); m == "" {
					continue
				}
				if !idChars(m) {
					return fmt.Errorf("feishu: to: %q is not a user id or all", clip(m, 40))
				}
				s.Mentions = append(s.Mentions, m)
			}
		case "api_url":
			if err := netguard.CheckURL(v); err != nil {
				return fmt.Errorf("feishu: api_url: %w", err)
			}
			s.APIURL = v
		default:
			return fmt.Errorf("feishu: unknown URL parameter %q", clip(k, 32))
		}
	}
	if hook == "" {
		return errors.New("feishu: URL has no hook id (feishu://hook_id)")
	}
	if !idChars(hook) {
		return errors.New("feishu: the hook id may only contain letters, digits, '-' and '_'")
	}
	if strings.ContainsAny(secret, "\r\n") {
		return errors.New("feishu: the secret must be a single line")
	}
	s.HookID = channel.Secret(hook)
	s.Secret = channel.Secret(secret)
	if region == RegionLark {
		s.Region = RegionLark
	}
	return nil
}

// fromWebhookURL takes the webhook URL as Feishu or Lark shows it: the
// last path segment is the hook id, the rest the API base.
func fromWebhookURL(raw string, s *Settings) error {
	if err := netguard.CheckURL(raw); err != nil {
		return fmt.Errorf("feishu: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("feishu: malformed URL")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("feishu: malformed URL query")
	}
	path := strings.TrimRight(u.Path, "/")
	i := strings.LastIndexByte(path, '/')
	hook := path[i+1:]
	if i < 0 || hook == "" || !strings.Contains(path[:i], "/hook") {
		return errors.New("feishu: webhook URL must end in /hook/{hook_id}")
	}
	if !idChars(hook) {
		return errors.New("feishu: the hook id may only contain letters, digits, '-' and '_'")
	}
	if sec := q.Get("secret"); sec != "" {
		s.Secret = channel.Secret(sec)
	}
	s.HookID = channel.Secret(hook)
	u.Path, u.RawPath, u.RawQuery, u.Fragment = path[:i], "", "", ""
	switch api := u.String(); api {
	case FeishuAPIURL:
	case LarkAPIURL:
		s.Region = RegionLark
	default:
		s.APIURL = api
	}
	return nil
}

// idChars reports whether v is a non-empty run of the characters hook ids
// and user ids are made of.
func idChars(v string) bool {
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

// localeChars reports whether v looks like a post language key (zh_cn).
func localeChars(v string) bool {
	if len(v) < 2 || len(v) > 10 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= 'a' && c <= 'z') && c != '_' {
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
