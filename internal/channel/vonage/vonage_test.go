package vonage_test

import (
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
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/vonage"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	apiKey    = "abcd1234"
	apiSecret = "Sup3rS3cretValue"
	from      = "Herald"
	recipient = "+447700900000"
)

// The success answer of Vonage's "Troubleshooting SMS" guide.
const successBody = `{"message-count":"1","messages":[{"to":"447700900000","message-id":"0C000000217B7F02","status":"0","remaining-balance":"15.53590000","message-price":"0.03330000","network":"23410"}]}`

// statusBody is an answer whose message has a failure status.
func statusBody(status, text string) string {
	return fmt.Sprintf(`{"message-count":"1","messages":[{"status":%q,"error-text":%q}]}`, status, text)
}

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func settings(apiURL string) *vonage.Settings {
	return &vonage.Settings{APIKey: apiKey, APISecret: apiSecret, From: from, APIURL: apiURL}
}

func newSender(t *testing.T, s *vonage.Settings) *vonage.Sender {
	t.Helper()
	v, err := vonage.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func message() *channel.Message {
	m := channeltest.Message()
	m.To = recipient
	return m
}

func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.WriteHeader(status)
	if status >= 200 && status < 300 {
		io.WriteString(w, successBody)
		return
	}
	io.WriteString(w, http.StatusText(status))
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, u string) channel.Sender { return newSender(t, settings(u)) },
		Message:   message,
		Respond:   respond,
		Secrets:   []string{apiSecret},
	})
}

type fakeVonage struct {
	*httptest.Server
	mu     sync.Mutex
	method []string
	path   []string
	ctype  []string
	bodies [][]byte
}

func startVonage(t *testing.T, answer string) *fakeVonage {
	t.Helper()
	f := &fakeVonage{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.method = append(f.method, r.Method)
		f.path = append(f.path, r.URL.Path)
		f.ctype = append(f.ctype, r.Header.Get("Content-Type"))
		f.bodies = append(f.bodies, b)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeVonage) forms(t *testing.T) []url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []url.Values
	for _, b := range f.bodies {
		v, err := url.ParseQuery(string(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	f := startVonage(t, successBody)
	r, err := newSender(t, settings(f.URL)).Send(t.Context(), message())
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "0C000000217B7F02" || r.StatusCode != 200 {
		t.Errorf("receipt = %+v", r)
	}
	forms := f.forms(t)
	if len(forms) != 1 {
		t.Fatalf("got %d requests, want 1", len(forms))
	}
	if f.method[0] != http.MethodPost || f.path[0] != "/sms/json" || f.ctype[0] != "application/x-www-form-urlencoded" {
		t.Errorf("request = %s %s (%s), want a form POST to /sms/json", f.method[0], f.path[0], f.ctype[0])
	}
	want := url.Values{
		"api_key":    {apiKey},
		"api_secret": {apiSecret},
		"from":       {from},
		"to":         {"447700900000"},
		"text":       {"Order 1001 was paid: 42.00 EUR."},
		"type":       {"text"},
		"client-ref": {"0195f1c2-7a3b-7c00-9d1e-000000000001"},
	}
	if diff := cmp.Diff(want, forms[0]); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	golden(t, "message.golden.txt", f.bodies[0])
}

func TestSendUnicodeAndDefaults(t *testing.T) {
	t.Parallel()
	f := startVonage(t, successBody)
	s := settings(f.URL)
	s.From, s.To, s.SubjectPrefix = "+447700900001", recipient, true
	m := message()
	m.To = ""
	m.Subject, m.Text = "Zahlung", "Bestellung 1001 bezahlt ✓"
	if _, err := newSender(t, s).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := f.forms(t)[0]
	if got.Get("type") != "unicode" || got.Get("from") != "447700900001" || got.Get("to") != "447700900000" ||
		got.Get("text") != "Zahlung: Bestellung 1001 bezahlt ✓" {
		t.Errorf("form = %v", got)
	}
}

func TestGSM7(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]bool{
		"Hello, World! 42 € [x] {y} ~ \\ ^ |": true,
		"Ça coûte 5 £ — merci":                false, // û and the em dash are not GSM-7
		"Grüße aus Köln":                      true,
		"ΔΦΓΛΩΠΨΣΘΞ":                          true,
		"emoji 🙂":                             false,
		"中文":                                  false,
		"":                                    true,
	} {
		if got := vonage.GSM7(text); got != want {
			t.Errorf("GSM7(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestSendInvalidRecipient(t *testing.T) {
	t.Parallel()
	f := startVonage(t, successBody)
	v := newSender(t, settings(f.URL))
	for _, to := range []string{"", "447700900000", "+44 7700 900000", "+0447700900000"} {
		m := message()
		m.To = to
		_, err := v.Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("Send to %q = %v, want permanent", to, err)
		}
	}
	if n := len(f.forms(t)); n != 0 {
		t.Errorf("provider got %d requests, want 0", n)
	}
}

func TestClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status string
		text   string
		class  channel.Class
		after  time.Duration
	}{
		{"1", "Throughput Rate Exceeded - please wait [ 1000 ] and retry", channel.ClassRetryAfter, time.Second},
		{"2", "Missing to param", channel.ClassPermanent, 0},
		{"3", "Invalid to address", channel.ClassPermanent, 0},
		{"4", "Bad Credentials", channel.ClassPermanent, 0},
		{"5", "Internal Error", channel.ClassRetryable, 0},
		{"6", "Invalid Message", channel.ClassPermanent, 0},
		{"7", "Number Barred", channel.ClassPermanent, 0},
		{"8", "Partner Account Barred", channel.ClassPermanent, 0},
		{"9", "Partner Quota Exceeded", channel.ClassPermanent, 0},
		{"10", "Too Many Existing Binds", channel.ClassRetryable, 0},
		{"12", "Message Too Long", channel.ClassPermanent, 0},
		{"15", "Illegal Sender Address - rejected", channel.ClassPermanent, 0},
		{"29", "Non White-listed Destination - rejected", channel.ClassPermanent, 0},
		{"33", "Number De-activated", channel.ClassPermanent, 0},
		{"99", "Something new", channel.ClassPermanent, 0},
	}
	for _, tt := range tests {
		t.Run("status "+tt.status, func(t *testing.T) {
			t.Parallel()
			f := startVonage(t, statusBody(tt.status, tt.text))
			_, err := newSender(t, settings(f.URL)).Send(t.Context(), message())
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.After != tt.after || ce.Reason != "vonage_"+tt.status || ce.StatusCode != 200 {
				t.Errorf("got class %v after %v reason %q status %d, want %v %v", ce.Class, ce.After, ce.Reason, ce.StatusCode, tt.class, tt.after)
			}
			if !strings.Contains(err.Error(), tt.text) || strings.Contains(err.Error(), apiSecret) {
				t.Errorf("error %q should show the error-text and never the secret", err)
			}
		})
	}
	t.Run("200 without messages", func(t *testing.T) {
		t.Parallel()
		f := startVonage(t, `{"message-count":"0"}`)
		_, err := newSender(t, settings(f.URL)).Send(t.Context(), message())
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassRetryable || ce.Reason != "invalid_response" {
			t.Errorf("Send = %v, want retryable invalid_response", err)
		}
	})
}

func TestLongTextTruncated(t *testing.T) {
	t.Parallel()
	f := startVonage(t, successBody)
	m := message()
	m.Text = strings.Repeat("a", vonage.MaxLength*2)
	if _, err := newSender(t, settings(f.URL)).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(f.forms(t)[0].Get("text")); n != vonage.MaxLength {
		t.Errorf("text has %d characters, want %d", n, vonage.MaxLength)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(channel.Capabilities{MaxLength: 3200}, newSender(t, settings("")).Capabilities()); diff != "" {
		t.Errorf("Capabilities (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		change func(*vonage.Settings)
		want   string
	}{
		{func(*vonage.Settings) {}, ""},
		{func(s *vonage.Settings) { s.From = "447700900001" }, ""},
		{func(s *vonage.Settings) { s.APIKey = "" }, "api_key is required"},
		{func(s *vonage.Settings) { s.APISecret = "" }, "api_secret is required"},
		{func(s *vonage.Settings) { s.From = "" }, "from is required"},
		{func(s *vonage.Settings) { s.From = "Herald Alerts!" }, "from \"Herald Alerts!\""},
		{func(s *vonage.Settings) { s.To = "447700900000" }, "to \"447700900000\""},
		{func(s *vonage.Settings) { s.APIURL = "rest.nexmo.com" }, "api_url"},
	}
	for i, tt := range tests {
		s := settings("")
		tt.change(s)
		err := s.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("case %d: Validate = %v, want %q", i, err, tt.want)
		}
	}
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
