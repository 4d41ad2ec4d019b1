// Package chanurl parses Apprise-style channel URLs ("discord://id/token",
// "ntfys://user:pass@host/topic") for the channel adapters, so that none
// of them echoes a secret in an error.
//
// A channel URL carries tokens and passwords in its user, host and path,
// and the errors of url.Parse quote the URL they reject; a configuration
// error would then print the secret into logs and API answers. The
// helpers here either take a URL apart by hand, name what the standard
// parser disliked without quoting it, or quote only short, non-secret
// parts (a scheme, a parameter name).
package chanurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// URL is a channel URL taken apart by Parse.
type URL struct {
	// Scheme is in lower case.
	Scheme string
	// User and Password are unescaped; HasUser tells an empty user from
	// none at all.
	User, Password string
	HasUser        bool
	// Host is unescaped and keeps its port, if any.
	Host string
	// Segs are the non-empty path segments, unescaped.
	Segs []string
	// Query holds the query parameters.
	Query url.Values
}

// Parse takes u apart by hand rather than with url.Parse, so that a "#"
// stays literal (tokens may hold one) and so that no error can quote the
// URL. Its errors begin with name (the channel type), show usage when u
// has no "://", and say which part is wrong without repeating it.
func Parse(name, u, usage string) (*URL, error) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return nil, errors.New(name + ": URL must look like " + usage)
	}
	p := &URL{Scheme: strings.ToLower(scheme)}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo := authority[:i]
		authority = authority[i+1:]
		p.HasUser = true
		user, password, _ := strings.Cut(userinfo, ":")
		var err error
		if p.User, err = url.PathUnescape(user); err != nil {
			return nil, errors.New(name + ": the user part of the URL is not validly escaped")
		}
		if p.Password, err = url.PathUnescape(password); err != nil {
			return nil, errors.New(name + ": the password part of the URL is not validly escaped")
		}
	}
	var err error
	if p.Host, err = url.PathUnescape(authority); err != nil {
		return nil, errors.New(name + ": the host part of the URL is not validly escaped")
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "" {
			continue
		}
		v, err := url.PathUnescape(seg)
		if err != nil {
			return nil, errors.New(name + ": a path segment of the URL is not validly escaped")
		}
		p.Segs = append(p.Segs, v)
	}
	if p.Query, err = url.ParseQuery(rawQuery); err != nil {
		return nil, errors.New(name + ": the query of the URL is malformed")
	}
	return p, nil
}

// QuoteShort quotes a non-secret URL part (a scheme, a parameter name)
// for an error, cut to 16 runes so that a misplaced token cannot appear
// whole.
func QuoteShort(s string) string {
	r := []rune(s)
	if len(r) > 16 {
		return fmt.Sprintf("%q…", string(r[:16]))
	}
	return fmt.Sprintf("%q", s)
}

// Quote quotes a URL part for an error, cut to 32 bytes (then "...") so
// that an error line stays short whatever the user typed.
func Quote(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return strconv.Quote(s)
}

// Problems words, for one channel type, the url.Parse failures whose
// likely cause depends on where that type's URL keeps its secrets (a
// pushover URL has its application token where others have a host). An
// empty field keeps the general wording.
type Problems struct {
	// Host is for an invalid character in the host.
	Host string
	// Port is for an invalid port.
	Port string
	// Userinfo is for an invalid user or password.
	Userinfo string
}

// ParseProblem names what url.Parse disliked in err without repeating
// the URL or any part of it (a %-escape or a host may be part of a
// secret), worded by p.
func ParseProblem(err error, p Problems) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ee url.EscapeError
	var he url.InvalidHostError
	switch {
	case errors.As(err, &ee):
		return "invalid %-escape"
	case errors.As(err, &he):
		return or(p.Host, "invalid character in host")
	case strings.Contains(err.Error(), "port"):
		return or(p.Port, "invalid port")
	case strings.Contains(err.Error(), "userinfo"):
		return or(p.Userinfo, "invalid user or password (escape special characters)")
	case strings.Contains(err.Error(), "control character"):
		return "control character in URL"
	}
	return "cannot parse"
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// SplitHostPort splits "host", "host:port", "[v6]" or "[v6]:port"; port
// is 0 when absent. Unlike net.SplitHostPort its errors quote neither
// host nor port: when a password holds an unencoded '/', they are pieces
// of it. examplePort is shown in the hint for an unbracketed IPv6 host;
// a host may hold none of the characters in extraInvalid either (a
// server list's separator, say).
func SplitHostPort(hp string, examplePort int, extraInvalid string) (host string, port int, err error) {
	ps, hasPort := "", false
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", 0, errors.New("has an IPv6 host without its closing ']'")
		}
		host, rest := hp[1:end], hp[end+1:]
		if net.ParseIP(host) == nil {
			return "", 0, errors.New("has a bracketed host that is not an IPv6 address")
		}
		if rest != "" {
			if rest[0] != ':' {
				return "", 0, errors.New("has text after the IPv6 host that is not a port")
			}
			ps, hasPort = rest[1:], true
		}
		hp = host
	} else if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		hp, ps, hasPort = hp[:i], hp[i+1:], true
		if strings.IndexByte(hp, ':') >= 0 {
			return "", 0, fmt.Errorf("has an IPv6 host that is not in brackets ([::1]:%d)", examplePort)
		}
	}
	if hp == "" {
		return "", 0, errors.New("has no host")
	}
	invalid := `%@[]\^"<>{}|` + extraInvalid + "`"
	for _, r := range hp {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(invalid, r) {
			return "", 0, errors.New("has an invalid character in the host")
		}
	}
	if hasPort {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 || ps[0] == '+' {
			return "", 0, errors.New("port is not a number from 1 to 65535")
		}
		port = n
	}
	return hp, port, nil
}

// ValidScheme reports whether s is an RFC 3986 scheme, so that an error
// can quote it without quoting garbage (or a misplaced password).
func ValidScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// SimpleName reports whether s looks like a parameter name (letters,
// digits, '_' and '-'), and so is safe to quote in an error: a user name
// holding an unencoded '?' moves the password into the query.
func SimpleName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
