package netguard

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTPClient returns an HTTP client whose connections go through the
// guard. Build one per channel (or share one) and reuse it: it pools
// connections, up to 64 idle ones per host, which the delivery hot path
// depends on.
//
// The client deliberately:
//   - ignores HTTP_PROXY and friends, because a proxy would make the
//     connection on our behalf and defeat the address check;
//   - does not follow redirects: a 3xx is returned as is (and a webhook
//     adapter classifies it as a permanent failure), because following it
//     would resend the body and the signature headers to a destination the
//     configuration never named.
//
// timeout bounds each request as a whole (0 means no bound beyond the
// request's context).
func (g *Guard) HTTPClient(timeout time.Duration) *http.Client {
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: t,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CheckURL reports whether raw is an absolute http or https URL with a
// host. Its errors never repeat the URL, which may carry credentials.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return errors.New("netguard: malformed URL: " + err.Error())
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return errors.New("netguard: URL is not absolute (want http:// or https://)")
	default:
		return errors.New("netguard: URL scheme " + quote(u.Scheme) + " is not http or https")
	}
	if u.Hostname() == "" {
		return errors.New("netguard: URL has no host")
	}
	return nil
}

func quote(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return `"` + s + `"`
}
