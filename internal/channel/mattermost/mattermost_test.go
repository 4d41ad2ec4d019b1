package mattermost_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
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
	"github.com/herald-notify/herald/internal/channel/mattermost"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// hookKey is a webhook key of Mattermost's shape (26 lower-case
// alphanumerics).
const hookKey = "u2x8rkfugj8zbqby9pw3huqnyc"

// appError builds Mattermost's AppError answer.
func appError(id, msg string, status int) string {
	b, _ := json.Marshal(map[string]any{"id": id, "message": msg, "detailed_error": "", "request_id": "hoan6o9ws7rp5xj7wu9rmysrte", "status_code": status})
	return string(b)
}

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t testing.TB, s *mattermost.Settings) *mattermost.Sender {
	t.Helper()
	c, err := mattermost.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &mattermost.Settings{APIURL: url, Token: hookKey})
		},
		Respond: func(w http.ResponseWriter, r *http.Request, status int) {
			if status < 300 {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(status)
				io.WriteString(w, "ok")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			switch status {
			case 400, 401:
				io.WriteString(w, appError("web.incoming_webhook.invalid.app_error", "Invalid webhook.", status))
			case 404:
				io.WriteString(w, appError("web.incoming_webhook.channel.app_error", "Couldn't find the channel.", status))
			default:
				io.WriteString(w, appError("app.channel.get.find.app_error", "Unable to find the existing channel.", status))
			}
		},
		Secrets: []string{hookKey},
	})
}

type request struct {
	method, path string
	header       http.Header
	body         []byte
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
		t.Fatalf("fake Mattermost got %d requests, want 1", len(rs))
	}
	return rs[0]
}

func message() *channel.Message {
	return &channel.Message{
		ID:  "msg-1",
		Key: "db-1/disk",
		Content: channel.Content{
			Subject: "Disk almost full",
			Text:    "db-1: /var at 93% — see <https://grafana.example.com/d/1>",
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
	f := startFake(t, 200, "ok", "Content-Type", "text/plain")
	c := newSender(t, &mattermost.Settings{APIURL: f.URL + "/chat/", Token: hookKey, Channel: "town-square", Username: "herald", IconEmoji: ":bell:"})
	m := message()
	m.Data = json.RawMessage(`{"attachments":[{"fallback":"disk","color":"#FF8000","title":"db-1","fields":[{"short":true,"title":"usage","value":"93%"}]}],"props":{"card":"details"},"other":1}`)
	r, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != 200 || r.ProviderID != "" || !r.Delivered || string(r.Response) != "ok" {
		t.Errorf("receipt = %+v", r)
	}
	req := f.only(t)
	if req.method != http.MethodPost || req.path != "/chat/hooks/"+hookKey {
		t.Errorf("request = %s %s, want POST /chat/hooks/%s", req.method, req.path, hookKey)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "webhook.golden.json", req.body)
	if c.Capabilities().Update {
		t.Error("Update claimed, but the webhook returns no post id")
	}
}

func TestToAndParts(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, "ok")
	m := message()
	m.To = "@alice"
	m.Parts = []string{"one", "two"}
	m.Data = json.RawMessage(`{"props":{"a":1}}`)
	if _, err := newSender(t, &mattermost.Settings{APIURL: f.URL, Token: hookKey, Channel: "town-square"}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	want := []string{`{"channel":"@alice","text":"**Disk almost full**\none","props":{"a":1}}`, `{"channel":"@alice","text":"two"}`}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests, want one per part", len(reqs))
	}
	for i := range want {
		if string(reqs[i].body) != want[i] {
			t.Errorf("part %d = %s, want %s", i, reqs[i].body, want[i])
		}
	}
}

func TestLongTextTruncated(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, "ok")
	m := message()
	m.Subject = ""
	m.Text = strings.Repeat("ж", mattermost.MaxLength+10)
	if _, err := newSender(t, &mattermost.Settings{APIURL: f.URL, Token: hookKey}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var p struct{ Text string }
	if err := json.Unmarshal(f.only(t).body, &p); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(p.Text); n != mattermost.MaxLength || !strings.HasSuffix(p.Text, channel.Ellipsis) {
		t.Errorf("text has %d runes, want %d ending with an ellipsis", n, mattermost.MaxLength)
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
		{"invalid webhook", 400, appError("web.incoming_webhook.invalid.app_error", "Invalid webhook.", 400), nil, channel.ClassPermanent, "invalid_webhook", 0},
		{"no text", 400, appError("web.incoming_webhook.text.app_error", "No text specified.", 400), nil, channel.ClassPermanent, "no_text", 0},
		{"channel not found", 404, appError("web.incoming_webhook.channel.app_error", "Couldn't find the channel.", 404), nil, channel.ClassPermanent, "channel_not_found", 0},
		{"channel lookup failed", 500, appError("web.incoming_webhook.channel.app_error", "Couldn't find the channel.", 500), nil, channel.ClassRetryable, "channel_not_found", 0},
		{"channel locked", 403, appError("web.incoming_webhook.channel_locked.app_error", "This webhook is not permitted to post to the requested channel.", 403), nil, channel.ClassPermanent, "channel_locked", 0},
		{"webhooks disabled", 501, appError("web.incoming_webhook.disabled.app_error", "Incoming webhooks have been disabled by the system admin.", 501), nil, channel.ClassPermanent, "webhooks_disabled", 0},
		{"rate limited", 429, "limit exceeded\n", []string{"Retry-After", "2", "X-Ratelimit-Limit", "10"}, channel.ClassRetryAfter, "http_429", 2 * time.Second},
		{"unknown app error", 500, appError("app.post.save.app_error", "Unable to save the post.", 500), nil, channel.ClassRetryable, "http_500", 0},
		{"proxy html", 502, "<html>bad gateway</html>", nil, channel.ClassRetryable, "http_502", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, tt.status, tt.body, tt.headers...)
			_, err := newSender(t, &mattermost.Settings{APIURL: f.URL, Token: hookKey}).Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason || ce.After != tt.after || ce.StatusCode != tt.status {
				t.Errorf("got %v/%q/%v/%d, want %v/%q/%v/%d", ce.Class, ce.Reason, ce.After, ce.StatusCode, tt.class, tt.reason, tt.after, tt.status)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    mattermost.Settings
		ok   bool
	}{
		{"ok", mattermost.Settings{APIURL: "https://chat.example.com", Token: "hiddenkey"}, true},
		{"no server", mattermost.Settings{Token: "hiddenkey"}, false},
		{"bad server", mattermost.Settings{APIURL: "chat.example.com", Token: "hiddenkey"}, false},
		{"no token", mattermost.Settings{APIURL: "https://chat.example.com"}, false},
		{"bad token", mattermost.Settings{APIURL: "https://chat.example.com", Token: "hidden/key"}, false},
		{"bad icon", mattermost.Settings{APIURL: "https://chat.example.com", Token: "hiddenkey", IconURL: "x.png"}, false},
		{"bad channel", mattermost.Settings{APIURL: "https://chat.example.com", Token: "hiddenkey", Channel: "a b"}, false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: error leaks the token: %v", tt.name, err)
		}
		if _, err := mattermost.New(&tt.s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := mattermost.New(&mattermost.Settings{APIURL: "https://x", Token: "k"}, nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want mattermost.Settings
		err  string
	}{
		{"mmost://chat.example.com/" + hookKey, mattermost.Settings{APIURL: "http://chat.example.com", Token: hookKey}, ""},
		{"mmosts://herald@chat.example.com:8443/mm/" + hookKey + "?channel=ops", mattermost.Settings{APIURL: "https://chat.example.com:8443/mm", Token: hookKey, Username: "herald", Channel: "ops"}, ""},
		{"mmosts://[2001:db8::1]:8065/" + hookKey + "?to=@alice&icon_emoji=:bell:", mattermost.Settings{APIURL: "https://[2001:db8::1]:8065", Token: hookKey, Channel: "@alice", IconEmoji: ":bell:"}, ""},
		{"https://chat.example.com/hooks/" + hookKey, mattermost.Settings{APIURL: "https://chat.example.com", Token: hookKey}, ""},
		{"http://chat.example.com:8065/sub/hooks/" + hookKey, mattermost.Settings{APIURL: "http://chat.example.com:8065/sub", Token: hookKey}, ""},
		{"mmost://chat.example.com", mattermost.Settings{}, "no webhook token"},
		{"mmost:///" + hookKey, mattermost.Settings{}, "no host"},
		{"mmost://chat.example.com:port/" + hookKey, mattermost.Settings{}, "numeric port"},
		{"mmost://chat.example.com/bad$token", mattermost.Settings{}, "webhook token must contain"},
		{"mmost://a:pw@chat.example.com/" + hookKey, mattermost.Settings{}, "takes no password"},
		{"https://chat.example.com/" + hookKey, mattermost.Settings{}, "ending in /hooks/token"},
		{"https://u@chat.example.com/hooks/" + hookKey, mattermost.Settings{}, "no user part"},
		{"mmost://chat.example.com/" + hookKey + "?channel=a,b", mattermost.Settings{}, "several channels"},
		{"mmost://chat.example.com/" + hookKey + "?image=no", mattermost.Settings{}, `unknown query parameter "image"`},
		{"slack://chat.example.com/" + hookKey, mattermost.Settings{}, "scheme"},
		{"chat.example.com/hooks/x", mattermost.Settings{}, "must look like"},
	}
	for _, tt := range tests {
		var got mattermost.Settings
		err := mattermost.FromURL(tt.in, &got)
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
		if err != nil && strings.Contains(err.Error(), hookKey) {
			t.Errorf("FromURL(%q) error repeats the token: %v", tt.in, err)
		}
	}
	if err := mattermost.FromURL("mmost://h/k", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// FuzzFromURL checks that FromURL never panics, that what it accepts
// validates, and that no error repeats the userinfo, the host or a path
// segment long enough to be a token.
func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"mmost://chat.example.com/" + hookKey,
		"mmosts://bot@chat.example.com:8443/path/secretsecretsecretsecret?channel=x",
		"https://chat.example.com/hooks/secretsecretsecretsecret",
		"mmost://chat.example.com:99999999999999999/secretsecretsecretsecret",
		"mmost://host/secretsecretsecretsecret$",
		"mmost://x:secretsecretsecretsecret@h/k",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s mattermost.Settings
		err := mattermost.FromURL(in, &s)
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
