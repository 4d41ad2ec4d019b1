package feishu_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel/feishu"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	const hook = "f19a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8"
	tests := []struct {
		url  string
		want feishu.Settings
	}{
		{"feishu://" + hook, feishu.Settings{HookID: hook}},
		{"lark://" + hook + "/", feishu.Settings{HookID: hook, Region: "lark"}},
		{"feishu://" + hook + "/sEcReT123", feishu.Settings{HookID: hook, Secret: "sEcReT123"}},
		{"feishu://sEcReT123@" + hook + "?format=post&locale=en_us&to=ou_abc,all", feishu.Settings{
			HookID: hook, Secret: "sEcReT123", Format: "post", Locale: "en_us", Mentions: []string{"ou_abc", "all"},
		}},
		{"feishu://?token=" + hook + "&secret=sEcReT123", feishu.Settings{HookID: hook, Secret: "sEcReT123"}},
		{"feishu://" + hook + "?api_url=https://proxy.example/hook", feishu.Settings{HookID: hook, APIURL: "https://proxy.example/hook"}},
		{"https://open.feishu.cn/open-apis/bot/v2/hook/" + hook, feishu.Settings{HookID: hook}},
		{"https://open.larksuite.com/open-apis/bot/v2/hook/" + hook + "?secret=sEcReT123", feishu.Settings{HookID: hook, Secret: "sEcReT123", Region: "lark"}},
		{"https://proxy.example/open-apis/bot/v2/hook/" + hook, feishu.Settings{HookID: hook, APIURL: "https://proxy.example/open-apis/bot/v2/hook"}},
	}
	for _, tt := range tests {
		var got feishu.Settings
		if err := feishu.FromURL(tt.url, &got); err != nil {
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
	const hook, secret = "hook-0123456789abcdef", "secretvalue987654"
	tests := []struct{ url, want string }{
		{hook, "must look like"},
		{"slack://" + hook, `scheme "slack"`},
		{"feishu://", "no hook id"},
		{"feishu://" + secret + ":pw@" + hook, "only the secret"},
		{"feishu://" + secret + "@" + hook + "/" + secret, "not both"},
		{"feishu://" + hook + "/" + secret + "/x", "at most one segment"},
		{"feishu://" + hook + ":1", "must not contain ':'"},
		{"feishu://" + hook + "/" + secret + "?format=card", `format "card"`},
		{"feishu://" + hook + "/" + secret + "?locale=ZH-CN", "locale"},
		{"feishu://" + hook + "/" + secret + "?to=a%20b", "to:"},
		{"feishu://" + hook + "/" + secret + "?colour=red", `unknown URL parameter "colour"`},
		{"feishu://" + hook + "/" + secret + "?api_url=ftp://x", "api_url"},
		{"feishu://?token=" + hook + "%21", "hook id may only"},
		{"feishu://" + hook + "/" + secret + "%zz", "malformed"},
		{"feishu://" + hook + "?secret=a%0Ab" + secret, "single line"},
		{"https://open.feishu.cn/open-apis/bot/v2/" + hook, "must end in /hook/"},
		{"https://open.feishu.cn/open-apis/bot/v2/hook/" + hook + "%21", "hook id may only"},
	}
	for _, tt := range tests {
		var s feishu.Settings
		err := feishu.FromURL(tt.url, &s)
		if err == nil {
			t.Errorf("FromURL(%q) succeeded, want an error about %q", tt.url, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromURL(%q) = %q, want it to mention %q", tt.url, err, tt.want)
		}
		if strings.Contains(err.Error(), hook) || strings.Contains(err.Error(), secret) {
			t.Errorf("FromURL(%q) error repeats a secret: %q", tt.url, err)
		}
	}
	if err := feishu.FromURL("feishu://x", &struct{}{}); err == nil {
		t.Error("FromURL with the wrong settings type succeeded")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    feishu.Settings
		want string
	}{
		{feishu.Settings{HookID: "hook-123456"}, ""},
		{feishu.Settings{HookID: "hook-123456", Region: "lark", Format: "post", Locale: "ja_jp", Mentions: []string{"all", "ou_1"}}, ""},
		{feishu.Settings{}, "hook_id is required"},
		{feishu.Settings{HookID: "hook/123456"}, "hook_id may only"},
		{feishu.Settings{HookID: "hook-123456", Secret: "a\nb"}, "single line"},
		{feishu.Settings{HookID: "hook-123456", Region: "cn"}, `region "cn"`},
		{feishu.Settings{HookID: "hook-123456", Format: "card"}, `format "card"`},
		{feishu.Settings{HookID: "hook-123456", Locale: "zh-CN"}, "locale"},
		{feishu.Settings{HookID: "hook-123456", Mentions: []string{"a b"}}, "mentions[0]"},
		{feishu.Settings{HookID: "hook-123456", APIURL: "open.feishu.cn"}, "api_url"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.s, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%+v) = %v, want %q", tt.s, err, tt.want)
		case err != nil && (strings.Contains(err.Error(), "hook-123456") || strings.Contains(err.Error(), "hook/123456")):
			t.Errorf("Validate error repeats the hook id: %v", err)
		}
	}
}

// FuzzFromURL checks that FromURL never panics and never repeats the hook
// id or the secret in an error, whatever surrounds them.
func FuzzFromURL(f *testing.F) {
	f.Add([]byte("hook"), []byte("sec"), "?format=post")
	f.Add([]byte{0xff}, []byte{}, "/x/y")
	f.Add([]byte(""), []byte("s"), ":1?to=%zz")
	f.Fuzz(func(t *testing.T, hook, secret []byte, rest string) {
		h := "hk" + hex.EncodeToString(hook) + "-q7"
		s := "sc" + hex.EncodeToString(secret) + "z9"
		if strings.Contains(rest, h) || strings.Contains(rest, s) {
			return
		}
		for _, raw := range []string{
			"feishu://" + h + "/" + s + rest,
			"lark://" + s + "@" + h + rest,
			"https://open.feishu.cn/open-apis/bot/v2/hook/" + h + rest,
		} {
			var st feishu.Settings
			err := feishu.FromURL(raw, &st)
			if err != nil && (strings.Contains(err.Error(), h) || strings.Contains(err.Error(), s)) {
				t.Fatalf("FromURL(%q) error repeats a secret: %q", raw, err)
			}
		}
	})
}
