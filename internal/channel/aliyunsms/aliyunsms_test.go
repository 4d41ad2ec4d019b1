package aliyunsms_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
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
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/aliyunsms"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	keyID     = "LTAI5tTestKeyId000001"
	keySecret = "TestAccessKeySecret0123456789ab"
	signName  = "阿里云短信测试"
	template  = "SMS_154950909"
	recipient = "+8613800138000"
)

// Answers as Alibaba Cloud's SendSms reference and error-code pages show
// them.
const (
	successBody   = `{"Message":"OK","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990","BizId":"900619746936498440^0","Code":"OK"}`
	limitBody     = `{"Message":"触发分钟级流控Permits:1","RequestId":"C0A0BE93-B44F-4350-BCC8-B677F78C3802","Code":"isv.BUSINESS_LIMIT_CONTROL"}`
	mobileBody    = `{"Message":"invalid mobile number","RequestId":"A9B2C7D1-0F44-4A58-9E0D-2B1C3D4E5F60","Code":"isv.MOBILE_NUMBER_ILLEGAL"}`
	templateBody  = `{"Message":"模板不合法(不存在或被拉黑)","RequestId":"A9B2C7D1-0F44-4A58-9E0D-2B1C3D4E5F61","Code":"isv.SMS_TEMPLATE_ILLEGAL"}`
	signatureBody = `{"Message":"签名不合法(不存在或被拉黑)","RequestId":"A9B2C7D1-0F44-4A58-9E0D-2B1C3D4E5F62","Code":"isv.SMS_SIGNATURE_ILLEGAL"}`
	amountBody    = `{"Message":"账户余额不足","RequestId":"A9B2C7D1-0F44-4A58-9E0D-2B1C3D4E5F63","Code":"isv.AMOUNT_NOT_ENOUGH"}`
	systemBody    = `{"Message":"系统错误","RequestId":"A9B2C7D1-0F44-4A58-9E0D-2B1C3D4E5F64","Code":"isp.SYSTEM_ERROR"}`
	ramBody       = `{"Message":"RAM权限DENY","RequestId":"A9B2C7D1-0F44-4A58-9E0D-2B1C3D4E5F65","Code":"isp.RAM_PERMISSION_DENY"}`
	sigMismatch   = `{"RequestId":"8E1A5F4B-3C2D-4E5F-8A9B-0C1D2E3F4A5B","HostId":"dysmsapi.aliyuncs.com","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation.","Recommend":"https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch"}`
	keyNotFound   = `{"RequestId":"8E1A5F4B-3C2D-4E5F-8A9B-0C1D2E3F4A5C","HostId":"dysmsapi.aliyuncs.com","Code":"InvalidAccessKeyId.NotFound","Message":"Specified access key is not found."}`
	throttling    = `{"RequestId":"8E1A5F4B-3C2D-4E5F-8A9B-0C1D2E3F4A5D","HostId":"dysmsapi.aliyuncs.com","Code":"Throttling.User","Message":"Request was denied due to user flow control."}`
	internalBody  = `{"RequestId":"8E1A5F4B-3C2D-4E5F-8A9B-0C1D2E3F4A5E","HostId":"dysmsapi.aliyuncs.com","Code":"InternalError","Message":"The request processing has failed due to some unknown error."}`
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func settings(apiURL string) *aliyunsms.Settings {
	return &aliyunsms.Settings{AccessKeyID: keyID, AccessKeySecret: keySecret, SignName: signName, TemplateCode: template, APIURL: apiURL}
}

func newSender(t *testing.T, s *aliyunsms.Settings) *aliyunsms.Sender {
	t.Helper()
	a, err := aliyunsms.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func message() *channel.Message {
	m := channeltest.Message()
	m.To = recipient
	return m
}

func respond(w http.ResponseWriter, _ *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	switch {
	case status >= 200 && status < 300:
		io.WriteString(w, successBody)
	case status == 400:
		io.WriteString(w, sigMismatch)
	case status == 401, status == 404:
		io.WriteString(w, keyNotFound)
	case status == 429:
		io.WriteString(w, throttling)
	case status >= 500:
		io.WriteString(w, internalBody)
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
		Secrets:   []string{keySecret},
	})
}

type fakeAliyun struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func startAliyun(t *testing.T, status int, answer string) *fakeAliyun {
	t.Helper()
	f := &fakeAliyun{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Clone(t.Context()))
		f.body = append(f.body, b)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAliyun) only(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(f.reqs))
	}
	return f.reqs[0], f.body[0]
}

// verifySignature recomputes the request's signature the way Alibaba's
// own Java sample does (URLEncoder, then + → %20, * → %2A, %7E → ~),
// independently of the package's PercentEncode.
func verifySignature(t *testing.T, form url.Values, secret string) {
	t.Helper()
	enc := func(s string) string {
		e := url.QueryEscape(s)
		e = strings.ReplaceAll(e, "+", "%20")
		e = strings.ReplaceAll(e, "*", "%2A")
		return strings.ReplaceAll(e, "%7E", "~")
	}
	var keys []string
	for k := range form {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, enc(k)+"="+enc(form.Get(k)))
	}
	sts := "POST&%2F&" + enc(strings.Join(pairs, "&"))
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(sts))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); form.Get("Signature") != want {
		t.Errorf("Signature = %q, want %q", form.Get("Signature"), want)
	}
}

var fixedTime = time.Date(2026, 3, 1, 8, 30, 0, 0, time.FixedZone("CST", 8*3600))

func TestSendRequest(t *testing.T) {
	t.Parallel()
	f := startAliyun(t, http.StatusOK, successBody)
	a := newSender(t, settings(f.URL))
	aliyunsms.SetClock(a, func() time.Time { return fixedTime }, func() string { return "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" })
	r, err := a.Send(t.Context(), message())
	if err != nil {
		t.Fatal(err)
	}
	if r.ProviderID != "900619746936498440^0" || r.StatusCode != 200 {
		t.Errorf("receipt = %+v, want BizId and 200", r)
	}
	req, body := f.only(t)
	if req.Method != http.MethodPost || req.URL.Path != "/" || req.URL.RawQuery != "" {
		t.Errorf("request = %s %s?%s, want POST / with the parameters in the body", req.Method, req.URL.Path, req.URL.RawQuery)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatal(err)
	}
	verifySignature(t, form, keySecret)
	want := map[string]string{
		"AccessKeyId":      keyID,
		"Action":           "SendSms",
		"Format":           "JSON",
		"OutId":            "0195f1c2-7a3b-7c00-9d1e-000000000001",
		"PhoneNumbers":     recipient,
		"RegionId":         "cn-hangzhou",
		"SignName":         signName,
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
		"SignatureVersion": "1.0",
		"TemplateCode":     template,
		"TemplateParam":    `{"content":"Order 1001 was paid: 42.00 EUR."}`,
		"Timestamp":        "2026-03-01T00:30:00Z",
		"Version":          "2017-05-25",
	}
	got := map[string]string{}
	for k := range form {
		if k != "Signature" {
			got[k] = form.Get(k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	golden(t, "message.golden.txt", body)
}

func TestSendDataAndOptions(t *testing.T) {
	t.Parallel()
	f := startAliyun(t, http.StatusOK, successBody)
	s := settings(f.URL)
	s.To, s.Region, s.TextParam = "13800138000", "cn-shanghai", "msg"
	a := newSender(t, s)
	m := message()
	m.To = ""
	m.Data = json.RawMessage(`{ "order": "1001",  "amount": "42.00" }`)
	if _, err := a.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	_, body := f.only(t)
	form, _ := url.ParseQuery(string(body))
	verifySignature(t, form, keySecret)
	if got := form.Get("TemplateParam"); got != `{"order":"1001","amount":"42.00"}` {
		t.Errorf("TemplateParam = %s, want the compacted data object", got)
	}
	if form.Get("PhoneNumbers") != "13800138000" || form.Get("RegionId") != "cn-shanghai" {
		t.Errorf("PhoneNumbers %q RegionId %q", form.Get("PhoneNumbers"), form.Get("RegionId"))
	}

	// Data that is not an object leaves the text in text_param.
	f2 := startAliyun(t, http.StatusOK, successBody)
	s2 := settings(f2.URL)
	s2.TextParam, s2.SubjectPrefix = "msg", true
	m2 := message()
	m2.To = "+85212345678"
	m2.Data = json.RawMessage(`["not","an","object"]`)
	if _, err := newSender(t, s2).Send(t.Context(), m2); err != nil {
		t.Fatal(err)
	}
	_, body2 := f2.only(t)
	form2, _ := url.ParseQuery(string(body2))
	if got := form2.Get("TemplateParam"); got != `{"msg":"Order 1001 paid: Order 1001 was paid: 42.00 EUR."}` {
		t.Errorf("TemplateParam = %s", got)
	}
	if got := form2.Get("PhoneNumbers"); got != "85212345678" {
		t.Errorf("international PhoneNumbers = %q, want country code and number without +", got)
	}
}

func TestSendInvalid(t *testing.T) {
	t.Parallel()
	f := startAliyun(t, http.StatusOK, successBody)
	a := newSender(t, settings(f.URL))
	for _, to := range []string{"", "12345", "+86 138 0013 8000", "23800138000", "+0123456789"} {
		m := message()
		m.To = to
		_, err := a.Send(t.Context(), m)
		var ce *channel.Error
		if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent {
			t.Errorf("Send to %q = %v, want permanent", to, err)
		}
	}
	m := message()
	m.Data = json.RawMessage(`{"broken":`)
	if _, err := a.Send(t.Context(), m); err == nil {
		t.Error("Send with broken JSON data succeeded")
	}
	m = message()
	m.Text = " "
	if _, err := a.Send(t.Context(), m); err == nil {
		t.Error("Send with an empty text succeeded")
	}
	if len(f.reqs) != 0 {
		t.Errorf("provider got %d requests, want 0", len(f.reqs))
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
		{"rate control", 200, "", limitBody, channel.ClassRetryAfter, time.Minute, "aliyun_isv.BUSINESS_LIMIT_CONTROL"},
		{"illegal mobile", 200, "", mobileBody, channel.ClassPermanent, 0, "aliyun_isv.MOBILE_NUMBER_ILLEGAL"},
		{"illegal template", 200, "", templateBody, channel.ClassPermanent, 0, "aliyun_isv.SMS_TEMPLATE_ILLEGAL"},
		{"illegal signature", 200, "", signatureBody, channel.ClassPermanent, 0, "aliyun_isv.SMS_SIGNATURE_ILLEGAL"},
		{"no balance", 200, "", amountBody, channel.ClassPermanent, 0, "aliyun_isv.AMOUNT_NOT_ENOUGH"},
		{"system error", 200, "", systemBody, channel.ClassRetryable, 0, "aliyun_isp.SYSTEM_ERROR"},
		{"RAM deny", 200, "", ramBody, channel.ClassPermanent, 0, "aliyun_isp.RAM_PERMISSION_DENY"},
		{"signature mismatch", 400, "", sigMismatch, channel.ClassPermanent, 0, "aliyun_SignatureDoesNotMatch"},
		{"unknown key", 404, "", keyNotFound, channel.ClassPermanent, 0, "aliyun_InvalidAccessKeyId.NotFound"},
		{"throttling", 400, "", throttling, channel.ClassRetryable, 0, "aliyun_Throttling.User"},
		{"internal", 500, "", internalBody, channel.ClassRetryable, 0, "aliyun_InternalError"},
		{"503 Retry-After wins", 503, "9", internalBody, channel.ClassRetryAfter, 9 * time.Second, "aliyun_InternalError"},
		{"unknown code at 502", 502, "", `{"Code":"Something.New","Message":"x"}`, channel.ClassRetryable, 0, "aliyun_Something.New"},
		{"unknown code at 200", 200, "", `{"Code":"Something.New","Message":"x"}`, channel.ClassPermanent, 0, "aliyun_Something.New"},
		{"200 without Code", 200, "", `<html>proxy</html>`, channel.ClassRetryable, 0, "invalid_response"},
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
			if strings.Contains(err.Error(), keySecret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestLongTextTruncated(t *testing.T) {
	t.Parallel()
	for _, max := range []int{0, 70} {
		f := startAliyun(t, http.StatusOK, successBody)
		s := settings(f.URL)
		s.MaxLength = max
		a := newSender(t, s)
		limit := a.Capabilities().MaxLength
		if max == 0 && limit != aliyunsms.DefaultMaxLength || max != 0 && limit != max {
			t.Errorf("max_length %d: MaxLength = %d", max, limit)
		}
		m := message()
		m.Text = strings.Repeat("短信", limit)
		if _, err := a.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		_, body := f.only(t)
		form, _ := url.ParseQuery(string(body))
		var p map[string]string
		if err := json.Unmarshal([]byte(form.Get("TemplateParam")), &p); err != nil {
			t.Fatal(err)
		}
		if n := utf8.RuneCountInString(p["content"]); n != limit {
			t.Errorf("max_length %d: content has %d runes, want %d", max, n, limit)
		}
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
		change func(*aliyunsms.Settings)
		want   string
	}{
		{func(*aliyunsms.Settings) {}, ""},
		{func(s *aliyunsms.Settings) { s.To = "13800138000" }, ""},
		{func(s *aliyunsms.Settings) { s.AccessKeyID = "" }, "access_key_id is required"},
		{func(s *aliyunsms.Settings) { s.AccessKeySecret = "" }, "access_key_secret is required"},
		{func(s *aliyunsms.Settings) { s.SignName = " " }, "sign_name is required"},
		{func(s *aliyunsms.Settings) { s.TemplateCode = "" }, "template_code is required"},
		{func(s *aliyunsms.Settings) { s.MaxLength = -1 }, "max_length"},
		{func(s *aliyunsms.Settings) { s.To = "555" }, `to "555"`},
		{func(s *aliyunsms.Settings) { s.TextParam = `a"b` }, "text_param"},
		{func(s *aliyunsms.Settings) { s.APIURL = "dysmsapi.aliyuncs.com" }, "api_url"},
	}
	for i, tt := range tests {
		s := settings("")
		tt.change(s)
		err := s.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("case %d: Validate = %v, want %q", i, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), keySecret) {
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
		t.Errorf("request body differs from %s:\n got: %s\nwant: %s", path, got, want)
	}
}
