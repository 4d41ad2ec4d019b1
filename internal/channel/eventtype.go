package channel

import (
	"path"
	"strings"
)

// MatchEventType reports whether eventType matches one of patterns, the
// event-type lists in channel settings that pick a provider action (close
// an alert, resolve an incident). A pattern is path.Match syntax, whose
// "*" does not cross a "/"; a trailing "*" on an otherwise literal
// pattern also matches as a plain prefix, so that "github*" takes
// "github.push/tag" too, as users expect of a trailing wildcard.
func MatchEventType(patterns []string, eventType string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, eventType); ok {
			return true
		}
		if prefix, ok := strings.CutSuffix(pat, "*"); ok && !strings.ContainsAny(prefix, "*?[\\") && strings.HasPrefix(eventType, prefix) {
			return true
		}
	}
	return false
}
