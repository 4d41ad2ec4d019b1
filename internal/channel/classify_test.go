package channel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/channel"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func response(code int, header http.Header, target string) *http.Response {
	req, _ := http.NewRequest(http.MethodPost, target, nil)
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{
		StatusCode: code,
		Status:     fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Header:     header,
		Request:    req,
	}
}

func TestClassifyHTTP(t *testing.T) {
	t.Parallel()
	ra := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	tests := []struct {
		code   int
		header http.Header
		want   *channel.Error // nil means success
	}{
		{200, nil, nil},
		{201, nil, nil},
		{204, nil, nil},
		{299, nil, nil},
		{100, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_100"}},
		{301, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_301"}},
		{304, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_304"}},
		{400, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_400"}},
		{401, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_401"}},
		{403, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_403"}},
		{404, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_404"}},
		{410, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_410"}},
		{413, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_413"}},
		{422, nil, &channel.Error{Class: channel.ClassPermanent, Reason: "http_422"}},
		{408, nil, &channel.Error{Class: channel.ClassRetryable, Reason: "http_408"}},
		{425, nil, &channel.Error{Class: channel.ClassRetryable, Reason: "http_425"}},
		{429, nil, &channel.Error{Class: channel.ClassRetryable, Reason: "http_429"}},
		{429, ra("120"), &channel.Error{Class: channel.ClassRetryAfter, Reason: "http_429", After: 2 * time.Minute}},
		{429, ra("Sat, 01 Mar 2025 12:00:30 GMT"), &channel.Error{Class: channel.ClassRetryAfter, Reason: "http_429", After: 30 * time.Second}},
		{429, ra("soon"), &channel.Error{Class: channel.ClassRetryable, Reason: "http_429"}},
		{500, nil, &channel.Error{Class: channel.ClassRetryable, Reason: "http_500"}},
		{502, nil, &channel.Error{Class: channel.ClassRetryable, Reason: "http_502"}},
		{503, nil, &channel.Error{Class: channel.ClassRetryable, Reason: "http_503"}},
		{503, ra("7"), &channel.Error{Class: channel.ClassRetryAfter, Reason: "http_503", After: 7 * time.Second}},
		{504, nil, &channel.Error{Class: channel.ClassRetryable, Reason: "http_504"}},
		{599, nil, &channel.Error{Class: channel.ClassRetryable, Reason: "http_599"}},
		{400, ra("5"), &channel.Error{Class: channel.ClassPermanent, Reason: "http_400"}},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%d %v", tt.code, tt.header)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := channel.ClassifyHTTP(response(tt.code, tt.header, "http://example.com/x"), []byte("body"), now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ClassifyHTTP(%d) = %v, want nil", tt.code, err)
				}
				return
			}
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("ClassifyHTTP(%d) = %v, want a *channel.Error", tt.code, err)
			}
			if ce.Class != tt.want.Class || ce.Reason != tt.want.Reason || ce.After != tt.want.After || ce.StatusCode != tt.code {
				t.Errorf("ClassifyHTTP(%d) = {%v %q after=%v status=%d}, want {%v %q after=%v status=%d}",
					tt.code, ce.Class, ce.Reason, ce.After, ce.StatusCode, tt.want.Class, tt.want.Reason, tt.want.After, tt.code)
			}
			if string(ce.Response) != "body" {
				t.Errorf("Response = %q, want the body excerpt", ce.Response)
			}
		})
	}
	if err := channel.ClassifyHTTP(nil, nil, now); err == nil {
		t.Error("ClassifyHTTP(nil) = nil, want an error")
	}
}

func TestClassifyHTTPText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300)
	tests := []struct {
		name   string
		target string
		body   string
		want   string
	}{
		{"plain", "http://host/path", "oops", "POST http://host/path: 500 Internal Server Error: oops"},
		{"redacted", "https://bob:hunter2@host:8443/hook?token=abc#frag", "", "POST https://redacted@host:8443/hook?redacted: 500 Internal Server Error"},
		{"newlines", "http://host/", "line1\nline2\r\n", "POST http://host/: 500 Internal Server Error: line1 line2"},
		{"long body", "http://host/", long, "POST http://host/: 500 Internal Server Error: " + long[:200]},
		{"utf8 cut", "http://host/", strings.Repeat("a", 199) + "é", "POST http://host/: 500 Internal Server Error: " + strings.Repeat("a", 199)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := channel.ClassifyHTTP(response(500, nil, tt.target), []byte(tt.body), now)
			if got := err.Error(); got != tt.want {
				t.Errorf("error text\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"  42 ", 42 * time.Second, true},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"abc", 0, false},
		{"99999999999999999999999", time.Duration(1<<63-1) / time.Second * time.Second, true},
		{"Sat, 01 Mar 2025 12:01:00 GMT", time.Minute, true},    // IMF-fixdate
		{"Saturday, 01-Mar-25 12:01:00 GMT", time.Minute, true}, // obsolete RFC 850
		{"Sat Mar  1 12:01:00 2025", time.Minute, true},         // asctime
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0, true},              // in the past
		{"Sat, 01 Mar 2025 12:01:00 +0100", 0, false},           // not an HTTP-date
	}
	for _, tt := range tests {
		got, ok := channel.ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"http://host/path", "http://host/path"},
		{"https://user:pass@host/p?q=1", "https://redacted@host/p?redacted"},
		{"https://user@host", "https://redacted@host"},
		{"http://host/a%20b?", "http://host/a%20b?redacted"},
		{"http://host/p#secret", "http://host/p"},
		{"http://[::1]:8080/x?token=t", "http://[::1]:8080/x?redacted"},
		{"/relative?x=1", "/relative?redacted"},
		{"mailto:someone@example.com?subject=x", "mailto:redacted@example.com?redacted"},
		{"http://user:p%zzass@host/p?x", "http://redacted@host/p?redacted"},
		{"http://us er:pa ss@ho st/p", "http://redacted@ho st/p"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := channel.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// countingReader reports how much was read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadExcerpt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		size      int
		max       int
		wantLen   int
		wantDrain bool
	}{
		{"empty", 0, 10, 0, true},
		{"short", 5, 10, 5, true},
		{"exact", 10, 10, 10, true},
		{"longer, drained", 1000, 10, 10, true},
		{"huge, drain bounded", 10 << 20, 10, 10, false},
		{"max zero", 100, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cr := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte("a"), tt.size))}
			got, err := channel.ReadExcerpt(cr, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantLen {
				t.Errorf("len = %d, want %d", len(got), tt.wantLen)
			}
			if drained := cr.n == tt.size; drained != tt.wantDrain {
				t.Errorf("read %d of %d bytes; drained = %v, want %v", cr.n, tt.size, drained, tt.wantDrain)
			}
		})
	}
	if b, err := channel.ReadExcerpt(nil, 10); b != nil || err != nil {
		t.Errorf("ReadExcerpt(nil) = %q, %v", b, err)
	}
	boom := errors.New("boom")
	if _, err := channel.ReadExcerpt(io.MultiReader(strings.NewReader("ab"), errReader{boom}), 10); !errors.Is(err, boom) {
		t.Errorf("read error = %v, want %v", err, boom)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// blockedError mimics netguard.BlockedError without importing it.
type blockedError struct{}

func (blockedError) Error() string { return "refused" }
func (blockedError) Blocked() bool { return true }

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestClassifyNetError(t *testing.T) {
	t.Parallel()
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	wrapURL := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://u:pw@host/p?token=tok", Err: err}
	}
	classified := channel.Permanent("custom", 0, errors.New("x"))
	tests := []struct {
		name   string
		err    error
		class  channel.Class
		reason string
	}{
		{"deadline", context.DeadlineExceeded, channel.ClassRetryable, "timeout"},
		{"wrapped deadline", wrapURL(context.DeadlineExceeded), channel.ClassRetryable, "timeout"},
		{"canceled", wrapURL(context.Canceled), channel.ClassRetryable, "canceled"},
		{"net timeout", wrapURL(timeoutError{}), channel.ClassRetryable, "timeout"},
		{"os deadline", os.ErrDeadlineExceeded, channel.ClassRetryable, "timeout"},
		{"refused", wrapURL(dial(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED})), channel.ClassRetryable, "connect"},
		{"unreachable", dial(syscall.EHOSTUNREACH), channel.ClassRetryable, "connect"},
		{"dial other", dial(errors.New("x")), channel.ClassRetryable, "connect"},
		{"dns", wrapURL(dial(&net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true})), channel.ClassRetryable, "dns"},
		{"dns timeout", &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}, channel.ClassRetryable, "timeout"},
		{"reset", wrapURL(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), channel.ClassRetryable, "connection"},
		{"eof", wrapURL(io.EOF), channel.ClassRetryable, "connection"},
		{"blocked", wrapURL(dial(blockedError{})), channel.ClassPermanent, "blocked_address"},
		{"other", errors.New("strange"), channel.ClassRetryable, "network"},
		{"already classified", classified, channel.ClassPermanent, "custom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := channel.ClassifyNetError(tt.err)
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("ClassifyNetError = %v, want *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason {
				t.Errorf("ClassifyNetError(%v) = %v/%q, want %v/%q", tt.err, ce.Class, ce.Reason, tt.class, tt.reason)
			}
			if s := err.Error(); strings.Contains(s, "pw") || strings.Contains(s, "tok") {
				t.Errorf("error text leaks a credential: %q", s)
			}
			if !errors.Is(err, tt.err) && !isURLError(tt.err) {
				t.Errorf("classified error does not wrap the cause")
			}
		})
	}
	if channel.ClassifyNetError(nil) != nil {
		t.Error("ClassifyNetError(nil) != nil")
	}
}

func isURLError(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "Sat, 01 Mar 2025 12:01:00 GMT", "Sat Mar  1 12:01:00 2025", "-1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := channel.ParseRetryAfter(s, now)
		if d < 0 {
			t.Errorf("ParseRetryAfter(%q) = %v, negative", s, d)
		}
		if !ok && d != 0 {
			t.Errorf("ParseRetryAfter(%q) = %v, false; want 0 when not ok", s, d)
		}
	})
}

func FuzzRedactURL(f *testing.F) {
	f.Add("https", "user", "s3cr3tpw", "host.example", "/p/a", "token=s3cr3tq")
	f.Add("http", "", "", "h", "", "")
	f.Fuzz(func(t *testing.T, scheme, user, pass, host, path, query string) {
		u := (&url.URL{Scheme: scheme, User: url.UserPassword(user, pass), Host: host, Path: path, RawQuery: query}).String()
		p, err := url.Parse(u)
		if err != nil || p.User == nil {
			// Not a URL with userinfo after all (an invalid scheme turns
			// it into a path); an HTTP client would not send it as one.
			return
		}
		got := channel.RedactURL(u)
		r, err := url.Parse(got)
		if err != nil {
			t.Fatalf("RedactURL(%q) = %q, which does not parse: %v", u, got, err)
		}
		if r.User != nil && r.User.String() != "redacted" {
			t.Errorf("RedactURL(%q) = %q keeps userinfo %q", u, got, r.User)
		}
		if r.RawQuery != "" && r.RawQuery != "redacted" {
			t.Errorf("RedactURL(%q) = %q keeps query %q", u, got, r.RawQuery)
		}
		if r.Host != p.Host {
			t.Errorf("RedactURL(%q) = %q changes the host %q to %q", u, got, p.Host, r.Host)
		}
	})
}
