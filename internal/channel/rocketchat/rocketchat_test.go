package rocketchat_test

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
	"github.com/herald-notify/herald/internal/channel/rocketchat"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// An integration id and token of Rocket.Chat's shape (Random.id(17) and
// Random.id(48)).
const (
	integrationID = "D2oXe5wZEAKFYKds6"
	token         = "eQJ2dyMq6yPvAbNdx6uLjuiLJvQNSkSoWfQfi8kNwPQ6bsoc"
	hookPath      = "/hooks/" + integrationID + "/" + token
	success       = `{"success":true}`
	invalidHook   = `{"success":false,"error":"Invalid integration id or token provided."}`
	noOverride    = `{"success":false,"error":"overriding destination channel is disabled for this integration"}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func settings(url string) *rocketchat.Settings {
	return &rocketchat.Settings{APIURL: url, IntegrationID: integrationID, Token: token}
}

func newSender(t testing.TB, s *rocketchat.Settings) *rocketchat.Sender {
	t.Helper()
	c, err := rocketchat.New(s, loopbackClient())
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
			w.WriteHeader(status)
			switch {
			case status < 300:
				io.WriteString(w, success)
			case status == 404, status == 401:
				io.WriteString(w, invalidHook)
			case status == 400:
				io.WriteString(w, noOverride)
			case status == 503:
				io.WriteString(w, `{"success":false,"error":"Service Unavailable"}`)
			default:
				io.WriteString(w, `{"success":false,"error":"unknown-error"}`)
			}
		},
		Secrets: []string{token},
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
		t.Fatalf("fake Rocket.Chat got %d requests, want 1", len(rs))
	}
	return rs[0]
}

func message() *channel.Message {
	return &channel.Message{
		ID:  "msg-1",
		Key: "db-1/disk",
		Content: channel.Content{
			Subject: "Disk almost full",
			Text:    "db-1: /var at 93% — [dashboard](https://grafana.example.com/d/1)",
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
	f := startFake(t, 200, success)
	s := settings(f.URL + "/rc/")
	s.Channel, s.Alias, s.Emoji = "#ops", "Herald", ":bell:"
	c := newSender(t, s)
	m := message()
	m.Data = json.RawMessage(`{"attachments":[{"title":"db-1","title_link":"https://grafana.example.com/d/1","text":"usage 93%","color":"#BB3E4E"}]}`)
	r, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != 200 || r.ProviderID != "" || !r.Delivered || string(r.Response) != success {
		t.Errorf("receipt = %+v", r)
	}
	req := f.only(t)
	if req.method != http.MethodPost || req.path != "/rc"+hookPath {
		t.Errorf("request = %s %s, want POST /rc%s", req.method, req.path, hookPath)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "webhook.golden.json", req.body)
	if got := c.Capabilities(); got.MaxLength != rocketchat.DefaultMaxLength || got.Update || !got.Split {
		t.Errorf("Capabilities = %+v", got)
	}
}

func TestToAndParts(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, success)
	s := settings(f.URL)
	s.Channel = "#ops"
	m := message()
	m.To = "@alice"
	m.Parts = []string{"one", "two"}
	m.Data = json.RawMessage(`{"attachments":[{"text":"x"}]}`)
	if _, err := newSender(t, s).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	want := []string{`{"channel":"@alice","text":"*Disk almost full*\none","attachments":[{"text":"x"}]}`, `{"channel":"@alice","text":"two"}`}
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
	for _, limit := range []int{0, 300} {
		f := startFake(t, 200, success)
		s := settings(f.URL)
		s.MaxLength = limit
		want := limit
		if want == 0 {
			want = rocketchat.DefaultMaxLength
		}
		m := message()
		m.Text = strings.Repeat("ß", 2*want)
		c := newSender(t, s)
		if _, err := c.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		var p struct{ Text string }
		if err := json.Unmarshal(f.only(t).body, &p); err != nil {
			t.Fatal(err)
		}
		if n := utf8.RuneCountInString(p.Text); n != want || !strings.HasSuffix(p.Text, channel.Ellipsis) {
			t.Errorf("max_length %d: text has %d runes, want %d ending with an ellipsis", limit, n, want)
		}
		if c.Capabilities().MaxLength != want {
			t.Errorf("Capabilities().MaxLength = %d, want %d", c.Capabilities().MaxLength, want)
		}
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
		{"invalid integration", 404, invalidHook, nil, channel.ClassPermanent, "http_404", 0},
		{"unauthenticated", 401, `{"success":false,"error":"You must be logged in to do this."}`, nil, channel.ClassPermanent, "http_401", 0},
		{"override refused", 400, noOverride, nil, channel.ClassPermanent, "http_400", 0},
		{"script refused with 200", 200, `{"success":false,"error":"error-running-script"}`, nil, channel.ClassPermanent, "refused", 0},
		{"integration disabled", 503, `{"success":false,"error":"Service Unavailable"}`, nil, channel.ClassRetryable, "http_503", 0},
		{"rate limited", 429, `{"success":false,"error":"Error, too many requests. Please slow down. [error-too-many-requests]"}`, []string{"Retry-After", "5"}, channel.ClassRetryAfter, "http_429", 5 * time.Second},
		{"server error", 500, `{"success":false,"error":"unknown-error"}`, nil, channel.ClassRetryable, "http_500", 0},
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
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	ok := rocketchat.Settings{APIURL: "https://chat.example.com", IntegrationID: "abc", Token: "hiddentoken"}
	tests := []struct {
		name   string
		change func(*rocketchat.Settings)
		ok     bool
	}{
		{"ok", func(*rocketchat.Settings) {}, true},
		{"no server", func(s *rocketchat.Settings) { s.APIURL = "" }, false},
		{"bad server", func(s *rocketchat.Settings) { s.APIURL = "chat.example.com" }, false},
		{"no id", func(s *rocketchat.Settings) { s.IntegrationID = "" }, false},
		{"bad id", func(s *rocketchat.Settings) { s.IntegrationID = "a/b" }, false},
		{"no token", func(s *rocketchat.Settings) { s.Token = "" }, false},
		{"bad token", func(s *rocketchat.Settings) { s.Token = "hidden-token" }, false},
		{"bad avatar", func(s *rocketchat.Settings) { s.Avatar = "x.png" }, false},
		{"bad channel", func(s *rocketchat.Settings) { s.Channel = "a b" }, false},
		{"negative max", func(s *rocketchat.Settings) { s.MaxLength = -1 }, false},
	}
	for _, tt := range tests {
		s := ok
		tt.change(&s)
		err := s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: error leaks the token: %v", tt.name, err)
		}
		if _, err := rocketchat.New(&s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := rocketchat.New(&ok, nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	hook := integrationID + "/" + token
	base := rocketchat.Settings{APIURL: "https://chat.example.com", IntegrationID: integrationID, Token: token}
	with := func(f func(*rocketchat.Settings)) rocketchat.Settings {
		s := base
		f(&s)
		return s
	}
	tests := []struct {
		in   string
		want rocketchat.Settings
		err  string
	}{
		{"rockets://" + hook + "@chat.example.com", base, ""},
		{"rockets://" + integrationID + "%2F" + token + "@chat.example.com/#ops", with(func(s *rocketchat.Settings) { s.Channel = "#ops" }), ""},
		{"rocket://Herald:" + hook + "@chat.example.com:3000/@alice", with(func(s *rocketchat.Settings) {
			s.APIURL, s.Alias, s.Channel = "http://chat.example.com:3000", "Herald", "@alice"
		}), ""},
		{"rockets://chat.example.com/GENERALroomid?webhook=" + hook + "&emoji=:bell:", with(func(s *rocketchat.Settings) { s.Channel, s.Emoji = "GENERALroomid", ":bell:" }), ""},
		{"https://chat.example.com/hooks/" + hook, base, ""},
		{"https://chat.example.com/rc/hooks/" + hook + "?mode=webhook", with(func(s *rocketchat.Settings) { s.APIURL = "https://chat.example.com/rc" }), ""},
		{"rockets://chat.example.com/#ops", rocketchat.Settings{}, "no webhook"},
		{"rockets://user:password@chat.example.com/#ops", rocketchat.Settings{}, "incoming webhook, not as a user"},
		{"rockets://" + hook + "@chat.example.com/#a/#b", rocketchat.Settings{}, "2 channels"},
		{"rockets://" + hook + "@chat.example.com?mode=basic", rocketchat.Settings{}, "only mode=webhook"},
		{"rockets://" + hook + "@chat.example.com?avatar=yes", rocketchat.Settings{}, "avatar"},
		{"rockets://" + hook + "@chat.example.com?color=red", rocketchat.Settings{}, `unknown query parameter "color"`},
		{"rockets://" + hook + "@", rocketchat.Settings{}, "no host"},
		{"rockets://" + hook + "@chat.example.com:http", rocketchat.Settings{}, "numeric port"},
		{"rockets://chat.example.com?webhook=" + token, rocketchat.Settings{}, "integration_id/token"},
		{"https://chat.example.com/api/" + hook, rocketchat.Settings{}, "ending in /hooks/integration_id/token"},
		{"https://chat.example.com/hooks/" + integrationID + "/tok-en", rocketchat.Settings{}, "only letters and digits"},
		{"mmost://chat.example.com/x", rocketchat.Settings{}, "scheme"},
		{"chat.example.com/hooks/a/b", rocketchat.Settings{}, "must look like"},
	}
	for _, tt := range tests {
		var got rocketchat.Settings
		err := rocketchat.FromURL(tt.in, &got)
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
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("FromURL(%q) error repeats the token: %v", tt.in, err)
		}
	}
	if err := rocketchat.FromURL("rockets://a/b@h", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// FuzzFromURL checks that FromURL never panics, that what it accepts
// validates, and that no error repeats the userinfo, the host or a path
// segment long enough to be a token.
func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"rockets://" + integrationID + "/" + token + "@chat.example.com/#ops",
		"rocket://bot:abc%2Fsecretsecretsecretsecret@h:1/@u",
		"https://chat.example.com/hooks/abc/secretsecretsecretsecret",
		"rockets://h/x?webhook=abc/secretsecretsecretsecret",
		"rockets://abc/secretsecretsecretsecret!@h",
		"rockets://x:secretsecretsecretsecret@h/k",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s rocketchat.Settings
		err := rocketchat.FromURL(in, &s)
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
