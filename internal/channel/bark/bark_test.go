package bark_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
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
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/bark"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The device key of bark-server's API_V2.md examples.
const key = "ynJ5Ft4atkMkWeo2PAvFhF"

// Answers as bark-server builds them (route_push.go: success() and
// failed(code, ...)).
const (
	okBody        = `{"code":200,"message":"success","timestamp":1700000000}`
	noDeviceBody  = `{"code":400,"message":"failed to get device token: failed to get [ynJ5Ft4atkMkWeo2PAvFhF] device token from database","timestamp":1700000000}`
	emptyKeyBody  = `{"code":400,"message":"device key is empty","timestamp":1700000000}`
	pushFailBody  = `{"code":500,"message":"push failed: ServiceUnavailable","timestamp":1700000000}`
	unregBody     = `{"code":500,"message":"push failed: Unregistered","timestamp":1700000000}`
	badTokenBody  = `{"code":500,"message":"push failed: BadDeviceToken","timestamp":1700000000}`
	bindFailBody  = `{"code":400,"message":"request bind failed: unexpected end of JSON input","timestamp":1700000000}`
	ok200FailBody = `{"code":400,"message":"failed to get device token: not found","timestamp":1700000000}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *bark.Settings) *bark.Sender {
	t.Helper()
	b, err := bark.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return b
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
		io.WriteString(w, noDeviceBody)
	case status >= 500:
		io.WriteString(w, pushFailBody)
	default:
		fmt.Fprintf(w, `{"code":%d,"message":%q,"timestamp":1700000000}`, status, http.StatusText(status))
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender {
			return newSender(t, &bark.Settings{Server: u, DeviceKey: key})
		},
		Message: message,
		Respond: respond,
		Secrets: []string{key},
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

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("body %s: %v", b, err)
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
	s := &bark.Settings{
		Server: srv.URL + "/", DeviceKey: key, Sound: "minuet", Group: "orders",
		URL: "https://shop.example.com/orders/1001", Icon: "https://day.app/assets/images/avatar.jpg", Badge: 1, Archive: true,
	}
	m := message()
	m.Priority = 4
	r, err := newSender(t, s).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	req := srv.only(t)
	if req.method != http.MethodPost || req.uri != "/push" {
		t.Errorf("request = %s %s, want POST /push", req.method, req.uri)
	}
	if got := req.header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q (bark-server takes API v2 only for application/json)", got)
	}
	golden(t, "message.golden.json", req.body)
	if r.ProviderID != "" || r.StatusCode != 200 || string(r.Response) != okBody {
		t.Errorf("receipt = %+v", r)
	}
}

func TestLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		setting  string
		priority int
		want     any
	}{
		{"", 0, nil},
		{"", 1, "passive"},
		{"", 2, "passive"},
		{"", 3, "active"},
		{"", 4, "timeSensitive"},
		{"", 5, "critical"},
		{"", 8, "critical"},
		{"", -1, "passive"},
		{"active", 5, "active"},
	}
	for _, tt := range tests {
		srv := startServer(t, 200, okBody)
		m := message()
		m.Priority = tt.priority
		if _, err := newSender(t, &bark.Settings{Server: srv.URL, DeviceKey: key, Level: tt.setting}).Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if got := decode(t, srv.only(t).body)["level"]; got != tt.want {
			t.Errorf("setting %q priority %d: level = %v, want %v", tt.setting, tt.priority, got, tt.want)
		}
	}
}

func TestLongTextIsCut(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	m := message()
	m.Text = strings.Repeat("通知", 3000)
	if _, err := newSender(t, &bark.Settings{Server: srv.URL, DeviceKey: key}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	body, _ := decode(t, srv.only(t).body)["body"].(string)
	if len(body) > bark.MaxBodyBytes || !utf8.ValidString(body) || !strings.HasSuffix(body, channel.Ellipsis) {
		t.Errorf("body has %d bytes, want at most %d, valid UTF-8, ending with an ellipsis", len(body), bark.MaxBodyBytes)
	}
	if len(strings.Repeat("通", bark.MaxLength)) > bark.MaxBodyBytes {
		t.Error("MaxLength CJK characters do not fit in MaxBodyBytes")
	}
}

func TestPartsRecipientAndData(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 200, okBody)
	m := message()
	m.To = "nysrshcqielvoxsa"
	m.Parts = []string{"one", "two"}
	m.Data = json.RawMessage(`{"copy":"1001","device_key":"someone-else","sound":"alarm"}`)
	if _, err := newSender(t, &bark.Settings{Server: srv.URL, DeviceKey: key, Sound: "minuet"}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want one per part", len(reqs))
	}
	for i, r := range reqs {
		got := decode(t, r.body)
		want := map[string]any{"device_key": m.To, "title": m.Subject, "body": m.Parts[i], "copy": "1001", "sound": "alarm"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request %d (-want +got):\n%s", i, diff)
		}
	}

	_, err := newSender(t, &bark.Settings{Server: srv.URL}).Send(t.Context(), message())
	checkClass(t, err, channel.ClassPermanent, "no_destination")
	m = message()
	m.To = "bad key/../x"
	_, err = newSender(t, &bark.Settings{Server: srv.URL}).Send(t.Context(), m)
	checkClass(t, err, channel.ClassPermanent, "invalid_destination")
}

func checkClass(t *testing.T, err error, class channel.Class, reason string) *channel.Error {
	t.Helper()
	var ce *channel.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *channel.Error", err)
	}
	if ce.Class != class || ce.Reason != reason {
		t.Errorf("error %q: %v/%q, want %v/%q", err, ce.Class, ce.Reason, class, reason)
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
		{"unknown device", 400, noDeviceBody, channel.ClassPermanent, "unknown_device"},
		{"empty key", 400, emptyKeyBody, channel.ClassPermanent, "unknown_device"},
		{"bad JSON", 400, bindFailBody, channel.ClassPermanent, "http_400"},
		{"APNs unavailable", 500, pushFailBody, channel.ClassRetryable, "http_500"},
		{"APNs unregistered", 500, unregBody, channel.ClassPermanent, "apns_rejected"},
		{"APNs bad token", 500, badTokenBody, channel.ClassPermanent, "apns_rejected"},
		{"HTTP 200, code 400", 200, ok200FailBody, channel.ClassPermanent, "unknown_device"},
		{"HTTP 200, code 500", 200, pushFailBody, channel.ClassRetryable, "bark_500"},
		{"proxy page", 502, "<html>Bad Gateway</html>", channel.ClassRetryable, "http_502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.status, tt.body)
			_, err := newSender(t, &bark.Settings{Server: srv.URL, DeviceKey: key}).Send(t.Context(), message())
			ce := checkClass(t, err, tt.class, tt.reason)
			if ce.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", ce.StatusCode, tt.status)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(string(ce.Response), key) {
				t.Errorf("error shows the device key: %v / %s", err, ce.Response)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    bark.Settings
		ok   bool
	}{
		{"empty", bark.Settings{}, true},
		{"full", bark.Settings{Server: "https://api.day.app", DeviceKey: key, Level: "timeSensitive", Badge: 3}, true},
		{"bad server", bark.Settings{Server: "api.day.app"}, false},
		{"bad key", bark.Settings{DeviceKey: "hidden key/x"}, false},
		{"bad level", bark.Settings{Level: "loud"}, false},
		{"negative badge", bark.Settings{Badge: -1}, false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: Validate error leaks the key: %v", tt.name, err)
		}
		if _, err := bark.New(&tt.s, http.DefaultClient); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if _, err := bark.New(&bark.Settings{}, nil); err == nil {
		t.Error("New with a nil client: want an error")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bark.Settings
	}{
		{"barks://api.day.app/" + key, bark.Settings{Server: "https://api.day.app", DeviceKey: key}},
		{"bark://bark.lan:8080/" + key + "/", bark.Settings{Server: "http://bark.lan:8080", DeviceKey: key}},
		{
			"BARKS://api.day.app/" + key + "?level=critical&sound=minuet&group=ops&click=https%3A%2F%2Fx.example&icon=https%3A%2F%2Fx.example%2Fi.png&badge=2&archive=true",
			bark.Settings{Server: "https://api.day.app", DeviceKey: key, Level: "critical", Sound: "minuet", Group: "ops", URL: "https://x.example", Icon: "https://x.example/i.png", Badge: 2, Archive: true},
		},
	}
	for _, tt := range tests {
		var got bark.Settings
		if err := bark.FromURL(tt.in, &got); err != nil {
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
		{"https://api.day.app/hiddenkey", "scheme"},
		{"api.day.app/hiddenkey", "bark://"},
		{"bark:hiddenkey", "missing //"},
		{"bark:///hiddenkey", "no host"},
		{"barks://api.day.app", "no device key"},
		{"barks://api.day.app/hiddenkey/otherkey", "more than one"},
		{"barks://api.day.app/hidden.key", "device key"},
		{"barks://u:p@api.day.app/hiddenkey", "no user"},
		{"barks://api.day.app:0/hiddenkey", "port"},
		{"barks://api.day.app/hidden%zzkey", "%-escape"},
		{"barks://api.day.app/hiddenkey?level=loud", "level"},
		{"barks://api.day.app/hiddenkey?badge=x", "badge"},
		{"barks://api.day.app/hiddenkey?foo=1", `"foo"`},
	}
	for _, tt := range tests {
		var s bark.Settings
		err := bark.FromURL(tt.in, &s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromURL(%q) = %v, want an error mentioning %q", tt.in, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "hidden") {
			t.Errorf("FromURL(%q) error leaks the key: %v", tt.in, err)
		}
	}
	if err := bark.FromURL("bark://h/k", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// keyOf returns the secret part of a URL: its path after a host.
func keyOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.Trim(u.Path, "/")
}

func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"barks://api.day.app/" + key, "bark://h:1/k?level=active", "bark://h/a/b", "bark://h/k%zz", "bark:/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s bark.Settings
		err := bark.FromURL(in, &s)
		if err != nil {
			if secret := keyOf(in); len(secret) >= 6 && strings.Count(in, secret) == 1 && strings.Contains(err.Error(), secret) {
				t.Errorf("FromURL(%q) error shows the key: %v", in, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Errorf("FromURL(%q) gave settings that do not validate: %v", in, err)
		}
	})
}
