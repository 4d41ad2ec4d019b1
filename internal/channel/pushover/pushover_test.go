package pushover_test

import (
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/pushover"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The application token and user key of Pushover's API documentation.
const (
	token = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
	user  = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
)

// Answers from https://pushover.net/api.
const (
	okBody        = `{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b"}`
	emergencyBody = `{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b","receipt":"rLqVuqTRh62UzxtmqiaLzQmVcPgiCy"}`
	badUserBody   = `{"user":"invalid","errors":["user identifier is invalid"],"status":0,"request":"5042853c-402d-4a18-abcb-168734a801de"}`
	badTokenBody  = `{"token":"invalid","errors":["application token is invalid"],"status":0,"request":"5042853c-402d-4a18-abcb-168734a801de"}`
	tooLongBody   = `{"message":"cannot be longer than 1024 characters","errors":["message cannot be longer than 1024 characters"],"status":0,"request":"5042853c-402d-4a18-abcb-168734a801de"}`
	limitBody     = `{"errors":["application azGDORePK8gMaC0QOYAMyEEuzJnyUi has exceeded its monthly message limit"],"status":0,"request":"5042853c-402d-4a18-abcb-168734a801de"}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *pushover.Settings) *pushover.Sender {
	t.Helper()
	p, err := pushover.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func message() *channel.Message {
	m := channeltest.Message()
	m.To = ""
	return m
}

func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch {
	case status/100 == 2:
		io.WriteString(w, okBody)
	case status == 400 || status == 404:
		io.WriteString(w, badUserBody)
	case status == 429:
		io.WriteString(w, limitBody)
	default:
		io.WriteString(w, http.StatusText(status))
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender {
			return newSender(t, &pushover.Settings{APIURL: u + "/1/messages.json", Token: token, User: user})
		},
		Message: message,
		Respond: respond,
		Secrets: []string{token, user},
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

func startServer(t *testing.T, status int, body string, header ...string) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, request{r.Method, r.URL.RequestURI(), r.Header.Clone(), b})
		s.mu.Unlock()
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
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

func (s *server) settings() *pushover.Settings {
	return &pushover.Settings{APIURL: s.URL + "/1/messages.json", Token: token, User: user}
}

func form(t *testing.T, b []byte) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(b))
	if err != nil {
		t.Fatalf("body %q is not form-encoded: %v", b, err)
	}
	return v
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

func TestSendRequest(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	s := srv.settings()
	s.Devices = []string{"droid2", "iphone"}
	s.Sound = "cashregister"
	s.URL = "https://shop.example.com/orders/1001"
	s.URLTitle = "Open order"
	s.TTL = time.Hour
	m := message()
	m.Priority = 4
	r, err := newSender(t, s).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	req := srv.only(t)
	if req.method != http.MethodPost || req.uri != "/1/messages.json" {
		t.Errorf("request = %s %s, want POST /1/messages.json", req.method, req.uri)
	}
	if got := req.header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	golden(t, "message.golden.txt", req.body)
	want := url.Values{
		"token": {token}, "user": {user}, "message": {m.Text}, "title": {m.Subject},
		"device": {"droid2,iphone"}, "sound": {"cashregister"}, "priority": {"1"},
		"url": {s.URL}, "url_title": {"Open order"}, "ttl": {"3600"},
	}
	if diff := cmp.Diff(want, form(t, req.body)); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	if r.ProviderID != "647d2300-702c-4b38-8b2f-d56326ae460b" || r.StatusCode != 200 {
		t.Errorf("receipt = %+v, want the request id", r)
	}
}

func TestEmergency(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, emergencyBody)
	m := message()
	m.Priority = 5
	r, err := newSender(t, srv.settings()).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	f := form(t, srv.only(t).body)
	if f.Get("priority") != "2" || f.Get("retry") != "60" || f.Get("expire") != "3600" {
		t.Errorf("priority/retry/expire = %s/%s/%s, want 2/60/3600", f.Get("priority"), f.Get("retry"), f.Get("expire"))
	}
	if r.ProviderID != "rLqVuqTRh62UzxtmqiaLzQmVcPgiCy" {
		t.Errorf("ProviderID = %q, want the emergency receipt", r.ProviderID)
	}

	srv = startServer(t, 200, emergencyBody)
	s := srv.settings()
	two := 2
	s.Priority, s.Retry, s.Expire = &two, 30*time.Second, 3*time.Hour
	if _, err := newSender(t, s).Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	f = form(t, srv.only(t).body)
	if f.Get("priority") != "2" || f.Get("retry") != "30" || f.Get("expire") != "10800" {
		t.Errorf("priority/retry/expire = %s/%s/%s, want 2/30/10800", f.Get("priority"), f.Get("retry"), f.Get("expire"))
	}
}

func TestPriority(t *testing.T) {
	t.Parallel()
	minus1 := -1
	tests := []struct {
		setting *int
		message int
		want    string
	}{
		{nil, 0, ""},
		{nil, 1, "-2"},
		{nil, 2, "-1"},
		{nil, 3, ""},
		{nil, 4, "1"},
		{nil, 9, "2"},
		{nil, -4, "-2"},
		{&minus1, 5, "-1"},
	}
	for _, tt := range tests {
		srv := startServer(t, 200, okBody)
		s := srv.settings()
		s.Priority = tt.setting
		m := message()
		m.Priority = tt.message
		if _, err := newSender(t, s).Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if got := form(t, srv.only(t).body).Get("priority"); got != tt.want {
			t.Errorf("setting %v message %d: priority = %q, want %q", tt.setting, tt.message, got, tt.want)
		}
	}
}

func TestHTMLAndLength(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	m := message()
	m.HTML = "<b>Order 1001</b> was paid."
	if _, err := newSender(t, srv.settings()).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	f := form(t, srv.only(t).body)
	if f.Get("html") != "1" || f.Get("message") != m.HTML {
		t.Errorf("html=%q message=%q, want the HTML with html=1", f.Get("html"), f.Get("message"))
	}

	srv = startServer(t, 200, okBody)
	m = message()
	m.Text = strings.Repeat("€", 3000)
	m.Subject = strings.Repeat("s", 400)
	if _, err := newSender(t, srv.settings()).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	f = form(t, srv.only(t).body)
	if n := utf8.RuneCountInString(f.Get("message")); n != pushover.MaxMessage {
		t.Errorf("message has %d characters, want it cut to %d", n, pushover.MaxMessage)
	}
	if n := utf8.RuneCountInString(f.Get("title")); n > pushover.MaxTitle {
		t.Errorf("title has %d characters, want at most %d", n, pushover.MaxTitle)
	}
}

func TestPartsAndRecipient(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	other := "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
	m := message()
	m.To = other
	m.Parts = []string{"one", "two"}
	if _, err := newSender(t, srv.settings()).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want one per part", len(reqs))
	}
	for i, r := range reqs {
		f := form(t, r.body)
		if f.Get("message") != m.Parts[i] || f.Get("user") != other {
			t.Errorf("request %d: message %q user %q", i, f.Get("message"), f.Get("user"))
		}
	}

	s := srv.settings()
	s.User = ""
	_, err := newSender(t, s).Send(t.Context(), message())
	checkClass(t, err, channel.ClassPermanent, 0)
	m = message()
	m.To = "not-a-key"
	_, err = newSender(t, srv.settings()).Send(t.Context(), m)
	checkClass(t, err, channel.ClassPermanent, 0)
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
	// Reset far enough ahead that the test's own clock makes no
	// difference at one-second resolution.
	reset := time.Now().Add(48 * time.Hour).Unix()
	tests := []struct {
		name   string
		status int
		body   string
		header []string
		class  channel.Class
		reason string
		after  func(time.Duration) bool
	}{
		{"bad user", 400, badUserBody, nil, channel.ClassPermanent, "auth", nil},
		{"bad token", 400, badTokenBody, nil, channel.ClassPermanent, "auth", nil},
		{"too long", 400, tooLongBody, nil, channel.ClassPermanent, "http_400", nil},
		{"monthly limit, reset known", 429, limitBody, []string{"X-Limit-App-Reset", strconv.FormatInt(reset, 10)}, channel.ClassRetryAfter, "quota_exceeded",
			func(d time.Duration) bool { return d > 47*time.Hour && d <= 48*time.Hour }},
		{"monthly limit, Retry-After wins", 429, limitBody, []string{"X-Limit-App-Reset", strconv.FormatInt(reset, 10), "Retry-After", "60"}, channel.ClassRetryAfter, "quota_exceeded",
			func(d time.Duration) bool { return d == time.Minute }},
		{"monthly limit, reset unknown", 429, limitBody, nil, channel.ClassRetryable, "quota_exceeded", nil},
		{"server error", 500, "Internal Server Error", nil, channel.ClassRetryable, "http_500", nil},
		{"200 with status 0", 200, badUserBody, nil, channel.ClassPermanent, "rejected", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.status, tt.body, tt.header...)
			_, err := newSender(t, srv.settings()).Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason || ce.StatusCode != tt.status {
				t.Errorf("got %v/%q/%d, want %v/%q/%d (%v)", ce.Class, ce.Reason, ce.StatusCode, tt.class, tt.reason, tt.status, err)
			}
			if tt.after != nil && !tt.after(ce.After) {
				t.Errorf("After = %v", ce.After)
			}
			for _, s := range []string{token, user} {
				if strings.Contains(err.Error(), s) || strings.Contains(string(ce.Response), s) {
					t.Errorf("error shows a secret: %v / %s", err, ce.Response)
				}
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	three, minus3 := 3, -3
	ok := pushover.Settings{Token: token, User: user}
	with := func(f func(*pushover.Settings)) pushover.Settings { s := ok; f(&s); return s }
	tests := []struct {
		name string
		s    pushover.Settings
		ok   bool
	}{
		{"minimal", ok, true},
		{"no user (every message names one)", pushover.Settings{Token: token}, true},
		{"no token", pushover.Settings{User: user}, false},
		{"short token", with(func(s *pushover.Settings) { s.Token = "hiddentoken" }), false},
		{"bad user", with(func(s *pushover.Settings) { s.User = "hidden-user" }), false},
		{"bad api url", with(func(s *pushover.Settings) { s.APIURL = "api.pushover.net" }), false},
		{"priority 3", with(func(s *pushover.Settings) { s.Priority = &three }), false},
		{"priority -3", with(func(s *pushover.Settings) { s.Priority = &minus3 }), false},
		{"retry 10s", with(func(s *pushover.Settings) { s.Retry = 10 * time.Second }), false},
		{"expire 4h", with(func(s *pushover.Settings) { s.Expire = 4 * time.Hour }), false},
		{"bad device", with(func(s *pushover.Settings) { s.Devices = []string{"my phone"} }), false},
		{"long url title", with(func(s *pushover.Settings) { s.URLTitle = strings.Repeat("x", 101) }), false},
		{"negative ttl", with(func(s *pushover.Settings) { s.TTL = -time.Second }), false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && (strings.Contains(err.Error(), "hidden") || strings.Contains(err.Error(), token)) {
			t.Errorf("%s: Validate error leaks a secret: %v", tt.name, err)
		}
		if _, err := pushover.New(&tt.s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := pushover.New(&ok, nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	two := 2
	tests := []struct {
		in   string
		want pushover.Settings
	}{
		{"pover://" + user + "@" + token, pushover.Settings{Token: token, User: user}},
		{"pover://" + user + "@" + token + "/droid2", pushover.Settings{Token: token, User: user, Devices: []string{"droid2"}}},
		{"pover://" + user + "@" + token + "/droid2/iphone/", pushover.Settings{Token: token, User: user, Devices: []string{"droid2", "iphone"}}},
		{
			"pover://" + user + "@" + token + "?priority=emergency&retry=30&expire=600&sound=siren&url=https%3A%2F%2Fx.example&url_title=X&ttl=60",
			pushover.Settings{Token: token, User: user, Priority: &two, Retry: 30 * time.Second, Expire: 10 * time.Minute, Sound: "siren", URL: "https://x.example", URLTitle: "X", TTL: time.Minute},
		},
	}
	for _, tt := range tests {
		var got pushover.Settings
		if err := pushover.FromURL(tt.in, &got); err != nil {
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
		{"https://" + user + "@" + token, "scheme"},
		{"pover:" + token, "missing //"},
		{"pover://" + token, "no user key"},
		{"pover://" + user + ":x@" + token, "':'"},
		{"pover://" + user + "@", "no application token"},
		{"pover://" + user + "@" + token + ":99", "':'"},
		{"pover://" + user + "@" + token + "%zz", "%-escape"},
		{"pover://" + user + "@hiddentoken", "token must be 30"},
		{"pover://" + user + "@" + token + "?priority=3", "priority"},
		{"pover://" + user + "@" + token + "?retry=soon", "retry"},
		{"pover://" + user + "@" + token + "?retry=5", "30s"},
		{"pover://" + user + "@" + token + "?html=1", `"html"`},
	}
	for _, tt := range tests {
		var s pushover.Settings
		err := pushover.FromURL(tt.in, &s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromURL(%q) = %v, want an error mentioning %q", tt.in, err, tt.want)
			continue
		}
		for _, secret := range []string{token, user, "hiddentoken"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("FromURL(%q) error leaks a secret: %v", tt.in, err)
			}
		}
	}
	if err := pushover.FromURL("pover://u@t", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// secretsOf returns the URL's user key and token (its host), split the
// way the form pover://user@token is written, without url.Parse, so that
// malformed URLs are covered too.
func secretsOf(raw string) []string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil
	}
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	userPart, host, ok := strings.Cut(authority, "@")
	if !ok {
		return nil
	}
	return []string{userPart, host}
}

func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"pover://" + user + "@" + token, "pover://u@t/d?priority=2&retry=30", "pover://" + user + "@" + token + "%zz",
		"pover://a:b@c", "pover:/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s pushover.Settings
		err := pushover.FromURL(in, &s)
		if err != nil {
			for _, secret := range secretsOf(in) {
				if len(secret) >= 6 && strings.Count(in, secret) == 1 && strings.Contains(err.Error(), secret) {
					t.Errorf("FromURL(%q) error shows the secret %q: %v", in, secret, err)
				}
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Errorf("FromURL(%q) gave settings that do not validate: %v", in, err)
		}
	})
}
