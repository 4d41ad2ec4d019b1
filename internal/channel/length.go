package channel

import (
	"strings"
	"unicode/utf8"
)

// Ellipsis ends a text that Truncate shortened.
const Ellipsis = "…"

// Truncate returns text cut to at most max runes, ending with Ellipsis
// when it was cut. max <= 0 means no limit.
func Truncate(text string, max int) string {
	if max <= 0 || utf8.RuneCountInString(text) <= max {
		return text
	}
	if max <= 1 {
		return string([]rune(text)[:max])
	}
	r := []rune(text)[:max-1]
	return strings.TrimRight(string(r), " \t\r\n") + Ellipsis
}

// Split cuts text into parts of at most max runes each, preferring to cut
// after a newline, then after a space, so that words stay whole where
// they can. It returns nil when text already fits (or max <= 0).
func Split(text string, max int) []string {
	if max <= 0 || utf8.RuneCountInString(text) <= max {
		return nil
	}
	var parts []string
	r := []rune(text)
	for len(r) > max {
		cut := max
		if i := lastIndex(r[:max], '\n'); i >= max/2 {
			cut = i + 1
		} else if i := lastIndex(r[:max], ' '); i >= max/2 {
			cut = i + 1
		}
		parts = append(parts, strings.TrimRight(string(r[:cut]), " \n"))
		r = r[cut:]
	}
	if len(r) > 0 {
		parts = append(parts, string(r))
	}
	return parts
}

func lastIndex(r []rune, c rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] == c {
			return i
		}
	}
	return -1
}

// Texts returns the texts to send for c: its Parts when the engine split
// it, otherwise its Text alone.
func (c *Content) Texts() []string {
	if len(c.Parts) > 0 {
		return c.Parts
	}
	return []string{c.Text}
}
