package discord_test

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/discord"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	hookID    = "223704706495545344"
	hookToken = "3d89bb7572e0fb30d8128367b3b1b44fecd1726de135cbe28a41f8b2f777c372ba2939e72279b94526ff5d1bd4358d65cf11"
	hookPath  = "/webhooks/" + hookID + "/" + hookToken
	// created is a message object as Execute Webhook with wait=true
	// answers it (trimmed).
	created = `{"id":"1230540342372434094","type":0,"content":"**Disk almost full**","channel_id":"1102286574154735687","author":{"bot":true,"id":"223704706495545344","username":"Herald","avatar":null,"discriminator":"0000"},"attachments":[],"embeds":[],"mentions":[],"mention_roles":[],"pinned":false,"mention_everyone":false,"tts":false,"timestamp":"2024-04-18T13:30:12.345000+00:00","edited_timestamp":null,"flags":0,"components":[],"webhook_id":"223704706495545344"}`
	edited  = `{"id":"1230540342372434094","type":0,"content":"**Resolved**","channel_id":"1102286574154735687","edited_timestamp":"2024-04-18T13:40:00.000000+00:00","webhook_id":"223704706495545344"}`
	// The documented error bodies.
	unknownWebhook = `{"message": "Unknown Webhook", "code": 10015}`
	invalidToken   = `{"message": "Invalid Webhook Token", "code": 50027}`
	invalidForm    = `{"code": 50035, "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}, "message": "Invalid Form Body"}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func settings(url string) *discord.Settings {
	return &discord.Settings{WebhookID: hookID, WebhookToken: hookToken, APIURL: url}
}

func newSender(t testing.TB, s *discord.Settings) *discord.Sender {
	t.Helper()
	c, err := discord.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender { return newSender(t, settings(url)) },
		Respond: func(w http.ResponseWriter, r *http.Request, status int) {
			w.Header().Set("Content-Type", "application/json")
			// Discord's 429 body repeats the delay of its Retry-After
			// header (which it rounds up) as fractional seconds.
			body := ""
			switch {
			case status < 300:
				body = created
			case status == 429:
				if n, err := strconv.Atoi(w.Header().Get("Retry-After")); err == nil {
					body = fmt.Sprintf(`{"message": "You are being rate limited.", "retry_after": %d.0, "global": false}`, n)
				} else {
					body = `{"message": "You are being rate limited.", "global": false}`
				}
			case status == 404:
				body = unknownWebhook
			case status == 401:
				body = invalidToken
			case status == 400:
				body = invalidForm
			default:
				body = `{"message": "500: Internal Server Error", "code": 0}`
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		},
		Secrets: []string{hookToken},
	})
}

type request struct {
	method, path, query string
	header              http.Header
	body                []byte
}

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
		f.reqs = append(f.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), b})
		f.mu.Unlock()
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
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
		t.Fatalf("fake Discord got %d requests, want 1", len(rs))
	}
	return rs[0]
}

func message() *channel.Message {
	return &channel.Message{
		ID:  "msg-1",
		Key: "db-1/disk",
		Content: channel.Content{
			Subject: "Disk almost full",
			Text:    "db-1: /var at 93% — <@&1102286574154735000> please look",
		},
	}
}

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

func TestRequest(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, created)
	s := settings(f.URL + "/api")
	s.Username, s.AvatarURL = "Herald", "https://example.com/herald.png"
	c := newSender(t, s)
	m := message()
	m.Data = json.RawMessage(`{"embeds":[{"title":"db-1","color":15548997,"fields":[{"name":"usage","value":"93%","inline":true}]}],"allowed_mentions":{"parse":["roles"]},"other":true}`)
	r, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "1230540342372434094" || r.StatusCode != 200 || !r.Delivered {
		t.Errorf("receipt = %+v, want the message id 1230540342372434094", r)
	}
	req := f.only(t)
	if req.method != http.MethodPost || req.path != "/api"+hookPath || req.query != "wait=true" {
		t.Errorf("request = %s %s?%s, want POST /api%s?wait=true", req.method, req.path, req.query, hookPath)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "execute.golden.json", req.body)
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, edited)
	s := settings(f.URL)
	s.Username = "Herald" // not part of an edit
	m := message()
	m.Subject, m.Text = "Resolved", "db-1: /var at 60%"
	m.To = "1102286574154735999"
	m.PreviousIDs = []string{"1230540342372434094", "1230540342372430000"}
	r, err := newSender(t, s).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "1230540342372434094" {
		t.Errorf("ProviderID = %q", r.ProviderID)
	}
	req := f.only(t)
	if req.method != http.MethodPatch || req.path != hookPath+"/messages/1230540342372434094" || req.query != "thread_id=1102286574154735999" {
		t.Errorf("request = %s %s?%s, want PATCH …/messages/1230540342372434094?thread_id=…", req.method, req.path, req.query)
	}
	if want := `{"content":"**Resolved**\ndb-1: /var at 60%"}`; string(req.body) != want {
		t.Errorf("body = %s, want %s", req.body, want)
	}
}

func TestParts(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, created)
	m := message()
	m.Parts = []string{"one", "two"}
	m.Data = json.RawMessage(`{"embeds":[{"title":"x"}]}`)
	r, err := newSender(t, settings(f.URL)).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "1230540342372434094" {
		t.Errorf("ProviderID = %q", r.ProviderID)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want one per part", len(reqs))
	}
	want := []string{`{"content":"**Disk almost full**\none","embeds":[{"title":"x"}]}`, `{"content":"two"}`}
	for i := range want {
		if string(reqs[i].body) != want[i] {
			t.Errorf("part %d body = %s, want %s", i, reqs[i].body, want[i])
		}
	}
}

func TestLongTextTruncated(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, created)
	m := message()
	m.Text = strings.Repeat("ü", 3*discord.MaxLength)
	if _, err := newSender(t, settings(f.URL)).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var p struct{ Content string }
	if err := json.Unmarshal(f.only(t).body, &p); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(p.Content); n != discord.MaxLength || !strings.HasSuffix(p.Content, channel.Ellipsis) {
		t.Errorf("content has %d runes, want %d ending with an ellipsis", n, discord.MaxLength)
	}
}

func TestToNotSnowflakeIgnored(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, created)
	m := message()
	m.To = "recipient-1"
	s := settings(f.URL)
	s.ThreadID = "42"
	if _, err := newSender(t, s).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if q := f.only(t).query; q != "thread_id=42&wait=true" {
		t.Errorf("query = %q, want the settings' thread", q)
	}
}

func TestClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		headers []string
		class   channel.Class
		reason  string
		after   time.Duration
	}{
		{"rate limited", 429, `{"message": "You are being rate limited.", "retry_after": 0.5, "global": false}`, []string{"Retry-After", "1"}, channel.ClassRetryAfter, "http_429", 500 * time.Millisecond},
		{"global rate limit", 429, `{"message": "You are being rate limited.", "retry_after": 64.57, "global": true}`, []string{"Retry-After", "65", "X-RateLimit-Global", "true"}, channel.ClassRetryAfter, "http_429", 64570 * time.Millisecond},
		{"shared resource limit", 429, `{"message": "Service resource is being rate limited.", "retry_after": 2, "global": false, "code": 40062}`, nil, channel.ClassRetryAfter, "rate_limited", 2 * time.Second},
		{"cloudflare 429 header only", 429, `error code: 1015`, []string{"Retry-After", "600"}, channel.ClassRetryAfter, "http_429", 10 * time.Minute},
		{"unknown webhook", 404, unknownWebhook, nil, channel.ClassPermanent, "unknown_webhook", 0},
		{"invalid token", 401, invalidToken, nil, channel.ClassPermanent, "invalid_webhook_token", 0},
		{"invalid form body", 400, invalidForm, nil, channel.ClassPermanent, "invalid_form_body", 0},
		{"empty message", 400, `{"message": "Cannot send an empty message", "code": 50006}`, nil, channel.ClassPermanent, "empty_message", 0},
		{"server error", 500, `{"message": "500: Internal Server Error", "code": 0}`, nil, channel.ClassRetryable, "http_500", 0},
		{"bad gateway html", 502, `<html>502</html>`, nil, channel.ClassRetryable, "http_502", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, tt.status, tt.body, tt.headers...)
			_, err := newSender(t, settings(f.URL)).Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason || ce.After != tt.after || ce.StatusCode != tt.status {
				t.Errorf("got %v/%q/%v/%d, want %v/%q/%v/%d", ce.Class, ce.Reason, ce.After, ce.StatusCode, tt.class, tt.reason, tt.after, tt.status)
			}
			if strings.Contains(fmt.Sprintf("%+v %s", err, ce.Response), hookToken) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    discord.Settings
		ok   bool
	}{
		{"ok", discord.Settings{WebhookID: "1", WebhookToken: "hidden_tok-en"}, true},
		{"no id", discord.Settings{WebhookToken: "hidden"}, false},
		{"id not numeric", discord.Settings{WebhookID: "abc", WebhookToken: "hidden"}, false},
		{"no token", discord.Settings{WebhookID: "1"}, false},
		{"token with slash", discord.Settings{WebhookID: "1", WebhookToken: "hidden/x"}, false},
		{"bad thread", discord.Settings{WebhookID: "1", WebhookToken: "hidden", ThreadID: "t"}, false},
		{"bad avatar", discord.Settings{WebhookID: "1", WebhookToken: "hidden", AvatarURL: "x.png"}, false},
		{"bad api url", discord.Settings{WebhookID: "1", WebhookToken: "hidden", APIURL: "discord.com"}, false},
		{"long username", discord.Settings{WebhookID: "1", WebhookToken: "hidden", Username: strings.Repeat("u", 81)}, false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: error leaks the token: %v", tt.name, err)
		}
		if _, err := discord.New(&tt.s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := discord.New(settings(""), nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	tok := "abc_DEF-123"
	tests := []struct {
		in   string
		want discord.Settings
		err  string
	}{
		{"discord://" + hookID + "/" + tok, discord.Settings{WebhookID: hookID, WebhookToken: channel.Secret(tok)}, ""},
		{"discord://Herald@" + hookID + "/" + tok + "/?thread=42&avatar_url=https://example.com/a.png", discord.Settings{WebhookID: hookID, WebhookToken: channel.Secret(tok), Username: "Herald", ThreadID: "42", AvatarURL: "https://example.com/a.png"}, ""},
		{"https://discord.com/api/webhooks/" + hookID + "/" + tok, discord.Settings{WebhookID: hookID, WebhookToken: channel.Secret(tok)}, ""},
		{"https://discordapp.com/api/v10/webhooks/" + hookID + "/" + tok + "?wait=true", discord.Settings{WebhookID: hookID, WebhookToken: channel.Secret(tok)}, ""},
		{"discord://" + hookID, discord.Settings{}, "got 0 path segments"},
		{"discord://" + hookID + "/" + tok + "/extra", discord.Settings{}, "got 2 path segments"},
		{"discord://abc/" + tok, discord.Settings{}, "webhook id must be numeric"},
		{"discord://" + hookID + "/tok$en", discord.Settings{}, "webhook token must contain"},
		{"discord:///" + tok, discord.Settings{}, "no webhook id"},
		{"discord://a:pw@1/" + tok, discord.Settings{}, "takes no password"},
		{"https://example.com/api/webhooks/1/" + tok, discord.Settings{}, "discord.com webhook URL"},
		{"https://discord.com/api/channels/1/" + tok, discord.Settings{}, "https://discord.com/api/webhooks/"},
		{"slack://1/" + tok, discord.Settings{}, "scheme"},
		{"discord.com/api/webhooks/1/x", discord.Settings{}, "must look like"},
		{"discord://1/" + tok + "?tts=yes", discord.Settings{}, `unknown query parameter "tts"`},
		{"discord://1/" + tok + "?thread=abc", discord.Settings{}, "thread_id must be a numeric id"},
		{"discord://1/%zz", discord.Settings{}, "not validly escaped"},
	}
	for _, tt := range tests {
		var got discord.Settings
		err := discord.FromURL(tt.in, &got)
		if tt.err == "" {
			if err != nil {
				t.Errorf("FromURL(%q) = %v", tt.in, err)
			} else if got != tt.want {
				t.Errorf("FromURL(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("FromURL(%q) = %v, want an error about %q", tt.in, err, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), tok) {
			t.Errorf("FromURL(%q) error repeats the token: %v", tt.in, err)
		}
	}
	if err := discord.FromURL("discord://1/x", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// FuzzFromURL checks that FromURL never panics, that what it accepts
// validates, and that no error repeats the userinfo, the host or a path
// segment long enough to be a token.
func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"discord://" + hookID + "/" + hookToken,
		"discord://bot@1/secretsecretsecretsecret?thread=1",
		"https://discord.com/api/webhooks/1/secretsecretsecretsecret",
		"discord://1/secretsecretsecretsecret$",
		"discord://1/secretsecretsecretsecret/x",
		"discord://x:secretsecretsecretsecret@1/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s discord.Settings
		err := discord.FromURL(in, &s)
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
