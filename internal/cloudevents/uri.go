package cloudevents

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// checkURIReference checks s against RFC 3986's URI-reference grammar
// (the type of "source"). url.Parse is not used: it accepts spaces,
// non-ASCII characters and other text that is not a URI.
func checkURIReference(s string) error {
	if err := checkURI(s, false); err != nil {
		return fmt.Errorf("must be a URI-reference (RFC 3986), got %s: %w", quoteShort(s), err)
	}
	return nil
}

// checkAbsoluteURI checks that s is a URI with a scheme (the type of
// "dataschema"). A fragment is allowed, as in the spec's own JSON schema
// ("format": "uri"), although RFC 3986's absolute-URI excludes it: schema
// URIs with fragments are common and harmless here.
func checkAbsoluteURI(s string) error {
	if err := checkURI(s, true); err != nil {
		return fmt.Errorf("must be an absolute URI (RFC 3986), got %s: %w", quoteShort(s), err)
	}
	return nil
}

// checkURI checks s against URI-reference, or against URI (a scheme is
// required) when absolute is set.
func checkURI(s string, absolute bool) error {
	rest := s
	if n := schemeLen(s); n > 0 {
		rest = s[n+1:]
	} else {
		if absolute {
			return errors.New("it has no scheme")
		}
		// Without a scheme, a colon in the first path segment would make
		// the reference read as one (path-noscheme).
		if i := strings.IndexAny(s, ":/?#"); i >= 0 && s[i] == ':' {
			return errors.New("it has a colon before any slash but no valid scheme")
		}
	}
	if strings.HasPrefix(rest, "//") {
		end := strings.IndexAny(rest[2:], "/?#")
		if end < 0 {
			end = len(rest)
		} else {
			end += 2
		}
		if err := checkAuthority(rest[2:end]); err != nil {
			return err
		}
		rest = rest[end:]
	}
	inFragment := false
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@' || c == '/' || c == '?':
		case c == '#' && !inFragment:
			inFragment = true
		case c == '%':
			if !pctEncoded(rest[i:]) {
				return errors.New("a % is not followed by two hex digits")
			}
			i += 2
		default:
			return badChar(rest[i:])
		}
	}
	return nil
}

// schemeLen returns the length of s's scheme (before its colon), or 0.
func schemeLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlpha(c):
		case i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return 0
		}
	}
	return 0
}

// checkAuthority checks [ userinfo "@" ] host [ ":" port ].
func checkAuthority(a string) error {
	host := a
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		if err := checkChars(a[:at], ":"); err != nil {
			return err
		}
		host = a[at+1:]
	}
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return errors.New("an IP literal is not closed with ']'")
		}
		if err := checkChars(host[1:end], ":"); err != nil {
			return err
		}
		host = host[end+1:]
		if host != "" && host[0] != ':' {
			return badChar(host)
		}
	}
	if i := strings.IndexByte(host, ':'); i >= 0 {
		for j := i + 1; j < len(host); j++ {
			if !isDigit(host[j]) {
				return errors.New("the port is not a number")
			}
		}
		host = host[:i]
	}
	return checkChars(host, "")
}

// checkChars checks that s holds only unreserved characters, sub-delims,
// percent-encodings and the bytes in extra.
func checkChars(s, extra string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isUnreserved(c) || isSubDelim(c) || strings.IndexByte(extra, c) >= 0:
		case c == '%' && pctEncoded(s[i:]):
			i += 2
		default:
			return badChar(s[i:])
		}
	}
	return nil
}

// badChar describes the first character of at as not allowed.
func badChar(at string) error {
	r, _ := utf8.DecodeRuneInString(at)
	return fmt.Errorf("character %q is not allowed (percent-encode it)", r)
}

func pctEncoded(s string) bool { return len(s) >= 3 && isHex(s[1]) && isHex(s[2]) }

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

func isUnreserved(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

func isSubDelim(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}
