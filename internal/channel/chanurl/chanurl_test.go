package chanurl

import (
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	p, err := Parse("x", "X://bot:p%40ss@host:8/a/%2Fb//c#d?k=v", "x://…")
	if err != nil {
		t.Fatal(err)
	}
	if p.Scheme != "x" || !p.HasUser || p.User != "bot" || p.Password != "p@ss" || p.Host != "host:8" {
		t.Errorf("got %+v", p)
	}
	if got := strings.Join(p.Segs, "|"); got != "a|/b|c#d" {
		t.Errorf("segs %q", got)
	}
	if p.Query.Get("k") != "v" {
		t.Errorf("query %v", p.Query)
	}
	for _, u := range []string{"secret-token", "x://u:%zzsecret@h", "x://h/%zzsecret", "x://h%zzsecret", "x://h?%zzsecret"} {
		_, err := Parse("x", u, "x://…")
		if err == nil || !strings.HasPrefix(err.Error(), "x: ") || strings.Contains(err.Error(), "secret") {
			t.Errorf("Parse(%q) error %v", u, err)
		}
	}
}

func TestParseProblem(t *testing.T) {
	_, err := url.Parse(bad("x://us%zzer@h"))
	if got := ParseProblem(err, Problems{}); got != "invalid %-escape" {
		t.Errorf("escape: %q", got)
	}
	_, err = url.Parse(bad("x://h:port/"))
	if got := ParseProblem(err, Problems{Port: "bad token"}); got != "bad token" {
		t.Errorf("port: %q", got)
	}
	if got := ParseProblem(err, Problems{}); got != "invalid port" {
		t.Errorf("default port: %q", got)
	}
}

func TestSplitHostPort(t *testing.T) {
	for _, c := range []struct {
		in, extra, host string
		port            int
		err             string
	}{
		{"h", "", "h", 0, ""},
		{"h:99", "", "h", 99, ""},
		{"[::1]:5", "", "::1", 5, ""},
		{"::1", "", "", 0, "([::1]:7)"},
		{"a,b", "", "a,b", 0, ""},
		{"a,b", ",", "", 0, "invalid character"},
		{"h:0", "", "", 0, "port is not"},
		{"h:+1", "", "", 0, "port is not"},
	} {
		host, port, err := SplitHostPort(c.in, 7, c.extra)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || host != c.host || port != c.port {
			t.Errorf("%q: %q %d %v", c.in, host, port, err)
		}
	}
}

func TestQuote(t *testing.T) {
	if got := QuoteShort(strings.Repeat("é", 20)); got != `"`+strings.Repeat("é", 16)+`"…` {
		t.Errorf("QuoteShort: %s", got)
	}
	if got := Quote(strings.Repeat("a", 40)); got != `"`+strings.Repeat("a", 32)+`..."` {
		t.Errorf("Quote: %s", got)
	}
}

// bad hides a deliberately invalid URL from staticcheck's SA1007.
func bad(s string) string { return s }
