package cloudevents

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// SpecVersion is the only CloudEvents specification version Herald
// accepts.
const SpecVersion = "1.0"

// Herald's own extension attributes, set by Encode. Decode drops them from
// incoming events: Herald assigns its ids itself, and a client must not be
// able to claim a parent event (which feeds emit-loop detection). Dropping
// rather than rejecting lets a client post an event it read from Herald.
const (
	attrHeraldID     = "heraldid"
	attrHeraldParent = "heraldparent"
)

// maxTypeLen is the longest event type accepted, in characters. Types are
// routing keys matched by rules and shown in the console; a longer one is
// a mistake, not an event type.
const maxTypeLen = 255

// maxNameLen is the longest attribute name accepted.
const maxNameLen = 20

// validName reports whether name is a valid CloudEvents attribute name:
// lower-case ASCII letters and digits only, at most 20 of them.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// errName explains the rules for attribute names.
var errName = errors.New("not a valid attribute name: names are 1 to 20 lower-case letters (a-z) or digits (0-9)")

// checkString checks s against the CloudEvents String type: no control
// characters (U+0000-U+001F, U+007F-U+009F) and no Unicode noncharacters.
// Unpaired surrogates are caught when the value is unquoted or decoded.
func checkString(s string) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return errors.New("is not valid UTF-8")
			}
		case r < 0x20 || (r >= 0x7F && r <= 0x9F):
			return fmt.Errorf("must not contain control character %U", r)
		case isNoncharacter(r):
			return fmt.Errorf("must not contain Unicode noncharacter %U", r)
		}
	}
	return nil
}

// isNoncharacter reports whether r is one of the 66 code points Unicode
// reserves as noncharacters.
func isNoncharacter(r rune) bool {
	return (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
}

// checkType checks an event type: besides being a CloudEvents String it
// must look like a routing key, since rules match on it.
func checkType(s string) error {
	if s == "" {
		return errors.New("must be a non-empty string")
	}
	n := 0
	for i, r := range s {
		n++
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return errors.New("is not valid UTF-8")
			}
		case unicode.IsSpace(r):
			return fmt.Errorf("must not contain whitespace, got %s", strconv.Quote(s))
		case unicode.IsControl(r):
			return fmt.Errorf("must not contain control character %U", r)
		case isNoncharacter(r):
			return fmt.Errorf("must not contain Unicode noncharacter %U", r)
		}
	}
	if n > maxTypeLen {
		return fmt.Errorf("must be at most %d characters, got %d", maxTypeLen, n)
	}
	return nil
}

// checkSpecVersion checks the specversion attribute.
func checkSpecVersion(s string) error {
	if s != SpecVersion {
		return fmt.Errorf("unsupported CloudEvents version %s; supported versions: %q", quoteShort(s), SpecVersion)
	}
	return nil
}

// checkNonEmpty checks an attribute that, when present, must not be empty
// (id, source, subject, datacontenttype, dataschema).
func checkNonEmpty(s string) error {
	if s == "" {
		return errors.New("must be a non-empty string")
	}
	return checkString(s)
}

// quoteShort quotes s for a message, shortened if long, so that an error
// never echoes a whole oversized value back.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}
