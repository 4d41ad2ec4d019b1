// Package httpcall makes one provider HTTP request for a channel adapter:
// it sends the request, reads a bounded excerpt of the answer, classifies
// network failures and keeps every credential out of the error text.
//
// Adapters decide what the answer means: most call Classify for the
// status-code rules, then look at the provider's own error fields (Slack's
// "ok": false, Telegram's "retry_after", DingTalk's "errcode").
package httpcall

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
)

// UserAgent is sent with every request.
const UserAgent = "Herald"

// Request is one provider call.
type Request struct {
	Method string // default POST
	URL    string
	Header http.Header
	Body   []byte
	// Secrets are values (tokens, keys, signatures, passwords) removed
	// from any error this call returns; URL query values and userinfo
	// passwords are added automatically.
	Secrets []string
}

// Response is a provider's answer.
type Response struct {
	StatusCode int
	Header     http.Header
	// Body is at most channel.MaxResponse bytes of the response body.
	Body []byte
}

// Do sends r with client. A failure to get an answer is returned as a
// classified *channel.Error (see channel.ClassifyNetError) with secrets
// scrubbed; any HTTP status, 2xx or not, is returned as a Response with a
// nil error so the adapter can read the provider's error body.
func Do(ctx context.Context, client *http.Client, r Request) (*Response, error) {
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	secrets := Secrets(r.URL, r.Secrets...)
	req, err := http.NewRequestWithContext(ctx, method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, Scrub(channel.Permanent("invalid_request", 0, err), secrets...)
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, Scrub(channel.ClassifyNetError(err), secrets...)
	}
	// A body that breaks off mid-way does not change the status the
	// provider answered with; the excerpt is what we got.
	body, _ := channel.ReadExcerpt(resp.Body, channel.MaxResponse)
	resp.Body.Close()
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// Classify applies the shared HTTP status rules (channel.ClassifyHTTP: 2xx
// is success, 408/425/429/5xx retryable with Retry-After honoured, other
// statuses permanent) and scrubs secrets from the error.
func Classify(resp *Response, secrets ...string) error {
	if resp == nil {
		return channel.Retryable("http_no_response", 0, errors.New("no HTTP response"))
	}
	hr := &http.Response{StatusCode: resp.StatusCode, Status: http.StatusText(resp.StatusCode), Header: resp.Header}
	return Scrub(channel.ClassifyHTTP(hr, resp.Body, time.Now()), secrets...)
}

// minSecretLen is the shortest value treated as a secret when scrubbing;
// shorter ones would mangle ordinary words.
const minSecretLen = 6

// redacted replaces a secret in error text.
const redacted = "<redacted>"

// Secrets returns extra plus the credentials in rawURL (query values, a
// userinfo password, and path segments longer than 20 characters, where
// webhook URLs keep their tokens), each also in its escaped forms.
func Secrets(rawURL string, extra ...string) []string {
	var out []string
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) < minSecretLen {
			return
		}
		out = append(out, v)
		if q := url.QueryEscape(v); q != v {
			out = append(out, q)
		}
		if p := url.PathEscape(v); p != v {
			out = append(out, p)
		}
	}
	for _, v := range extra {
		add(v)
	}
	if u, err := url.Parse(rawURL); err == nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
			}
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if len(seg) > 20 {
				add(seg)
			}
		}
	}
	return out
}

// Scrub returns err with every secret replaced by "<redacted>" in its text
// and, for a *channel.Error, in its response excerpt. Other errors are
// wrapped as retryable so that the engine never sees raw text.
func Scrub(err error, secrets ...string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	var ce *channel.Error
	if !errors.As(err, &ce) {
		text := err.Error()
		if clean := replaceAll(text, secrets); clean != text {
			return channel.Retryable("error", 0, errors.New(clean))
		}
		return err
	}
	text := ce.Error()
	clean := replaceAll(text, secrets)
	resp := string(ce.Response)
	cleanResp := replaceAll(resp, secrets)
	if clean == text && cleanResp == resp {
		return err
	}
	out := *ce
	out.Err = errors.New(clean)
	if cleanResp != resp {
		out.Response = []byte(cleanResp)
	}
	return &out
}

func replaceAll(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" && strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

// JSONHeader returns a header with Content-Type application/json and the
// given key/value pairs added.
func JSONHeader(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}
