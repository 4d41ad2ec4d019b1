package matrix_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel/matrix"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    matrix.Settings
		wantErr string
	}{
		{url: "matrixs://" + token + "@matrix.example.com/!636q39766251:example.com",
			want: matrix.Settings{Homeserver: "https://matrix.example.com", AccessToken: token, Room: roomID}},
		{url: "matrixs://:" + token + "@matrix.example.com:8448/#ops:example.com?msgtype=notice&update=yes",
			want: matrix.Settings{Homeserver: "https://matrix.example.com:8448", AccessToken: token, Room: "#ops:example.com", MsgType: "m.notice", Update: true}},
		{url: "matrix://localhost:8008/%23ops?token=" + token,
			want: matrix.Settings{Homeserver: "http://localhost:8008", AccessToken: token, Room: "#ops:localhost"}},
		{url: "matrixs://" + token + "@example.com/ops/!second:example.com",
			want: matrix.Settings{Homeserver: "https://example.com", AccessToken: token, Room: "#ops:example.com"}},
		{url: "matrixs://" + token + "@example.com?to=!abc:example.org",
			want: matrix.Settings{Homeserver: "https://example.com", AccessToken: token, Room: "!abc:example.org"}},
		{url: "matrixs://" + token + "@example.com",
			want: matrix.Settings{Homeserver: "https://example.com", AccessToken: token}},

		{url: "example.com/#room", wantErr: "must look like matrixs://"},
		{url: "element://" + token + "@example.com", wantErr: `scheme "element"`},
		{url: "matrixs://herald:hunter2secret@example.com/#ops", wantErr: "user:password login is not supported"},
		{url: "matrixs://example.com/#ops", wantErr: "no access token"},
		{url: "matrixs://" + token + "@/#ops", wantErr: "no valid host"},
		{url: "matrixs://" + token + "@example.com:0/#ops", wantErr: `port "0"`},
		{url: "matrixs://" + token + "@example.com/!bad%zz", wantErr: "segment 1"},
		{url: "matrixs://" + token + "@example.com/#ops:bad host", wantErr: "is not a room id"},
		{url: "matrixs://" + token + "@example.com/?msgtype=emote", wantErr: "msgtype"},
		{url: "matrixs://" + token + "@example.com/?update=perhaps", wantErr: "update"},
		{url: "matrixs://" + token + "@example.com/?mode=t2bot", wantErr: "unknown URL parameter"},
		{url: "matrixs://" + token + "@example.com/?a=%zz", wantErr: "malformed URL query"},
		{url: "matrixs://bad%zz@example.com", wantErr: "malformed %-escape"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			var got matrix.Settings
			err := matrix.FromURL(tt.url, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromURL error = %v, want one containing %q", err, tt.wantErr)
				}
				for _, secret := range []string{token, "hunter2secret"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error shows a secret: %v", err)
					}
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
	if err := matrix.FromURL("matrixs://t@h/!a:b", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type succeeded")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := matrix.Settings{Homeserver: "https://matrix.example.com", AccessToken: token}
	tests := []struct {
		edit    func(*matrix.Settings)
		wantErr string
	}{
		{func(*matrix.Settings) {}, ""},
		{func(s *matrix.Settings) { s.Room, s.MsgType = "#ops:example.com:8448", "m.notice" }, ""},
		{func(s *matrix.Settings) { s.Homeserver = "" }, "homeserver is required"},
		{func(s *matrix.Settings) { s.Homeserver = "matrix.example.com" }, "homeserver"},
		{func(s *matrix.Settings) { s.AccessToken = "" }, "access_token is required"},
		{func(s *matrix.Settings) { s.AccessToken = "two words" }, "white space"},
		{func(s *matrix.Settings) { s.Room = "ops" }, "room"},
		{func(s *matrix.Settings) { s.MsgType = "m.emote" }, "msgtype"},
		{func(s *matrix.Settings) { s.APIURL = "ftp://x" }, "api_url"},
	}
	for i, tt := range tests {
		s := ok
		tt.edit(&s)
		err := s.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("case %d: Validate = %v, want nil", i, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("case %d: Validate = %v, want an error about %q", i, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("case %d: error shows the token: %v", i, err)
		}
	}
}

// FuzzFromURL checks that FromURL never panics and never repeats the
// access token in an error.
func FuzzFromURL(f *testing.F) {
	f.Add("matrixs://", token, "@matrix.example.com/#ops:example.com")
	f.Add("matrix://:", "abc%zz", "@h:1/!x")
	f.Add("matrixs://h/?token=", "secret token", "&x=1")
	f.Add("matrixs://a:", "b", "@c/%23")
	f.Fuzz(func(t *testing.T, prefix, secret, rest string) {
		u := prefix + secret + rest
		var s matrix.Settings
		err := matrix.FromURL(u, &s)
		if err == nil || len(secret) < 6 || strings.Count(u, secret) != 1 {
			return
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("FromURL(%q) error shows the token part: %v", u, err)
		}
	})
}
