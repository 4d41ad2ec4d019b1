package aliyunsms_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel/aliyunsms"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	creds := keyID + ":" + keySecret
	tests := []struct {
		url     string
		want    aliyunsms.Settings
		wantErr string
	}{
		{
			url:  "aliyun://" + creds + "@%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95/SMS_154950909/+8613800138000",
			want: aliyunsms.Settings{AccessKeyID: keyID, AccessKeySecret: keySecret, SignName: signName, TemplateCode: template, To: recipient},
		},
		{
			url:  "aliyunsms://" + creds + "@Herald/SMS_1/?region=ap-southeast-1&text_param=msg&max_length=120&subject_prefix=1&api_url=https://dysmsapi.ap-southeast-1.aliyuncs.com",
			want: aliyunsms.Settings{AccessKeyID: keyID, AccessKeySecret: keySecret, SignName: "Herald", TemplateCode: "SMS_1", Region: "ap-southeast-1", TextParam: "msg", MaxLength: 120, SubjectPrefix: true, APIURL: "https://dysmsapi.ap-southeast-1.aliyuncs.com"},
		},
		{url: "ali://x", wantErr: "aliyun://AccessKeyId:AccessKeySecret@SignName/TemplateCode/Phone"},
		{url: "aliyun://Herald/SMS_1", wantErr: "no credentials"},
		{url: "aliyun://" + keyID + "@Herald/SMS_1", wantErr: "credentials must be"},
		{url: "aliyun://" + creds + "%G1@Herald/SMS_1", wantErr: "AccessKeySecret has a malformed"},
		{url: "aliyun://" + creds + "@Herald", wantErr: "signature and a template code"},
		{url: "aliyun://" + creds + "@Herald/SMS_1/13800138000/13800138001", wantErr: "more than one phone number"},
		{url: "aliyun://" + creds + "@Herald/SMS_1/555", wantErr: `phone number "555"`},
		{url: "aliyun://" + creds + "@Herald/SMS_1?max_length=-3", wantErr: "max_length"},
		{url: "aliyun://" + creds + "@Herald/SMS_1?sign=x", wantErr: `unknown URL parameter "sign"`},
		{url: "aliyun://" + creds + "@Herald/SMS_1?api_url=ftp://x", wantErr: "api_url"},
	}
	for _, tt := range tests {
		var got aliyunsms.Settings
		err := aliyunsms.FromURL(tt.url, &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("FromURL(%q) = %v, want an error with %q", tt.url, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), keySecret) {
				t.Errorf("FromURL(%q) error shows the secret: %v", tt.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("FromURL(%q) = %v", tt.url, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("FromURL(%q) (-want +got):\n%s", tt.url, diff)
		}
	}
	if err := aliyunsms.FromURL("aliyun://a:b@c/d", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

func secretOf(in string) string {
	_, rest, ok := strings.Cut(in, "://")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, "?")
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	_, pass, _ := strings.Cut(rest[:at], ":")
	return pass
}

// quoted matches a Go-quoted string in an error text.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// unquoted returns text with each quoted part replaced by the string it
// quotes, so that an escape such as \x00 followed by digits is not taken
// for the digits of a secret.
func unquoted(text string) string {
	return quoted.ReplaceAllStringFunc(text, func(q string) string {
		if u, err := strconv.Unquote(q); err == nil {
			return u
		}
		return q
	})
}

func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"aliyun://" + keyID + ":" + keySecret + "@Herald/SMS_1/13800138000",
		"aliyun://" + keyID + ":" + keySecret + "@Herald/SMS_1/555?region=x",
		"aliyun://id:supersecretvalue%zz@Herald/SMS_1",
		"aliyun://:@/", "aliyun://", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s aliyunsms.Settings
		err := aliyunsms.FromURL(in, &s)
		if err == nil {
			if verr := s.Validate(); verr != nil {
				t.Errorf("FromURL(%q) gave settings that do not validate: %v", in, verr)
			}
			return
		}
		secret := secretOf(in)
		if len(secret) >= 8 && strings.Count(in, secret) == 1 && strings.Contains(unquoted(err.Error()), secret) {
			t.Errorf("FromURL(%q) error shows the secret: %v", in, err)
		}
	})
}
