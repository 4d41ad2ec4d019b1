package channeltest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/channel"
)

// TestRedaction makes the adapter fail in the ways that tend to leak
// credentials into error text, and checks that no value of p.Secrets
// (nor its URL-escaped or base64 forms) appears in the error's text, its
// %+v form or its Response excerpt:
//
//   - the provider answers 401 and 404 echoing the request URI, as many
//     servers' error pages do ("Cannot POST /bot<token>/sendMessage");
//   - the provider answers 500 echoing the request's headers;
//   - the provider cannot be reached (connection refused);
//   - the provider does not answer before the deadline.
func TestRedaction(t *testing.T, p Provider) {
	t.Helper()
	if len(p.Secrets) == 0 {
		t.Skip("the provider declares no secrets")
	}
	echoURI := func(status int) func(http.ResponseWriter, *http.Request, <-chan struct{}) {
		return func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
			w.WriteHeader(status)
			fmt.Fprintf(w, "Cannot %s %s", r.Method, r.URL.RequestURI())
		}
	}
	echoHeaders := func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
		w.WriteHeader(http.StatusInternalServerError)
		for k, vs := range r.Header {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(vs, ", "))
		}
	}
	tests := []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request, <-chan struct{})
	}{
		{"401 echoing the URI", echoURI(http.StatusUnauthorized)},
		{"404 echoing the URI", echoURI(http.StatusNotFound)},
		{"500 echoing the headers", echoHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prov := startProvider(t, tt.answer)
			_, err := p.NewSender(t, prov.url).Send(t.Context(), p.message())
			checkNoSecrets(t, p.Secrets, err)
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		_, err := p.NewSender(t, u).Send(t.Context(), p.message())
		checkNoSecrets(t, p.Secrets, err)
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		prov := startProvider(t, hang)
		r := sendWhenArrived(t, p.NewSender(t, prov.url), p.message(), prov, expired)
		checkNoSecrets(t, p.Secrets, r.err)
	})
}

// checkNoSecrets fails if err is nil or shows any of secrets.
func checkNoSecrets(t *testing.T, secrets []string, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("Send succeeded, want a failure")
	}
	texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	if ce, ok := err.(*channel.Error); ok {
		texts = append(texts, string(ce.Response))
		if ce.Err != nil {
			texts = append(texts, ce.Err.Error())
		}
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms := []string{s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s))}
		for _, text := range texts {
			for _, f := range forms {
				if strings.Contains(text, f) {
					t.Errorf("a secret appears in the error: %q", text)
				}
			}
		}
	}
}
