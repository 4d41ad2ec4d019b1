package rule

import (
	"fmt"
	"strings"
	"unicode"
)

// Pattern matches event types. Event types are dot-separated segments
// ("order.paid"); in a pattern "*" matches exactly one segment and "**"
// matches any number of segments, including none, anywhere in the pattern.
// The zero Pattern matches nothing but the empty type.
type Pattern struct {
	src string
	// segs are the pattern's segments; "*" and "**" keep their meaning,
	// everything else must equal the event type's segment.
	segs []string
}

// ParsePattern parses an event type pattern. Empty segments, "***" and
// wildcards mixed with other characters inside a segment ("ord*") are
// errors.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, fmt.Errorf("empty event type pattern")
	}
	segs := strings.Split(s, ".")
	for i, seg := range segs {
		switch {
		case seg == "":
			return Pattern{}, fmt.Errorf("pattern %q has an empty segment at position %d (segments are separated by single dots)", s, i+1)
		case seg == "*" || seg == "**":
			continue
		case strings.Trim(seg, "*") == "":
			return Pattern{}, fmt.Errorf("pattern %q: %q is not a wildcard: use * for one segment or ** for any number", s, seg)
		case strings.Contains(seg, "*"):
			return Pattern{}, fmt.Errorf("pattern %q: a wildcard must be a whole segment, not part of %q", s, seg)
		}
		if i := strings.IndexFunc(seg, invalidRune); i >= 0 {
			return Pattern{}, fmt.Errorf("pattern %q: segment %q contains %q; spaces and control characters are not allowed", s, seg, []rune(seg[i:])[0])
		}
	}
	return Pattern{src: s, segs: segs}, nil
}

func invalidRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
}

// String returns the pattern as it was written.
func (p Pattern) String() string { return p.src }

// Concrete reports whether the pattern has no wildcard, i.e. it matches
// exactly one event type (its own text).
func (p Pattern) Concrete() bool {
	for _, seg := range p.segs {
		if seg == "*" || seg == "**" {
			return false
		}
	}
	return len(p.segs) > 0
}

// Match reports whether eventType matches the pattern.
//
// It is the classic wildcard algorithm applied to segments instead of
// characters: "*" is the single-item wildcard, "**" the any-length one,
// and on a mismatch only the most recent "**" is retried with one more
// segment. That keeps it linear-ish, without allocations, for any number
// of "**".
func (p Pattern) Match(eventType string) bool {
	segs := p.segs
	pi := 0
	// ei is the byte offset of the current event segment; past is the
	// offset meaning "no segments left". An empty type has no segments.
	past := len(eventType) + 1
	ei := 0
	if eventType == "" {
		ei = past
	}
	starPi, starEi := -1, 0
	for ei < past {
		if pi < len(segs) && segs[pi] == "**" {
			starPi, starEi = pi, ei
			pi++
			continue
		}
		seg, next := segment(eventType, ei)
		if pi < len(segs) && (segs[pi] == "*" || segs[pi] == seg) {
			pi++
			ei = next
			continue
		}
		if starPi >= 0 {
			// Let the last "**" swallow one more segment and retry.
			_, starEi = segment(eventType, starEi)
			pi, ei = starPi+1, starEi
			continue
		}
		return false
	}
	for pi < len(segs) && segs[pi] == "**" {
		pi++
	}
	return pi == len(segs)
}

// segment returns the segment of s starting at byte offset i and the
// offset of the next one (len(s)+1 when it was the last).
func segment(s string, i int) (seg string, next int) {
	if j := strings.IndexByte(s[i:], '.'); j >= 0 {
		return s[i : i+j], i + j + 1
	}
	return s[i:], len(s) + 1
}
