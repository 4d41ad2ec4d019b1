package slack_test

import (
	"bytes"
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
	"github.com/herald-notify/herald/internal/channel/slack"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	// Slack's documented example webhook path
	// (https://api.slack.com/messaging/webhooks).
	hookPath   = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
	hookSecret = "XXXXXXXXXXXXXXXXXXXXXXXX"
	botToken   = "xoxb-1234-5678-abcdefghijklmnopqrstuvwx"
	// postOK is chat.postMessage's documented success answer (trimmed).
	postOK = `{"ok":true,"channel":"C123ABC456","ts":"1503435956.000247","message":{"text":"Here's a message for you","username":"ecto1","bot_id":"B123ABC456","type":"message","subtype":"bot_message","ts":"1503435956.000247"}}`
	// updateOK is chat.update's documented success answer.
	updateOK = `{"ok":true,"channel":"C123ABC456","ts":"1401383885.000061","text":"Updated text you carefully authored","message":{"text":"Updated text you carefully authored","user":"U34567890"}}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t testing.TB, s *slack.Settings) *slack.Sender {
	t.Helper()
	c, err := slack.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformanceWebhook(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &slack.Settings{WebhookURL: channel.Secret(url + hookPath)})
		},
		// The plain-text codes Slack documents for each status.
		Respond: func(w http.ResponseWriter, r *http.Request, status int) {
			w.WriteHeader(status)
			switch {
			case status < 300:
				io.WriteString(w, "ok")
			case status == 400:
				io.WriteString(w, "invalid_payload")
			case status == 401, status == 403:
				io.WriteString(w, "invalid_token")
			case status == 404:
				io.WriteString(w, "no_service")
			case status == 429:
				io.WriteString(w, "rate_limited")
			default:
				io.WriteString(w, "rollup_error")
			}
		},
		Secrets: []string{hookSecret},
	})
}

func TestConformanceBot(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &slack.Settings{Token: botToken, APIURL: url})
		},
		Respond: func(w http.ResponseWriter, r *http.Request, status int) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			switch {
			case status < 300:
				io.WriteString(w, postOK)
			case status == 429:
				io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
			case status >= 500:
				io.WriteString(w, `{"ok":false,"error":"internal_error"}`)
			default:
				io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			}
		},
		Secrets: []string{botToken},
	})
}

// request is one request as the fake Slack saw it.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

// fake is a stand-in for Slack answering every request with status and
// body.
type fake struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func startFake(t *testing.T, status int, body string, header ...string) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, request{r.Method, r.URL.Path, r.Header.Clone(), b})
		f.mu.Unlock()
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func (f *fake) only(t *testing.T) request {
	t.Helper()
	rs := f.requests()
	if len(rs) != 1 {
		t.Fatalf("fake Slack got %d requests, want 1", len(rs))
	}
	return rs[0]
}

func message() *channel.Message {
	return &channel.Message{
		ID:        "msg-1",
		EventType: "alert.firing",
		Key:       "db-1/disk",
		Content: channel.Content{
			Subject: "Disk almost full",
			Text:    "db-1: /var at 93% <https://grafana.example.com/d/1|dashboard>",
		},
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("body differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

func TestWebhookRequest(t *testing.T) {
	t.Parallel()
	f := startFake(t, http.StatusOK, "ok")
	c := newSender(t, &slack.Settings{WebhookURL: channel.Secret(f.URL + hookPath), Username: "herald"})
	r, err := c.Send(t.Context(), message())
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != 200 || r.ProviderID != "" || !r.Delivered || string(r.Response) != "ok" {
		t.Errorf("receipt = %+v, want 200, no provider id, delivered, response ok", r)
	}
	req := f.only(t)
	if req.method != http.MethodPost || req.path != hookPath {
		t.Errorf("request = %s %s, want POST %s", req.method, req.path, hookPath)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if a := req.header.Get("Authorization"); a != "" {
		t.Errorf("webhook request carries Authorization %q", a)
	}
	golden(t, "webhook.golden.json", req.body)
	if c.Capabilities().Update {
		t.Error("webhook mode claims Update, but a webhook returns no message id")
	}
}

func TestBotRequest(t *testing.T) {
	t.Parallel()
	f := startFake(t, http.StatusOK, postOK, "Content-Type", "application/json; charset=utf-8")
	c := newSender(t, &slack.Settings{Token: botToken, APIURL: f.URL + "/api/", Channel: "C123ABC456", IconEmoji: ":rotating_light:"})
	m := message()
	m.Data = json.RawMessage(`{"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*Disk* 93%"}}],"ignored":1}`)
	r, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "C123ABC456/1503435956.000247" || r.StatusCode != 200 || !r.Delivered {
		t.Errorf("receipt = %+v, want ProviderID C123ABC456/1503435956.000247", r)
	}
	req := f.only(t)
	if req.method != http.MethodPost || req.path != "/api/chat.postMessage" {
		t.Errorf("request = %s %s, want POST /api/chat.postMessage", req.method, req.path)
	}
	for k, want := range map[string]string{
		"Authorization": "Bearer " + botToken,
		"Content-Type":  "application/json; charset=utf-8",
	} {
		if got := req.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	golden(t, "bot.golden.json", req.body)
	if !c.Capabilities().Update {
		t.Error("bot mode must support Update")
	}
}

func TestBotUpdate(t *testing.T) {
	t.Parallel()
	f := startFake(t, http.StatusOK, updateOK)
	c := newSender(t, &slack.Settings{Token: botToken, APIURL: f.URL, Channel: "C999", Username: "herald"})
	m := message()
	m.Subject = "Resolved: disk"
	m.Text = "db-1: /var back at 60%"
	m.PreviousIDs = []string{"C123ABC456/1401383885.000061", "C123ABC456/1401383000.000001"}
	r, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "C123ABC456/1401383885.000061" {
		t.Errorf("ProviderID = %q, want the updated message's id", r.ProviderID)
	}
	req := f.only(t)
	if req.path != "/chat.update" {
		t.Errorf("path = %s, want /chat.update", req.path)
	}
	want := `{"channel":"C123ABC456","ts":"1401383885.000061","text":"*Resolved: disk*\ndb-1: /var back at 60%"}`
	if string(req.body) != want {
		t.Errorf("body = %s\nwant   %s", req.body, want)
	}
}

func TestParts(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"webhook", "bot"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var f *fake
			var s slack.Settings
			if mode == "webhook" {
				f = startFake(t, 200, "ok")
				s.WebhookURL = channel.Secret(f.URL + hookPath)
			} else {
				f = startFake(t, 200, postOK)
				s = slack.Settings{Token: botToken, APIURL: f.URL, Channel: "C1"}
			}
			m := message()
			m.Data = json.RawMessage(`{"attachments":[{"color":"#ff0000"}]}`)
			m.Parts = []string{"part one", "part two", "part three"}
			r, err := newSender(t, &s).Send(t.Context(), m)
			if err != nil {
				t.Fatal(err)
			}
			if mode == "bot" && r.ProviderID != "C123ABC456/1503435956.000247" {
				t.Errorf("ProviderID = %q", r.ProviderID)
			}
			reqs := f.requests()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want one per part", len(reqs))
			}
			for i, want := range []string{"*Disk almost full*\npart one", "part two", "part three"} {
				var p struct {
					Text        string          `json:"text"`
					Attachments json.RawMessage `json:"attachments"`
				}
				if err := json.Unmarshal(reqs[i].body, &p); err != nil {
					t.Fatal(err)
				}
				if p.Text != want {
					t.Errorf("part %d text = %q, want %q", i, p.Text, want)
				}
				if (i == 0) != (len(p.Attachments) > 0) {
					t.Errorf("part %d attachments = %s; want them on the first part only", i, p.Attachments)
				}
			}
		})
	}
}

func TestLongTextTruncated(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, "ok")
	c := newSender(t, &slack.Settings{WebhookURL: channel.Secret(f.URL + hookPath)})
	m := message()
	m.Text = strings.Repeat("é", slack.MaxLength*2)
	if _, err := c.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var p struct{ Text string }
	if err := json.Unmarshal(f.only(t).body, &p); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(p.Text); n != slack.MaxLength {
		t.Errorf("text has %d runes, want exactly the limit %d", n, slack.MaxLength)
	}
	if !strings.HasSuffix(p.Text, channel.Ellipsis) || !strings.HasPrefix(p.Text, "*Disk almost full*\n") {
		t.Errorf("truncated text should keep the subject and end with an ellipsis")
	}
	if got := c.Capabilities(); got.MaxLength != slack.MaxLength || !got.Split {
		t.Errorf("Capabilities = %+v", got)
	}
}

func TestNoDestination(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, postOK)
	_, err := newSender(t, &slack.Settings{Token: botToken, APIURL: f.URL}).Send(t.Context(), message())
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent || ce.Reason != "no_destination" {
		t.Fatalf("Send without channel = %v, want permanent no_destination", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent without a destination", n)
	}
}

func TestToOverridesChannel(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, postOK)
	m := message()
	m.To = "C0TO"
	if _, err := newSender(t, &slack.Settings{Token: botToken, APIURL: f.URL, Channel: "C0DEFAULT"}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(f.only(t).body, []byte(`{"channel":"C0TO",`)) {
		t.Errorf("body %s does not post to the message's To", f.only(t).body)
	}
}

// TestClassification answers with the error bodies Slack documents and
// checks the class each one gets.
func TestClassification(t *testing.T) {
	t.Parallel()
	type want struct {
		class  channel.Class
		reason string
		after  time.Duration
	}
	perm := func(r string) want { return want{channel.ClassPermanent, r, 0} }
	retry := func(r string) want { return want{channel.ClassRetryable, r, 0} }
	tests := []struct {
		name    string
		bot     bool
		status  int
		body    string
		headers []string
		want    want
	}{
		{"hook invalid_payload", false, 400, "invalid_payload", nil, perm("invalid_payload")},
		{"hook user_not_found", false, 400, "user_not_found", nil, perm("user_not_found")},
		{"hook action_prohibited", false, 403, "action_prohibited", nil, perm("action_prohibited")},
		{"hook invalid_token", false, 403, "invalid_token", nil, perm("invalid_token")},
		{"hook channel_not_found", false, 404, "channel_not_found", nil, perm("channel_not_found")},
		{"hook no_service", false, 404, "no_service", nil, perm("no_service")},
		{"hook channel_is_archived", false, 410, "channel_is_archived", nil, perm("channel_is_archived")},
		{"hook rollup_error", false, 500, "rollup_error", nil, retry("rollup_error")},
		{"hook rate limited", false, 429, "rate_limited", []string{"Retry-After", "7"}, want{channel.ClassRetryAfter, "rate_limited", 7 * time.Second}},
		{"hook html error page", false, 502, "<html>bad gateway</html>", nil, retry("http_502")},
		{"bot ratelimited", true, 429, `{"ok":false,"error":"ratelimited"}`, []string{"Retry-After", "30"}, want{channel.ClassRetryAfter, "ratelimited", 30 * time.Second}},
		{"bot ratelimited in 200", true, 200, `{"ok":false,"error":"ratelimited"}`, []string{"Retry-After", "3"}, want{channel.ClassRetryAfter, "ratelimited", 3 * time.Second}},
		{"bot ratelimited no header", true, 200, `{"ok":false,"error":"ratelimited"}`, nil, retry("ratelimited")},
		{"bot channel_not_found", true, 200, `{"ok":false,"error":"channel_not_found"}`, nil, perm("channel_not_found")},
		{"bot not_in_channel", true, 200, `{"ok":false,"error":"not_in_channel"}`, nil, perm("not_in_channel")},
		{"bot invalid_auth", true, 200, `{"ok":false,"error":"invalid_auth"}`, nil, perm("invalid_auth")},
		{"bot token_revoked", true, 200, `{"ok":false,"error":"token_revoked"}`, nil, perm("token_revoked")},
		{"bot account_inactive", true, 200, `{"ok":false,"error":"account_inactive"}`, nil, perm("account_inactive")},
		{"bot msg_too_long", true, 200, `{"ok":false,"error":"msg_too_long"}`, nil, perm("msg_too_long")},
		{"bot is_archived", true, 200, `{"ok":false,"error":"is_archived"}`, nil, perm("is_archived")},
		{"bot missing_scope", true, 200, `{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"users:read"}`, nil, perm("missing_scope")},
		{"bot internal_error", true, 200, `{"ok":false,"error":"internal_error"}`, nil, retry("internal_error")},
		{"bot fatal_error", true, 200, `{"ok":false,"error":"fatal_error"}`, nil, retry("fatal_error")},
		{"bot service_unavailable", true, 200, `{"ok":false,"error":"service_unavailable"}`, nil, retry("service_unavailable")},
		{"bot request_timeout", true, 200, `{"ok":false,"error":"request_timeout"}`, nil, retry("request_timeout")},
		{"bot unknown code", true, 200, `{"ok":false,"error":"something_new"}`, nil, perm("something_new")},
		{"bot not json", true, 200, `<html>portal</html>`, nil, retry("invalid_response")},
		{"bot 503 with code", true, 503, `{"ok":false,"error":"service_unavailable"}`, nil, retry("service_unavailable")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, tt.status, tt.body, tt.headers...)
			s := &slack.Settings{WebhookURL: channel.Secret(f.URL + hookPath)}
			if tt.bot {
				s = &slack.Settings{Token: botToken, APIURL: f.URL, Channel: "C1"}
			}
			_, err := newSender(t, s).Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.want.class || ce.Reason != tt.want.reason || ce.After != tt.want.after {
				t.Errorf("got %v/%q/%v, want %v/%q/%v (%v)", ce.Class, ce.Reason, ce.After, tt.want.class, tt.want.reason, tt.want.after, err)
			}
			if ce.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", ce.StatusCode, tt.status)
			}
			for _, secret := range []string{botToken, hookSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

func TestInvalidData(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, "ok")
	m := message()
	m.Data = json.RawMessage(`{"blocks":`)
	_, err := newSender(t, &slack.Settings{WebhookURL: channel.Secret(f.URL + hookPath)}).Send(t.Context(), m)
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
		t.Fatalf("Send with broken Data = %v, want permanent", err)
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    slack.Settings
		ok   bool
	}{
		{"webhook", slack.Settings{WebhookURL: "https://hooks.slack.com/services/T/B/hiddenX"}, true},
		{"bot", slack.Settings{Token: "xoxb-1-hidden", Channel: "C1"}, true},
		{"neither", slack.Settings{}, false},
		{"both", slack.Settings{WebhookURL: "https://hooks.slack.com/services/T/B/hiddenX", Token: "xoxb-1-hidden"}, false},
		{"bad webhook", slack.Settings{WebhookURL: "hooks.slack.com/services/hidden"}, false},
		{"bad token", slack.Settings{Token: "hidden-token"}, false},
		{"bad api url", slack.Settings{Token: "xoxb-1-hidden", APIURL: "ftp://x"}, false},
		{"bad icon url", slack.Settings{Token: "xoxb-1-hidden", IconURL: "icon.png"}, false},
		{"bad channel", slack.Settings{Token: "xoxb-1-hidden", Channel: "a b"}, false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: error leaks a secret: %v", tt.name, err)
		}
		if _, err := slack.New(&tt.s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := slack.New(&slack.Settings{Token: "xoxb-1"}, nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	const hook = "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"
	tests := []struct {
		in   string
		want slack.Settings
		err  string // part of the error; "" means success
	}{
		{"slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7", slack.Settings{WebhookURL: hook}, ""},
		{"slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7/#alerts", slack.Settings{WebhookURL: hook, Channel: "#alerts"}, ""},
		{"slack://herald@T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7/%23alerts", slack.Settings{WebhookURL: hook, Channel: "#alerts", Username: "herald"}, ""},
		{"slack://xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d/C0123", slack.Settings{Token: "xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d", Channel: "C0123"}, ""},
		{"slack://bot@xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d/#ops?icon_emoji=:fire:", slack.Settings{Token: "xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d", Channel: "#ops", Username: "bot", IconEmoji: ":fire:"}, ""},
		{"slack://xoxb-1234-abcd/?to=%2BC0123", slack.Settings{Token: "xoxb-1234-abcd", Channel: "C0123"}, ""},
		{"slack://hook:T1JJ3T3L2-A1BRTD4JD-TIiajkdnlazkcOXrIdevi7@webhook", slack.Settings{WebhookURL: hook}, ""},
		{"slack://xoxb:123456789012-1234567890123-4mt0t4l1YL3g1T5L4cK70k3N@C001CH4NN3L", slack.Settings{Token: "xoxb-123456789012-1234567890123-4mt0t4l1YL3g1T5L4cK70k3N", Channel: "C001CH4NN3L"}, ""},
		{"SLACK://xoxb-1-2/C1?username=herald", slack.Settings{Token: "xoxb-1-2", Channel: "C1", Username: "herald"}, ""},
		{"slack://T1JJ3T3L2/A1BRTD4JD", slack.Settings{}, "three token parts"},
		{"slack://T1JJ3T3L2/A1BRTD4JD/bad-token!", slack.Settings{}, "TokenC must contain only letters and digits"},
		{"slack://", slack.Settings{}, "no token"},
		{"discord://a/b", slack.Settings{}, "scheme"},
		{"hooks.slack.com/services/a", slack.Settings{}, "must look like"},
		{"slack://xoxb-1-2/C1/C2", slack.Settings{}, "2 channels"},
		{"slack://xoxb-1-2/C1?colour=red", slack.Settings{}, `unknown query parameter "colour"`},
		{"slack://hook:a-b@webhook", slack.Settings{}, "TokenA-TokenB-TokenC"},
		{"slack://user:pw@host/x", slack.Settings{}, "user:password"},
		{"slack://T1/B1/%zz", slack.Settings{}, "not validly escaped"},
		{"slack://xoxb-1-2/C1?icon_url=notaurl", slack.Settings{}, "icon_url"},
	}
	for _, tt := range tests {
		var got slack.Settings
		err := slack.FromURL(tt.in, &got)
		if tt.err == "" {
			if err != nil {
				t.Errorf("FromURL(%q) = %v", tt.in, err)
				continue
			}
			if got != tt.want {
				t.Errorf("FromURL(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("FromURL(%q) = %v, want an error about %q", tt.in, err, tt.err)
		}
	}
	if err := slack.FromURL("slack://xoxb-1/C1", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// FuzzFromURL checks that FromURL never panics, that what it accepts
// validates, and that no error repeats a token: the userinfo, the host
// or a path segment long enough to be one.
func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7/#alerts",
		"slack://bot@xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d/C1",
		"slack://hook:T1-B1-secretsecretsecretsecret@webhook",
		"slack://xoxb:secretsecretsecretsecret@C1?to=x",
		"slack://T1/B1/secretsecretsecret!/x",
		"slack://xoxbsecretsecretsecret%zz/C1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s slack.Settings
		err := slack.FromURL(in, &s)
		if err == nil {
			if verr := s.Validate(); verr != nil {
				t.Errorf("FromURL(%q) accepted settings that do not validate: %v", in, verr)
			}
			return
		}
		_, rest, ok := strings.Cut(in, "://")
		if !ok {
			return
		}
		rest, _, _ = strings.Cut(rest, "?")
		for _, part := range strings.FieldsFunc(rest, func(r rune) bool { return r == '/' || r == '@' || r == ':' }) {
			if len(part) > 16 && strings.Contains(err.Error(), part) {
				t.Errorf("FromURL(%q) error repeats a secret part: %v", in, err)
			}
		}
	})
}

func Example() {
	var s slack.Settings
	if err := slack.FromURL("slack://herald@xoxb-1234-5678-abcdef/C0123", &s); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Channel, s.Username, s.Token)
	// Output: C0123 herald <secret>
}
