package httpcall_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

func TestDoReturnsAnyStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != httpcall.UserAgent || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers = %v", r.Header)
		}
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(429)
		w.Write([]byte(`{"error":"slow down","token":"sekret-token-1"}`))
	}))
	defer srv.Close()
	resp, err := httpcall.Do(context.Background(), srv.Client(), httpcall.Request{
		URL: srv.URL + "/send?access_token=sekret-token-1", Header: httpcall.JSONHeader(), Body: []byte(`{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 429 || !strings.Contains(string(resp.Body), "slow down") {
		t.Fatalf("resp = %d %s", resp.StatusCode, resp.Body)
	}
	err = httpcall.Classify(resp, httpcall.Secrets(srv.URL+"/send?access_token=sekret-token-1")...)
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassRetryAfter || ce.After.Seconds() != 7 {
		t.Fatalf("Classify = %v", err)
	}
	if strings.Contains(err.Error(), "sekret") || strings.Contains(string(ce.Response), "sekret") {
		t.Errorf("secret in the classified error: %q / %q", err, ce.Response)
	}
}

func TestDoScrubsNetworkErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = httpcall.Do(context.Background(), http.DefaultClient, httpcall.Request{
		URL:     "http://user:pa55word-xyz@" + addr + "/hooks/AAAAAAAAAAAAAAAAAAAAAAAAAAAA?key=query-secret-1",
		Secrets: []string{"header-secret-9"},
	})
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassRetryable {
		t.Fatalf("Do to a closed port = %v, want retryable", err)
	}
	for _, s := range []string{"pa55word-xyz", "query-secret-1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestSecrets(t *testing.T) {
	got := httpcall.Secrets("https://u:pw-123456@host/api/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX?sig=abc%2Bdef123", "short", "  long-secret  ")
	want := []string{"long-secret", "pw-123456", "abc+def123", "XXXXXXXXXXXXXXXXXXXXXXXX"}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			t.Errorf("Secrets lacks %q: %q", w, got)
		}
	}
	for _, g := range got {
		if g == "short" || g == "T0000" {
			t.Errorf("Secrets holds %q, too short to scrub safely", g)
		}
	}
	if err := httpcall.Scrub(errors.New("call failed: long-secret"), "long-secret"); strings.Contains(err.Error(), "long-secret") {
		t.Errorf("Scrub left the secret: %v", err)
	}
}
