package telegram

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// DefaultAPIURL is the Bot API server. A self-hosted telegram-bot-api
// server, or a test server, is configured with api_url.
const DefaultAPIURL = "https://api.telegram.org"

// Parse modes, spelled as the Bot API expects them in parse_mode.
const (
	// ParseModeNone sends plain text: nothing is interpreted.
	ParseModeNone = ""
	// ParseModeHTML interprets the Bot API's HTML subset.
	ParseModeHTML = "HTML"
	// ParseModeMarkdownV2 interprets MarkdownV2, in which every reserved
	// character outside an entity must be escaped by the template.
	ParseModeMarkdownV2 = "MarkdownV2"
)

// Settings configure a Telegram channel (one bot, one default chat).
type Settings struct {
	// Token is the bot token BotFather issued, "123456789:AA…".
	Token channel.Secret `yaml:"token"`
	// ChatID is the default chat: a numeric id (negative for groups and
	// channels) or "@channelusername". A message's To overrides it.
	ChatID string `yaml:"chat_id"`
	// ParseMode is "" (plain text, the default), "HTML" or "MarkdownV2".
	ParseMode string `yaml:"parse_mode"`
	// DisableNotification sends messages silently.
	DisableNotification bool `yaml:"disable_notification"`
	// DisableLinkPreview turns off link previews
	// (link_preview_options.is_disabled).
	DisableLinkPreview bool `yaml:"disable_link_preview"`
	// MessageThreadID posts into a forum topic (supergroups with topics).
	MessageThreadID int64 `yaml:"message_thread_id"`
	// Update edits the newest earlier message with the same correlation
	// key (editMessageText) instead of posting a new one.
	Update bool `yaml:"update"`
	// APIURL is the Bot API base URL (default https://api.telegram.org).
	APIURL string `yaml:"api_url"`
}

// tokenRE is the shape of a bot token: the bot's numeric id, a colon and
// the secret part (BotFather issues 35 characters of [A-Za-z0-9_-]).
var tokenRE = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,}$`)

// chatRE is a chat id: a (possibly negative) integer, or a public
// username with its "@" (5 to 32 characters of [A-Za-z0-9_]).
var chatRE = regexp.MustCompile(`^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$`)

// Validate reports the first problem with the settings. Its errors never
// contain the token.
func (s *Settings) Validate() error {
	if s.Token == "" {
		return errors.New("token is required")
	}
	if !tokenRE.MatchString(s.Token.Value()) {
		return errors.New("token is not a bot token (want <bot id>:<secret> as BotFather issues it)")
	}
	if s.ChatID != "" && !chatRE.MatchString(s.ChatID) {
		return fmt.Errorf("chat_id %q is not a numeric chat id or an @username", s.ChatID)
	}
	if _, err := normParseMode(s.ParseMode); err != nil {
		return err
	}
	if s.MessageThreadID < 0 {
		return errors.New("message_thread_id must not be negative")
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	return nil
}

// normParseMode returns the Bot API spelling of a parse mode, accepting
// any letter case and the Apprise names ("text", "markdown").
func normParseMode(m string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(m)) {
	case "", "text", "none", "plain":
		return ParseModeNone, nil
	case "html":
		return ParseModeHTML, nil
	case "markdownv2", "markdown":
		return ParseModeMarkdownV2, nil
	}
	return "", fmt.Errorf("parse_mode %q is not HTML, MarkdownV2 or empty (plain text)", m)
}

// FromURL fills settings (a *Settings) from an Apprise Telegram URL:
//
//	tgram://<bot token>/<chat id>[/<more chat ids>][?format=html|markdown|text]
//
// as documented at https://github.com/caronc/apprise/wiki/Notify_telegram.
// The token may carry Apprise's optional "bot" prefix; only the first chat
// id is used (a Herald channel has one default destination), and
// "<chat id>:<topic>" sets the forum topic as in Apprise. Query
// parameters: format, silent (disable_notification), preview (link
// previews, off by default as in Apprise), topic or thread
// (message_thread_id), to (chat id when the path has none) and update.
// Any other parameter is an error. Errors never repeat the token.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("telegram: settings are %T, want *telegram.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return errors.New("telegram: URL must look like tgram://<bot token>/<chat id>")
	}
	if !strings.EqualFold(scheme, "tgram") {
		return fmt.Errorf("telegram: URL scheme %q is not tgram", short(scheme))
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		return errors.New("telegram: URL has a fragment (#); a chat username is written @name")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	segs := strings.Split(strings.TrimRight(rest, "/"), "/")
	token, err := url.PathUnescape(segs[0])
	if err != nil {
		return errors.New("telegram: the bot token in the URL has a malformed %-escape")
	}
	if strings.HasPrefix(strings.ToLower(token), "bot") {
		token = token[3:]
	}
	if token == "" {
		return errors.New("telegram: URL has no bot token (want tgram://<bot token>/<chat id>)")
	}
	if !tokenRE.MatchString(token) {
		return errors.New("telegram: the bot token in the URL is not <bot id>:<secret> as BotFather issues it")
	}
	s.Token = channel.Secret(token)
	var chats []string
	for i, seg := range segs[1:] {
		c, err := url.PathUnescape(seg)
		if err != nil {
			return fmt.Errorf("telegram: URL path segment %d has a malformed %%-escape", i+2)
		}
		if c != "" {
			chats = append(chats, c)
		}
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("telegram: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "format":
			m, err := normParseMode(v)
			if err != nil {
				return fmt.Errorf("telegram: URL parameter format %q is not html, markdown or text", short(v))
			}
			s.ParseMode = m
		case "silent":
			b, err := parseBool(v)
			if err != nil {
				return fmt.Errorf("telegram: URL parameter silent: %w", err)
			}
			s.DisableNotification = b
		case "preview":
			b, err := parseBool(v)
			if err != nil {
				return fmt.Errorf("telegram: URL parameter preview: %w", err)
			}
			s.DisableLinkPreview = !b
		case "topic", "thread":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("telegram: URL parameter %s %q is not a topic id", k, short(v))
			}
			s.MessageThreadID = n
		case "to":
			for c := range strings.SplitSeq(v, ",") {
				if c = strings.TrimSpace(c); c != "" {
					chats = append(chats, c)
				}
			}
		case "update":
			b, err := parseBool(v)
			if err != nil {
				return fmt.Errorf("telegram: URL parameter update: %w", err)
			}
			s.Update = b
		default:
			return fmt.Errorf("telegram: unknown URL parameter %q", short(k))
		}
	}
	if _, ok := q["preview"]; !ok {
		// Apprise's default: no link previews.
		s.DisableLinkPreview = true
	}
	if len(chats) > 0 {
		chat, topic, hasTopic := strings.Cut(chats[0], ":")
		if !chatRE.MatchString(chat) {
			return fmt.Errorf("telegram: chat id %q in the URL is not a numeric id or an @username", short(chat))
		}
		s.ChatID = chat
		if hasTopic {
			n, err := strconv.ParseInt(topic, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("telegram: topic %q after the chat id is not a number", short(topic))
			}
			s.MessageThreadID = n
		}
	}
	return nil
}

// parseBool accepts Apprise's yes/no as well as Go's boolean spellings.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "y", "on", "1", "true", "t":
		return true, nil
	case "no", "n", "off", "0", "false", "f", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", short(v))
}

// short bounds a user-supplied value repeated in an error.
func short(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
