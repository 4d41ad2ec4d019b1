package tencentsms_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel/tencentsms"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	creds := secretID + ":" + secretKey
	tests := []struct {
		url     string
		want    tencentsms.Settings
		wantErr string
	}{
		{
			url:  "tencentsms://" + creds + "@1400006666/%E8%85%BE%E8%AE%AF%E4%BA%91/1110/+8613800138000?region=ap-guangzhou",
			want: tencentsms.Settings{SecretID: secretID, SecretKey: secretKey, SDKAppID: appID, SignName: signName, TemplateID: template, To: recipient, Region: "ap-guangzhou"},
		},
		{
			url:  "tencentsms://" + creds + "@1400006666//1110/%2B85212345678?sender_id=Herald&max_length=100&subject_prefix=true&api_url=https://sms.intl.tencentcloudapi.com",
			want: tencentsms.Settings{SecretID: secretID, SecretKey: secretKey, SDKAppID: appID, TemplateID: template, To: "+85212345678", SenderID: "Herald", MaxLength: 100, SubjectPrefix: true, APIURL: "https://sms.intl.tencentcloudapi.com"},
		},
		{url: "tencent://x", wantErr: "tencentsms://SecretId:SecretKey@SmsSdkAppId/SignName/TemplateId/Phone"},
		{url: "tencentsms://1400006666/x/1110", wantErr: "no credentials"},
		{url: "tencentsms://" + secretID + "@1400006666/x/1110", wantErr: "credentials must be"},
		{url: "tencentsms://" + creds + "%Q@1400006666/x/1110", wantErr: "SecretKey has a malformed"},
		{url: "tencentsms://" + creds + "@1400006666/x", wantErr: "SmsSdkAppId, a signature"},
		{url: "tencentsms://" + creds + "@1400006666/x/1110/+8613800138000/+8613800138001", wantErr: "more than one phone number"},
		{url: "tencentsms://" + creds + "@1400006666/x/1110/13800138000", wantErr: `phone number "13800138000"`},
		{url: "tencentsms://" + creds + "@app/x/1110", wantErr: `sdk_app_id "app"`},
		{url: "tencentsms://" + creds + "@1400006666/x/1110?max_length=x", wantErr: "max_length"},
		{url: "tencentsms://" + creds + "@1400006666/x/1110?lang=zh", wantErr: `unknown URL parameter "lang"`},
	}
	for _, tt := range tests {
		var got tencentsms.Settings
		err := tencentsms.FromURL(tt.url, &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("FromURL(%q) = %v, want an error with %q", tt.url, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), secretKey) {
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
	if err := tencentsms.FromURL("tencentsms://a:b@1/2/3", &struct{}{}); err == nil {
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
		"tencentsms://" + secretID + ":" + secretKey + "@1400006666/x/1110/+8613800138000",
		"tencentsms://" + secretID + ":" + secretKey + "@1400006666//1110?region=ap-singapore",
		"tencentsms://id:supersecretvalue%zz@1/2/3",
		"tencentsms://:@//", "tencentsms://", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s tencentsms.Settings
		err := tencentsms.FromURL(in, &s)
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
