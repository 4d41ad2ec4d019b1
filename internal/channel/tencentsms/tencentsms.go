// Package tencentsms sends SMS through Tencent Cloud SMS, API 3.0
// SendSms (version 2021-01-11), signed with TC3-HMAC-SHA256:
//
//	POST https://sms.tencentcloudapi.com/
//	Content-Type: application/json; charset=utf-8
//	X-TC-Action: SendSms
//	X-TC-Version: 2021-01-11
//	X-TC-Timestamp: 1551113065
//	X-TC-Region: ap-guangzhou
//	Authorization: TC3-HMAC-SHA256 Credential=SecretId/2019-02-25/sms/tc3_request, SignedHeaders=content-type;host, Signature=...
//
//	{"PhoneNumberSet":["+8613800138000"],"SmsSdkAppId":"1400006666","SignName":"腾讯云",
//	 "TemplateId":"1110","TemplateParamSet":["..."],"SessionContext":"<message id>"}
//
// Tencent Cloud only sends approved templates, so the message fills the
// template's parameters: TemplateParamSet is the message's Data when that
// is a JSON array of strings (one per template parameter, in order),
// otherwise the text alone.
//
// Tencent answers HTTP 200 in every case. Success is a SendStatusSet entry
// with Code "Ok" (its SerialNo becomes the provider id); a per-number Code
// other than "Ok", or a top-level Response.Error, is a failure classified
// by code (see Classify).
package tencentsms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/httpcall"
)

// API identifiers of the call.
const (
	Action      = "SendSms"
	Version     = "2021-01-11"
	Service     = "sms"
	ContentType = "application/json; charset=utf-8"
)

// Delays for Tencent's per-number frequency limits, named after the
// window each limit counts in.
const (
	ThirtySecondLimitDelay = 30 * time.Second
	OneHourLimitDelay      = time.Hour
	RequestLimitDelay      = time.Second
)

// Sender sends SMS through one Tencent Cloud SMS application. It is safe
// for concurrent use.
type Sender struct {
	endpoint      string
	host          string
	secretID      string
	secretKey     string
	appID         string
	signName      string
	templateID    string
	senderID      string
	region        string
	to            string
	maxLength     int
	subjectPrefix bool
	client        *http.Client
	now           func() time.Time
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. client makes the requests; pass a
// long-lived one (netguard.Guard.HTTPClient) so connections are reused.
func New(s *Settings, client *http.Client) (*Sender, error) {
	if s == nil {
		return nil, errors.New("tencentsms: nil settings")
	}
	if client == nil {
		return nil, errors.New("tencentsms: nil HTTP client")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("tencentsms: %w", err)
	}
	base := s.APIURL
	if base == "" {
		base = DefaultAPIURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, errors.New("tencentsms: api_url is malformed")
	}
	out := &Sender{
		endpoint:      u.Scheme + "://" + u.Host + "/",
		host:          u.Host,
		secretID:      s.SecretID,
		secretKey:     s.SecretKey.Value(),
		appID:         s.SDKAppID,
		signName:      s.SignName,
		templateID:    s.TemplateID,
		senderID:      s.SenderID,
		region:        s.Region,
		to:            s.To,
		maxLength:     s.MaxLength,
		subjectPrefix: s.SubjectPrefix,
		client:        client,
		now:           time.Now,
	}
	if out.region == "" {
		out.region = DefaultRegion
	}
	if out.maxLength == 0 {
		out.maxLength = DefaultMaxLength
	}
	return out, nil
}

// Capabilities implements channel.Describer: plain text, truncated.
func (s *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: s.maxLength}
}

// request is the SendSms body; the field order is the documentation's.
type request struct {
	PhoneNumberSet   []string `json:"PhoneNumberSet"`
	SmsSdkAppID      string   `json:"SmsSdkAppId"`
	SignName         string   `json:"SignName,omitempty"`
	TemplateID       string   `json:"TemplateId"`
	TemplateParamSet []string `json:"TemplateParamSet,omitempty"`
	SessionContext   string   `json:"SessionContext,omitempty"`
	SenderID         string   `json:"SenderId,omitempty"`
}

// Send makes one SendSms call per part of m (normally one) and returns the
// first one's receipt, whose ProviderID is the SerialNo.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("tencentsms: nil message"))
	}
	to := m.To
	if to == "" {
		to = s.to
	}
	if to == "" {
		return nil, channel.Permanent("no_recipient", 0, errors.New("tencentsms: the message has no recipient and the channel no default to"))
	}
	if !channel.ValidE164(to) {
		return nil, channel.Permanent("invalid_recipient", 0, fmt.Errorf("tencentsms: recipient %q is not an E.164 phone number", to))
	}
	texts := m.Parts
	if len(texts) == 0 {
		texts = []string{s.text(m)}
	}
	var first *channel.Receipt
	for i, text := range texts {
		params, err := s.templateParams(m.Data, channel.Truncate(text, s.maxLength))
		if err != nil {
			return nil, err
		}
		body, err := s.body(to, params, m.ID)
		if err != nil {
			return nil, err
		}
		r, err := s.call(ctx, body)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("tencentsms: part %d of %d: %w", i+1, len(texts), err)
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

// templateParams returns TemplateParamSet: data when it is a JSON array
// of strings (each truncated like the text), else [text].
func (s *Sender) templateParams(data json.RawMessage, text string) ([]string, error) {
	if d := bytes.TrimSpace(data); len(d) > 0 && d[0] == '[' {
		var params []string
		if err := json.Unmarshal(d, &params); err != nil {
			return nil, channel.Permanent("invalid_data", 0, fmt.Errorf("tencentsms: message data is not a JSON array of strings: %w", err))
		}
		for i := range params {
			params[i] = channel.Truncate(params[i], s.maxLength)
		}
		return params, nil
	}
	if strings.TrimSpace(text) == "" {
		return nil, channel.Permanent("empty_text", 0, errors.New("tencentsms: the message text is empty"))
	}
	return []string{text}, nil
}

func (s *Sender) body(to string, params []string, id string) ([]byte, error) {
	b, err := channel.MarshalJSON(request{
		PhoneNumberSet:   []string{to},
		SmsSdkAppID:      s.appID,
		SignName:         s.signName,
		TemplateID:       s.templateID,
		TemplateParamSet: params,
		SessionContext:   id,
		SenderID:         s.senderID,
	})
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("tencentsms: %w", err))
	}
	return b, nil
}

// call makes one signed SendSms request with body.
func (s *Sender) call(ctx context.Context, body []byte) (*channel.Receipt, error) {
	ts := s.now().Unix()
	sig := TC3Request{Service: Service, Host: s.host, ContentType: ContentType, Payload: body, Timestamp: ts}
	auth := sig.Authorization(s.secretID, s.secretKey)
	secrets := []string{s.secretKey, sig.Signature(s.secretKey)}
	resp, err := httpcall.Do(ctx, s.client, httpcall.Request{
		URL: s.endpoint,
		Header: http.Header{
			"Content-Type":   {ContentType},
			"X-Tc-Action":    {Action},
			"X-Tc-Version":   {Version},
			"X-Tc-Timestamp": {strconv.FormatInt(ts, 10)},
			"X-Tc-Region":    {s.region},
			"Authorization":  {auth},
		},
		Body:    body,
		Secrets: secrets,
	})
	if err != nil {
		return nil, err
	}
	serial, err := Classify(resp, secrets...)
	if err != nil {
		return nil, err
	}
	return &channel.Receipt{ProviderID: serial, StatusCode: resp.StatusCode, Response: resp.Body}, nil
}

// answer is the SendSms response.
type answer struct {
	Response struct {
		Error *struct {
			Code    string `json:"Code"`
			Message string `json:"Message"`
		} `json:"Error"`
		SendStatusSet []struct {
			SerialNo    string `json:"SerialNo"`
			PhoneNumber string `json:"PhoneNumber"`
			Code        string `json:"Code"`
			Message     string `json:"Message"`
		} `json:"SendStatusSet"`
		RequestID string `json:"RequestId"`
	} `json:"Response"`
}

// Classify turns a SendSms answer into the SerialNo of the accepted
// message or a classified error. The HTTP status rules come first (so a
// Retry-After header is honoured); then a top-level Error code, then the
// first number's status code decide.
func Classify(resp *httpcall.Response, secrets ...string) (string, error) {
	base := httpcall.Classify(resp, secrets...)
	var a answer
	parsed := json.Unmarshal(resp.Body, &a) == nil
	code, msg := "", ""
	switch {
	case !parsed:
	case a.Response.Error != nil:
		code, msg = a.Response.Error.Code, a.Response.Error.Message
	case len(a.Response.SendStatusSet) > 0:
		st := a.Response.SendStatusSet[0]
		if st.Code == "Ok" && base == nil {
			return st.SerialNo, nil
		}
		code, msg = st.Code, st.Message
	}
	if code == "" {
		if base != nil {
			return "", base
		}
		return "", channel.Retryable("invalid_response", resp.StatusCode,
			errors.New("tencentsms: the answer has neither SendStatusSet nor Error; did the request reach Tencent Cloud?"))
	}
	out := channel.Error{StatusCode: resp.StatusCode, Response: resp.Body}
	var ce *channel.Error
	if base != nil && errors.As(base, &ce) {
		out = *ce
	}
	out.Reason = "tencent_" + code
	out.Err = fmt.Errorf("tencentsms: HTTP %d: %s: %s (RequestId %s)", resp.StatusCode, code, msg, a.Response.RequestID)
	if out.Class != channel.ClassRetryAfter {
		class, after, known := codeClass(code)
		if known || ce == nil {
			out.Class, out.After = class, after
		}
	}
	return "", httpcall.Scrub(&out, secrets...)
}

// codeClass maps an error code to a class (and delay); known is false for
// a code with no rule here, which is then permanent.
func codeClass(code string) (class channel.Class, after time.Duration, known bool) {
	switch code {
	case "LimitExceeded.PhoneNumberThirtySecondLimit":
		return channel.ClassRetryAfter, ThirtySecondLimitDelay, true
	case "LimitExceeded.PhoneNumberOneHourLimit":
		return channel.ClassRetryAfter, OneHourLimitDelay, true
	case "LimitExceeded.DeliveryFrequencyLimit":
		// The console's own frequency policy: no window is published.
		return channel.ClassRetryable, 0, true
	case "InternalError.SigVerificationFail", "InternalError.SigFieldMissing",
		"InternalError.RestApiInterfaceNotExist":
		return channel.ClassPermanent, 0, true
	}
	switch {
	case strings.HasPrefix(code, "RequestLimitExceeded"):
		return channel.ClassRetryAfter, RequestLimitDelay, true
	case code == "InternalError" || strings.HasPrefix(code, "InternalError."),
		code == "ResourceUnavailable" || strings.HasPrefix(code, "ResourceUnavailable."):
		return channel.ClassRetryable, 0, true
	case strings.HasPrefix(code, "LimitExceeded"):
		// Daily and per-application quotas: no retry within a message's
		// lifetime can outwait them.
		return channel.ClassPermanent, 0, true
	case strings.HasPrefix(code, "AuthFailure"), strings.HasPrefix(code, "FailedOperation"),
		strings.HasPrefix(code, "InvalidParameter"), strings.HasPrefix(code, "MissingParameter"),
		strings.HasPrefix(code, "UnauthorizedOperation"), strings.HasPrefix(code, "UnsupportedOperation"),
		code == "InvalidAction", code == "NoSuchVersion", code == "ActionOffline":
		return channel.ClassPermanent, 0, true
	}
	return channel.ClassPermanent, 0, false
}
