package tencentsms_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/tencentsms"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	secretID  = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3TESTONLY"
	secretKey = "TestSecretKey0123456789abcdefGHIJ"
	appID     = "1400006666"
	signName  = "腾讯云"
	template  = "1110"
	recipient = "+8613800138000"
)

// Answers as Tencent Cloud's SendSms reference and error-code pages show
// them.
const (
	successBody  = `{"Response":{"SendStatusSet":[{"SerialNo":"5000:1045710669157053657849499619","PhoneNumber":"+8613800138000","Fee":1,"SessionContext":"0195f1c2-7a3b-7c00-9d1e-000000000001","Code":"Ok","Message":"send success","IsoCode":"CN"}],"RequestId":"a0aabda6-cf91-4f3e-a81f-9198114a2279"}}`
	signatureErr = `{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"The provided credentials could not be validated. Please check your signature is correct."},"RequestId":"ed93f3cb-f35e-473f-b9f3-0d451b8b79c6"}}`
	secretIDErr  = `{"Response":{"Error":{"Code":"AuthFailure.SecretIdNotFound","Message":"The SecretId is not found, please ensure that your SecretId is correct."},"RequestId":"ed93f3cb-f35e-473f-b9f3-0d451b8b79c7"}}`
	requestLimit = `{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"Your current request times equals to 3001 in a second, which exceeds the frequency limit 3000 for a second. Please reduce the frequency of calls."},"RequestId":"ed93f3cb-f35e-473f-b9f3-0d451b8b79c8"}}`
	internalErr  = `{"Response":{"Error":{"Code":"InternalError","Message":"An internal error has occurred. Retry your request, but if the problem persists, contact us."},"RequestId":"ed93f3cb-f35e-473f-b9f3-0d451b8b79c9"}}`
)

// statusBody is a SendSms answer whose only number has the given code.
func statusBody(code, message string) string {
	return fmt.Sprintf(`{"Response":{"SendStatusSet":[{"SerialNo":"","PhoneNumber":"+8613800138000","Fee":0,"SessionContext":"0195f1c2-7a3b-7c00-9d1e-000000000001","Code":%q,"Message":%q,"IsoCode":"CN"}],"RequestId":"b1bbcdb7-df02-4a4f-b92f-a209225b338a"}}`, code, message)
}

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func settings(apiURL string) *tencentsms.Settings {
	return &tencentsms.Settings{SecretID: secretID, SecretKey: secretKey, SDKAppID: appID, SignName: signName, TemplateID: template, APIURL: apiURL}
}

func newSender(t *testing.T, s *tencentsms.Settings) *tencentsms.Sender {
	t.Helper()
	tc, err := tencentsms.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func message() *channel.Message {
	m := channeltest.Message()
	m.To = recipient
	return m
}

func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch {
	case status >= 200 && status < 300:
		io.WriteString(w, successBody)
	case status == 401:
		io.WriteString(w, signatureErr)
	case status == 404:
		io.WriteString(w, secretIDErr)
	case status == 429:
		io.WriteString(w, requestLimit)
	case status >= 500:
		io.WriteString(w, internalErr)
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
		Secrets:   []string{secretKey},
	})
}

type captured struct {
	method, path, host string
	header             http.Header
	body               []byte
}

type fakeTencent struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func startTencent(t *testing.T, answer string) *fakeTencent {
	t.Helper()
	f := &fakeTencent{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{r.Method, r.URL.Path, r.Host, r.Header.Clone(), b})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTencent) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

// verifyAuthorization recomputes the TC3 signature of a received request
// from the documentation's formulas, independently of the package.
func verifyAuthorization(t *testing.T, c captured) {
	t.Helper()
	h := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	mac := func(k []byte, m string) []byte { x := hmac.New(sha256.New, k); x.Write([]byte(m)); return x.Sum(nil) }
	var ts int64
	fmt.Sscan(c.header.Get("X-TC-Timestamp"), &ts)
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	canonical := "POST\n/\n\ncontent-type:" + c.header.Get("Content-Type") + "\nhost:" + c.host + "\n\ncontent-type;host\n" + h(c.body)
	scope := date + "/sms/tc3_request"
	sts := "TC3-HMAC-SHA256\n" + c.header.Get("X-TC-Timestamp") + "\n" + scope + "\n" + h([]byte(canonical))
	key := mac(mac(mac([]byte("TC3"+secretKey), date), "sms"), "tc3_request")
	want := "TC3-HMAC-SHA256 Credential=" + secretID + "/" + scope + ", SignedHeaders=content-type;host, Signature=" + hex.EncodeToString(mac(key, sts))
	if got := c.header.Get("Authorization"); got != want {
		t.Errorf("Authorization =\n%s\nwant\n%s", got, want)
	}
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	f := startTencent(t, successBody)
	tc := newSender(t, settings(f.URL))
	tencentsms.SetClock(tc, func() time.Time { return time.Unix(1551113065, 0) })
	r, err := tc.Send(t.Context(), message())
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "5000:1045710669157053657849499619" || r.StatusCode != 200 {
		t.Errorf("receipt = %+v, want the SerialNo and 200", r)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	c := reqs[0]
	if c.method != http.MethodPost || c.path != "/" {
		t.Errorf("request = %s %s, want POST /", c.method, c.path)
	}
	for k, want := range map[string]string{
		"Content-Type":   "application/json; charset=utf-8",
		"X-TC-Action":    "SendSms",
		"X-TC-Version":   "2021-01-11",
		"X-TC-Timestamp": "1551113065",
		"X-TC-Region":    "ap-guangzhou",
	} {
		if got := c.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	verifyAuthorization(t, c)
	var body map[string]any
	if err := json.Unmarshal(c.body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"PhoneNumberSet":   []any{recipient},
		"SmsSdkAppId":      appID,
		"SignName":         signName,
		"TemplateId":       template,
		"TemplateParamSet": []any{"Order 1001 was paid: 42.00 EUR."},
		"SessionContext":   "0195f1c2-7a3b-7c00-9d1e-000000000001",
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	golden(t, "message.golden.json", c.body)
}

func TestSendDataAndOptions(t *testing.T) {
	t.Parallel()
	f := startTencent(t, successBody)
	s := settings(f.URL)
	s.To, s.Region, s.SenderID, s.SignName, s.SubjectPrefix = "+85212345678", "ap-singapore", "Herald", "", true
	tc := newSender(t, s)
	m := message()
	m.To = ""
	m.Data = json.RawMessage(`["1001", "42.00 EUR"]`)
	if _, err := tc.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	c := f.requests()[0]
	verifyAuthorization(t, c)
	if got := c.header.Get("X-TC-Region"); got != "ap-singapore" {
		t.Errorf("X-TC-Region = %q", got)
	}
	const want = `{"PhoneNumberSet":["+85212345678"],"SmsSdkAppId":"1400006666","TemplateId":"1110","TemplateParamSet":["1001","42.00 EUR"],"SessionContext":"0195f1c2-7a3b-7c00-9d1e-000000000001","SenderId":"Herald"}`
	if string(c.body) != want {
		t.Errorf("body =\n%s\nwant\n%s", c.body, want)
	}

	// Without array data the (prefixed) text is the only parameter.
	f2 := startTencent(t, successBody)
	s2 := settings(f2.URL)
	s2.SubjectPrefix = true
	m2 := message()
	m2.Data = json.RawMessage(`{"an":"object"}`)
	if _, err := newSender(t, s2).Send(t.Context(), m2); err != nil {
		t.Fatal(err)
	}
	var body struct{ TemplateParamSet []string }
	json.Unmarshal(f2.requests()[0].body, &body)
	if diff := cmp.Diff([]string{"Order 1001 paid: Order 1001 was paid: 42.00 EUR."}, body.TemplateParamSet); diff != "" {
		t.Errorf("TemplateParamSet (-want +got):\n%s", diff)
	}
}

func TestSendInvalid(t *testing.T) {
	t.Parallel()
	f := startTencent(t, successBody)
	tc := newSender(t, settings(f.URL))
	for _, to := range []string{"", "13800138000", "+86 13800138000", "+0861380013800"} {
		m := message()
		m.To = to
		_, err := tc.Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("Send to %q = %v, want permanent", to, err)
		}
	}
	m := message()
	m.Data = json.RawMessage(`[1, 2]`)
	if _, err := tc.Send(t.Context(), m); err == nil {
		t.Error("Send with non-string array data succeeded")
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("provider got %d requests, want 0", n)
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
		{"signature failure", 200, "", signatureErr, channel.ClassPermanent, 0, "tencent_AuthFailure.SignatureFailure"},
		{"unknown secret id", 200, "", secretIDErr, channel.ClassPermanent, 0, "tencent_AuthFailure.SecretIdNotFound"},
		{"request limit", 200, "", requestLimit, channel.ClassRetryAfter, time.Second, "tencent_RequestLimitExceeded"},
		{"internal", 200, "", internalErr, channel.ClassRetryable, 0, "tencent_InternalError"},
		{"30 s limit", 200, "", statusBody("LimitExceeded.PhoneNumberThirtySecondLimit", "the number of sms messages sent from a single mobile number within 30 seconds exceeds the upper limit"), channel.ClassRetryAfter, 30 * time.Second, "tencent_LimitExceeded.PhoneNumberThirtySecondLimit"},
		{"1 h limit", 200, "", statusBody("LimitExceeded.PhoneNumberOneHourLimit", "the number of sms messages sent from a single mobile number within 1 hour exceeds the upper limit"), channel.ClassRetryAfter, time.Hour, "tencent_LimitExceeded.PhoneNumberOneHourLimit"},
		{"daily limit", 200, "", statusBody("LimitExceeded.PhoneNumberDailyLimit", "the number of sms messages sent from a single mobile number every day exceeds the upper limit"), channel.ClassPermanent, 0, "tencent_LimitExceeded.PhoneNumberDailyLimit"},
		{"template", 200, "", statusBody("FailedOperation.TemplateIncorrectOrUnapproved", "template is not approved or request content does not match the approved template content"), channel.ClassPermanent, 0, "tencent_FailedOperation.TemplateIncorrectOrUnapproved"},
		{"phone number", 200, "", statusBody("InvalidParameterValue.IncorrectPhoneNumber", "incorrect number format"), channel.ClassPermanent, 0, "tencent_InvalidParameterValue.IncorrectPhoneNumber"},
		{"backend timeout", 200, "", statusBody("InternalError.Timeout", "request timed out"), channel.ClassRetryable, 0, "tencent_InternalError.Timeout"},
		{"unknown code", 200, "", statusBody("Something.New", "x"), channel.ClassPermanent, 0, "tencent_Something.New"},
		{"no JSON at 200", 200, "", "<html>proxy</html>", channel.ClassRetryable, 0, "invalid_response"},
		{"502 with an unknown code", 502, "", `{"Response":{"Error":{"Code":"Gateway.New","Message":"x"}}}`, channel.ClassRetryable, 0, "tencent_Gateway.New"},
		{"503 Retry-After wins", 503, "4", internalErr, channel.ClassRetryAfter, 4 * time.Second, "tencent_InternalError"},
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
				t.Errorf("got class %v after %v reason %q status %d, want %v %v %q %d (%v)",
					ce.Class, ce.After, ce.Reason, ce.StatusCode, tt.class, tt.after, tt.reason, tt.status, err)
			}
			if strings.Contains(err.Error(), secretKey) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestLongTextTruncated(t *testing.T) {
	t.Parallel()
	f := startTencent(t, successBody)
	s := settings(f.URL)
	s.MaxLength = 60
	m := message()
	m.Text = strings.Repeat("短信内容", 100)
	if _, err := newSender(t, s).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var body struct{ TemplateParamSet []string }
	json.Unmarshal(f.requests()[0].body, &body)
	if len(body.TemplateParamSet) != 1 || utf8.RuneCountInString(body.TemplateParamSet[0]) != 60 {
		t.Errorf("TemplateParamSet = %q, want one parameter of 60 runes", body.TemplateParamSet)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(channel.Capabilities{MaxLength: 500}, newSender(t, settings("")).Capabilities()); diff != "" {
		t.Errorf("Capabilities (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		change func(*tencentsms.Settings)
		want   string
	}{
		{func(*tencentsms.Settings) {}, ""},
		{func(s *tencentsms.Settings) { s.SecretID = "" }, "secret_id is required"},
		{func(s *tencentsms.Settings) { s.SecretKey = "" }, "secret_key is required"},
		{func(s *tencentsms.Settings) { s.SDKAppID = "" }, "sdk_app_id is required"},
		{func(s *tencentsms.Settings) { s.SDKAppID = "app" }, "sdk_app_id \"app\""},
		{func(s *tencentsms.Settings) { s.TemplateID = "" }, "template_id is required"},
		{func(s *tencentsms.Settings) { s.To = "13800138000" }, "to \"13800138000\""},
		{func(s *tencentsms.Settings) { s.MaxLength = -2 }, "max_length"},
		{func(s *tencentsms.Settings) { s.Region = "ap guangzhou" }, "region"},
		{func(s *tencentsms.Settings) { s.APIURL = "sms.tencentcloudapi.com" }, "api_url"},
		{func(s *tencentsms.Settings) { s.APIURL = "https://sms.tencentcloudapi.com/v1" }, "no path"},
	}
	for i, tt := range tests {
		s := settings("")
		tt.change(s)
		err := s.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("case %d: Validate = %v, want %q", i, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), secretKey) {
			t.Errorf("case %d: error shows the secret", i)
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
		t.Errorf("differs from %s:\n got: %s\nwant: %s", path, got, want)
	}
}
