package twilio_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel/twilio"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    twilio.Settings
		wantErr string
	}{
		{
			url:  "twilio://" + accountSID + ":" + authToken + "@15017122661/15558675310",
			want: twilio.Settings{AccountSID: accountSID, AuthToken: authToken, From: fromNumber, To: toNumber},
		},
		{
			url:  "twilio://" + accountSID + ":" + authToken + "@+15017122661",
			want: twilio.Settings{AccountSID: accountSID, AuthToken: authToken, From: fromNumber},
		},
		{
			url:  "twilio://" + accountSID + ":" + authToken + "@12345/?subject_prefix=true&status_callback=https://h.example.com/cb",
			want: twilio.Settings{AccountSID: accountSID, AuthToken: authToken, From: "12345", SubjectPrefix: true, StatusCallback: "https://h.example.com/cb"},
		},
		{
			url:  "twilio://" + apiKeySID + ":" + apiSecret + "@MG0123456789abcdef0123456789abcdef/15558675310?account_sid=" + accountSID,
			want: twilio.Settings{AccountSID: accountSID, APIKeySID: apiKeySID, APIKeySecret: apiSecret, MessagingServiceSID: "MG0123456789abcdef0123456789abcdef", To: toNumber},
		},
		{url: "tgram://x", wantErr: "twilio://AccountSid:AuthToken@FromPhoneNo/ToPhoneNo"},
		{url: "twilio://" + accountSID + "@15017122661", wantErr: "credentials must be"},
		{url: "twilio://15017122661/15558675310", wantErr: "no credentials"},
		{url: "twilio://" + accountSID + ":@15017122661", wantErr: "credentials must be"},
		{url: "twilio://" + accountSID + ":" + authToken + "%zz@15017122661", wantErr: "password (the auth token or API key secret) has a malformed"},
		{url: "twilio://" + accountSID + ":" + authToken + "@", wantErr: "no sender"},
		{url: "twilio://" + accountSID + ":" + authToken + "@15017122661/155/166", wantErr: "more than one recipient"},
		{url: "twilio://" + accountSID + ":" + authToken + "@15017122661/12ab", wantErr: "recipient \"12ab\""},
		{url: "twilio://" + accountSID + ":" + authToken + "@15017122661?colour=red", wantErr: "unknown URL parameter \"colour\""},
		{url: "twilio://" + accountSID + ":" + authToken + "@15017122661?subject_prefix=maybe", wantErr: "subject_prefix"},
		{url: "twilio://" + apiKeySID + ":" + apiSecret + "@15017122661", wantErr: "?account_sid=AC"},
		{url: "twilio://AC12:" + authToken + "@15017122661", wantErr: "account_sid must be"},
		{url: "twilio://" + accountSID + ":" + authToken + "@15017122661?%zz", wantErr: "malformed URL query"},
	}
	for _, tt := range tests {
		var got twilio.Settings
		err := twilio.FromURL(tt.url, &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("FromURL(%q) = %v, want an error with %q", tt.url, err, tt.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), authToken) || strings.Contains(err.Error(), apiSecret)) {
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
	if err := twilio.FromURL("twilio://a:b@c", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

// secretOf returns the password part of a twilio:// URL, as FromURL would
// read it, or "".
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
		"twilio://" + accountSID + ":" + authToken + "@15017122661/15558675310",
		"twilio://" + apiKeySID + ":" + apiSecret + "@MG0123456789abcdef0123456789abcdef?account_sid=" + accountSID,
		"twilio://" + accountSID + ":supersecrettoken@bad sender/x",
		"twilio://" + accountSID + ":supersecrettoken%@1/2/3",
		"twilio://:@", "twilio://", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s twilio.Settings
		err := twilio.FromURL(in, &s)
		if err == nil {
			if verr := s.Validate(); verr != nil {
				t.Errorf("FromURL(%q) gave settings that do not validate: %v", in, verr)
			}
			return
		}
		secret := secretOf(in)
		// Only a secret that occurs nowhere else in the URL can be
		// told apart from the parts an error may name.
		if len(secret) >= 8 && strings.Count(in, secret) == 1 && strings.Contains(unquoted(err.Error()), secret) {
			t.Errorf("FromURL(%q) error shows the secret: %v", in, err)
		}
	})
}
