package gotify_test

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/gotify"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const token = "AbCdEf123456789"

// Bodies from Gotify's API model (model/message.go, model/error.go
// swagger examples).
const (
	okBody     = `{"id":25,"appid":5,"message":"Order 1001 was paid: 42.00 EUR.","title":"Order 1001 paid","priority":8,"date":"2018-02-27T19:36:10.5045044+01:00"}`
	unauthBody = `{"error":"Unauthorized","errorCode":401,"errorDescription":"you need to provide a valid access token or user credentials to access this api"}`
	forbidBody = `{"error":"Forbidden","errorCode":403,"errorDescription":"you are not allowed to access this api"}`
	badBody    = `{"error":"Bad Request","errorCode":400,"errorDescription":"Field 'message' is required"}`
	serverBody = `{"error":"Internal Server Error","errorCode":500,"errorDescription":"database is locked"}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *gotify.Settings) *gotify.Sender {
	t.Helper()
	g, err := gotify.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func message() *channel.Message {
	m := channeltest.Message()
	m.To = ""
	return m
}

func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch status {
	case 200, 201:
		io.WriteString(w, okBody)
	case 401:
		io.WriteString(w, unauthBody)
	default:
		b, _ := json.Marshal(map[string]any{"error": http.StatusText(status), "errorCode": status, "errorDescription": "simulated"})
		w.Write(b)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender {
			return newSender(t, &gotify.Settings{Server: u, Token: token})
		},
		Message: message,
		Respond: respond,
		Secrets: []string{token},
	})
}

type request struct {
	method, uri string
	header      http.Header
	body        []byte
}

type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func startServer(t *testing.T, status int, body string) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, request{r.Method, r.URL.RequestURI(), r.Header.Clone(), b})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

func (s *server) only(t *testing.T) request {
	t.Helper()
	r := s.requests()
	if len(r) != 1 {
		t.Fatalf("server got %d requests, want 1", len(r))
	}
	return r[0]
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("request body differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return v
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	s := &gotify.Settings{
		Server: srv.URL + "/gotify/", Token: token, Markdown: true,
		Click: "https://shop.example.com/orders/1001", BigImageURL: "https://shop.example.com/chart.png",
	}
	m := message()
	m.Priority = 4
	r, err := newSender(t, s).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	req := srv.only(t)
	if req.method != http.MethodPost || req.uri != "/gotify/message" {
		t.Errorf("request = %s %s, want POST /gotify/message", req.method, req.uri)
	}
	if got := req.header.Get("X-Gotify-Key"); got != token {
		t.Errorf("X-Gotify-Key = %q, want the application token", got)
	}
	if got := req.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q (extras are only accepted with application/json)", got)
	}
	golden(t, "message.golden.json", req.body)
	if r.ProviderID != "25" || r.StatusCode != 200 || r.Delivered {
		t.Errorf("receipt = %+v, want ProviderID 25", r)
	}
	if g := newSender(t, s).Capabilities(); g.Update || g.MaxLength != 0 || !g.Subject {
		t.Errorf("Capabilities = %+v", g)
	}
}

func TestPriority(t *testing.T) {
	t.Parallel()
	ten, zero := 10, 0
	tests := []struct {
		setting *int
		message int
		want    any
	}{
		{nil, 0, nil},
		{nil, 1, 1.0},
		{nil, 2, 3.0},
		{nil, 3, 5.0},
		{nil, 4, 8.0},
		{nil, 5, 10.0},
		{nil, 7, 10.0},
		{nil, -3, 1.0},
		{&ten, 1, 10.0},
		{&zero, 5, 0.0},
	}
	for _, tt := range tests {
		srv := startServer(t, 200, okBody)
		m := message()
		m.Priority = tt.message
		if _, err := newSender(t, &gotify.Settings{Server: srv.URL, Token: token, Priority: tt.setting}).Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if got := decode(t, srv.only(t).body)["priority"]; got != tt.want {
			t.Errorf("setting %v message %d: priority = %v, want %v", tt.setting, tt.message, got, tt.want)
		}
	}
}

func TestDataExtras(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	m := message()
	m.Data = json.RawMessage(`{"client::notification":{"bigImageUrl":"https://placekitten.com/400/300"},"android::action":{"onReceive":{"intentUrl":"https://gotify.net"}}}`)
	if _, err := newSender(t, &gotify.Settings{Server: srv.URL, Token: token, Markdown: true, Click: "https://x.example"}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := decode(t, srv.only(t).body)["extras"]
	want := map[string]any{
		"client::display":      map[string]any{"contentType": "text/markdown"},
		"client::notification": map[string]any{"bigImageUrl": "https://placekitten.com/400/300"},
		"android::action":      map[string]any{"onReceive": map[string]any{"intentUrl": "https://gotify.net"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extras (-want +got):\n%s", diff)
	}
	m.Data = json.RawMessage(`"not an object"`)
	_, err := newSender(t, &gotify.Settings{Server: srv.URL, Token: token}).Send(t.Context(), m)
	checkClass(t, err, channel.ClassPermanent, 0)
}

func TestPartsAndRecipientToken(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	m := message()
	m.To = "OtherAppToken12"
	m.Parts = []string{"one", "two"}
	r, err := newSender(t, &gotify.Settings{Server: srv.URL, Token: token}).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want one per part", len(reqs))
	}
	for i, req := range reqs {
		if got := decode(t, req.body)["message"]; got != m.Parts[i] {
			t.Errorf("request %d message = %v", i, got)
		}
		if got := req.header.Get("X-Gotify-Key"); got != m.To {
			t.Errorf("request %d X-Gotify-Key = %q, want the recipient's token", i, got)
		}
	}
	if r.ProviderID != "25" {
		t.Errorf("ProviderID = %q", r.ProviderID)
	}
}

func TestLongTextSentWhole(t *testing.T) {
	t.Parallel()
	// Gotify documents no length limit (MaxLength 0): a long text is sent
	// whole rather than cut.
	srv := startServer(t, 200, okBody)
	m := message()
	m.Text = strings.Repeat("x", 100_000)
	if _, err := newSender(t, &gotify.Settings{Server: srv.URL, Token: token}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := decode(t, srv.only(t).body)["message"]; got != m.Text {
		t.Error("long text was altered")
	}
}

func checkClass(t *testing.T, err error, class channel.Class, after time.Duration) *channel.Error {
	t.Helper()
	var ce *channel.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *channel.Error", err)
	}
	if ce.Class != class || ce.After != after {
		t.Errorf("error %q: class %v after %v, want %v after %v", err, ce.Class, ce.After, class, after)
	}
	return ce
}

func TestClassifyErrorBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		class  channel.Class
		reason string
	}{
		{"bad token", 401, unauthBody, channel.ClassPermanent, "auth"},
		{"forbidden", 403, forbidBody, channel.ClassPermanent, "auth"},
		{"bad request", 400, badBody, channel.ClassPermanent, "http_400"},
		{"server error", 500, serverBody, channel.ClassRetryable, "http_500"},
		{"proxy error page", 502, "<html>Bad Gateway</html>", channel.ClassRetryable, "http_502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.status, tt.body)
			_, err := newSender(t, &gotify.Settings{Server: srv.URL, Token: token}).Send(t.Context(), message())
			ce := checkClass(t, err, tt.class, 0)
			if ce.Reason != tt.reason || ce.StatusCode != tt.status {
				t.Errorf("reason %q status %d, want %q %d", ce.Reason, ce.StatusCode, tt.reason, tt.status)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	bad := 11
	tests := []struct {
		name string
		s    gotify.Settings
		ok   bool
	}{
		{"minimal", gotify.Settings{Server: "https://push.example.de", Token: "hidden-token"}, true},
		{"no server", gotify.Settings{Token: "hidden-token"}, false},
		{"bad server", gotify.Settings{Server: "push.example.de", Token: "hidden-token"}, false},
		{"no token", gotify.Settings{Server: "https://push.example.de"}, false},
		{"token newline", gotify.Settings{Server: "https://push.example.de", Token: "hidden\n"}, false},
		{"priority 11", gotify.Settings{Server: "https://push.example.de", Token: "hidden-token", Priority: &bad}, false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: Validate error leaks the token: %v", tt.name, err)
		}
		if _, err := gotify.New(&tt.s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := gotify.New(&gotify.Settings{Server: "https://x", Token: "t"}, nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func intp(i int) *int { return &i }

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want gotify.Settings
	}{
		{"gotify://push.example.de/" + token, gotify.Settings{Server: "http://push.example.de", Token: token}},
		{"gotifys://push.example.de:8443/" + token + "/", gotify.Settings{Server: "https://push.example.de:8443", Token: token}},
		{"gotifys://example.com/sub/gotify/" + token, gotify.Settings{Server: "https://example.com/sub/gotify", Token: token}},
		{"gotifys://push.example.de/" + token + "?priority=high&format=markdown&click=https%3A%2F%2Fx.example", gotify.Settings{Server: "https://push.example.de", Token: token, Priority: intp(8), Markdown: true, Click: "https://x.example"}},
		{"GOTIFYS://push.example.de/" + token + "?priority=0", gotify.Settings{Server: "https://push.example.de", Token: token, Priority: intp(0)}},
	}
	for _, tt := range tests {
		var got gotify.Settings
		if err := gotify.FromURL(tt.in, &got); err != nil {
			t.Errorf("FromURL(%q) = %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("FromURL(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestFromURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://push.example.de/hiddentoken", "scheme"},
		{"push.example.de/hiddentoken", "gotify://"},
		{"gotify:hiddentoken", "missing //"},
		{"gotify:///hiddentoken", "no host"},
		{"gotify://push.example.de", "no token"},
		{"gotify://push.example.de:0/hiddentoken", "port"},
		{"gotify://u:p@push.example.de/hiddentoken", "no user"},
		{"gotify://push.example.de/hidden%zztoken", "%-escape"},
		{"gotify://push.example.de/hiddentoken?priority=11", "priority"},
		{"gotify://push.example.de/hiddentoken?format=html", "format"},
		{"gotify://push.example.de/hiddentoken?token=x", `"token"`},
	}
	for _, tt := range tests {
		var s gotify.Settings
		err := gotify.FromURL(tt.in, &s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromURL(%q) = %v, want an error mentioning %q", tt.in, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "hidden") {
			t.Errorf("FromURL(%q) error leaks the token: %v", tt.in, err)
		}
	}
	if err := gotify.FromURL("gotify://h/t", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// tokenOf returns the secret part of a URL: the last path segment after
// a host (without a host there is no token, just text).
func tokenOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	p := strings.Trim(u.Path, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"gotify://h/AbCdEf123456789", "gotifys://h:1/a/b/tok?priority=5", "gotify://h", "gotify://h/t%zz", "gotify:/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s gotify.Settings
		err := gotify.FromURL(in, &s)
		if err != nil {
			if secret := tokenOf(in); len(secret) >= 6 && strings.Count(in, secret) == 1 && strings.Contains(err.Error(), secret) {
				t.Errorf("FromURL(%q) error shows the token: %v", in, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Errorf("FromURL(%q) gave settings that do not validate: %v", in, err)
		}
	})
}
