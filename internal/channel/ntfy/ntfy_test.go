package ntfy_test

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/ntfy"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The access token of ntfy's own documentation examples.
const token = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"

// Bodies ntfy answers with (server/errors.go; docs/publish.md).
const (
	okBody        = `{"id":"xE73Iyuabi","time":1673542291,"expires":1673585491,"event":"message","topic":"mytopic","message":"Order 1001 was paid: 42.00 EUR."}`
	rateBody      = `{"code":42901,"http":429,"error":"limit reached: too many requests, please be nice","link":"https://ntfy.sh/docs/publish/#limitations"}`
	messagesBody  = `{"code":42908,"http":429,"error":"limit reached: too many messages","link":"https://ntfy.sh/docs/publish/#limitations"}`
	topicsBody    = `{"code":42904,"http":429,"error":"limit reached: the total number of topics on the server has been reached, please contact the admin","link":"https://ntfy.sh/docs/publish/#limitations"}`
	unauthBody    = `{"code":40101,"http":401,"error":"unauthorized","link":"https://ntfy.sh/docs/publish/#authentication"}`
	forbiddenBody = `{"code":40301,"http":403,"error":"forbidden","link":"https://ntfy.sh/docs/publish/#authentication"}`
	tooLargeBody  = `{"code":41303,"http":413,"error":"JSON body too large"}`
	topicBody     = `{"code":40009,"http":400,"error":"invalid request: topic invalid"}`
	internalBody  = `{"code":50001,"http":500,"error":"internal server error"}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *ntfy.Settings) *ntfy.Sender {
	t.Helper()
	n, err := ntfy.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func message() *channel.Message {
	m := channeltest.Message()
	m.To = ""
	return m
}

// respond answers like ntfy for the status the kit simulates.
func respond(w http.ResponseWriter, _ *http.Request, status int) {
	body := map[int]string{
		200: okBody, 201: okBody, 400: topicBody, 401: unauthBody, 403: forbiddenBody,
		413: tooLargeBody, 429: rateBody, 500: internalBody,
	}[status]
	if body == "" {
		body = `{"code":` + strconv.Itoa(status) + `01,"http":` + strconv.Itoa(status) + `,"error":"` + http.StatusText(status) + `"}`
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, auth := range []string{"token", "basic"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			channeltest.Run(t, channeltest.Provider{
				NewSender: func(t *testing.T, u string) channel.Sender {
					s := &ntfy.Settings{Server: u, Topic: "mytopic", Token: token}
					if auth == "basic" {
						s = &ntfy.Settings{Server: u, Topic: "mytopic", Username: "testuser", Password: "fakepassword"}
					}
					return newSender(t, s)
				},
				Message: message,
				Respond: respond,
				Secrets: []string{token, "fakepassword"},
			})
		})
	}
}

// request is one request as the fake server saw it.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

// startServer records requests and answers each with status and body.
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

func typicalSettings(u string) *ntfy.Settings {
	return &ntfy.Settings{
		Server:   u,
		Topic:    "mytopic",
		Token:    token,
		Tags:     []string{"warning", "cd"},
		Click:    "https://shop.example.com/orders/1001",
		Icon:     "https://shop.example.com/icon.png",
		Markdown: true,
		Actions: []map[string]any{
			{"action": "view", "label": "Open order", "url": "https://shop.example.com/orders/1001", "clear": true},
		},
	}
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	m := message()
	m.Priority = 4
	r, err := newSender(t, typicalSettings(srv.URL)).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	req := srv.only(t)
	if req.method != http.MethodPost || req.path != "/" {
		t.Errorf("request = %s %s, want POST / (JSON is published to the server root)", req.method, req.path)
	}
	if got := req.header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization = %q, want the Bearer token", got)
	}
	if got := req.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	golden(t, "message.golden.json", req.body)
	if r.ProviderID != "xE73Iyuabi" || r.StatusCode != 200 || string(r.Response) != okBody {
		t.Errorf("receipt = %+v, want ProviderID xE73Iyuabi", r)
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	s := &ntfy.Settings{Server: srv.URL, Topic: "mysecrets", Username: "testuser", Password: "fakepassword"}
	if _, err := newSender(t, s).Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	// The docs' own example: testuser:fakepassword.
	if got := srv.only(t).header.Get("Authorization"); got != "Basic dGVzdHVzZXI6ZmFrZXBhc3N3b3Jk" {
		t.Errorf("Authorization = %q, want the docs' Basic dGVzdHVzZXI6ZmFrZXBhc3N3b3Jk", got)
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

func TestUpdateUsesSequenceID(t *testing.T) {
	t.Parallel()
	// ntfy answers an update with the new message's id and the sequence.
	updated := `{"id":"yF84Jzvbcj","time":1673542295,"event":"message","topic":"mytopic","sequence_id":"xE73Iyuabi","message":"Download 50% ..."}`
	tests := []struct {
		name     string
		noUpdate bool
		previous []string
		wantSeq  any
		wantID   string
	}{
		{"first message", false, nil, nil, "yF84Jzvbcj"},
		{"later message", false, []string{"xE73Iyuabi", "older"}, "xE73Iyuabi", "xE73Iyuabi"},
		{"no_update", true, []string{"xE73Iyuabi"}, nil, "xE73Iyuabi"},
		{"unusable previous id", false, []string{"not a sequence/id"}, nil, "xE73Iyuabi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := updated
			if tt.previous == nil {
				body = strings.Replace(updated, `"sequence_id":"xE73Iyuabi",`, ``, 1)
			}
			srv := startServer(t, 200, body)
			n := newSender(t, &ntfy.Settings{Server: srv.URL, Topic: "mytopic", NoUpdate: tt.noUpdate})
			if got := n.Capabilities().Update; got == tt.noUpdate {
				t.Errorf("Capabilities().Update = %v with no_update %v", got, tt.noUpdate)
			}
			m := message()
			m.PreviousIDs = tt.previous
			r, err := n.Send(t.Context(), m)
			if err != nil {
				t.Fatal(err)
			}
			if got := decode(t, srv.only(t).body)["sequence_id"]; got != tt.wantSeq {
				t.Errorf("sequence_id = %v, want %v", got, tt.wantSeq)
			}
			if r.ProviderID != tt.wantID {
				t.Errorf("ProviderID = %q, want %q", r.ProviderID, tt.wantID)
			}
		})
	}
}

func TestPartsAreSeparateMessages(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	m := message()
	m.PreviousIDs = []string{"xE73Iyuabi"}
	m.Parts = []string{"part one", "part two", "part three"}
	r, err := newSender(t, &ntfy.Settings{Server: srv.URL, Topic: "mytopic"}).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want one per part", len(reqs))
	}
	for i, req := range reqs {
		v := decode(t, req.body)
		if v["message"] != m.Parts[i] {
			t.Errorf("request %d message = %v, want %q", i, v["message"], m.Parts[i])
		}
		_, hasSeq := v["sequence_id"]
		if hasSeq != (i == 0) {
			t.Errorf("request %d has sequence_id %v; only the first part may replace the earlier notification", i, hasSeq)
		}
	}
	if r.ProviderID != "xE73Iyuabi" {
		t.Errorf("ProviderID = %q", r.ProviderID)
	}
}

func TestLongTextIsCut(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	n := newSender(t, &ntfy.Settings{Server: srv.URL, Topic: "mytopic"})
	m := message()
	m.Text = strings.Repeat("ü", ntfy.MaxMessageBytes) // 2 bytes each
	m.Subject = strings.Repeat("t", 2*ntfy.MaxTitleBytes)
	if _, err := n.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	v := decode(t, srv.only(t).body)
	msg, _ := v["message"].(string)
	if len(msg) > ntfy.MaxMessageBytes || !utf8.ValidString(msg) || !strings.HasSuffix(msg, channel.Ellipsis) {
		t.Errorf("message has %d bytes (valid UTF-8 %v), want at most %d ending with an ellipsis", len(msg), utf8.ValidString(msg), ntfy.MaxMessageBytes)
	}
	if len(msg) < ntfy.MaxMessageBytes-4 {
		t.Errorf("message cut to %d bytes, more than needed", len(msg))
	}
	if title, _ := v["title"].(string); len(title) > ntfy.MaxTitleBytes {
		t.Errorf("title has %d bytes, want at most %d", len(title), ntfy.MaxTitleBytes)
	}
	if got := n.Capabilities().MaxLength; got != ntfy.MaxMessageBytes {
		t.Errorf("MaxLength = %d", got)
	}
}

func TestPriority(t *testing.T) {
	t.Parallel()
	tests := []struct {
		setting, message int
		want             any
	}{
		{0, 0, nil},
		{0, 1, 1.0},
		{0, 5, 5.0},
		{0, 9, 5.0},
		{0, -2, 1.0},
		{2, 5, 2.0},
	}
	for _, tt := range tests {
		srv := startServer(t, 200, okBody)
		m := message()
		m.Priority = tt.message
		if _, err := newSender(t, &ntfy.Settings{Server: srv.URL, Topic: "t", Priority: tt.setting}).Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if got := decode(t, srv.only(t).body)["priority"]; got != tt.want {
			t.Errorf("setting %d, message %d: priority = %v, want %v", tt.setting, tt.message, got, tt.want)
		}
	}
}

func TestDataMerge(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	m := message()
	m.Data = json.RawMessage(`{"priority":5,"attach":"https://filesrv.lan/space.jpg","topic":"elsewhere","order":1001}`)
	if _, err := newSender(t, &ntfy.Settings{Server: srv.URL, Topic: "mytopic", Priority: 2}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := decode(t, srv.only(t).body)
	want := map[string]any{
		"topic": "mytopic", "message": m.Text, "title": m.Subject, "priority": 5.0,
		"attach": "https://filesrv.lan/space.jpg",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged body (-want +got):\n%s", diff)
	}

	m.Data = json.RawMessage(`[1,2]`)
	_, err := newSender(t, &ntfy.Settings{Server: srv.URL, Topic: "mytopic"}).Send(t.Context(), m)
	checkClass(t, err, channel.ClassPermanent, 0)
}

func TestDestination(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	n := newSender(t, &ntfy.Settings{Server: srv.URL})
	m := message()
	_, err := n.Send(t.Context(), m)
	checkClass(t, err, channel.ClassPermanent, 0)
	m.To = "bad topic!"
	_, err = n.Send(t.Context(), m)
	checkClass(t, err, channel.ClassPermanent, 0)
	m.To = "phil_alerts"
	if _, err := n.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := decode(t, srv.only(t).body)["topic"]; got != "phil_alerts" {
		t.Errorf("topic = %v, want the message's To", got)
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
		name       string
		status     int
		retryAfter string
		body       string
		class      channel.Class
		after      time.Duration
		reason     string
	}{
		{"rate limit", 429, "", rateBody, channel.ClassRetryAfter, 5 * time.Second, "rate_limited"},
		{"rate limit with Retry-After", 429, "42", rateBody, channel.ClassRetryAfter, 42 * time.Second, "rate_limited"},
		{"daily messages", 429, "", messagesBody, channel.ClassRetryable, 0, "rate_limited"},
		{"server topic limit", 429, "", topicsBody, channel.ClassPermanent, 0, "topic_limit"},
		{"unauthorized", 401, "", unauthBody, channel.ClassPermanent, 0, "auth"},
		{"forbidden", 403, "", forbiddenBody, channel.ClassPermanent, 0, "auth"},
		{"too large", 413, "", tooLargeBody, channel.ClassPermanent, 0, "too_large"},
		{"bad topic", 400, "", topicBody, channel.ClassPermanent, 0, "http_400"},
		{"internal", 500, "", internalBody, channel.ClassRetryable, 0, "http_500"},
		{"not JSON", 502, "", "<html>Bad Gateway</html>", channel.ClassRetryable, 0, "http_502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := newSender(t, &ntfy.Settings{Server: srv.URL, Topic: "mytopic", Token: token}).Send(t.Context(), message())
			ce := checkClass(t, err, tt.class, tt.after)
			if ce.Reason != tt.reason || ce.StatusCode != tt.status {
				t.Errorf("reason %q status %d, want %q %d", ce.Reason, ce.StatusCode, tt.reason, tt.status)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    ntfy.Settings
		ok   bool
	}{
		{"empty", ntfy.Settings{}, true},
		{"full", *typicalSettings("https://ntfy.example.com"), true},
		{"basic", ntfy.Settings{Username: "u", Password: "hidden-pw"}, true},
		{"bad server", ntfy.Settings{Server: "ntfy.example.com"}, false},
		{"bad topic", ntfy.Settings{Topic: "hidden topic"}, false},
		{"long topic", ntfy.Settings{Topic: strings.Repeat("a", 65)}, false},
		{"token and user", ntfy.Settings{Token: "tk_hidden", Username: "u"}, false},
		{"password alone", ntfy.Settings{Password: "hidden-pw"}, false},
		{"token newline", ntfy.Settings{Token: "tk_hidden\r\nX: y"}, false},
		{"priority high", ntfy.Settings{Priority: 6}, false},
		{"priority negative", ntfy.Settings{Priority: -1}, false},
		{"four actions", ntfy.Settings{Actions: make([]map[string]any, 4)}, false},
		{"bad action", ntfy.Settings{Actions: []map[string]any{{"action": "jump", "label": "x"}}}, false},
		{"action without label", ntfy.Settings{Actions: []map[string]any{{"action": "view", "url": "https://x"}}}, false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: Validate error leaks a value: %v", tt.name, err)
		}
		if _, err := ntfy.New(&tt.s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := ntfy.New(&ntfy.Settings{}, nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want ntfy.Settings
	}{
		{"ntfy://mytopic", ntfy.Settings{Server: "https://ntfy.sh", Topic: "mytopic"}},
		{"ntfys://mytopic", ntfy.Settings{Server: "https://ntfy.sh", Topic: "mytopic"}},
		{"ntfy://ntfy.lan/alerts", ntfy.Settings{Server: "http://ntfy.lan", Topic: "alerts"}},
		{"ntfys://ntfy.example.com:8443/alerts/", ntfy.Settings{Server: "https://ntfy.example.com:8443", Topic: "alerts"}},
		{"ntfys://testuser:fake%40pw@ntfy.example.com/alerts", ntfy.Settings{Server: "https://ntfy.example.com", Topic: "alerts", Username: "testuser", Password: "fake@pw"}},
		{"ntfys://" + token + "@ntfy.example.com/alerts", ntfy.Settings{Server: "https://ntfy.example.com", Topic: "alerts", Token: token}},
		{"ntfys://:" + token + "@ntfy.example.com/alerts", ntfy.Settings{Server: "https://ntfy.example.com", Topic: "alerts", Token: token}},
		{"ntfys://ntfy.example.com/alerts?token=" + token, ntfy.Settings{Server: "https://ntfy.example.com", Topic: "alerts", Token: token}},
		{
			"NTFYS://ntfy.example.com/alerts?priority=high&tags=warning,+skull&click=https%3A%2F%2Fx.example%2F&icon=https%3A%2F%2Fx.example%2Fi.png&markdown=yes",
			ntfy.Settings{Server: "https://ntfy.example.com", Topic: "alerts", Priority: 4, Tags: []string{"warning", "skull"}, Click: "https://x.example/", Icon: "https://x.example/i.png"},
		},
	}
	for _, tt := range tests {
		var got ntfy.Settings
		err := ntfy.FromURL(tt.in, &got)
		if strings.Contains(tt.in, "markdown=yes") {
			// strconv.ParseBool does not know "yes": a clear error.
			if err == nil || !strings.Contains(err.Error(), "markdown") {
				t.Errorf("FromURL(%q) = %v, want a markdown error", tt.in, err)
			}
			tt.in = strings.Replace(tt.in, "markdown=yes", "markdown=true", 1)
			tt.want.Markdown = true
			got = ntfy.Settings{}
			err = ntfy.FromURL(tt.in, &got)
		}
		if err != nil {
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
		{"https://ntfy.sh/mytopic", "scheme"},
		{"mytopic", "ntfy://"},
		{"ntfy:mytopic", "missing //"},
		{"ntfy://", "no topic"},
		{"ntfy://host/a/b", "more than one topic"},
		{"ntfy://host/bad!topic", "topic"},
		{"ntfy://mytopic:99", "port"},
		{"ntfy://host:99999/t", "port"},
		{"ntfy://u:pw%zzhidden@host/t", "%-escape"},
		{"ntfy://host/t?priority=9", "priority"},
		{"ntfy://host/t?foo=1", `"foo"`},
		{"ntfy://tk_hidden1@host/t?token=tk_hidden2", ""},
		{"ntfy://u:hidden@host/t?token=tk_hidden2", "not both"},
	}
	for _, tt := range tests {
		var s ntfy.Settings
		err := ntfy.FromURL(tt.in, &s)
		if tt.want == "" {
			if err != nil {
				t.Errorf("FromURL(%q) = %v, want success (the query token wins)", tt.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromURL(%q) = %v, want an error mentioning %q", tt.in, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "hidden") {
			t.Errorf("FromURL(%q) error leaks a secret: %v", tt.in, err)
		}
	}
	if err := ntfy.FromURL("ntfy://t", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// secretsOf returns the secret parts of a URL: the userinfo password, a
// tk_ user name and the token parameter.
func secretsOf(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw)
		}
		out = append(out, u.User.Username())
	}
	if q, err := url.ParseQuery(u.RawQuery); err == nil {
		out = append(out, q["token"]...)
	}
	return out
}

func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"ntfy://mytopic", "ntfys://u:p@h:1/t?priority=5", "ntfys://tk_abcdefgh@h/t", "ntfy://h/t?token=tk_x&tags=a,b",
		"ntfy://u:pw%zz@h/t", "ntfy:/x", "ntfy://h/a/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s ntfy.Settings
		err := ntfy.FromURL(in, &s)
		if err != nil {
			for _, secret := range secretsOf(in) {
				// A secret shorter than 6 bytes, or one that also appears
				// outside the secret part, may show up for other reasons.
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
