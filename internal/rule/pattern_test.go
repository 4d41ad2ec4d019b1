package rule

import (
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"order.paid", []string{"order.paid"}, []string{"order", "order.paid.x", "x.order.paid", "order.pai", "order.paidx", ""}},
		{"order.*", []string{"order.paid", "order.shipped", "order."}, []string{"order", "order.paid.late", "orders.paid"}},
		{"*", []string{"order", "x"}, []string{"order.paid", ""}},
		{"*.paid", []string{"order.paid", "invoice.paid"}, []string{"paid", "a.b.paid"}},
		{"**", []string{"", "order", "order.paid", "a.b.c.d"}, nil},
		{"order.**", []string{"order", "order.paid", "order.paid.late"}, []string{"orders", "x.order"}},
		{"**.paid", []string{"paid", "order.paid", "a.b.paid"}, []string{"paid.x", "order.paidx"}},
		{"a.**.z", []string{"a.z", "a.b.z", "a.b.c.z", "a.z.z"}, []string{"a", "z", "a.b", "a.z.b", "b.a.z"}},
		{"**.b.**", []string{"b", "a.b", "b.c", "a.b.c", "x.y.b.z.w"}, []string{"a", "a.bb.c"}},
		{"a.*.**", []string{"a.b", "a.b.c"}, []string{"a", "b.c"}},
		{"*.*", []string{"a.b"}, []string{"a", "a.b.c"}},
		{"**.*.**.c", []string{"a.c", "a.b.c", "c.c"}, []string{"c", "a.b"}},
		{"**.**", []string{"", "a", "a.b"}, nil},
		{"com.github.pull_request.opened", []string{"com.github.pull_request.opened"}, []string{"com.github.pull_request"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePattern(tt.pattern)
			if err != nil {
				t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
			}
			if got := p.String(); got != tt.pattern {
				t.Errorf("String() = %q, want %q", got, tt.pattern)
			}
			for _, typ := range tt.match {
				if !p.Match(typ) {
					t.Errorf("%q.Match(%q) = false, want true", tt.pattern, typ)
				}
			}
			for _, typ := range tt.noMatch {
				if p.Match(typ) {
					t.Errorf("%q.Match(%q) = true, want false", tt.pattern, typ)
				}
			}
		})
	}
}

func TestParsePatternErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		want    string // substring of the error
	}{
		{"", "empty event type pattern"},
		{"order..paid", "empty segment at position 2"},
		{".order", "empty segment at position 1"},
		{"order.", "empty segment at position 2"},
		{"order.***", `"***" is not a wildcard`},
		{"ord*.paid", `a wildcard must be a whole segment, not part of "ord*"`},
		{"order.*paid", `not part of "*paid"`},
		{"order.**x", `not part of "**x"`},
		{"order. paid", "spaces and control characters are not allowed"},
		{"order.pa\x00id", "spaces and control characters are not allowed"},
		{"order.\xff", "spaces and control characters are not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			t.Parallel()
			_, err := ParsePattern(tt.pattern)
			if err == nil {
				t.Fatalf("ParsePattern(%q) succeeded, want error containing %q", tt.pattern, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParsePattern(%q) error = %q, want it to contain %q", tt.pattern, err, tt.want)
			}
		})
	}
}

func TestPatternConcrete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		want    bool
	}{
		{"order.paid", true},
		{"order", true},
		{"order.*", false},
		{"**.paid", false},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Concrete(); got != tt.want {
			t.Errorf("%q.Concrete() = %v, want %v", tt.pattern, got, tt.want)
		}
	}
	if (Pattern{}).Concrete() {
		t.Error("zero Pattern is concrete")
	}
}

// matchSlow is a reference implementation: straightforward recursion over
// split segments.
func matchSlow(pat, typ []string) bool {
	if len(pat) == 0 {
		return len(typ) == 0
	}
	switch pat[0] {
	case "**":
		for i := 0; i <= len(typ); i++ {
			if matchSlow(pat[1:], typ[i:]) {
				return true
			}
		}
		return false
	case "*":
		return len(typ) > 0 && matchSlow(pat[1:], typ[1:])
	default:
		return len(typ) > 0 && typ[0] == pat[0] && matchSlow(pat[1:], typ[1:])
	}
}

func splitType(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ".")
}

func FuzzParsePattern(f *testing.F) {
	for _, seed := range [][2]string{
		{"order.paid", "order.paid"},
		{"order.*", "order.paid"},
		{"**.paid", "a.b.paid"},
		{"a.**.z", "a.b.c.z"},
		{"**.b.**", "a.b.c"},
		{"order..paid", "order.paid"},
		{"ord*", "order"},
		{"***", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, typ string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			if p.String() != "" {
				t.Errorf("failed ParsePattern returned a pattern %q", p)
			}
			return
		}
		if p.String() != pattern {
			t.Errorf("String() = %q, want %q", p.String(), pattern)
		}
		if p.Concrete() && !p.Match(pattern) {
			t.Errorf("concrete pattern %q does not match itself", pattern)
		}
		got := p.Match(typ)
		// The reference is exponential in the number of "**".
		if strings.Count(pattern, "**") > 4 || len(typ) > 200 {
			return
		}
		if want := matchSlow(strings.Split(pattern, "."), splitType(typ)); got != want {
			t.Errorf("%q.Match(%q) = %v, reference says %v", pattern, typ, got, want)
		}
	})
}
