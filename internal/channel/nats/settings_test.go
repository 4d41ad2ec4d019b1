package nats_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/nats"
)

func TestFromURL(t *testing.T) {
	tests := []struct {
		url  string
		want nats.Settings
	}{
		{"nats://127.0.0.1:4222/herald.alerts?jetstream=true", nats.Settings{Server: "nats://127.0.0.1:4222", Subject: "herald.alerts", JetStream: true}},
		{"nats://nats.example.com/a", nats.Settings{Server: "nats://nats.example.com:4222", Subject: "a"}},
		{"NATS://h:4223/a", nats.Settings{Server: "nats://h:4223", Subject: "a"}},
		{"tls://h/a", nats.Settings{Server: "tls://h:4222", Subject: "a"}},
		{"nats://herald:s3cr%2Ft%40x@h/a", nats.Settings{Server: "nats://h:4222", Username: "herald", Password: "s3cr/t@x", Subject: "a"}},
		{"nats://user:p@ss@h/a", nats.Settings{Server: "nats://h:4222", Username: "user", Password: "p@ss", Subject: "a"}},
		{"nats://s3cr3t-token@h/a", nats.Settings{Server: "nats://h:4222", Token: "s3cr3t-token", Subject: "a"}},
		{"nats://[::1]:4222/a", nats.Settings{Server: "nats://[::1]:4222", Subject: "a"}},
		{"nats://h", nats.Settings{Server: "nats://h:4222"}},
		{"nats://h/", nats.Settings{Server: "nats://h:4222"}},
		{"nats://h/orders.eu/paid", nats.Settings{Server: "nats://h:4222", Subject: "orders.eu/paid"}},
		{"nats://h/a?jetstream=false", nats.Settings{Server: "nats://h:4222", Subject: "a"}},
		{
			"tls://h/a?creds_file=/etc/herald.creds&ca_file=/etc/ca.pem&insecure_skip_verify=true&connect_timeout=3s&name=herald-eu",
			nats.Settings{Server: "tls://h:4222", Subject: "a", CredsFile: "/etc/herald.creds", CAFile: "/etc/ca.pem", InsecureSkipVerify: true, ConnectTimeout: 3 * time.Second, Name: "herald-eu"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			var s nats.Settings
			if err := nats.FromURL(tt.url, &s); err != nil {
				t.Fatalf("FromURL: %v", err)
			}
			if diff := cmp.Diff(tt.want, s); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestFromURLMalformed(t *testing.T) {
	const pw = "Hunter2Secret"
	tests := []struct {
		url, want string
	}{
		{"h:4222/a", "must look like nats://"},
		{"nats:" + pw + "@h/a", "must look like nats://"},
		{"http://u:" + pw + "@h/a", `scheme "http" is not nats or tls`},
		{"://h/a", "must look like nats://"},
		{"nats://", "has no host"},
		{"nats:///a", "has no host"},
		{"nats://u:" + pw + "@/a", "has no host"},
		{"nats://u:" + pw + "@h:/a", "port is not a number"},
		{"nats://u:" + pw + "@h:0/a", "port is not a number"},
		{"nats://u:" + pw + "@h:70000/a", "port is not a number"},
		{"nats://u:Hunter2/Secret@h/a", "port is not a number"},
		{"nats://u:Hunter2Secret%zz@h/a", "password in the URL is not validly percent-encoded"},
		{"nats://Hunter2Secret%zz@h/a", "user name in the URL is not validly percent-encoded"},
		{"nats://:" + pw + "@h/a", "has a password but no user name"},
		{"nats://@h/a", "empty token"},
		{"nats://[::1/a", "without its closing ']'"},
		{"nats://::1/a", "not in brackets"},
		{"nats://h,h2/a", "invalid character in the host"},
		{"nats://h/a.*", "wildcard"},
		{"nats://h/a.>", "wildcard"},
		{"nats://h/a%20b", "whitespace"},
		{"nats://h/.a", "empty token"},
		{"nats://h/a..b", "empty token"},
		{"nats://h/a#b", "contains '#'"},
		{"nats://h/a%zz", "subject in the URL is not validly percent-encoded"},
		{"nats://h/a?jetstream=yes-please", "jetstream is not a boolean"},
		{"nats://h/a?insecure_skip_verify=2", "insecure_skip_verify"},
		{"nats://h/a?connect_timeout=5", "connect_timeout"},
		{"nats://h/a?stream=X", `unknown URL parameter "stream"`},
		{"nats://u?:Hunter2Secret@h/a", "an unknown URL parameter"},
		{"nats://u?jetstream=:Hunter2Secret@h/a", "jetstream is not a boolean"},
		{"nats://h/a?jetstream=%zz", "malformed URL query"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			var s nats.Settings
			err := nats.FromURL(tt.url, &s)
			if err == nil {
				t.Fatalf("FromURL(%q) = nil, want an error containing %q", tt.url, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "nats: ") {
				t.Errorf("error %q does not say which channel type it is about", err)
			}
			for _, piece := range []string{pw, "Hunter2", "Secret"} {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("error %q quotes the password (%q)", err, piece)
				}
			}
		})
	}
}

func TestFromURLWrongSettings(t *testing.T) {
	var s struct{}
	if err := nats.FromURL("nats://h/a", &s); err == nil {
		t.Fatal("FromURL into a foreign settings type succeeded")
	}
}

func TestValidate(t *testing.T) {
	ok := func() nats.Settings { return nats.Settings{Server: "nats://h:4222", Subject: "a"} }
	tests := []struct {
		name string
		edit func(*nats.Settings)
		want string // "" = valid
	}{
		{"minimal", func(*nats.Settings) {}, ""},
		{"no subject", func(s *nats.Settings) { s.Subject = "" }, ""},
		{"server list", func(s *nats.Settings) { s.Server = "nats://a:4222, nats://b:4222,tls://c" }, ""},
		{"websocket", func(s *nats.Settings) { s.Server = "wss://h/nats" }, ""},
		{"user and password", func(s *nats.Settings) { s.Username, s.Password = "u", "Hunter2Secret" }, ""},
		{"token", func(s *nats.Settings) { s.Token = "Hunter2Secret" }, ""},
		{"creds", func(s *nats.Settings) { s.CredsFile = "/etc/herald.creds" }, ""},
		{"no server", func(s *nats.Settings) { s.Server = "" }, "server is required"},
		{"bad scheme", func(s *nats.Settings) { s.Server = "mqtt://h" }, "scheme must be nats, tls, ws or wss"},
		{"no host", func(s *nats.Settings) { s.Server = "nats://:4222" }, "no host"},
		{"bad port", func(s *nats.Settings) { s.Server = "nats://h:99999" }, "port"},
		{"one bad of a list", func(s *nats.Settings) { s.Server = "nats://a,http://b" }, "scheme"},
		{"malformed server", func(s *nats.Settings) { s.Server = "nats://u:Hunter2Secret@h:x" }, "malformed server URL"},
		{"wildcard subject", func(s *nats.Settings) { s.Subject = "a.>" }, "wildcard"},
		{"password without user", func(s *nats.Settings) { s.Password = "Hunter2Secret" }, "username is not"},
		{"token and user", func(s *nats.Settings) { s.Username, s.Token = "u", "Hunter2Secret" }, "alternatives"},
		{"token and creds", func(s *nats.Settings) { s.CredsFile, s.Token = "/c", "Hunter2Secret" }, "alternatives"},
		{"negative timeout", func(s *nats.Settings) { s.ConnectTimeout = -time.Second }, "connect_timeout"},
		{"two-line name", func(s *nats.Settings) { s.Name = "a\nb" }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok()
			tt.edit(&s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "Hunter2") {
				t.Errorf("error %q quotes a secret", err)
			}
		})
	}
}

func TestCheckSubject(t *testing.T) {
	for _, subject := range []string{"a", "herald.alerts", "orders.eu-west.paid", "a/b", "ünï.cödé", "$JS.API.INFO", "a_b-c:d"} {
		if err := nats.CheckSubject(subject); err != nil {
			t.Errorf("CheckSubject(%q) = %v, want nil", subject, err)
		}
	}
	for _, subject := range []string{"", "a b", "a\tb", "a\nb", "a\rb", "a\x00b", "*", "a.*", "a.>", ">", "a*b", ".a", "a.", "a..b", "."} {
		if err := nats.CheckSubject(subject); err == nil {
			t.Errorf("CheckSubject(%q) = nil, want an error", subject)
		}
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	s := nats.Settings{Server: "nats://h", Username: "u", Password: channel.Secret("Hunter2Secret"), Token: channel.Secret("Hunter2Token")}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := strings.ToLower(fmt.Sprintf(f, s)); strings.Contains(out, "hunter2") {
			t.Errorf("%s of the settings shows a secret: %s", f, out)
		}
	}
}

// FuzzFromURL checks that FromURL never panics and never quotes the
// password or token, whatever the rest of the URL looks like. The secret
// is marked so that any echo of it, whole or cut at its start, is found.
func FuzzFromURL(f *testing.F) {
	f.Add("nats", "user", ":pw", "h:4222/a.b?jetstream=true")
	f.Add("tls", "", "tok", "[::1]/a")
	f.Add("nats", "u", ":x/y", "h:x/a")
	f.Add("nats", "u", ":p", "h/a.>")
	f.Add("NATS", "u%41", ":pa:ss", "h:65536/a%00?jetstream=%zz")
	f.Add("nats", "0?", ":0", "0")
	f.Add("mqtt", "u", ":p", "")
	f.Fuzz(func(t *testing.T, scheme, user, secret, rest string) {
		const marker = "QXZMARK"
		// secret starting with ':' makes it a password, otherwise the
		// user name and secret together are a token.
		var raw string
		if strings.HasPrefix(secret, ":") {
			secret = marker + secret[1:]
			raw = scheme + "://" + user + ":" + secret + "@" + rest
		} else {
			user = ""
			secret = marker + secret
			raw = scheme + "://" + secret + "@" + rest
		}
		if strings.Contains(scheme+user+rest, marker[:4]) {
			t.Skip()
		}
		var s nats.Settings
		err := nats.FromURL(raw, &s)
		if err == nil {
			if err := s.Validate(); err != nil && strings.Contains(err.Error(), marker[:4]) {
				t.Fatalf("Validate error %q quotes the secret", err)
			}
			return
		}
		if strings.Contains(err.Error(), marker[:4]) {
			t.Fatalf("FromURL(%q) error %q quotes the secret", raw, err)
		}
	})
}
