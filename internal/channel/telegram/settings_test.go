package telegram_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel/telegram"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    telegram.Settings
		wantErr string // substring of the error; "" means success
	}{
		{url: "tgram://" + token + "/-1001234567890",
			want: telegram.Settings{Token: token, ChatID: "-1001234567890", DisableLinkPreview: true}},
		{url: "tgram://bot" + token + "/12345/67890/",
			want: telegram.Settings{Token: token, ChatID: "12345", DisableLinkPreview: true}},
		{url: "tgram://" + token + "/@herald_ops?format=html&silent=yes&preview=yes&update=yes",
			want: telegram.Settings{Token: token, ChatID: "@herald_ops", ParseMode: "HTML", DisableNotification: true, Update: true}},
		{url: "tgram://" + token + "/-100123:42?format=markdown",
			want: telegram.Settings{Token: token, ChatID: "-100123", ParseMode: "MarkdownV2", MessageThreadID: 42, DisableLinkPreview: true}},
		{url: "TGRAM://" + strings.Replace(token, ":", "%3A", 1) + "/?to=777&thread=9&format=text",
			want: telegram.Settings{Token: token, ChatID: "777", MessageThreadID: 9, DisableLinkPreview: true}},
		{url: "tgram://" + token,
			want: telegram.Settings{Token: token, DisableLinkPreview: true}},

		{url: token + "/123", wantErr: "must look like tgram://"},
		{url: "telegram://" + token + "/123", wantErr: `scheme "telegram" is not tgram`},
		{url: "tgram:///123", wantErr: "no bot token"},
		{url: "tgram://123456/789", wantErr: "bot token in the URL is not"},
		{url: "tgram://123456:tooshort/789", wantErr: "bot token in the URL is not"},
		{url: "tgram://" + token + "/not a chat", wantErr: `chat id "not a chat"`},
		{url: "tgram://" + token + "/123:x", wantErr: `topic "x"`},
		{url: "tgram://" + token + "/123?format=rtf", wantErr: "format"},
		{url: "tgram://" + token + "/123?silent=maybe", wantErr: "silent"},
		{url: "tgram://" + token + "/123?topic=-1", wantErr: "topic"},
		{url: "tgram://" + token + "/123?colour=red", wantErr: `unknown URL parameter "colour"`},
		{url: "tgram://" + token + "/123?a=%zz", wantErr: "malformed URL query"},
		{url: "tgram://" + token + "/%zz", wantErr: "segment 2"},
		{url: "tgram://" + token + "/#room", wantErr: "fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			var got telegram.Settings
			err := telegram.FromURL(tt.url, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromURL error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "ABC-DEF1234ghIkl") {
					t.Errorf("error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FromURL (-want +got):\n%s", diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("settings from a valid URL do not validate: %v", err)
			}
		})
	}
	if err := telegram.FromURL("tgram://"+token+"/1", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type succeeded")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s       telegram.Settings
		wantErr string
	}{
		{telegram.Settings{Token: token}, ""},
		{telegram.Settings{Token: token, ChatID: "@chan_name", ParseMode: "markdownv2", APIURL: "http://localhost:8081"}, ""},
		{telegram.Settings{}, "token is required"},
		{telegram.Settings{Token: "ABC-DEF1234ghIkl-zyx57W2v1u123ew11"}, "not a bot token"},
		{telegram.Settings{Token: token, ChatID: "@x"}, "chat_id"},
		{telegram.Settings{Token: token, ParseMode: "Markdown2"}, "parse_mode"},
		{telegram.Settings{Token: token, MessageThreadID: -1}, "message_thread_id"},
		{telegram.Settings{Token: token, APIURL: "ftp://example.org"}, "api_url"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tt.s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Validate(%+v) = %v, want an error about %q", tt.s, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "ABC-DEF1234ghIkl") {
			t.Errorf("Validate error shows the token: %v", err)
		}
	}
}

// FuzzFromURL checks that FromURL never panics and never repeats the
// token part of the URL in an error.
func FuzzFromURL(f *testing.F) {
	f.Add("tgram://", token, "/-100123?format=html")
	f.Add("tgram://bot", "123:abc", "/@chan:5")
	f.Add("tgram://", "%3A%zz", "/x?y=%")
	f.Add("", "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ", "")
	f.Fuzz(func(t *testing.T, prefix, secret, rest string) {
		u := prefix + secret + rest
		var s telegram.Settings
		err := telegram.FromURL(u, &s)
		if err == nil || len(secret) < 6 || strings.Count(u, secret) != 1 {
			return
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("FromURL(%q) error shows the token part: %v", u, err)
		}
	})
}
