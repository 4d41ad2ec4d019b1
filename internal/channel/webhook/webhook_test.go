package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/webhook"
	"github.com/herald-notify/herald/internal/netguard"
)

// The Standard Webhooks specification's published example.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// loopbackClient is an HTTP client through a guard that allows loopback,
// as the app builds it with network.allow_private: [127.0.0.0/8].
func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *webhook.Settings) *webhook.Sender {
	t.Helper()
	w, err := webhook.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestConformance(t *testing.T) {
	t.Parallel()
	const (
		queryToken  = "querytoken123"
		headerToken = "hdrsecret456"
	)
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &webhook.Settings{
				URL:     url + "/hook?token=" + queryToken,
				Headers: map[string]string{"Authorization": "Bearer " + headerToken},
				Secret:  specSecret,
			})
		},
		Secrets: []string{queryToken, headerToken, specSecret, strings.TrimPrefix(specSecret, "whsec_")},
	})
}

func TestSignSpecVector(t *testing.T) {
	t.Parallel()
	key, err := webhook.DecodeSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := webhook.Sign(key, specMsgID, specTimestamp, []byte(specPayload)); got != specSignature {
		t.Errorf("Sign = %q, want the spec's %q", got, specSignature)
	}
}

func TestDecodeSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		secret  string
		want    []byte
		wantErr bool
	}{
		{"", nil, false},
		{"whsec_aGVsbG8=", []byte("hello"), false},
		{"plain shared secret", []byte("plain shared secret"), false},
		{"whsec_not base64!", nil, true},
		{"whsec_", nil, true},
	}
	for _, tt := range tests {
		got, err := webhook.DecodeSecret(tt.secret)
		if (err != nil) != tt.wantErr {
			t.Errorf("DecodeSecret(%q) error = %v, wantErr %v", tt.secret, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "base64!") {
			t.Errorf("DecodeSecret error repeats the secret: %v", err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("DecodeSecret(%q) (-want +got):\n%s", tt.secret, diff)
		}
	}
}

// captured is one request as the receiver saw it.
type captured struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// receiver is an httptest server that records requests and answers with
// status and body.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func startReceiver(t *testing.T, status int, body string) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, captured{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), b})
		rc.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) only(t *testing.T) captured {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(rc.reqs))
	}
	return rc.reqs[0]
}

// verify checks a request's Standard Webhooks signature independently of
// the package's own Sign.
func verify(t *testing.T, key []byte, c captured) {
	t.Helper()
	id, ts, sig := c.header.Get("webhook-id"), c.header.Get("webhook-timestamp"), c.header.Get("webhook-signature")
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		t.Fatalf("webhook-timestamp %q is not unix seconds", ts)
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+ts+".")
	mac.Write(c.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if sig != want {
		t.Errorf("webhook-signature = %q, want %q", sig, want)
	}
}

func message() *channel.Message {
	return &channel.Message{
		ID:             "msg-1",
		IdempotencyKey: "idem-1",
		Attempt:        1,
		EventType:      "order.paid",
		EventID:        "evt-1",
		Key:            "shop/1001",
		Content:        channel.Content{Subject: "Paid", Text: "Order <1001> & co"},
	}
}

func TestSendEnvelope(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, http.StatusAccepted, "")
	w := newSender(t, &webhook.Settings{
		URL:     rc.URL + "/hooks/herald?x=1",
		Headers: map[string]string{"X-Team": "ops"},
		Secret:  specSecret,
	})
	receipt, err := w.Send(t.Context(), message())
	if err != nil {
		t.Fatal(err)
	}
	if receipt.StatusCode != http.StatusAccepted || receipt.Delivered {
		t.Errorf("receipt = %+v, want status 202, not delivered", receipt)
	}
	c := rc.only(t)
	if c.method != http.MethodPost || c.path != "/hooks/herald" || c.query != "x=1" {
		t.Errorf("request = %s %s?%s, want POST /hooks/herald?x=1", c.method, c.path, c.query)
	}
	for k, want := range map[string]string{
		"Content-Type":    "application/json",
		"User-Agent":      "Herald",
		"Idempotency-Key": "idem-1",
		"Webhook-Id":      "idem-1",
		"X-Team":          "ops",
	} {
		if got := c.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var got map[string]string
	if err := json.Unmarshal(c.body, &got); err != nil {
		t.Fatalf("body %q: %v", c.body, err)
	}
	want := map[string]string{
		"message_id": "msg-1",
		"event_id":   "evt-1",
		"event_type": "order.paid",
		"key":        "shop/1001",
		"subject":    "Paid",
		"text":       "Order <1001> & co",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	key, _ := webhook.DecodeSecret(specSecret)
	verify(t, key, c)
}

func TestSendData(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, http.StatusOK, "")
	w := newSender(t, &webhook.Settings{URL: rc.URL, Method: http.MethodPut, Secret: "a plain secret"})
	m := message()
	m.Data = json.RawMessage(`{"order":1001,"total":"42.00"}`)
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	c := rc.only(t)
	if c.method != http.MethodPut {
		t.Errorf("method = %s, want PUT", c.method)
	}
	if string(c.body) != string(m.Data) {
		t.Errorf("body = %s, want Data %s as is", c.body, m.Data)
	}
	verify(t, []byte("a plain secret"), c)
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, http.StatusOK, "")
	// No URL: a webhook step's channel; the message carries the request.
	w := newSender(t, &webhook.Settings{Headers: map[string]string{"X-From": "settings", "X-Keep": "1"}})
	m := message()
	m.Request = &channel.Request{
		Method:  http.MethodPatch,
		URL:     rc.URL + "/orders/1001?notify=1",
		Headers: map[string]string{"content-type": "text/plain", "X-From": "request"},
		Body:    "ship it",
	}
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	c := rc.only(t)
	if c.method != http.MethodPatch || c.path != "/orders/1001" || c.query != "notify=1" {
		t.Errorf("request = %s %s?%s, want PATCH /orders/1001?notify=1", c.method, c.path, c.query)
	}
	if string(c.body) != "ship it" {
		t.Errorf("body = %q, want %q", c.body, "ship it")
	}
	for k, want := range map[string]string{
		"Content-Type": "text/plain",
		"X-From":       "request",
		"X-Keep":       "1",
		"Webhook-Id":   "idem-1",
	} {
		if got := c.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if got := c.header.Get("Webhook-Signature"); got != "" {
		t.Errorf("unsigned channel sent webhook-signature %q", got)
	}
}

func TestRetryKeepsWebhookID(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, http.StatusOK, "")
	w := newSender(t, &webhook.Settings{URL: rc.URL, Secret: specSecret})
	m := message()
	for attempt := 1; attempt <= 2; attempt++ {
		m.Attempt = attempt
		if _, err := w.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	key, _ := webhook.DecodeSecret(specSecret)
	for _, c := range rc.reqs {
		if got := c.header.Get("Webhook-Id"); got != "idem-1" {
			t.Errorf("webhook-id = %q, want idem-1 on every attempt", got)
		}
		verify(t, key, c)
	}
}

func TestReceiptProviderID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, want string
	}{
		{`{"id":"prov-42","status":"queued"}`, "prov-42"},
		{`  {"id": "a\"b"}`, `a"b`},
		{`{"id":42}`, ""},
		{`["id"]`, ""},
		{`ok`, ""},
		{``, ""},
		{`{"id":"trunc`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			t.Parallel()
			rc := startReceiver(t, http.StatusOK, tt.body)
			r, err := newSender(t, &webhook.Settings{URL: rc.URL}).Send(t.Context(), message())
			if err != nil {
				t.Fatal(err)
			}
			if r.ProviderID != tt.want {
				t.Errorf("ProviderID = %q, want %q", r.ProviderID, tt.want)
			}
			if string(r.Response) != tt.body {
				t.Errorf("Response = %q, want %q", r.Response, tt.body)
			}
		})
	}
}

func TestSendPermanentFailures(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, http.StatusFound, "")
	tests := []struct {
		name     string
		settings webhook.Settings
		request  *channel.Request
		reason   string
		hidden   string // must not appear in the error
	}{
		{"no url", webhook.Settings{}, nil, "no_url", ""},
		{"bad scheme", webhook.Settings{}, &channel.Request{URL: "ftp://u:pw-hidden@example.com/x"}, "invalid_url", "pw-hidden"},
		{"relative url", webhook.Settings{}, &channel.Request{URL: "/x"}, "invalid_url", ""},
		{"bad method", webhook.Settings{}, &channel.Request{Method: "GET /", URL: rc.URL}, "invalid_request", ""},
		{"bad header value", webhook.Settings{}, &channel.Request{URL: rc.URL, Headers: map[string]string{"Authorization": "tok-hidden\r\nX: y"}}, "invalid_request", "tok-hidden"},
		{"bad header name", webhook.Settings{}, &channel.Request{URL: rc.URL, Headers: map[string]string{"Bad Name": "v"}}, "invalid_request", ""},
		{"redirect not followed", webhook.Settings{URL: rc.URL}, nil, "http_302", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := message()
			m.Request = tt.request
			_, err := newSender(t, &tt.settings).Send(t.Context(), m)
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channel.Error", err)
			}
			if ce.Class != channel.ClassPermanent || ce.Reason != tt.reason {
				t.Errorf("Send = %v/%q (%v), want permanent/%q", ce.Class, ce.Reason, err, tt.reason)
			}
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("error %q leaks %q", err, tt.hidden)
			}
		})
	}
	t.Run("nil message", func(t *testing.T) {
		t.Parallel()
		_, err := newSender(t, &webhook.Settings{URL: rc.URL}).Send(t.Context(), nil)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("Send(nil) = %v, want a permanent error", err)
		}
	})
}

func TestBlockedAddress(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, http.StatusOK, "")
	w, err := webhook.New(&webhook.Settings{URL: rc.URL}, netguard.New(nil).HTTPClient(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Send(t.Context(), message())
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent || ce.Reason != "blocked_address" {
		t.Fatalf("Send to loopback without allowance = %v, want permanent blocked_address", err)
	}
	var be *netguard.BlockedError
	if !errors.As(err, &be) {
		t.Errorf("error does not wrap *netguard.BlockedError: %v", err)
	}
	if n := len(rc.reqs); n != 0 {
		t.Errorf("receiver got %d requests", n)
	}
}

// TestConnectionReuse checks that bodies are drained and closed so that
// sequential sends share one connection, even when the receiver answers
// with a body larger than the excerpt kept.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	conns := 0
	big := strings.Repeat("x", channel.MaxResponse+1000)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, big)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	w := newSender(t, &webhook.Settings{URL: srv.URL})
	for range 20 {
		r, err := w.Send(t.Context(), message())
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Response) != channel.MaxResponse {
			t.Fatalf("Response has %d bytes, want the %d-byte excerpt", len(r.Response), channel.MaxResponse)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("20 sequential sends opened %d connections, want 1", conns)
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    webhook.Settings
		ok   bool
	}{
		{"empty", webhook.Settings{}, true},
		{"full", webhook.Settings{URL: "https://example.com/h", Method: "PUT", Headers: map[string]string{"X-A": "b"}, Secret: specSecret, Timeout: 5e9}, true},
		{"bad url", webhook.Settings{URL: "example.com/h"}, false},
		{"bad method", webhook.Settings{Method: "PO ST"}, false},
		{"bad header name", webhook.Settings{Headers: map[string]string{"X A": "b"}}, false},
		{"bad header value", webhook.Settings{Headers: map[string]string{"X-A": "hidden-value\n"}}, false},
		{"bad secret", webhook.Settings{Secret: "whsec_###hidden"}, false},
		{"negative timeout", webhook.Settings{Timeout: -1}, false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: Validate error leaks a value: %v", tt.name, err)
		}
		if _, err := webhook.New(&tt.s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := webhook.New(&webhook.Settings{}, nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"webhook://example.com/hook", "http://example.com/hook", true},
		{"webhooks://example.com:8443/hook?a=b", "https://example.com:8443/hook?a=b", true},
		{"WEBHOOKS://example.com/", "https://example.com/", true},
		{"https://u:p@example.com/x", "https://u:p@example.com/x", true},
		{"http://example.com", "http://example.com", true},
		{"ftp://example.com/", "", false},
		{"example.com/hook", "", false},
		{"webhook:///nohost", "", false},
	}
	for _, tt := range tests {
		var s webhook.Settings
		err := webhook.FromURL(tt.in, &s)
		if (err == nil) != tt.ok {
			t.Errorf("FromURL(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if s.URL != tt.want {
			t.Errorf("FromURL(%q) URL = %q, want %q", tt.in, s.URL, tt.want)
		}
	}
	if err := webhook.FromURL("webhook://x/y", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

func FuzzFromURL(f *testing.F) {
	for _, s := range []string{"webhook://example.com/hook", "webhooks://h:1/p?q", "https://u:p@h/", "x://", "webhook://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s webhook.Settings
		if webhook.FromURL(in, &s) != nil {
			return
		}
		if err := netguard.CheckURL(s.URL); err != nil {
			t.Errorf("FromURL(%q) accepted %q, which CheckURL refuses: %v", in, s.URL, err)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("FromURL(%q) gave settings that do not validate: %v", in, err)
		}
	})
}

func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"id":"r-1"}`)
	}))
	defer srv.Close()
	w, err := webhook.New(&webhook.Settings{URL: srv.URL + "/hook", Secret: specSecret}, loopbackClient())
	if err != nil {
		b.Fatal(err)
	}
	m := message()
	m.Data = json.RawMessage(`{"order":1001,"total":"42.00","customer":{"email":"a@example.com"}}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.Send(ctx, m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
