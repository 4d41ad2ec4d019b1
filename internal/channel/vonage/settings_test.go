package vonage_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel/vonage"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	creds := apiKey + ":" + apiSecret
	tests := []struct {
		url     string
		want    vonage.Settings
		wantErr string
	}{
		{
			url:  "vonage://" + creds + "@447700900001/447700900000",
			want: vonage.Settings{APIKey: apiKey, APISecret: apiSecret, From: "447700900001", To: recipient},
		},
		{
			url:     "nexmo://" + creds + "@Herald/?subject_prefix=yes",
			wantErr: "subject_prefix",
		},
		{
			url:  "nexmo://" + creds + "@Herald?subject_prefix=true&api_url=https://rest.nexmo.com",
			want: vonage.Settings{APIKey: apiKey, APISecret: apiSecret, From: "Herald", SubjectPrefix: true, APIURL: "https://rest.nexmo.com"},
		},
		{url: "sms://x", wantErr: "vonage://ApiKey:ApiSecret@FromPhoneNo/ToPhoneNo"},
		{url: "vonage://447700900001/447700900000", wantErr: "no credentials"},
		{url: "vonage://" + apiKey + "@Herald", wantErr: "credentials must be"},
		{url: "vonage://" + creds + "%x@Herald", wantErr: "API secret has a malformed"},
		{url: "vonage://" + creds + "@", wantErr: "no sender"},
		{url: "vonage://" + creds + "@Herald/1/2", wantErr: "more than one recipient"},
		{url: "vonage://" + creds + "@Herald/12ab", wantErr: `recipient "+12ab"`},
		{url: "vonage://" + creds + "@Too Long Sender", wantErr: "from"},
		{url: "vonage://" + creds + "@Herald?type=unicode", wantErr: `unknown URL parameter "type"`},
	}
	for _, tt := range tests {
		var got vonage.Settings
		err := vonage.FromURL(tt.url, &got)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("FromURL(%q) = %v, want an error with %q", tt.url, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), apiSecret) {
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
	if err := vonage.FromURL("vonage://a:b@c", &struct{}{}); err == nil {
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
		"vonage://" + apiKey + ":" + apiSecret + "@447700900001/447700900000",
		"nexmo://" + apiKey + ":" + apiSecret + "@Herald?subject_prefix=1",
		"vonage://k:supersecretvalue%zz@Herald/1/2",
		"vonage://:@", "vonage://", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s vonage.Settings
		err := vonage.FromURL(in, &s)
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
