package channel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// errorExcerpt is how much of a provider's error body goes into the error
// text; the full excerpt stays in Error.Response.
const errorExcerpt = 200

// drainLimit bounds how much of an unread response body is discarded so
// that the connection can be reused; a larger rest is not worth reading
// and the connection is closed instead.
const drainLimit = 256 << 10

// ClassifyHTTP classifies a provider's HTTP answer: nil for 2xx, otherwise
// an *Error whose class says what the engine should do.
//
//   - 408, 425, 429 and 5xx are retryable. When such an answer carries a
//     valid Retry-After header (delay-seconds or an HTTP-date, RFC 9110
//     section 10.2.3), the class is ClassRetryAfter with that delay.
//     A 429 without Retry-After is plain retryable: the engine's
//     exponential backoff with jitter is a better guess than any fixed
//     default, and it grows if the provider keeps refusing.
//   - Every other status (other 4xx, unexpected 1xx and 3xx, as redirects
//     are not followed) is permanent: sending the same request again
//     cannot help.
//
// The reason is "http_<status>". body is the excerpt already read from
// the response; its first 200 bytes go into the error text and all of it
// into Error.Response. The request URL in the text has its userinfo and
// query redacted. now is the reference time for an HTTP-date Retry-After.
func ClassifyHTTP(resp *http.Response, body []byte, now time.Time) error {
	if resp == nil {
		return Retryable("http_no_response", 0, errors.New("no HTTP response"))
	}
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	err := &Error{
		Class:      ClassPermanent,
		StatusCode: code,
		Reason:     "http_" + strconv.Itoa(code),
		Response:   body,
		Err:        httpStatusError(resp, body),
	}
	if retryableStatus(code) {
		err.Class = ClassRetryable
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			err.Class = ClassRetryAfter
			err.After = d
		}
	}
	return err
}

// retryableStatus reports whether an HTTP status says "try again later".
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return code >= 500 && code <= 599
}

// httpStatusError builds "METHOD URL: STATUS: BODY" with the URL redacted
// and the body cut to one printable line.
func httpStatusError(resp *http.Response, body []byte) error {
	var b strings.Builder
	if req := resp.Request; req != nil && req.URL != nil {
		method := req.Method
		if method == "" {
			method = http.MethodGet
		}
		b.WriteString(method)
		b.WriteByte(' ')
		b.WriteString(RedactURL(req.URL.String()))
		b.WriteString(": ")
	}
	status := resp.Status
	if status == "" {
		status = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	b.WriteString(strings.TrimSpace(status))
	if excerpt := oneLine(body, errorExcerpt); excerpt != "" {
		b.WriteString(": ")
		b.WriteString(excerpt)
	}
	return errors.New(b.String())
}

// oneLine returns at most max bytes of b as valid UTF-8 on one line, with
// control characters replaced by spaces so a log line stays one line.
func oneLine(b []byte, max int) string {
	if len(b) > max {
		// Back up to a rune start so a multi-byte character is not cut.
		cut := max
		for cut > 0 && cut > max-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = b[:cut]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// ParseRetryAfter parses a Retry-After header value, either delay-seconds
// or an HTTP-date (RFC 9110 section 10.2.3), into a delay relative to now.
// A date in the past yields 0. It reports false for an empty or malformed
// value. Absurdly large values are clamped rather than overflowing; the
// engine applies its own upper bound.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if Digits(v) {
		const maxSeconds = int64(1<<63-1) / int64(time.Second)
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > maxSeconds {
			// Only overflow makes ParseInt fail on digits.
			secs = maxSeconds
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

// ReadExcerpt reads up to max bytes of r and then discards a bounded
// amount of the rest, so that an HTTP connection can be reused when the
// body is small and is not read forever when it is not. The returned
// error is the one met while reading the excerpt (io.EOF is not an error).
func ReadExcerpt(r io.Reader, max int) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	var b []byte
	var err error
	if max > 0 {
		b, err = io.ReadAll(io.LimitReader(r, int64(max)))
		if len(b) == 0 {
			b = nil
		}
	}
	if err == nil {
		_, _ = io.CopyN(io.Discard, r, drainLimit)
	}
	return b, err
}

// RedactURL returns u fit for errors and logs: the userinfo and the query
// (where tokens usually travel) are replaced by "redacted" and the
// fragment is dropped. A string that does not parse as a URL is cut at the
// first '?' and stripped of anything that looks like userinfo.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return redactUnparsed(u)
	}
	if p.Opaque != "" {
		s := p.Scheme + ":" + redactUnparsed(p.Opaque)
		if p.RawQuery != "" || p.ForceQuery {
			s += "?redacted"
		}
		return s
	}
	r := url.URL{Scheme: p.Scheme, Host: p.Host, Path: p.Path, RawPath: p.RawPath}
	if p.User != nil {
		r.User = url.User("redacted")
	}
	if p.RawQuery != "" || p.ForceQuery {
		r.RawQuery = "redacted"
	}
	return r.String()
}

func redactUnparsed(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i] + "?redacted"
	}
	rest := u
	prefix := ""
	if i := strings.Index(u, "://"); i >= 0 {
		prefix, rest = u[:i+3], u[i+3:]
	}
	authority := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority = rest[:i]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		rest = "redacted@" + rest[i+1:]
	}
	return prefix + rest
}

// blocker is implemented by the error a network guard returns when it
// refuses an address (netguard.BlockedError), so that this package can
// recognise it without importing the guard.
type blocker interface {
	Blocked() bool
}

// ClassifyNetError classifies an error from making a provider call (an
// http.Client.Do error, a dial error, an SMTP connection error):
//
//   - an *Error is returned as is;
//   - an address refused by the network guard is permanent
//     ("blocked_address"): only a configuration change can fix it;
//   - everything else is retryable, with the reason "canceled",
//     "timeout", "dns", "connect", "tls", "connection" (reset or closed
//     mid-way) or "network".
//
// A top-level *url.Error has its URL redacted (see RedactURL) so the
// error text carries no credentials or query tokens.
func ClassifyNetError(err error) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	if ue, ok := err.(*url.Error); ok {
		err = &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
	}
	var b blocker
	if errors.As(err, &b) && b.Blocked() {
		return Permanent("blocked_address", 0, err)
	}
	return Retryable(netReason(err), 0, err)
}

// netReason names the kind of a network failure for metrics.
func netReason(err error) string {
	var (
		dnsErr   *net.DNSError
		netErr   net.Error
		opErr    *net.OpError
		certErr  *tls.CertificateVerificationError
		hostErr  x509.HostnameError
		authErr  x509.UnknownAuthorityError
		invalErr x509.CertificateInvalidError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return "timeout"
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return "timeout"
		}
		return "dns"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr),
		errors.As(err, &invalErr), errors.As(err, &recErr), errors.As(err, &alertErr):
		return "tls"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EADDRNOTAVAIL):
		return "connect"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "connect"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection"
	}
	return "network"
}
