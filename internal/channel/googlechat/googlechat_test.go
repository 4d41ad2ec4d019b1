package googlechat_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/googlechat"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Values of the shape Google's webhook URLs carry.
const (
	space = "AAAAZSsxjh0"
	key   = "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"
	token = "qJ6e3G9NOSP7hDuxXzRgTMZPp4mVxAEQwNc-XOZCe1I="
	// created is the Message resource a webhook answers with (trimmed).
	created = `{"name":"spaces/AAAAZSsxjh0/messages/Jt2ol4eNOKI.Jt2ol4eNOKI","sender":{"name":"users/114022495153014004089","displayName":"Herald","type":"BOT"},"text":"*Disk almost full*","thread":{"name":"spaces/AAAAZSsxjh0/threads/Jt2ol4eNOKI","threadKey":"db-1/disk"},"space":{"name":"spaces/AAAAZSsxjh0","type":"ROOM"},"createTime":"2024-04-18T13:30:12.345631Z"}`
)

// googleErr builds Google's JSON error body.
func googleErr(code int, status, msg string) string {
	return `{"error":{"code":` + strconvI(code) + `,"message":"` + msg + `","status":"` + status + `"}}`
}

func strconvI(i int) string { b, _ := json.Marshal(i); return string(b) }

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func settings(url string) *googlechat.Settings {
	return &googlechat.Settings{Space: space, Key: key, Token: token, APIURL: url}
}

func newSender(t testing.TB, s *googlechat.Settings) *googlechat.Sender {
	t.Helper()
	c, err := googlechat.New(s, loopbackClient())
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
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.WriteHeader(status)
			switch {
			case status < 300:
				io.WriteString(w, created)
			case status == 400:
				io.WriteString(w, googleErr(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
			case status == 401:
				io.WriteString(w, googleErr(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."))
			case status == 404:
				io.WriteString(w, googleErr(404, "NOT_FOUND", "Requested entity was not found."))
			case status == 429:
				io.WriteString(w, googleErr(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."))
			case status == 503:
				io.WriteString(w, googleErr(503, "UNAVAILABLE", "The service is currently unavailable."))
			default:
				io.WriteString(w, googleErr(status, "INTERNAL", "Internal error encountered."))
			}
		},
		Secrets: []string{key, token},
	})
}

type request struct {
	method, path string
	query        url.Values
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
		f.reqs = append(f.reqs, request{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), b})
		f.mu.Unlock()
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
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
		t.Fatalf("fake Google Chat got %d requests, want 1", len(rs))
	}
	return rs[0]
}

func message() *channel.Message {
	return &channel.Message{
		ID:  "msg-1",
		Key: "db-1/disk",
		Content: channel.Content{
			Subject: "Disk almost full",
			Text:    "db-1: /var at 93% — <https://grafana.example.com/d/1|dashboard>",
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
	c := newSender(t, settings(f.URL))
	m := message()
	m.Data = json.RawMessage(`{"cardsV2":[{"cardId":"disk","card":{"header":{"title":"db-1"},"sections":[{"widgets":[{"decoratedText":{"topLabel":"usage","text":"93%"}}]}]}}],"other":1}`)
	r, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "spaces/AAAAZSsxjh0/messages/Jt2ol4eNOKI.Jt2ol4eNOKI" || r.StatusCode != 200 || !r.Delivered {
		t.Errorf("receipt = %+v, want the message name as ProviderID", r)
	}
	req := f.only(t)
	if req.method != http.MethodPost || req.path != "/v1/spaces/"+space+"/messages" {
		t.Errorf("request = %s %s, want POST /v1/spaces/%s/messages", req.method, req.path, space)
	}
	wantQuery := url.Values{"key": {key}, "token": {token}, "messageReplyOption": {"REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"}}
	if req.query.Encode() != wantQuery.Encode() {
		t.Errorf("query = %v, want %v", req.query, wantQuery)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "message.golden.json", req.body)
	if c.Capabilities().Update {
		t.Error("Update claimed, but a webhook cannot edit messages")
	}
}

func TestThreading(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 4001)
	tests := []struct {
		name      string
		s         func(*googlechat.Settings)
		key       string
		want      string // expected threadKey; "" = no thread
		wantReply bool
	}{
		{"correlation key", func(*googlechat.Settings) {}, "shop/order-1001", "shop/order-1001", true},
		{"fixed thread", func(s *googlechat.Settings) { s.ThreadKey = "ops" }, "shop/order-1001", "ops", true},
		{"no threads", func(s *googlechat.Settings) { s.NoThreads = true }, "shop/order-1001", "", false},
		{"no key", func(*googlechat.Settings) {}, "", "", false},
		{"long key hashed", func(*googlechat.Settings) {}, long, sha256Hex(long), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, 200, created)
			s := settings(f.URL)
			tt.s(s)
			m := message()
			m.Key = tt.key
			if _, err := newSender(t, s).Send(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			req := f.only(t)
			var p struct {
				Thread *struct {
					ThreadKey string `json:"threadKey"`
				} `json:"thread"`
			}
			if err := json.Unmarshal(req.body, &p); err != nil {
				t.Fatal(err)
			}
			got := ""
			if p.Thread != nil {
				got = p.Thread.ThreadKey
			}
			if got != tt.want {
				t.Errorf("threadKey = %q, want %q", got, tt.want)
			}
			if (req.query.Get("messageReplyOption") == "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD") != tt.wantReply {
				t.Errorf("messageReplyOption = %q, want set=%v", req.query.Get("messageReplyOption"), tt.wantReply)
			}
		})
	}
}

func TestParts(t *testing.T) {
	t.Parallel()
	f := startFake(t, 200, created)
	m := message()
	m.Parts = []string{"one", "two"}
	if _, err := newSender(t, settings(f.URL)).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	want := []string{`{"text":"*Disk almost full*\none","thread":{"threadKey":"db-1/disk"}}`, `{"text":"two","thread":{"threadKey":"db-1/disk"}}`}
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
	f := startFake(t, 200, created)
	m := message()
	m.Text = strings.Repeat("😀", 2*googlechat.MaxLength)
	if _, err := newSender(t, settings(f.URL)).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	body := f.only(t).body
	var p struct{ Text string }
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(p.Text); n != googlechat.MaxLength || !strings.HasSuffix(p.Text, channel.Ellipsis) {
		t.Errorf("text has %d runes, want %d ending with an ellipsis", n, googlechat.MaxLength)
	}
	if len(body) > 32000 {
		t.Errorf("body has %d bytes, over Google's 32,000-byte message limit", len(body))
	}
}

func TestClassification(t *testing.T) {
	t.Parallel()
	retryInfo := `{"error":{"code":429,"message":"Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per space'.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}`
	tests := []struct {
		name    string
		status  int
		body    string
		headers []string
		class   channel.Class
		reason  string
		after   time.Duration
	}{
		{"quota", 429, googleErr(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."), nil, channel.ClassRetryable, "resource_exhausted", 0},
		{"quota with RetryInfo", 429, retryInfo, nil, channel.ClassRetryAfter, "resource_exhausted", 1500 * time.Millisecond},
		{"quota with Retry-After", 429, retryInfo, []string{"Retry-After", "20"}, channel.ClassRetryAfter, "resource_exhausted", 20 * time.Second},
		{"invalid argument", 400, googleErr(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name txt: Cannot find field."), nil, channel.ClassPermanent, "invalid_argument", 0},
		{"bad key", 400, googleErr(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."), nil, channel.ClassPermanent, "invalid_argument", 0},
		{"bad token", 401, googleErr(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."), nil, channel.ClassPermanent, "unauthenticated", 0},
		{"removed from space", 403, googleErr(403, "PERMISSION_DENIED", "The caller does not have permission"), nil, channel.ClassPermanent, "permission_denied", 0},
		{"space gone", 404, googleErr(404, "NOT_FOUND", "Requested entity was not found."), nil, channel.ClassPermanent, "not_found", 0},
		{"internal", 500, googleErr(500, "INTERNAL", "Internal error encountered."), nil, channel.ClassRetryable, "internal", 0},
		{"unavailable", 503, googleErr(503, "UNAVAILABLE", "The service is currently unavailable."), nil, channel.ClassRetryable, "unavailable", 0},
		{"html", 502, "<html>502</html>", nil, channel.ClassRetryable, "http_502", 0},
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
			for _, secret := range []string{key, token, url.QueryEscape(token)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	ok := googlechat.Settings{Space: "AAAA", Key: "hiddenkey", Token: "hidden="}
	tests := []struct {
		name   string
		change func(*googlechat.Settings)
		ok     bool
	}{
		{"ok", func(*googlechat.Settings) {}, true},
		{"no space", func(s *googlechat.Settings) { s.Space = "" }, false},
		{"bad space", func(s *googlechat.Settings) { s.Space = "a/b" }, false},
		{"no key", func(s *googlechat.Settings) { s.Key = "" }, false},
		{"no token", func(s *googlechat.Settings) { s.Token = "" }, false},
		{"token with &", func(s *googlechat.Settings) { s.Token = "hidden&x=1" }, false},
		{"long thread key", func(s *googlechat.Settings) { s.ThreadKey = strings.Repeat("t", 4001) }, false},
		{"bad api url", func(s *googlechat.Settings) { s.APIURL = "chat.googleapis.com" }, false},
	}
	for _, tt := range tests {
		s := ok
		tt.change(&s)
		err := s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: error leaks a secret: %v", tt.name, err)
		}
		if _, err := googlechat.New(&s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := googlechat.New(&ok, nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	want := googlechat.Settings{Space: space, Key: key, Token: token}
	escToken := url.QueryEscape(token)
	tests := []struct {
		in   string
		want googlechat.Settings
		err  string
	}{
		{"gchat://" + space + "/" + key + "/" + escToken, want, ""},
		{"gchat://" + space + "/" + key + "/" + escToken + "?thread_key=ops", googlechat.Settings{Space: space, Key: key, Token: token, ThreadKey: "ops"}, ""},
		{"https://chat.googleapis.com/v1/spaces/" + space + "/messages?key=" + key + "&token=" + escToken, want, ""},
		{"https://chat.googleapis.com/v1/spaces/" + space + "/messages?key=" + key + "&token=" + escToken + "&messageReplyOption=REPLY_MESSAGE_OR_FAIL", want, ""},
		{"gchat://" + space + "/" + key, googlechat.Settings{}, "got 1 path segments"},
		{"gchat:///" + key + "/" + escToken, googlechat.Settings{}, "no space"},
		{"gchat://bad.space/" + key + "/" + escToken, googlechat.Settings{}, "space must contain"},
		{"gchat://u@" + space + "/" + key + "/" + escToken, googlechat.Settings{}, "no user part"},
		{"https://example.com/v1/spaces/" + space + "/messages?key=" + key + "&token=t", googlechat.Settings{}, "chat.googleapis.com webhook URL"},
		{"https://chat.googleapis.com/v1/spaces/" + space + "?key=" + key + "&token=t", googlechat.Settings{}, "/v1/spaces/space/messages"},
		{"https://chat.googleapis.com/v1/spaces/" + space + "/messages?key=" + key, googlechat.Settings{}, "both its key and token"},
		{"gchat://" + space + "/" + key + "/" + escToken + "?color=red", googlechat.Settings{}, `unknown query parameter "color"`},
		{"slack://" + space + "/a/b", googlechat.Settings{}, "scheme"},
		{"chat.googleapis.com/v1/spaces/x", googlechat.Settings{}, "must look like"},
		{"gchat://" + space + "/%zz/" + escToken, googlechat.Settings{}, "not validly escaped"},
	}
	for _, tt := range tests {
		var got googlechat.Settings
		err := googlechat.FromURL(tt.in, &got)
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
		if err != nil && (strings.Contains(err.Error(), key) || strings.Contains(err.Error(), token)) {
			t.Errorf("FromURL(%q) error repeats a secret: %v", tt.in, err)
		}
	}
	if err := googlechat.FromURL("gchat://a/b/c", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// FuzzFromURL checks that FromURL never panics, that what it accepts
// validates, and that no error repeats the userinfo, a path segment or a
// key/token query value long enough to be a secret.
func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"gchat://" + space + "/" + key + "/" + url.QueryEscape(token),
		"https://chat.googleapis.com/v1/spaces/S/messages?key=secretsecretsecretsecret&token=secretsecretsecret2",
		"gchat://S/secretsecretsecretsecret",
		"gchat://S/k/secretsecretsecretsecret?thread_key=x",
		"gchat://x:secretsecretsecretsecret@S/k/t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s googlechat.Settings
		err := googlechat.FromURL(in, &s)
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
		rest, rawQuery, _ := strings.Cut(rest, "?")
		// The host is no secret here (the space id, or Google's API
		// host, which errors name), so only the userinfo and the path
		// are checked.
		authority, path, _ := strings.Cut(rest, "/")
		parts := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
		if i := strings.LastIndexByte(authority, '@'); i >= 0 {
			parts = append(parts, strings.FieldsFunc(authority[:i], func(r rune) bool { return r == ':' })...)
		}
		if q, err := url.ParseQuery(rawQuery); err == nil {
			parts = append(parts, q["key"]...)
			parts = append(parts, q["token"]...)
		}
		for _, part := range parts {
			if len(part) > 16 && strings.Contains(err.Error(), part) {
				t.Errorf("FromURL(%q) error repeats a secret part: %v", in, err)
			}
		}
	})
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
