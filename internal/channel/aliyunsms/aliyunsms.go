// Package aliyunsms sends SMS through Alibaba Cloud Short Message Service:
// the SendSms operation of Dysmsapi (API version 2017-05-25), an RPC-style
// call signed with the v1 signature (HMAC-SHA1, SignatureVersion 1.0):
//
//	POST https://dysmsapi.aliyuncs.com/
//	Content-Type: application/x-www-form-urlencoded
//
//	AccessKeyId=...&Action=SendSms&Format=JSON&OutId=<message id>
//	&PhoneNumbers=...&RegionId=cn-hangzhou&SignName=...
//	&SignatureMethod=HMAC-SHA1&SignatureNonce=<random>&SignatureVersion=1.0
//	&TemplateCode=SMS_...&TemplateParam={"content":"..."}
//	&Timestamp=2017-07-12T02:42:19Z&Version=2017-05-25&Signature=...
//
// Alibaba Cloud only sends approved templates, so a message's text fills
// one template variable: TemplateParam is the message's Data when that is
// a JSON object (its keys are the template's variables), otherwise
// {"<text_param>": "<text>"}.
//
// The answer is JSON, {"Code":"OK","Message":"OK","BizId":"...","RequestId":"..."}
// on success (BizId becomes the provider id); any other Code is a failure,
// usually with HTTP 200, classified by code (see Classify).
package aliyunsms

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// Version is the Dysmsapi API version SendSms is called with.
const Version = "2017-05-25"

// BusinessLimitDelay is how long a message waits after
// isv.BUSINESS_LIMIT_CONTROL, Alibaba Cloud's per-number rate control
// (by default 1 message a minute, 5 an hour and 10 a day to one number):
// the minute limit is the one a retry can outwait.
const BusinessLimitDelay = time.Minute

// Sender sends SMS through one Alibaba Cloud account. It is safe for
// concurrent use.
type Sender struct {
	endpoint      string
	keyID, secret string
	signName      string
	template      string
	region        string
	to            string
	textParam     string
	maxLength     int
	subjectPrefix bool
	client        *http.Client
	now           func() time.Time
	nonce         func() string
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass a
// long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("aliyunsms: nil settings")
	}
	if client == nil {
		return nil, errors.New("aliyunsms: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("aliyunsms: %w", err)
	}
	out := &Sender{
		endpoint:      DefaultAPIURL + "/",
		keyID:         s.AccessKeyID,
		secret:        s.AccessKeySecret.Value(),
		signName:      s.SignName,
		template:      s.TemplateCode,
		region:        s.Region,
		to:            s.To,
		textParam:     s.TextParam,
		maxLength:     s.MaxLength,
		subjectPrefix: s.SubjectPrefix,
		client:        client,
		now:           time.Now,
		nonce:         randomNonce,
	}
	if s.APIURL != "" {
		out.endpoint = strings.TrimRight(s.APIURL, "/") + "/"
	}
	if out.region == "" {
		out.region = DefaultRegion
	}
	if out.textParam == "" {
		out.textParam = DefaultTextParam
	}
	if out.maxLength == 0 {
		out.maxLength = DefaultMaxLength
	}
	return out, nil
}

// Capabilities implements channel.Describer: plain text, truncated to
// max_length; the carrier joins long SMS itself.
func (s *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: s.maxLength}
}

// Send makes one SendSms call per part of m (normally one) and returns the
// first one's receipt, whose ProviderID is the BizId.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("aliyunsms: nil message"))
	}
	to := m.To
	if to == "" {
		to = s.to
	}
	if to == "" {
		return nil, channel.Permanent("no_recipient", 0, errors.New("aliyunsms: the message has no recipient and the channel no default to"))
	}
	phone, ok := phoneNumber(to)
	if !ok {
		return nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("aliyunsms: recipient %q is not E.164 or an 11-digit mainland China mobile number", to))
	}
	texts := m.Parts
	if len(texts) == 0 {
		texts = []string{s.text(m)}
	}
	var first *channel.Receipt
	for i, text := range texts {
		param, err := s.templateParam(m.Data, channel.Truncate(text, s.maxLength))
		if err != nil {
			return nil, err
		}
		r, err := s.call(ctx, phone, param, m.ID)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("aliyunsms: part %d of %d: %w", i+1, len(texts), err)
			}
			return nil, err
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

func (s *Sender) text(m *channel.Message) string {
	if s.subjectPrefix && m.Subject != "" {
		if m.Text == "" {
			return m.Subject
		}
		return m.Subject + ": " + m.Text
	}
	return m.Text
}

// templateParam returns the TemplateParam JSON: data when it is a JSON
// object, else {"<text_param>": text}.
func (s *Sender) templateParam(data json.RawMessage, text string) (string, error) {
	if d := bytes.TrimSpace(data); len(d) > 0 && d[0] == '{' {
		var buf bytes.Buffer
		if err := json.Compact(&buf, d); err != nil {
			return "", channel.Permanent("invalid_data", 0, fmt.Errorf("aliyunsms: message data is not valid JSON: %w", err))
		}
		return buf.String(), nil
	}
	if strings.TrimSpace(text) == "" {
		return "", channel.Permanent("empty_text", 0, errors.New("aliyunsms: the message text is empty"))
	}
	b, err := json.Marshal(map[string]string{s.textParam: text})
	if err != nil {
		return "", channel.Permanent("invalid_message", 0, fmt.Errorf("aliyunsms: %w", err))
	}
	return string(b), nil
}

// params returns the signed parameters of one SendSms call.
func (s *Sender) params(phone, templateParam, outID string) map[string]string {
	p := map[string]string{
		"AccessKeyId":      s.keyID,
		"Action":           "SendSms",
		"Format":           "JSON",
		"PhoneNumbers":     phone,
		"RegionId":         s.region,
		"SignName":         s.signName,
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   s.nonce(),
		"SignatureVersion": "1.0",
		"TemplateCode":     s.template,
		"TemplateParam":    templateParam,
		"Timestamp":        s.now().UTC().Format("2006-01-02T15:04:05Z"),
		"Version":          Version,
	}
	if outID != "" {
		p["OutId"] = outID
	}
	p["Signature"] = Sign(http.MethodPost, p, s.secret)
	return p
}

// call makes one signed SendSms request.
func (s *Sender) call(ctx context.Context, phone, templateParam, outID string) (*channel.Receipt, error) {
	p := s.params(phone, templateParam, outID)
	body := CanonicalQuery(p) + "&Signature=" + PercentEncode(p["Signature"])
	secrets := []string{s.secret, p["Signature"], PercentEncode(p["Signature"])}
	resp, err := httpcall.Do(ctx, s.client, httpcall.Request{
		URL:     s.endpoint,
		Header:  http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}},
		Body:    []byte(body),
		Secrets: secrets,
	})
	if err != nil {
		return nil, err
	}
	if err := Classify(resp, secrets...); err != nil {
		return nil, err
	}
	var ok struct {
		BizID string `json:"BizId"`
	}
	_ = json.Unmarshal(resp.Body, &ok)
	return &channel.Receipt{ProviderID: ok.BizID, StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// apiResult is the body of every SendSms answer, success or failure.
type apiResult struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	BizID     string `json:"BizId"`
	RequestID string `json:"RequestId"`
}

// Classify turns a SendSms answer into nil (success) or a classified
// error. The HTTP status rules come first, so a Retry-After header is
// honoured; the answer's Code then decides (see codeClass), for 2xx
// answers too, since Alibaba Cloud reports most failures with HTTP 200.
func Classify(resp *httpcall.Response, secrets ...string) error {
	base := httpcall.Classify(resp, secrets...)
	var r apiResult
	parsed := json.Unmarshal(resp.Body, &r) == nil && r.Code != ""
	if base == nil {
		if parsed && r.Code == "OK" {
			return nil
		}
		if !parsed {
			return channel.Retryable("invalid_response", resp.StatusCode,
				errors.New("aliyunsms: the answer has no Code; did the request reach Alibaba Cloud?"))
		}
	}
	var ce *channel.Error
	if base != nil && (!parsed || !errors.As(base, &ce)) {
		return base
	}
	out := channel.Error{StatusCode: resp.StatusCode, Response: resp.Body}
	if ce != nil {
		out = *ce
	}
	out.Reason = "aliyun_" + r.Code
	out.Err = fmt.Errorf("aliyunsms: HTTP %d: %s: %s (RequestId %s)", resp.StatusCode, r.Code, r.Message, r.RequestID)
	if out.Class != channel.ClassRetryAfter {
		class, after, known := codeClass(r.Code)
		// A 2xx that is not OK is a refusal whatever the code; for other
		// statuses an unknown code leaves the status rules' verdict.
		if known || ce == nil {
			out.Class, out.After = class, after
		}
	}
	return httpcall.Scrub(&out, secrets...)
}

// codeClass maps a SendSms error Code to a class (and delay); known is
// false for a code this package has no rule for, which is then permanent.
func codeClass(code string) (class channel.Class, after time.Duration, known bool) {
	switch code {
	case "isv.BUSINESS_LIMIT_CONTROL":
		return channel.ClassRetryAfter, BusinessLimitDelay, true
	case "isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "isp.UNKNOWN_ERR_CODE",
		"InternalError", "ServiceUnavailable", "SignatureNonceUsed",
		"InvalidTimeStamp.Expired":
		// Alibaba says "try again later"; a retry carries a new nonce
		// and timestamp.
		return channel.ClassRetryable, 0, true
	case "SignatureDoesNotMatch", "IncompleteSignature", "isp.RAM_PERMISSION_DENY",
		"Forbidden.RAM", "MissingParameter", "InvalidParameter":
		return channel.ClassPermanent, 0, true
	}
	switch {
	case strings.HasPrefix(code, "Throttling"):
		return channel.ClassRetryable, 0, true
	case strings.HasPrefix(code, "isv."), strings.HasPrefix(code, "InvalidAccessKeyId"):
		// isv.* are the caller's problems (number, template, signature,
		// balance, the daily or monthly quota set in the console):
		// sending the same request again cannot help.
		return channel.ClassPermanent, 0, true
	}
	return channel.ClassPermanent, 0, false
}

// randomNonce returns a fresh SignatureNonce.
func randomNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
