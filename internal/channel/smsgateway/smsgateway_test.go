package smsgateway_test

import (
	"encoding/base64"
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
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/smsgateway"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	token     = "gw-token-0123456789"
	recipient = "+15558675310"
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *smsgateway.Settings) *smsgateway.Sender {
	t.Helper()
	g, err := smsgateway.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func message() *channel.Message {
	m := channeltest.Message()
	m.To = recipient
	return m
}

// formSettings describe a gateway taking a form POST with a bearer token,
// the shape most simple SMS gateways have.
func formSettings(base string) *smsgateway.Settings {
	return &smsgateway.Settings{
		URL:         base + "/api/v1/sms",
		Headers:     map[string]string{"Authorization": "Bearer {{.Token}}"},
		Body:        "to={{urlquery .To}}&message={{urlquery .Text}}&ref={{urlquery .MessageID}}",
		ContentType: "application/x-www-form-urlencoded",
		Token:       token,
		IDField:     "data.id",
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender {
			s := formSettings(u)
			s.URL = u + "/send?key={{.Token}}"
			return newSender(t, s)
		},
		Message: message,
		Respond: func(w http.ResponseWriter, _ *http.Request, status int) {
			w.WriteHeader(status)
			if status < 300 {
				io.WriteString(w, `{"data":{"id":"msg-1"}}`)
			}
		},
		Secrets: []string{token},
	})
}

type captured struct {
	method, uri string
	header      http.Header
	body        []byte
}

type fakeGateway struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func startGateway(t *testing.T, status int, answer string) *fakeGateway {
	t.Helper()
	f := &fakeGateway{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{r.Method, r.URL.RequestURI(), r.Header.Clone(), b})
		f.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGateway) only(t *testing.T) captured {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(f.reqs))
	}
	return f.reqs[0]
}

func TestSendForm(t *testing.T) {
	t.Parallel()
	f := startGateway(t, http.StatusAccepted, `{"status":"queued","data":{"id":"a1b2c3"}}`)
	r, err := newSender(t, formSettings(f.URL)).Send(t.Context(), message())
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "a1b2c3" || r.StatusCode != 202 {
		t.Errorf("receipt = %+v", r)
	}
	c := f.only(t)
	if c.method != http.MethodPost || c.uri != "/api/v1/sms" {
		t.Errorf("request = %s %s", c.method, c.uri)
	}
	if got := c.header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization = %q", got)
	}
	if got := c.header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	golden(t, "form.golden.txt", c.body)
}

func TestSendDefaultJSONBody(t *testing.T) {
	t.Parallel()
	f := startGateway(t, http.StatusOK, `{"messages":[{"id":12345}]}`)
	s := &smsgateway.Settings{URL: f.URL + "/sms", IDField: "messages.0.id", SubjectPrefix: true}
	m := message()
	m.Text = `He said "hi" & left <now>`
	r, err := newSender(t, s).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "12345" {
		t.Errorf("ProviderID = %q, want the number as text", r.ProviderID)
	}
	c := f.only(t)
	if got := c.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	golden(t, "default.golden.json", c.body)
}

func TestSendGETWithQueryTemplate(t *testing.T) {
	t.Parallel()
	f := startGateway(t, http.StatusOK, "OK: 987")
	s := &smsgateway.Settings{
		URL:    f.URL + "/http/send?user=herald&to={{urlquery .To}}&text={{urlquery .Text}}",
		Method: http.MethodGet,
	}
	if _, err := newSender(t, s).Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	c := f.only(t)
	want := "/http/send?user=herald&to=%2B15558675310&text=Order+1001+was+paid%3A+42.00+EUR."
	if c.method != http.MethodGet || c.uri != want || len(c.body) != 0 {
		t.Errorf("request = %s %s body %q, want GET %s with no body", c.method, c.uri, c.body, want)
	}
}

func TestSuccessStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status  int
		success []int
		class   channel.Class // -1: success
		reason  string
	}{
		{200, nil, -1, ""},
		{201, []int{201}, -1, ""},
		{200, []int{201}, channel.ClassPermanent, "unexpected_status"},
		{400, []int{201}, channel.ClassPermanent, "http_400"},
		{503, []int{201}, channel.ClassRetryable, "http_503"},
		{429, nil, channel.ClassRetryable, "http_429"},
	}
	for _, tt := range tests {
		f := startGateway(t, tt.status, `{}`)
		s := formSettings(f.URL)
		s.SuccessStatus = tt.success
		_, err := newSender(t, s).Send(t.Context(), message())
		if tt.class == -1 {
			if err != nil {
				t.Errorf("status %d with %v: %v, want success", tt.status, tt.success, err)
			}
			continue
		}
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != tt.class || ce.Reason != tt.reason {
			t.Errorf("status %d with %v: %v, want %v %s", tt.status, tt.success, err, tt.class, tt.reason)
		}
	}
}

func TestSendInvalidRecipient(t *testing.T) {
	t.Parallel()
	f := startGateway(t, http.StatusOK, `{}`)
	g := newSender(t, formSettings(f.URL))
	for _, to := range []string{"", "5558675310", "+1 555"} {
		m := message()
		m.To = to
		_, err := g.Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("Send to %q = %v, want permanent", to, err)
		}
	}
	s := formSettings(f.URL)
	s.AnyRecipient = true
	m := message()
	m.To = "user@example.com"
	if _, err := newSender(t, s).Send(t.Context(), m); err != nil {
		t.Errorf("any_recipient: %v", err)
	}
}

func TestNoSecretInErrors(t *testing.T) {
	t.Parallel()
	f := startGateway(t, http.StatusBadRequest, "bad token "+token+" and Basic "+base64.StdEncoding.EncodeToString([]byte("u:"+token)))
	s := formSettings(f.URL)
	_, err := newSender(t, s).Send(t.Context(), message())
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("error = %v, want a failure without the token", err)
	}
}

func TestLongTextTruncated(t *testing.T) {
	t.Parallel()
	f := startGateway(t, http.StatusOK, `{}`)
	s := &smsgateway.Settings{URL: f.URL, Body: "{{.Text}}", ContentType: "text/plain", MaxLength: 160}
	m := message()
	m.Text = strings.Repeat("x", 1000)
	if _, err := newSender(t, s).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCount(f.only(t).body); n != 160 {
		t.Errorf("body has %d runes, want 160", n)
	}
	if got := newSender(t, &smsgateway.Settings{URL: f.URL}).Capabilities(); got != (channel.Capabilities{MaxLength: 1600}) {
		t.Errorf("default Capabilities = %+v", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    smsgateway.Settings
		want string
	}{
		{smsgateway.Settings{URL: "https://sms.example.com/send"}, ""},
		{smsgateway.Settings{}, "url is required"},
		{smsgateway.Settings{URL: "https://x/{{.To"}, "url is not a valid template"},
		{smsgateway.Settings{URL: "https://x/{{.Nope}}"}, "url: the template fails"},
		{smsgateway.Settings{URL: "{{.Text}}"}, "url: netguard"},
		{smsgateway.Settings{URL: "https://x", Body: "{{json .To"}, "body is not a valid template"},
		{smsgateway.Settings{URL: "https://x", Headers: map[string]string{"X Bad": "1"}}, "not a valid header name"},
		{smsgateway.Settings{URL: "https://x", Headers: map[string]string{"X-Key": "{{.Token"}}, "headers.X-Key is not a valid template"},
		{smsgateway.Settings{URL: "https://x", Method: "PO ST"}, "method"},
		{smsgateway.Settings{URL: "https://x", SuccessStatus: []int{2000}}, "success_status 2000"},
		{smsgateway.Settings{URL: "https://x", MaxLength: -1}, "max_length"},
		{smsgateway.Settings{URL: "https://x", To: "555"}, `to "555"`},
		{smsgateway.Settings{URL: "https://x", IDField: "data..id"}, "id_field"},
	}
	for i, tt := range tests {
		err := tt.s.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("case %d: Validate = %v, want %q", i, err, tt.want)
		}
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	var s smsgateway.Settings
	if err := smsgateway.FromURL("smsgw+https://herald:"+token+"@sms.example.com/api/send?to={{urlquery .To}}", &s); err != nil {
		t.Fatal(err)
	}
	want := smsgateway.Settings{
		URL:     "https://sms.example.com/api/send?to={{urlquery .To}}",
		Headers: map[string]string{"Authorization": `Basic {{basic "herald" .Token}}`},
		Token:   token,
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("FromURL (-want +got):\n%s", diff)
	}
	// The Basic header really carries the credentials.
	f := startGateway(t, http.StatusOK, `{}`)
	s.URL = strings.Replace(s.URL, "https://sms.example.com", f.URL, 1)
	if _, err := newSender(t, &s).Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	if got, want := f.only(t).header.Get("Authorization"), "Basic "+base64.StdEncoding.EncodeToString([]byte("herald:"+token)); got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}

	for _, tt := range []struct{ url, want string }{
		{"https://sms.example.com", "smsgw+https://host/path"},
		{"smsgw+ftp://x", "smsgw+https://host/path"},
		{"smsgw+https://u:" + token + "%zz@h/p", "malformed percent-escape"},
		{"smsgw+https:///p", "no host"},
		{"smsgw+https://h/{{.To", "url is not a valid template"},
	} {
		err := smsgateway.FromURL(tt.url, &smsgateway.Settings{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromURL(%q) = %v, want %q", tt.url, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("FromURL(%q) error shows the secret", tt.url)
		}
	}
	if err := smsgateway.FromURL("smsgw+https://h", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"smsgw+https://herald:" + token + "@sms.example.com/send?to={{urlquery .To}}",
		"smsgw+http://h/{{.Text}}", "smsgw+https://u:supersecretvalue%@h", "smsgw+https://", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s smsgateway.Settings
		err := smsgateway.FromURL(in, &s)
		if err == nil {
			if verr := s.Validate(); verr != nil {
				t.Errorf("FromURL(%q) gave settings that do not validate: %v", in, verr)
			}
			return
		}
		_, rest, _ := strings.Cut(in, "://")
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			_, secret, _ := strings.Cut(rest[:at], ":")
			if len(secret) >= 8 && strings.Count(in, secret) == 1 && strings.Contains(err.Error(), secret) {
				t.Errorf("FromURL(%q) error shows the secret: %v", in, err)
			}
		}
	})
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
	if string(want) != string(got) {
		t.Errorf("request body differs from %s:\n got: %s\nwant: %s", path, got, want)
	}
}
