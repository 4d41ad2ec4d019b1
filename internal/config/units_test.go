package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: " 2d ", want: 48 * time.Hour},
		{in: "0d", want: 0},
		{in: "15", wantErr: true},
		{in: "7days", wantErr: true},
		{in: "1.5d", wantErr: true},
		{in: "d", wantErr: true},
		{in: "1d-1h", wantErr: true},
		{in: "99999d", wantErr: true},
		{in: "10 seconds", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "1MiB", want: 1 << 20},
		{in: "512KiB", want: 512 << 10},
		{in: "10MB", want: 10_000_000},
		{in: "2GiB", want: 2 << 30},
		{in: "1 KB", want: 1000},
		{in: "4096", want: 4096},
		{in: "100B", want: 100},
		{in: "0", wantErr: true},
		{in: "1.5MiB", wantErr: true},
		{in: "1mib", wantErr: true},
		{in: "MiB", wantErr: true},
		{in: "-1MiB", wantErr: true},
		{in: "99999999999GiB", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseByteSize(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"/etc/herald/token":          "t0ken\n",
		"/etc/herald/secrets/pw.txt": "pw\r\n\n",
		"/abs/key":                   "k",
	}
	l := newLoader(Options{
		LookupEnv: func(name string) (string, bool) {
			v, ok := map[string]string{"TOKEN": "abc", "EMPTY": ""}[name]
			return v, ok
		},
		ReadFile: func(path string) ([]byte, error) {
			if s, ok := files[path]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		},
	})
	f := &file{l: l, path: "/etc/herald/herald.yaml", dir: "/etc/herald"}
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "Bearer ${env:TOKEN}", want: "Bearer abc"},
		{in: "${env:TOKEN}${env:TOKEN}", want: "abcabc"},
		{in: "[${env:EMPTY}]", want: "[]"},
		{in: "${file:token}", want: "t0ken"},
		{in: "${file:secrets/pw.txt}", want: "pw"},
		{in: "${file:/abs/key}", want: "k"},
		{in: "$${env:TOKEN}", want: "${env:TOKEN}"},
		{in: "cost: $5 and $${x}", want: "cost: $5 and ${x}"},
		{in: "$$", want: "$$"},
		{in: "${env:NOPE}", wantErr: "environment variable NOPE is not set (referenced as ${env:NOPE})"},
		{in: "${file:nope}", wantErr: "${file:nope}: cannot read /etc/herald/nope: file does not exist"},
		{in: "${file:}", wantErr: "${file:}: missing path"},
		{in: "${env:A-B}", wantErr: `${env:A-B}: "A-B" is not an environment variable name`},
		{in: "${HOME}", wantErr: "unknown reference ${HOME}: use ${env:NAME} or ${file:PATH} (or $${ for a literal ${)"},
		{in: "${env:TOKEN", wantErr: "unterminated ${ (write $${ for a literal ${)"},
	}
	for _, tt := range tests {
		got, err := f.expand(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("expand(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestServerListen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		yaml      string
		wantErr   string
		publicURL string
	}{
		{yaml: "server: {listen: 127.0.0.1:8080}", publicURL: "http://127.0.0.1:8080"},
		{yaml: "server: {listen: 127.1.2.3:80}", publicURL: "http://127.1.2.3:80"},
		{yaml: "server: {listen: 'localhost:9000'}", publicURL: "http://localhost:9000"},
		{yaml: "server: {listen: '[::1]:8080'}", publicURL: "http://[::1]:8080"},
		{yaml: "server: {listen: ':8080', token: t}", publicURL: "http://localhost:8080"},
		{yaml: "server: {listen: '0.0.0.0:8080', token: t, public_url: 'https://h.example.com/x/'}", publicURL: "https://h.example.com/x"},
		{yaml: "server: {listen: ':8080'}", wantErr: "t.yaml:1:1: server.token: required when server.listen (:8080) is not a loopback address"},
		{yaml: "server: {listen: '10.0.0.1:8080'}", wantErr: "t.yaml:1:1: server.token: required"},
		{yaml: "server: {listen: '8080'}", wantErr: `t.yaml:1:18: server.listen: "8080" is not a host:port address`},
	}
	for _, tt := range tests {
		cfg, err := LoadSources([]Source{{Path: "t.yaml", Data: []byte(tt.yaml)}}, Options{})
		if tt.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.yaml, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.yaml, err)
			continue
		}
		if cfg.Server.PublicURL != tt.publicURL {
			t.Errorf("%s: PublicURL = %q, want %q", tt.yaml, cfg.Server.PublicURL, tt.publicURL)
		}
	}
}

func TestErrorsFormat(t *testing.T) {
	t.Parallel()
	errs := Errors{
		{Pos: Pos{File: "b.yaml", Line: 2, Col: 1}, Field: "rules", Message: "m3"},
		{Pos: Pos{File: "a.yaml", Line: 12, Col: 7}, Field: "rules[0].steps[1].notify.channel", Message: `unknown channel "mial" (channels: log, mail)`},
		{Pos: Pos{File: "a.yaml", Line: 3, Col: 5}, Message: "syntax"},
		{Pos: Pos{File: "a.yaml"}, Message: "cannot read"},
		{Field: "f", Message: "no position"},
	}
	want := strings.Join([]string{
		"f: no position",
		"a.yaml: cannot read",
		"a.yaml:3:5: syntax",
		`a.yaml:12:7: rules[0].steps[1].notify.channel: unknown channel "mial" (channels: log, mail)`,
		"b.yaml:2:1: rules: m3",
	}, "\n")
	if diff := cmp.Diff(want, errs.Error()); diff != "" {
		t.Errorf("Error() mismatch (-want +got):\n%s", diff)
	}
	if errs[0].Message != "m3" {
		t.Error("Error() reordered the receiver")
	}
	var target Errors
	if !errors.As(error(errs), &target) {
		t.Error("errors.As(Errors) failed")
	}
}
