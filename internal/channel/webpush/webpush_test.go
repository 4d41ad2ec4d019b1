package webpush_test

import (
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/httpcall"
	"github.com/herald-notify/herald/internal/channel/webpush"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The tests' VAPID identity is RFC 8291's application server key pair
// (any valid P-256 pair would do), and the browser is RFC 8291's user
// agent, whose private key lets the fake push service decrypt.
const (
	vapidPublic  = rfcASPublic
	vapidPrivate = rfcASPrivate
	subject      = "mailto:ops@example.com"
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func subscriptionJSON(endpoint string) string {
	return fmt.Sprintf(`{"endpoint":%q,"expirationTime":null,"keys":{"p256dh":%q,"auth":%q}}`, endpoint, rfcUAPublic, rfcAuth)
}

var fixed = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newSender(t *testing.T, s *webpush.Settings) *webpush.Sender {
	t.Helper()
	if s.VAPIDPublicKey == "" {
		s.VAPIDPublicKey, s.VAPIDPrivateKey = vapidPublic, vapidPrivate
	}
	if s.Subject == "" {
		s.Subject = subject
	}
	w, err := webpush.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	webpush.SetNow(w, func() time.Time { return fixed })
	return w
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &webpush.Settings{Subscription: subscriptionJSON(url + "/wpush/v2/gAAAAABk")})
		},
		Message: func() *channel.Message {
			m := channeltest.Message()
			m.To = "" // the settings' subscription
			return m
		},
		Respond: func(w http.ResponseWriter, r *http.Request, status int) {
			if status == http.StatusCreated {
				w.Header().Set("Location", "https://push.example.net/message/qDIYHNcfAIPP_5tlGwTr")
			}
			w.WriteHeader(status)
		},
		Secrets: []string{vapidPrivate, rfcAuth},
	})
}

// pushed is one message as the fake push service received and decrypted
// it.
type pushed struct {
	method, path string
	header       http.Header
	size         int
	plain        []byte
	err          error
}

// pushService plays a browser vendor's push service: it records each
// request and decrypts the body with the user agent's private key.
type pushService struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []pushed
}

func startPushService(t *testing.T, status int) *pushService {
	t.Helper()
	ua, err := ecdh.P256().NewPrivateKey(unb64(t, rfcUAPrivate))
	if err != nil {
		t.Fatal(err)
	}
	p := &pushService{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		plain, err := decrypt(body, ua, unb64(t, rfcAuth))
		p.mu.Lock()
		p.msgs = append(p.msgs, pushed{r.Method, r.URL.Path, r.Header.Clone(), len(body), plain, err})
		p.mu.Unlock()
		w.Header().Set("Location", "https://push.example.net/message/qDIYHNcfAIPP_5tlGwTr")
		w.WriteHeader(status)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *pushService) received(t *testing.T) []pushed {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.msgs {
		if m.err != nil {
			t.Fatalf("the push service cannot decrypt the message: %v", m.err)
		}
	}
	return append([]pushed(nil), p.msgs...)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("payload differs from %s:\n got %s\nwant %s", file, got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ps := startPushService(t, http.StatusCreated)
	w := newSender(t, &webpush.Settings{TTL: time.Hour})
	m := channeltest.Message()
	m.To = subscriptionJSON(ps.URL + "/wpush/v2/gAAAAABk")
	m.Priority = 1
	m.Data = json.RawMessage(`{"url":"https://shop.example.com/orders/1001"}`)
	r, err := w.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "https://push.example.net/message/qDIYHNcfAIPP_5tlGwTr" || r.StatusCode != 201 || r.Delivered {
		t.Errorf("receipt = %+v, want the Location as provider id, 201, not delivered", r)
	}
	msgs := ps.received(t)
	if len(msgs) != 1 {
		t.Fatalf("push service got %d messages", len(msgs))
	}
	got := msgs[0]
	if got.method != http.MethodPost || got.path != "/wpush/v2/gAAAAABk" {
		t.Errorf("request = %s %s", got.method, got.path)
	}
	for k, want := range map[string]string{
		"Content-Encoding": "aes128gcm",
		"Content-Type":     "application/octet-stream",
		"TTL":              "3600",
		"Urgency":          "high",
		"Topic":            webpush.Topic(m.Key),
	} {
		if v := got.header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}

	// Authorization: vapid t=<JWT>, k=<key> (RFC 8292 section 3).
	auth := got.header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "vapid t=")
	jwt, key, ok2 := strings.Cut(rest, ", k=")
	if !ok || !ok2 {
		t.Fatalf("Authorization = %q, want vapid t=..., k=...", auth)
	}
	if key != vapidPublic {
		t.Errorf("k = %s, want the configured public key", key)
	}
	claims := verifyJWT(t, jwt, key)
	if claims["aud"] != ps.URL {
		t.Errorf("aud = %v, want the endpoint's origin %s", claims["aud"], ps.URL)
	}
	if claims["sub"] != subject {
		t.Errorf("sub = %v", claims["sub"])
	}
	if exp := int64(claims["exp"].(float64)); exp <= fixed.Unix() || exp > fixed.Add(24*time.Hour).Unix() {
		t.Errorf("exp = %d, want within 24h after %d", exp, fixed.Unix())
	}
	golden(t, "payload.golden.json", got.plain)
}

func TestLongTextFitsThePayload(t *testing.T) {
	t.Parallel()
	ps := startPushService(t, http.StatusCreated)
	w := newSender(t, &webpush.Settings{})
	m := channeltest.Message()
	m.To = subscriptionJSON(ps.URL + "/p")
	m.Text = strings.Repeat("€ and \"quotes\" ", 1000)
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := ps.received(t)[0]
	if got.size > webpush.MaxPayload || len(got.plain) > webpush.MaxPlaintext {
		t.Errorf("payload %d bytes encrypted, %d plain; limits %d and %d", got.size, len(got.plain), webpush.MaxPayload, webpush.MaxPlaintext)
	}
	var n struct{ Title, Body string }
	if err := json.Unmarshal(got.plain, &n); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(n.Body, channel.Ellipsis) || !strings.HasPrefix(m.Text, strings.TrimSuffix(n.Body, channel.Ellipsis)) {
		t.Errorf("body was not truncated from the text: %q", n.Body)
	}
	// The longest fitting body: one more rune would not fit.
	longer, _ := json.Marshal(map[string]string{"title": m.Subject, "body": channel.Truncate(m.Text, utf8.RuneCountInString(n.Body)+1), "tag": m.Key})
	if len(longer) <= webpush.MaxPlaintext {
		t.Errorf("the body was cut shorter than it had to be (%d bytes with one more character)", len(longer))
	}
}

func TestPayloadTooLarge(t *testing.T) {
	t.Parallel()
	_, err := webpush.Payload("t", "body", json.RawMessage(`"`+strings.Repeat("x", 4000)+`"`), "k")
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent || ce.Reason != "payload_too_large" {
		t.Errorf("Payload = %v, want permanent payload_too_large", err)
	}
}

func TestPartsSentInOrderWithoutTopic(t *testing.T) {
	t.Parallel()
	ps := startPushService(t, http.StatusCreated)
	w := newSender(t, &webpush.Settings{Subscription: subscriptionJSON(ps.URL + "/p"), Urgency: "low"})
	m := channeltest.Message()
	m.To = ""
	m.Parts = []string{"first", "second"}
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	msgs := ps.received(t)
	if len(msgs) != 2 {
		t.Fatalf("got %d messages", len(msgs))
	}
	for i, want := range m.Parts {
		var n struct{ Body string }
		json.Unmarshal(msgs[i].plain, &n)
		if n.Body != want {
			t.Errorf("message %d body = %q, want %q", i, n.Body, want)
		}
		if tp := msgs[i].header.Get("Topic"); tp != "" {
			t.Errorf("part %d has Topic %q; parts must not replace each other", i, tp)
		}
		if u := msgs[i].header.Get("Urgency"); u != "low" {
			t.Errorf("Urgency = %q, want the configured low", u)
		}
	}
}

func TestRecipientErrors(t *testing.T) {
	t.Parallel()
	ps := startPushService(t, http.StatusCreated)
	w := newSender(t, &webpush.Settings{})
	tests := []struct{ name, to, reason string }{
		{"none", "", "no_recipient"},
		{"not json", "recipient-1", "invalid_recipient"},
		{"plain http", subscriptionJSON("http://push.example.net/x"), "invalid_recipient"},
		{"bad p256dh", strings.Replace(subscriptionJSON(ps.URL), rfcUAPublic, "AAAA", 1), "invalid_recipient"},
		{"bad auth", strings.Replace(subscriptionJSON(ps.URL), rfcAuth, "AAAA", 1), "invalid_recipient"},
		{"ftp", subscriptionJSON("ftp://push.example.net/x"), "invalid_recipient"},
	}
	for _, tt := range tests {
		m := channeltest.Message()
		m.To = tt.to
		_, err := w.Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent || ce.Reason != tt.reason {
			t.Errorf("%s: Send = %v, want permanent %s", tt.name, err, tt.reason)
		}
		if err != nil && strings.Contains(err.Error(), rfcAuth) {
			t.Errorf("%s: error shows the auth secret", tt.name)
		}
	}
	if n := len(ps.received(t)); n != 0 {
		t.Errorf("push service got %d messages", n)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		header http.Header
		class  channel.Class
		reason string
		after  time.Duration
	}{
		{201, nil, 0, "", 0},
		{404, nil, channel.ClassPermanent, "subscription_gone", 0},
		{410, nil, channel.ClassPermanent, "subscription_gone", 0},
		{413, nil, channel.ClassPermanent, "payload_too_large", 0},
		{400, nil, channel.ClassPermanent, "bad_request", 0},
		{401, nil, channel.ClassPermanent, "vapid_rejected", 0},
		{403, nil, channel.ClassPermanent, "vapid_rejected", 0},
		{429, http.Header{"Retry-After": {"30"}}, channel.ClassRetryAfter, "rate_limited", 30 * time.Second},
		{429, nil, channel.ClassRetryable, "rate_limited", 0},
		{500, nil, channel.ClassRetryable, "http_500", 0},
		{503, http.Header{"Retry-After": {"10"}}, channel.ClassRetryAfter, "http_503", 10 * time.Second},
	}
	for _, tt := range tests {
		err := webpush.Classify(&httpcall.Response{StatusCode: tt.status, Header: tt.header})
		if tt.reason == "" {
			if err != nil {
				t.Errorf("%d: Classify = %v, want nil", tt.status, err)
			}
			continue
		}
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != tt.class || ce.Reason != tt.reason || ce.After != tt.after || ce.StatusCode != tt.status {
			t.Errorf("%d: Classify = %#v, want %v/%s/%v", tt.status, err, tt.class, tt.reason, tt.after)
		}
	}
}

func TestGoneSubscription(t *testing.T) {
	t.Parallel()
	ps := startPushService(t, http.StatusGone)
	w := newSender(t, &webpush.Settings{})
	m := channeltest.Message()
	m.To = subscriptionJSON(ps.URL + "/p")
	_, err := w.Send(t.Context(), m)
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Reason != "subscription_gone" || ce.Class != channel.ClassPermanent {
		t.Fatalf("Send = %v, want permanent subscription_gone", err)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	c := newSender(t, &webpush.Settings{}).Capabilities()
	if c.MaxLength != webpush.MaxPlaintext || !c.Update || !c.Subject || c.Split || c.HTML {
		t.Errorf("Capabilities = %+v", c)
	}
	if newSender(t, &webpush.Settings{NoTopic: true}).Capabilities().Update {
		t.Error("Update is true with no_topic")
	}
}
