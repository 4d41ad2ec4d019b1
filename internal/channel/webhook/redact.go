package webhook

import (
	"errors"
	"net/url"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
)

// minSecretLen is the shortest value treated as a secret when scrubbing
// provider text; shorter ones would mangle ordinary words.
const minSecretLen = 6

// redacted replaces a secret in error text.
const redacted = "<redacted>"

// scrub removes from a classified error's text and response excerpt every
// credential the request carried: the signing secret, the values of
// credential-looking headers, the URL's password and its query values.
// Providers echo requests in their error pages, and an error ends up in
// the attempt log, so this runs on every failure (never on success).
func (w *Sender) scrub(err error, target *url.URL, extra map[string]string) error {
	var ce *channel.Error
	if !errors.As(err, &ce) {
		return err
	}
	secrets := w.secrets(target, extra)
	if len(secrets) == 0 {
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
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

// secrets lists the credential values of one request, in raw and
// URL-escaped form.
func (w *Sender) secrets(target *url.URL, extra map[string]string) []string {
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
	if w.secretText != "" {
		add(w.secretText)
	}
	header := func(k, v string) {
		if !credentialHeader(k) {
			return
		}
		add(v)
		// "Bearer <token>", "Basic <b64>": the credential alone, too.
		if _, cred, ok := strings.Cut(v, " "); ok {
			add(cred)
		}
	}
	for k, vs := range w.header {
		for _, v := range vs {
			header(k, v)
		}
	}
	for k, v := range extra {
		header(k, v)
	}
	if target != nil {
		if pw, ok := target.User.Password(); ok {
			add(pw)
		}
		for _, vs := range target.Query() {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

// credentialHeader reports whether a header's name suggests its value is
// a credential.
func credentialHeader(name string) bool {
	n := strings.ToLower(name)
	for _, s := range [...]string{"auth", "token", "key", "secret", "password", "cookie", "session", "signature"} {
		if strings.Contains(n, s) {
			return n != "idempotency-key"
		}
	}
	return false
}
