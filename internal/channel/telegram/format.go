package telegram

import (
	"strings"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
)

// htmlEscaper replaces the three characters the Bot API's HTML mode
// requires as entities when they are not part of a tag or an entity.
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// markdownReserved are the characters MarkdownV2 reserves; outside an
// entity each must be preceded by a backslash, and so must the backslash.
const markdownReserved = "_*[]()~`>#+-=|{}.!\\"

// EscapeMarkdownV2 escapes s so that MarkdownV2 shows it literally. The
// subject Herald adds is escaped with it; the message text is not, since
// a template written for MarkdownV2 carries its own markup.
func EscapeMarkdownV2(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if r < utf8.RuneSelf && strings.ContainsRune(markdownReserved, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// EscapeHTML escapes s for the Bot API's HTML mode.
func EscapeHTML(s string) string { return htmlEscaper.Replace(s) }

// compose builds the text of one message in the sender's parse mode:
// subject (on the first part only) and body, within max visible
// characters. Plain text parts are escaped for HTML mode; an HTML body
// is used as it is when the whole message fits.
//
// The Bot API counts its 4096-character limit after entity parsing, so
// the markup the subject adds is not counted; the body is cut by its
// visible length where that is known (plain text) and by its raw length
// otherwise, which can only cut more than needed.
func compose(mode, subject, body, html string, max int) string {
	subjectLen := 0
	if subject != "" {
		// The separator: "\n" after a bold title, "\n\n" in plain text.
		sep := 1
		if mode == ParseModeNone {
			sep = 2
		}
		subjectLen = utf8.RuneCountInString(subject) + sep
		if subjectLen >= max {
			subject = channel.Truncate(subject, max-sep-1)
			subjectLen = utf8.RuneCountInString(subject) + sep
		}
	}
	room := max - subjectLen
	if room < 1 {
		body, html = "", ""
	}
	var text string
	switch mode {
	case ParseModeHTML:
		if html != "" && utf8.RuneCountInString(html) <= room {
			text = html
		} else if body != "" {
			text = EscapeHTML(channel.Truncate(body, room))
		} else if html != "" {
			// Only HTML, and too long: cutting it may break a tag, but
			// a certain rejection for length is worse.
			text = channel.Truncate(html, room)
		}
		if subject != "" {
			return join("<b>"+EscapeHTML(subject)+"</b>", "\n", text)
		}
	case ParseModeMarkdownV2:
		text = truncateMarkdown(body, room)
		if subject != "" {
			return join("*"+EscapeMarkdownV2(subject)+"*", "\n", text)
		}
	default:
		text = channel.Truncate(body, room)
		if subject != "" {
			return join(subject, "\n\n", text)
		}
	}
	return text
}

func join(title, sep, text string) string {
	if text == "" {
		return title
	}
	return title + sep + text
}

// truncateMarkdown cuts a MarkdownV2 text like channel.Truncate and makes
// sure the cut does not leave a dangling escape before the ellipsis (an
// escaped "…" is not valid MarkdownV2).
func truncateMarkdown(s string, max int) string {
	t := channel.Truncate(s, max)
	if t == s {
		return t
	}
	head := strings.TrimSuffix(t, channel.Ellipsis)
	n := len(head) - len(strings.TrimRight(head, "\\"))
	if n%2 == 1 {
		head = head[:len(head)-1]
	}
	return head + channel.Ellipsis
}
