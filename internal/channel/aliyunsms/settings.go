package aliyunsms

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// Defaults.
const (
	// DefaultAPIURL is the SMS endpoint for mainland China. International
	// accounts use https://dysmsapi.ap-southeast-1.aliyuncs.com.
	DefaultAPIURL = "https://dysmsapi.aliyuncs.com"
	// DefaultRegion is the RegionId sent with every request.
	DefaultRegion = "cn-hangzhou"
	// DefaultTextParam is the template variable the text is sent in when
	// the message has no JSON object in Data.
	DefaultTextParam = "content"
	// DefaultMaxLength is the longest SMS Alibaba Cloud sends (500
	// characters, signature included). A template adds its own text to the
	// variable, so set max_length to what your template leaves.
	DefaultMaxLength = 500
)

// Settings configure an Alibaba Cloud SMS (Dysmsapi) channel. Alibaba Cloud
// only sends SMS built from an approved signature and template: the text of
// a message fills one of the template's variables.
type Settings struct {
	// AccessKeyID and AccessKeySecret are a RAM user's AccessKey pair
	// (with the AliyunDysmsFullAccess or a narrower SendSms policy).
	AccessKeyID     string         `yaml:"access_key_id"`
	AccessKeySecret channel.Secret `yaml:"access_key_secret"`
	// SignName is the approved SMS signature, e.g. 阿里云短信测试.
	SignName string `yaml:"sign_name"`
	// TemplateCode is the approved template, e.g. SMS_154950909.
	TemplateCode string `yaml:"template_code"`
	// To is the default recipient: E.164 (+8613800000000), or an 11-digit
	// mainland China mobile number without prefix.
	To string `yaml:"to"`
	// TextParam is the template variable that receives the text (default
	// "content"), used when the message's Data is not a JSON object.
	TextParam string `yaml:"text_param"`
	// Region is the RegionId parameter (default cn-hangzhou).
	Region string `yaml:"region"`
	// MaxLength caps the text in runes (default 500, the whole SMS limit).
	MaxLength int `yaml:"max_length"`
	// SubjectPrefix, when true, sends "subject: text".
	SubjectPrefix bool `yaml:"subject_prefix"`
	// APIURL overrides the endpoint (default https://dysmsapi.aliyuncs.com).
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the AccessKey secret.
func (s *Settings) Validate() error {
	switch {
	case strings.TrimSpace(s.AccessKeyID) == "":
		return errors.New("access_key_id is required")
	case s.AccessKeySecret == "":
		return errors.New("access_key_secret is required")
	case strings.TrimSpace(s.SignName) == "":
		return errors.New("sign_name is required")
	case strings.TrimSpace(s.TemplateCode) == "":
		return errors.New("template_code is required")
	case s.MaxLength < 0:
		return errors.New("max_length must not be negative")
	}
	if s.To != "" {
		if _, ok := phoneNumber(s.To); !ok {
			return fmt.Errorf("to %q is not an E.164 number or an 11-digit mainland China mobile number", s.To)
		}
	}
	if strings.ContainsAny(s.TextParam, "\"\\") {
		return fmt.Errorf("text_param %q must not contain quotes or backslashes", s.TextParam)
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	return nil
}

// FromURL fills settings (a *Settings) from a channel URL. Apprise has no
// Alibaba Cloud SMS form; Herald's is
//
//	aliyun://AccessKeyId:AccessKeySecret@SignName/TemplateCode/Phone?region=cn-hangzhou
//
// (also aliyunsms://). SignName may be percent-encoded UTF-8 (a Chinese
// signature); Phone is optional. Query parameters: region, text_param,
// max_length, subject_prefix, api_url.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("aliyunsms: settings are %T, want *aliyunsms.Settings", settings)
	}
	const form = "aliyun://AccessKeyId:AccessKeySecret@SignName/TemplateCode/Phone"
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !(strings.EqualFold(scheme, "aliyun") || strings.EqualFold(scheme, "aliyunsms")) {
		return errors.New("aliyunsms: URL must look like " + form)
	}
	rest, query, _ := strings.Cut(rest, "?")
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return errors.New("aliyunsms: URL has no credentials (want AccessKeyId:AccessKeySecret@ before the signature)")
	}
	rawID, rawSecret, ok := strings.Cut(rest[:at], ":")
	if !ok || rawID == "" || rawSecret == "" {
		return errors.New("aliyunsms: URL credentials must be AccessKeyId:AccessKeySecret")
	}
	id, err := url.PathUnescape(rawID)
	if err != nil {
		return errors.New("aliyunsms: URL AccessKeyId has a malformed percent-escape")
	}
	secret, err := url.PathUnescape(rawSecret)
	if err != nil {
		return errors.New("aliyunsms: URL AccessKeySecret has a malformed percent-escape")
	}
	segs := strings.Split(strings.TrimSuffix(rest[at+1:], "/"), "/")
	if len(segs) < 2 || segs[0] == "" || segs[1] == "" {
		return errors.New("aliyunsms: URL needs a signature and a template code (want ...@SignName/TemplateCode)")
	}
	if len(segs) > 3 {
		return errors.New("aliyunsms: URL has more than one phone number; configure one channel per recipient or send with a per-message recipient")
	}
	out := Settings{AccessKeyID: id, AccessKeySecret: channel.Secret(secret)}
	if out.SignName, err = url.PathUnescape(segs[0]); err != nil {
		return errors.New("aliyunsms: URL signature name has a malformed percent-escape")
	}
	if out.TemplateCode, err = url.PathUnescape(segs[1]); err != nil {
		return errors.New("aliyunsms: URL template code has a malformed percent-escape")
	}
	if len(segs) == 3 && segs[2] != "" {
		if out.To, err = url.PathUnescape(segs[2]); err != nil {
			return errors.New("aliyunsms: URL phone number has a malformed percent-escape")
		}
		if _, ok := phoneNumber(out.To); !ok {
			return fmt.Errorf("aliyunsms: URL phone number %q is not E.164 or an 11-digit mainland China mobile number", out.To)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return errors.New("aliyunsms: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "region":
			out.Region = v
		case "text_param":
			out.TextParam = v
		case "max_length":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("aliyunsms: max_length %q is not a non-negative number", v)
			}
			out.MaxLength = n
		case "subject_prefix":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("aliyunsms: subject_prefix %q is not a boolean", v)
			}
			out.SubjectPrefix = b
		case "api_url":
			out.APIURL = v
		default:
			return fmt.Errorf("aliyunsms: unknown URL parameter %q", k)
		}
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("aliyunsms: %w", err)
	}
	*s = out
	return nil
}

// phoneNumber returns v as PhoneNumbers expects it, and whether v is a
// number Herald accepts: E.164 ("+8613800000000" is sent as
// "+8613800000000" for mainland China, "+85212345678" as "85212345678",
// country code and number without "+", as the international examples in
// Alibaba's SendSms reference have it), or an 11-digit mainland China
// mobile number starting with 1, sent as it is.
func phoneNumber(v string) (string, bool) {
	if len(v) == 11 && v[0] == '1' && channel.Digits(v) {
		return v, true
	}
	if len(v) < 9 || len(v) > 16 || v[0] != '+' || v[1] == '0' || !channel.Digits(v[1:]) {
		return "", false
	}
	if strings.HasPrefix(v, "+86") {
		return v, true
	}
	return v[1:], true
}
