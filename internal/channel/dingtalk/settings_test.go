package dingtalk_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel/dingtalk"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want dingtalk.Settings
	}{
		{"dingtalk://abc123token", dingtalk.Settings{AccessToken: "abc123token"}},
		{"dingtalk://SECabc123@abc123token", dingtalk.Settings{AccessToken: "abc123token", Secret: "SECabc123"}},
		{"dingtalk://SECabc123@abc123token/13800138000/+8613900139000/", dingtalk.Settings{
			AccessToken: "abc123token", Secret: "SECabc123", AtMobiles: []string{"13800138000", "8613900139000"},
		}},
		{"dingtalk://abc123token?format=markdown&to=13800138000,13900139000&at_all=yes", dingtalk.Settings{
			AccessToken: "abc123token", Format: "markdown", AtMobiles: []string{"13800138000", "13900139000"}, AtAll: true,
		}},
		{"dingtalk://?token=abc123token&secret=SECabc123", dingtalk.Settings{AccessToken: "abc123token", Secret: "SECabc123"}},
		{"dingtalk://abc123token?api_url=https://proxy.example/robot/send", dingtalk.Settings{
			AccessToken: "abc123token", APIURL: "https://proxy.example/robot/send",
		}},
		{"https://oapi.dingtalk.com/robot/send?access_token=abc123token", dingtalk.Settings{AccessToken: "abc123token"}},
		{"https://proxy.example/dt/robot/send?access_token=abc123token&secret=SECabc123", dingtalk.Settings{
			AccessToken: "abc123token", Secret: "SECabc123", APIURL: "https://proxy.example/dt/robot/send",
		}},
	}
	for _, tt := range tests {
		var got dingtalk.Settings
		if err := dingtalk.FromURL(tt.url, &got); err != nil {
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
	const secret = "SECsecretvalue99"
	tests := []struct {
		url, want string
	}{
		{"abc123token", "must look like"},
		{"slack://abc123token", `scheme "slack"`},
		{"dingtalk://", "no access token"},
		{"dingtalk://" + secret + ":pw@abc123token", "only the secret"},
		{"dingtalk://" + secret + "@abc123token/notaphone", "path segment 1 is not a phone number"},
		{"dingtalk://" + secret + "@abc123token?format=html", `format "html"`},
		{"dingtalk://" + secret + "@abc123token?colour=red", `unknown URL parameter "colour"`},
		{"dingtalk://" + secret + "@abc123token?at_all=maybe", "at_all"},
		{"dingtalk://" + secret + "@abc123token?to=hello", "to:"},
		{"dingtalk://" + secret + "@abc123token?api_url=ftp://x", "api_url"},
		{"dingtalk://" + secret + "@abc123token?token=bad%20token", "access token may only"},
		{"dingtalk://bad%2Ftoken", "malformed"},
		{"dingtalk://" + secret + "@abc123token:443", "must not contain ':'"},
		{"dingtalk://sec!ret@abc123token", "secret may only"},
		{"dingtalk://?secret=sec%21" + secret + "&token=abc", "secret may only"},
		{"https://oapi.dingtalk.com/robot/send", "no access_token"},
		{"https://oapi.dingtalk.com/robot/send?access_token=a%20b", "may only contain"},
		{"dingtalk://abc%zz", "malformed"},
	}
	for _, tt := range tests {
		var s dingtalk.Settings
		err := dingtalk.FromURL(tt.url, &s)
		if err == nil {
			t.Errorf("FromURL(%q) succeeded, want an error about %q", tt.url, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromURL(%q) = %q, want it to mention %q", tt.url, err, tt.want)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "abc123token") {
			t.Errorf("FromURL(%q) error repeats a secret: %q", tt.url, err)
		}
	}
	if err := dingtalk.FromURL("dingtalk://x", &struct{}{}); err == nil {
		t.Error("FromURL with the wrong settings type succeeded")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    dingtalk.Settings
		want string // "" = valid
	}{
		{dingtalk.Settings{AccessToken: "tok123"}, ""},
		{dingtalk.Settings{}, "access_token is required"},
		{dingtalk.Settings{AccessToken: "tok 123"}, "access_token may only"},
		{dingtalk.Settings{AccessToken: "tok123", Secret: "SEC/x"}, "secret may only"},
		{dingtalk.Settings{AccessToken: "tok123", Format: "html"}, `format "html"`},
		{dingtalk.Settings{AccessToken: "tok123", AtMobiles: []string{"12ab"}}, "at_mobiles[0]"},
		{dingtalk.Settings{AccessToken: "tok123", AtUserIDs: []string{" "}}, "at_user_ids[0]"},
		{dingtalk.Settings{AccessToken: "tok123", APIURL: "oapi.dingtalk.com"}, "api_url"},
		{dingtalk.Settings{AccessToken: "tok123", APIURL: "https://x.example/send?access_token=zzz"}, "must not contain access_token"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.s, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%+v) = %v, want %q", tt.s, err, tt.want)
		case err != nil && (strings.Contains(err.Error(), "tok123") || strings.Contains(err.Error(), "tok 123") || strings.Contains(err.Error(), "SEC/x")):
			t.Errorf("Validate error repeats a secret: %v", err)
		}
	}
}

// FuzzFromURL checks that FromURL never panics and never repeats the
// secret or the token in an error, whatever surrounds them.
func FuzzFromURL(f *testing.F) {
	f.Add([]byte("SECabc"), []byte("token1"), "/13800138000?format=markdown")
	f.Add([]byte{0xff, 0x00}, []byte("t"), "?colour=red")
	f.Add([]byte("s"), []byte("t"), ":99/%zz")
	f.Add([]byte(""), []byte("tok"), "?to=abc,def&at_all=2")
	f.Fuzz(func(t *testing.T, secret, token []byte, rest string) {
		// Hex keeps the secret and token well-formed and long enough to
		// be recognisable, so that a match in the error is a leak.
		sec := "SEC" + hex.EncodeToString(secret) + "q7"
		tok := "tk" + hex.EncodeToString(token) + "z9"
		if strings.Contains(rest, sec) || strings.Contains(rest, tok) {
			return // the fuzzer put them where they are not secret
		}
		for _, raw := range []string{
			"dingtalk://" + sec + "@" + tok + rest,
			"dingtalk://" + tok + rest,
			"https://oapi.dingtalk.com/robot/send?access_token=" + tok + rest,
		} {
			var s dingtalk.Settings
			err := dingtalk.FromURL(raw, &s)
			if err == nil {
				continue
			}
			if strings.Contains(err.Error(), sec) || strings.Contains(err.Error(), tok) {
				t.Fatalf("FromURL(%q) error repeats a secret: %q", raw, err)
			}
		}
	})
}
