package twilio_test

import (
	"encoding/base64"
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

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/twilio"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Test credentials in Twilio's SID format; they are not real.
const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "f00dfeedcafe0123456789abcdef0000"
	apiKeySID  = "SK0123456789abcdef0123456789abcdef"
	apiSecret  = "apikeysecret-0123456789"
	fromNumber = "+15017122661"
	toNumber   = "+15558675310"
)

// Answers copied from Twilio's documentation (Message resource and the
// error pages 20003, 20404, 21211, 20429, 20500).
const (
	successBody = `{"account_sid":"AC0123456789abcdef0123456789abcdef","api_version":"2010-04-01","body":"Order 1001 was paid: 42.00 EUR.","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","date_sent":null,"date_updated":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","error_code":null,"error_message":null,"from":"+15017122661","num_media":"0","num_segments":"1","price":null,"price_unit":"USD","messaging_service_sid":null,"sid":"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"queued","to":"+15558675310","uri":"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"}`
	err21211    = `{"code": 21211, "message": "The 'To' number 5551234567 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`
	err20003    = `{"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.", "message": "Authentication Error - invalid username", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}`
	err20404    = `{"code": 20404, "message": "The requested resource /2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json was not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}`
	err20429    = `{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}`
	err20500    = `{"code": 20500, "message": "An internal server error has occurred", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}`
	err21608    = `{"code": 21608, "message": "The number +15558675310 is unverified. Trial accounts cannot send messages to unverified numbers; verify +15558675310 at twilio.com/user/account/phone-numbers/verified, or purchase a Twilio number to send messages to unverified numbers.", "more_info": "https://www.twilio.com/docs/errors/21608", "status": 400}`
	err21610    = `{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}`
	err21611    = `{"code": 21611, "message": "This 'From' number has exceeded the maximum number of queued messages", "more_info": "https://www.twilio.com/docs/errors/21611", "status": 400}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func settings(apiURL string) *twilio.Settings {
	return &twilio.Settings{AccountSID: accountSID, AuthToken: authToken, From: fromNumber, APIURL: apiURL}
}

func newSender(t *testing.T, s *twilio.Settings) *twilio.Sender {
	t.Helper()
	tw, err := twilio.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

func message() *channel.Message {
	m := channeltest.Message()
	m.To = toNumber
	return m
}

// respond answers like Twilio for each status the conformance kit tries.
func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch {
	case status >= 200 && status < 300:
		io.WriteString(w, successBody)
	case status == 400:
		io.WriteString(w, err21211)
	case status == 401:
		io.WriteString(w, err20003)
	case status == 404:
		io.WriteString(w, err20404)
	case status == 429:
		io.WriteString(w, err20429)
	case status >= 500:
		io.WriteString(w, err20500)
	default:
		io.WriteString(w, http.StatusText(status))
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender { return newSender(t, settings(u)) },
		Message:   message,
		Respond:   respond,
		Secrets:   []string{authToken},
	})
}

func TestConformanceAPIKey(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender {
			return newSender(t, &twilio.Settings{AccountSID: accountSID, APIKeySID: apiKeySID, APIKeySecret: apiSecret, From: fromNumber, APIURL: u})
		},
		Message: message,
		Respond: respond,
		Secrets: []string{apiSecret},
	})
}

// captured is one request as the fake Twilio saw it.
type captured struct {
	method, path string
	header       http.Header
	body         []byte
}

type fakeTwilio struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func startTwilio(t *testing.T, status int, body string) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{r.Method, r.URL.Path, r.Header.Clone(), b})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	f := startTwilio(t, http.StatusCreated, successBody)
	s := settings(f.URL)
	s.StatusCallback = "https://hooks.example.com/twilio/status"
	r, err := newSender(t, s).Send(t.Context(), message())
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" || r.StatusCode != 201 {
		t.Errorf("receipt = %+v, want the sid and 201", r)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	c := reqs[0]
	if c.method != http.MethodPost {
		t.Errorf("method = %s, want POST", c.method)
	}
	if want := "/2010-04-01/Accounts/" + accountSID + "/Messages.json"; c.path != want {
		t.Errorf("path = %s, want %s", c.path, want)
	}
	if got := c.header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(accountSID+":"+authToken))
	if got := c.header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization = %q, want %q", got, wantAuth)
	}
	form, err := url.ParseQuery(string(c.body))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"To":             {toNumber},
		"From":           {fromNumber},
		"Body":           {"Order 1001 was paid: 42.00 EUR."},
		"StatusCallback": {"https://hooks.example.com/twilio/status"},
	}
	if diff := cmp.Diff(want, form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	golden(t, "message.golden.txt", c.body)
}

func TestSendAPIKeyAndMessagingService(t *testing.T) {
	t.Parallel()
	f := startTwilio(t, http.StatusCreated, successBody)
	s := &twilio.Settings{
		AccountSID: accountSID, APIKeySID: apiKeySID, APIKeySecret: apiSecret,
		MessagingServiceSID: "MG0123456789abcdef0123456789abcdef", To: toNumber,
		SubjectPrefix: true, APIURL: f.URL + "/",
	}
	m := message()
	m.To = "" // the default recipient
	if _, err := newSender(t, s).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	c := f.requests()[0]
	if want := "/2010-04-01/Accounts/" + accountSID + "/Messages.json"; c.path != want {
		t.Errorf("path = %s, want %s", c.path, want)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(apiKeySID+":"+apiSecret))
	if got := c.header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization = %q, want the API key", got)
	}
	form, _ := url.ParseQuery(string(c.body))
	want := url.Values{
		"To":                  {toNumber},
		"MessagingServiceSid": {"MG0123456789abcdef0123456789abcdef"},
		"Body":                {"Order 1001 paid: Order 1001 was paid: 42.00 EUR."},
	}
	if diff := cmp.Diff(want, form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
}

func TestSendRecipientErrors(t *testing.T) {
	t.Parallel()
	f := startTwilio(t, http.StatusCreated, successBody)
	tw := newSender(t, settings(f.URL))
	for _, to := range []string{"", "5551234567", "+1 555 867 5310", "+0123456789", "+1234567"} {
		m := message()
		m.To = to
		_, err := tw.Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("Send to %q = %v, want a permanent error", to, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("provider got %d requests for invalid recipients, want 0", n)
	}
}

func TestClassification(t *testing.T) {
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
		{"invalid To", 400, "", err21211, channel.ClassPermanent, 0, "twilio_21211"},
		{"unverified trial number", 400, "", err21608, channel.ClassPermanent, 0, "twilio_21608"},
		{"unsubscribed recipient", 400, "", err21610, channel.ClassPermanent, 0, "twilio_21610"},
		{"queue full", 400, "", err21611, channel.ClassRetryable, 0, "twilio_21611"},
		{"authentication", 401, "", err20003, channel.ClassPermanent, 0, "twilio_20003"},
		{"not found", 404, "", err20404, channel.ClassPermanent, 0, "twilio_20404"},
		{"too many requests", 429, "", err20429, channel.ClassRetryable, 0, "twilio_20429"},
		{"too many requests, Retry-After", 429, "7", err20429, channel.ClassRetryAfter, 7 * time.Second, "twilio_20429"},
		{"internal", 500, "", err20500, channel.ClassRetryable, 0, "twilio_20500"},
		{"non-JSON 502", 502, "", "<html>bad gateway</html>", channel.ClassRetryable, 0, "http_502"},
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
			_, err := newSender(t, settings(srv.URL)).Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.After != tt.after || ce.Reason != tt.reason || ce.StatusCode != tt.status {
				t.Errorf("got class %v after %v reason %q status %d, want %v %v %q %d",
					ce.Class, ce.After, ce.Reason, ce.StatusCode, tt.class, tt.after, tt.reason, tt.status)
			}
			if strings.Contains(err.Error(), authToken) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestLongTextTruncated(t *testing.T) {
	t.Parallel()
	f := startTwilio(t, http.StatusCreated, successBody)
	m := message()
	m.Text = strings.Repeat("é", twilio.MaxLength+500)
	if _, err := newSender(t, settings(f.URL)).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	form, _ := url.ParseQuery(string(f.requests()[0].body))
	body := form.Get("Body")
	if n := utf8.RuneCountInString(body); n != twilio.MaxLength {
		t.Errorf("Body has %d characters, want exactly %d", n, twilio.MaxLength)
	}
	if !strings.HasSuffix(body, channel.Ellipsis) {
		t.Error("truncated Body does not end with the ellipsis")
	}
}

func TestPartsSentInOrder(t *testing.T) {
	t.Parallel()
	f := startTwilio(t, http.StatusCreated, successBody)
	m := message()
	m.Parts = []string{"part one", "part two", strings.Repeat("x", twilio.MaxLength+1)}
	r, err := newSender(t, settings(f.URL)).Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("ProviderID = %q", r.ProviderID)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	for i, want := range []string{"part one", "part two"} {
		form, _ := url.ParseQuery(string(reqs[i].body))
		if got := form.Get("Body"); got != want {
			t.Errorf("request %d Body = %q, want %q", i, got, want)
		}
	}
	form, _ := url.ParseQuery(string(reqs[2].body))
	if n := utf8.RuneCountInString(form.Get("Body")); n > twilio.MaxLength {
		t.Errorf("an over-long part was sent with %d characters", n)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	got := newSender(t, settings("")).Capabilities()
	if diff := cmp.Diff(channel.Capabilities{MaxLength: 1600}, got); diff != "" {
		t.Errorf("Capabilities (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := func() *twilio.Settings { return settings("") }
	tests := []struct {
		name   string
		change func(*twilio.Settings)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*twilio.Settings) {}, ""},
		{"alphanumeric sender", func(s *twilio.Settings) { s.From = "Herald" }, ""},
		{"short code", func(s *twilio.Settings) { s.From = "12345" }, ""},
		{"no account", func(s *twilio.Settings) { s.AccountSID = "" }, "account_sid is required"},
		{"bad account", func(s *twilio.Settings) { s.AccountSID = "AC123" }, "account_sid must be"},
		{"no credentials", func(s *twilio.Settings) { s.AuthToken = "" }, "auth_token"},
		{"both credentials", func(s *twilio.Settings) { s.APIKeySID, s.APIKeySecret = apiKeySID, apiSecret }, "not both"},
		{"key without secret", func(s *twilio.Settings) { s.AuthToken, s.APIKeySID = "", apiKeySID }, "api_key_secret"},
		{"bad key sid", func(s *twilio.Settings) { s.AuthToken, s.APIKeySID, s.APIKeySecret = "", "AK1", apiSecret }, "api_key_sid must be"},
		{"no sender", func(s *twilio.Settings) { s.From = "" }, "from (or messaging_service_sid) is required"},
		{"bad sender", func(s *twilio.Settings) { s.From = "Too long sender id" }, "from"},
		{"bad service", func(s *twilio.Settings) { s.MessagingServiceSID = "MGxyz" }, "messaging_service_sid"},
		{"bad to", func(s *twilio.Settings) { s.To = "0044123" }, "to \"0044123\""},
		{"bad callback", func(s *twilio.Settings) { s.StatusCallback = "ftp://x" }, "status_callback"},
		{"bad api url", func(s *twilio.Settings) { s.APIURL = "api.twilio.com" }, "api_url"},
	}
	for _, tt := range tests {
		s := ok()
		tt.change(s)
		err := s.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: Validate = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want an error with %q", tt.name, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), authToken) || strings.Contains(err.Error(), apiSecret)) {
			t.Errorf("%s: Validate error shows a secret: %v", tt.name, err)
		}
	}
}

// golden compares got with testdata/name, rewriting it with -update.
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
