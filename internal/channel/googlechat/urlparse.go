package googlechat

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// parsedURL is a channel URL taken apart. Parsing is done by hand rather
// than with url.Parse so that a "#" stays literal and so that no error
// from the standard parser can quote the URL (and its tokens).
type parsedURL struct {
	scheme         string // lower case
	user, password string
	hasUser        bool
	host           string // unescaped, with a port if any
	segs           []string
	query          url.Values
}

// parseURL takes u apart. usage is shown when u has no "://". Its errors
// say which part is wrong and never repeat the URL.
func parseURL(u, usage string) (*parsedURL, error) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return nil, errors.New("googlechat: URL must look like " + usage)
	}
	p := &parsedURL{scheme: strings.ToLower(scheme)}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo := authority[:i]
		authority = authority[i+1:]
		p.hasUser = true
		user, password, _ := strings.Cut(userinfo, ":")
		var err error
		if p.user, err = url.PathUnescape(user); err != nil {
			return nil, errors.New("googlechat: the user part of the URL is not validly escaped")
		}
		if p.password, err = url.PathUnescape(password); err != nil {
			return nil, errors.New("googlechat: the password part of the URL is not validly escaped")
		}
	}
	var err error
	if p.host, err = url.PathUnescape(authority); err != nil {
		return nil, errors.New("googlechat: the host part of the URL is not validly escaped")
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "" {
			continue
		}
		v, err := url.PathUnescape(seg)
		if err != nil {
			return nil, errors.New("googlechat: a path segment of the URL is not validly escaped")
		}
		p.segs = append(p.segs, v)
	}
	if p.query, err = url.ParseQuery(rawQuery); err != nil {
		return nil, errors.New("googlechat: the query of the URL is malformed")
	}
	return p, nil
}

// quoteShort quotes a non-secret URL part (a scheme, a parameter name)
// for an error, cut so that it cannot carry a whole token.
func quoteShort(s string) string {
	r := []rune(s)
	if len(r) > 16 {
		return fmt.Sprintf("%q…", string(r[:16]))
	}
	return fmt.Sprintf("%q", s)
}
