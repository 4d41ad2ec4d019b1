package wecom_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel/wecom"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	const key = "693a91f6-7a0c-4bc4-97a0-0ec2a1fa5aaa"
	tests := []struct {
		url  string
		want wecom.Settings
	}{
		{"wecombot://" + key, wecom.Settings{Key: key}},
		{"wecom://" + key + "/", wecom.Settings{Key: key}},
		{"WeComBot://?key=" + key, wecom.Settings{Key: key}},
		{"wecombot://" + key + "?format=markdown&to=wangqing,+86%20138-0000-1111,@all", wecom.Settings{
			Key: key, Format: "markdown", MentionedList: []string{"wangqing", "@all"}, MentionedMobileList: []string{"8613800001111"},
		}},
		{"wecombot://" + key + "?api_url=https://proxy.example/send", wecom.Settings{Key: key, APIURL: "https://proxy.example/send"}},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key, wecom.Settings{Key: key}},
		{"https://proxy.example/wx/send?key=" + key, wecom.Settings{Key: key, APIURL: "https://proxy.example/wx/send"}},
	}
	for _, tt := range tests {
		var got wecom.Settings
		if err := wecom.FromURL(tt.url, &got); err != nil {
			t.Errorf("FromURL(%q) = %v", tt.url, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("FromURL(%q) (-want +got):\n%s", tt.url, diff)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("FromURL(%q) gave settings that do not validate: %v", tt.url, err)
		}
	}
}

func TestFromURLErrors(t *testing.T) {
	t.Parallel()
	const key = "secretkey-0123456789"
	tests := []struct{ url, want string }{
		{key, "must look like"},
		{"slack://" + key, `scheme "slack"`},
		{"wecombot://", "no key"},
		{"wecombot://user@" + key, "user part"},
		{"wecombot://" + key + "/extra", "path after the key"},
		{"wecombot://" + key + ":8080", "must not contain ':'"},
		{"wecombot://" + key + "?format=html", `format "html"`},
		{"wecombot://" + key + "?colour=red", `unknown URL parameter "colour"`},
		{"wecombot://" + key + "?api_url=ftp://x", "api_url"},
		{"wecombot://?key=" + key + "%21", "may only contain"},
		{"wecombot://" + key + "%zz", "malformed"},
		{"wecombot://" + key + "?a=%zz", "malformed URL query"},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "no key parameter"},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key + "%20", "may only contain"},
	}
	for _, tt := range tests {
		var s wecom.Settings
		err := wecom.FromURL(tt.url, &s)
		if err == nil {
			t.Errorf("FromURL(%q) succeeded, want an error about %q", tt.url, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromURL(%q) = %q, want it to mention %q", tt.url, err, tt.want)
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("FromURL(%q) error repeats the key: %q", tt.url, err)
		}
	}
	if err := wecom.FromURL("wecombot://x", &struct{}{}); err == nil {
		t.Error("FromURL with the wrong settings type succeeded")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    wecom.Settings
		want string
	}{
		{wecom.Settings{Key: "k-123456"}, ""},
		{wecom.Settings{Key: "k-123456", MentionedMobileList: []string{"@all", "13800001111"}}, ""},
		{wecom.Settings{}, "key is required"},
		{wecom.Settings{Key: "k 123456"}, "key may only"},
		{wecom.Settings{Key: "k-123456", Format: "news"}, `format "news"`},
		{wecom.Settings{Key: "k-123456", MentionedList: []string{""}}, "mentioned_list[0]"},
		{wecom.Settings{Key: "k-123456", MentionedMobileList: []string{"zhang"}}, "mentioned_mobile_list[0]"},
		{wecom.Settings{Key: "k-123456", APIURL: "qyapi.weixin.qq.com"}, "api_url"},
		{wecom.Settings{Key: "k-123456", APIURL: "https://x.example/send?key=zzz"}, "must not contain the key"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.s, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%+v) = %v, want %q", tt.s, err, tt.want)
		case err != nil && (strings.Contains(err.Error(), "k-123456") || strings.Contains(err.Error(), "k 123456")):
			t.Errorf("Validate error repeats the key: %v", err)
		}
	}
}

// FuzzFromURL checks that FromURL never panics and never repeats the key
// in an error, whatever surrounds it.
func FuzzFromURL(f *testing.F) {
	f.Add([]byte("key"), "?format=markdown")
	f.Add([]byte{0xff}, "/x")
	f.Add([]byte(""), ":1?to=%zz")
	f.Fuzz(func(t *testing.T, key []byte, rest string) {
		k := "ky" + hex.EncodeToString(key) + "-q7"
		if strings.Contains(rest, k) {
			return
		}
		for _, raw := range []string{
			"wecombot://" + k + rest,
			"wecom://x" + rest + "&key=" + k,
			"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + k + rest,
		} {
			var s wecom.Settings
			if err := wecom.FromURL(raw, &s); err != nil && strings.Contains(err.Error(), k) {
				t.Fatalf("FromURL(%q) error repeats the key: %q", raw, err)
			}
		}
	})
}
