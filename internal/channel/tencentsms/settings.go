package tencentsms

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
	// DefaultAPIURL is the SMS endpoint (nearest region). The international
	// site's is https://sms.intl.tencentcloudapi.com.
	DefaultAPIURL = "https://sms.tencentcloudapi.com"
	// DefaultRegion is the X-TC-Region header.
	DefaultRegion = "ap-guangzhou"
	// DefaultMaxLength caps the text (500 characters). Tencent's template
	// variables have their own, smaller limits; set max_length to what
	// your template allows.
	DefaultMaxLength = 500
)

// Settings configure a Tencent Cloud SMS channel. Tencent Cloud only sends
// approved templates: a message fills the template's parameters.
type Settings struct {
	// SecretID and SecretKey are a TencentCloud API key pair.
	SecretID  string         `yaml:"secret_id"`
	SecretKey channel.Secret `yaml:"secret_key"`
	// SDKAppID is the SMS application's SmsSdkAppId (e.g. 1400006666).
	SDKAppID string `yaml:"sdk_app_id"`
	// SignName is the approved signature; required for mainland China.
	SignName string `yaml:"sign_name"`
	// TemplateID is the approved template's id.
	TemplateID string `yaml:"template_id"`
	// SenderID is a Sender ID for international SMS (optional).
	SenderID string `yaml:"sender_id"`
	// To is the default recipient (E.164).
	To string `yaml:"to"`
	// Region is the X-TC-Region header (default ap-guangzhou).
	Region string `yaml:"region"`
	// MaxLength caps the text in runes (default 500).
	MaxLength int `yaml:"max_length"`
	// SubjectPrefix, when true, sends "subject: text".
	SubjectPrefix bool `yaml:"subject_prefix"`
	// APIURL overrides the endpoint (default https://sms.tencentcloudapi.com).
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the SecretKey.
func (s *Settings) Validate() error {
	switch {
	case strings.TrimSpace(s.SecretID) == "":
		return errors.New("secret_id is required")
	case s.SecretKey == "":
		return errors.New("secret_key is required")
	case s.SDKAppID == "":
		return errors.New("sdk_app_id is required")
	case !channel.Digits(s.SDKAppID):
		return fmt.Errorf("sdk_app_id %q is not a number", s.SDKAppID)
	case strings.TrimSpace(s.TemplateID) == "":
		return errors.New("template_id is required")
	case s.MaxLength < 0:
		return errors.New("max_length must not be negative")
	case strings.ContainsAny(s.Region, " /\r\n"):
		return fmt.Errorf("region %q is not a region name", s.Region)
	}
	if s.To != "" && !channel.ValidE164(s.To) {
		return fmt.Errorf("to %q is not an E.164 phone number (+ and 8 to 15 digits)", s.To)
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
		if u, _ := url.Parse(s.APIURL); u != nil && strings.Trim(u.Path, "/") != "" {
			return errors.New("api_url must have no path: API 3.0 calls post to /")
		}
	}
	return nil
}

// FromURL fills settings (a *Settings) from a channel URL. Apprise has no
// Tencent Cloud SMS form; Herald's is
//
//	tencentsms://SecretId:SecretKey@SmsSdkAppId/SignName/TemplateId/Phone?region=ap-guangzhou
//
// SignName may be percent-encoded UTF-8 and may be empty (international
// SMS: "1400006666//1110"); Phone is optional. Query parameters: region,
// sender_id, max_length, subject_prefix, api_url.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("tencentsms: settings are %T, want *tencentsms.Settings", settings)
	}
	const form = "tencentsms://SecretId:SecretKey@SmsSdkAppId/SignName/TemplateId/Phone"
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !strings.EqualFold(scheme, "tencentsms") {
		return errors.New("tencentsms: URL must look like " + form)
	}
	rest, query, _ := strings.Cut(rest, "?")
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return errors.New("tencentsms: URL has no credentials (want SecretId:SecretKey@ before the SmsSdkAppId)")
	}
	rawID, rawKey, ok := strings.Cut(rest[:at], ":")
	if !ok || rawID == "" || rawKey == "" {
		return errors.New("tencentsms: URL credentials must be SecretId:SecretKey")
	}
	id, err := url.PathUnescape(rawID)
	if err != nil {
		return errors.New("tencentsms: URL SecretId has a malformed percent-escape")
	}
	key, err := url.PathUnescape(rawKey)
	if err != nil {
		return errors.New("tencentsms: URL SecretKey has a malformed percent-escape")
	}
	segs := strings.Split(strings.TrimSuffix(rest[at+1:], "/"), "/")
	if len(segs) < 3 || segs[0] == "" || segs[2] == "" {
		return errors.New("tencentsms: URL needs an SmsSdkAppId, a signature (may be empty) and a template id (want ...@SmsSdkAppId/SignName/TemplateId)")
	}
	if len(segs) > 4 {
		return errors.New("tencentsms: URL has more than one phone number; configure one channel per recipient or send with a per-message recipient")
	}
	out := Settings{SecretID: id, SecretKey: channel.Secret(key), SDKAppID: segs[0]}
	if out.SignName, err = url.PathUnescape(segs[1]); err != nil {
		return errors.New("tencentsms: URL signature name has a malformed percent-escape")
	}
	if out.TemplateID, err = url.PathUnescape(segs[2]); err != nil {
		return errors.New("tencentsms: URL template id has a malformed percent-escape")
	}
	if len(segs) == 4 && segs[3] != "" {
		if out.To, err = url.PathUnescape(segs[3]); err != nil {
			return errors.New("tencentsms: URL phone number has a malformed percent-escape")
		}
		if !channel.ValidE164(out.To) {
			return fmt.Errorf("tencentsms: URL phone number %q is not E.164 (+ and 8 to 15 digits; write + as %%2B or leave it in)", out.To)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return errors.New("tencentsms: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "region":
			out.Region = v
		case "sender_id":
			out.SenderID = v
		case "max_length":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("tencentsms: max_length %q is not a non-negative number", v)
			}
			out.MaxLength = n
		case "subject_prefix":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("tencentsms: subject_prefix %q is not a boolean", v)
			}
			out.SubjectPrefix = b
		case "api_url":
			out.APIURL = v
		default:
			return fmt.Errorf("tencentsms: unknown URL parameter %q", k)
		}
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("tencentsms: %w", err)
	}
	*s = out
	return nil
}
