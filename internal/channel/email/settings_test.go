package email_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/email"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    email.Settings
		wantErr bool
	}{
		{
			in:   "smtp://user:pass@mail.example.com:587?from=alerts@example.com&tls=none",
			want: email.Settings{Host: "mail.example.com", Port: 587, Username: "user", Password: "pass", From: "alerts@example.com", TLS: "none"},
		},
		{
			in:   "smtps://us%40er:p%40ss%3Aw%2Fd@mail.example.com?from=Herald%20%3Calerts@example.com%3E",
			want: email.Settings{Host: "mail.example.com", Username: "us@er", Password: "p@ss:w/d", From: "Herald <alerts@example.com>", TLS: "tls"},
		},
		{
			in:   "SMTP://[::1]:2525?from=a@b.c&helo=herald.local&ca_file=/etc/ca.pem&insecure_skip_verify=true&auth=login&tls=starttls_optional",
			want: email.Settings{Host: "::1", Port: 2525, From: "a@b.c", HELO: "herald.local", CAFile: "/etc/ca.pem", InsecureSkipVerify: true, Auth: "login", TLS: "starttls_optional"},
		},
		{in: "smtps://h?tls=none", wantErr: true},
		{in: "smtp://h?colour=blue", wantErr: true},
		{in: "smtp://h?insecure_skip_verify=maybe", wantErr: true},
		{in: "smtp://h:0", wantErr: true},
		{in: "smtp://h:99999", wantErr: true},
		{in: "smtp:///nohost", wantErr: true},
		{in: "http://h", wantErr: true},
		{in: "smtp://u:secret-hidden@h:bad", wantErr: true},
	}
	for _, tt := range tests {
		var got email.Settings
		err := email.FromURL(tt.in, &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("FromURL(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "secret-hidden") {
				t.Errorf("FromURL(%q) error leaks the password: %v", tt.in, err)
			}
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("FromURL(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	if err := email.FromURL("smtp://h", &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type: want an error")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := email.Settings{Host: "mail.example.com", From: "alerts@example.com"}
	tests := []struct {
		name   string
		change func(*email.Settings)
		ok     bool
	}{
		{"minimal", func(*email.Settings) {}, true},
		{"full", func(s *email.Settings) {
			s.Port, s.Username, s.Password, s.TLS, s.Auth, s.HELO = 465, "u", "p", "tls", "CRAM-MD5", "herald.example"
		}, true},
		{"no host", func(s *email.Settings) { s.Host = " " }, false},
		{"no from", func(s *email.Settings) { s.From = "" }, false},
		{"bad from", func(s *email.Settings) { s.From = "not an address" }, false},
		{"bad tls", func(s *email.Settings) { s.TLS = "ssl" }, false},
		{"bad auth", func(s *email.Settings) { s.Auth = "xoauth2" }, false},
		{"bad port", func(s *email.Settings) { s.Port = 70000 }, false},
		{"password without user", func(s *email.Settings) { s.Password = "secret-hidden" }, false},
		{"bad helo", func(s *email.Settings) { s.HELO = "a b" }, false},
	}
	for _, tt := range tests {
		s := ok
		tt.change(&s)
		err := s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "secret-hidden") {
			t.Errorf("%s: error leaks the password: %v", tt.name, err)
		}
		if _, err := email.New(&s, nil); (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestNewCAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.pem"), notPEM} {
		s := &email.Settings{Host: "h", From: "a@b.c", CAFile: path}
		if _, err := email.New(s, nil); err == nil {
			t.Errorf("New with ca_file %s: want an error", path)
		}
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	s, err := email.New(&email.Settings{Host: "h", From: "a@b.c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(channel.Capabilities{Subject: true, HTML: true}, s.Capabilities()); diff != "" {
		t.Errorf("Capabilities (-want +got):\n%s", diff)
	}
}

func FuzzFromURL(f *testing.F) {
	for _, s := range []string{
		"smtp://user:pass@mail.example.com:587?from=alerts@example.com&tls=none",
		"smtps://h?from=a@b.c", "smtp://[::1]:25", "smtp://h?tls=tls&tls=none",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s email.Settings
		if email.FromURL(in, &s) != nil {
			return
		}
		if s.Host == "" {
			t.Errorf("FromURL(%q) accepted a URL without host", in)
		}
		if s.Port < 0 || s.Port > 65535 {
			t.Errorf("FromURL(%q) port %d", in, s.Port)
		}
	})
}
